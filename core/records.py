"""What a run reports: small frozen records, and the one place a missing number (NaN) is handled.

``fit`` yields TrainRecords, core.finetune's ``teach`` TeachRecords; both have ``progress`` and
``eta`` (RunProgress). A figure that was not measured (no validation split, no step yet to pace
the run by) is NaN in a record, so that a record's dict stays plain floats for JSON and charts;
read one through ``known(x)`` (the float, or None) instead of testing ``x == x``.
"""
import math
from dataclasses import asdict, dataclass, fields

import numpy as np


def known(value):
    """``value`` as a float, or None when it is missing (None, NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


class RunProgress:
    """How far a run is, for records that have ``step``, ``total_steps`` and ``elapsed``
    (TrainRecord here, core.finetune's TeachRecord)."""

    @property
    def progress(self):
        return self.step / self.total_steps

    @property
    def eta(self):
        """Estimated seconds left, from the pace so far; NaN before the first step (read it
        through ``known``)."""
        return self.elapsed / self.step * (self.total_steps - self.step) if self.step else float("nan")


@dataclass(frozen=True)
class TrainRecord(RunProgress):
    step: int
    total_steps: int
    epoch: float                    # fractional: steps done / steps per epoch
    train_loss: float               # mean over the steps since the previous record
    train_accuracy: float
    val_loss: float                 # nan when there is no validation split
    val_accuracy: float
    learning_rate: float
    elapsed: float                  # seconds since training started
    samples_per_second: float
    layers: tuple = ()              # per weight layer: {"layer", "dead_share", "update_ratio",
                                    # "grad_norm"} (core.health.layer_stats)

    def to_dict(self):
        """Plain JSON-able types: ``layers`` becomes a list of dicts of floats (nan stays nan)."""
        d = {name: plain(value) for name, value in asdict(self).items()}
        d["layers"] = [{key: plain(value) for key, value in layer.items()} for layer in self.layers]
        return d

    @classmethod
    def from_dict(cls, d):
        """A record back from ``to_dict`` (e.g. a worker process's message)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["layers"] = tuple(dict(layer) for layer in values.get("layers", ()))
        return cls(**values)

    @property
    def has_validation(self):
        return known(self.val_accuracy) is not None


def plain(value):
    """A NumPy scalar (np.float32 has no JSON form) as the Python int or float it holds."""
    return value.item() if isinstance(value, np.generic) else value


