"""Every choice a user makes, read from core's registries, and the parsers of typed-in settings.

The Train page and the command line offer exactly these options; neither keeps a list of its own.
Adding an activation to ``activations.HIDDEN_ACTIVATIONS`` (say) adds it to both.

    DATASETS, ACTIVATIONS, OUTPUT_ACTIVATIONS, LOSSES, INITIALIZERS, OPTIMIZERS, LR_SCHEDULES,
    SCALINGS          tuples of option names, in the registries' order
    label(name)       a short human name: "cross_entropy" -> "cross-entropy"
    parse_hidden_sizes("256, 128") -> (256, 128)      raises ConfigError with a usable message
    parse_batch_size("full") -> None; "128" -> 128    raises ConfigError
    PRESETS           the preset names (core.training.PRESETS), "convnet" among them
    parse_layers("conv 8x5, pool 2, dense 128") -> the canonical text; raises ConfigError naming
                      the bad item (the grammar: core.architecture)
"""
import re

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .datasets import CLASS_NAMES, DATASETS, SCALINGS, TITLES
from .errors import ConfigError
from .initializers import INITIALIZERS as _INITIALIZERS
from .losses import LOSSES as _LOSSES
from .model import MAX_HIDDEN_LAYERS, MAX_UNITS
from .optimizers import OPTIMIZERS as _OPTIMIZERS
from .architecture import layers_text
from .architecture import parse_layers as _parse_layer_specs
from .training import LR_SCHEDULES as _LR_SCHEDULES
from .training import PRESETS as _PRESETS

ACTIVATIONS = tuple(HIDDEN_ACTIVATIONS)
OUTPUT_ACTIVATIONS = tuple(OUTPUT_ACTIVATIONS)
LOSSES = tuple(_LOSSES)
INITIALIZERS = tuple(_INITIALIZERS)
OPTIMIZERS = tuple(_OPTIMIZERS)
LR_SCHEDULES = tuple(_LR_SCHEDULES)
PRESETS = tuple(_PRESETS)
__all__ = ["PRESETS", "parse_layers", "DATASETS", "TITLES", "CLASS_NAMES", "SCALINGS", "ACTIVATIONS", "OUTPUT_ACTIVATIONS",
           "LOSSES", "INITIALIZERS", "OPTIMIZERS", "LR_SCHEDULES", "label", "parse_hidden_sizes",
           "parse_batch_size"]

# ASCII digits only: "²".isdigit() and "٣".isdigit() are True in Python, and int("²") then raises
# ValueError (a traceback for the visitor). MAX_TEXT keeps int() far from Python's 4,300-digit limit.
_DIGITS = re.compile(r"[0-9]+")
MAX_TEXT = 200                   # characters of a typed-in setting worth reading

_LABELS = {
    **TITLES,
    "relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh",
    "softmax": "softmax", "cross_entropy": "cross-entropy", "mse": "mean squared error",
    "he": "He", "glorot": "Glorot", "small_uniform": "small uniform",
    "sgd": "SGD", "momentum": "momentum", "adam": "Adam",
    "constant": "constant", "cosine": "cosine",
    "original": "original", "textbook": "textbook", "recommended": "recommended",
    "convnet": "conv net",
    "unit": "unit [0, 1]", "symmetric": "symmetric [-1, 1]",
}


def label(name):
    """A short human name for an option value (the value itself when there is none)."""
    return _LABELS.get(name, str(name))


def parse_hidden_sizes(text):
    """Hidden layer sizes from text: "256, 128", "256x128", "256 128" -> (256, 128).

    "", "none" and "-" mean no hidden layer (a linear classifier). Raises ConfigError, saying what
    is wrong and what would work, for anything else.
    """
    text = str(text)
    if len(text) > MAX_TEXT:
        raise ConfigError(f"Hidden layer sizes are a few numbers, like “256, 128”; that is "
                          f"{len(text):,} characters.")
    parts = [p for p in re.split(r"[,\s;x]+", text.strip().lower()) if p]
    if parts in ([], ["none"], ["-"]):
        return ()
    bad = [p for p in parts if not _DIGITS.fullmatch(p)]
    if bad:
        raise ConfigError(f"Hidden layer sizes are whole numbers separated by commas, like "
                          f"“256, 128” (or empty for no hidden layer); “{_shown(bad[0])}” is not one.")
    sizes = tuple(int(p) for p in parts)
    if len(sizes) > MAX_HIDDEN_LAYERS or any(not 1 <= s <= MAX_UNITS for s in sizes):
        raise ConfigError(f"Use at most {MAX_HIDDEN_LAYERS} hidden layers of 1 to {MAX_UNITS:,} "
                          f"units each; got {', '.join(map(str, sizes))}.")
    return sizes


def parse_layers(text):
    """A network's hidden layers as text -> its canonical form: "Conv 8x5,pool" -> "conv 8x5,
    pool 2". Plain numbers are dense layers, so "256, 128" is still an MLP. Raises ConfigError
    naming the bad item."""
    return layers_text(_parse_layer_specs(text))


def parse_batch_size(text):
    """"full" (or "none", "0") -> None, meaning all training images per step; "128" -> 128."""
    text = str(text).strip().lower()
    if len(text) > MAX_TEXT:
        raise ConfigError(f"A batch size is a whole number of images or “full”; that is "
                          f"{len(text):,} characters.")
    if text in ("full", "none", "0"):
        return None
    if not _DIGITS.fullmatch(text):
        raise ConfigError(f"A batch size is a whole number of images or “full”; got "
                          f"“{_shown(text)}”.")
    return int(text)


def _shown(text):
    """A typed-in value as a message may quote it: short."""
    return text if len(text) <= 20 else text[:20] + "…"
