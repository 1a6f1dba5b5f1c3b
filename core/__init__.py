"""core: a neural network written from scratch in NumPy, with everything it needs.

Only numpy and the Python standard library are imported here.
"""
from .errors import (ConfigError, DatasetError, DownloadError, DrawingError, ModelFileError,
                     NNError, TrainingDiverged)
from .model import MLP, ModelConfig
from .training import PRESETS, Preset, TrainConfig, TrainRecord, fit, get_preset, train

__all__ = ["MLP", "ModelConfig", "TrainConfig", "TrainRecord", "Preset", "PRESETS", "fit", "train",
           "get_preset", "NNError", "ConfigError", "DatasetError", "DownloadError",
           "ModelFileError", "TrainingDiverged", "DrawingError"]
