"""The project's own exceptions.

Every message is written for the person who caused it: it says what is wrong and what to change.
Pages show them with ``st.error``; the CLI prints them and exits non-zero.
"""


class NNError(Exception):
    """Base class for every error this project raises on purpose."""


class ConfigError(NNError, ValueError):
    """A setting is out of range or does not fit with another setting."""


class DatasetError(NNError):
    """A dataset file is missing, truncated, corrupt or inconsistent."""


class DownloadError(DatasetError):
    """A download failed (network, checksum mismatch, cut connection). ``unreachable``: no mirror
    could even be reached (no network), as opposed to a mirror that answered badly."""

    def __init__(self, message, unreachable=False):
        super().__init__(message)
        self.unreachable = unreachable


class ModelFileError(NNError):
    """A model file is not a valid model of this project (wrong keys, shapes, pickles, NaN...)."""


class TrainingDiverged(NNError):
    """The loss or the weights became NaN or infinite; the last good weights were kept.

    ``step`` (int), ``epoch`` (float) and ``loss`` (float, may be inf or nan) say where it blew
    up, for a marker on a chart; None when the raiser did not say.
    """

    def __init__(self, message, step=None, epoch=None, loss=None):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.loss = loss


class DrawingError(NNError):
    """An image or drawing cannot be turned into 784 pixels."""
