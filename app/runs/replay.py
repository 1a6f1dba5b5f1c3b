"""The replay: copies of a network's weights taken while it trains, and the network at any moment.

A run keeps at most ``MAX_COUNT`` snapshots and ``MAX_BYTES`` of them (100 MB per session). When a
new one would pass either limit, every other snapshot is dropped (the first and the newest stay):
the replay then covers the whole run at half the time resolution, and memory never grows past the
limit. A network whose one copy is more than ``MAX_BYTES / MIN_COUNT`` gets no snapshots at all
(replay says so): a handful of moments is not a replay.

    Snapshots                       the bounded store (add, items, nbytes)
    run_moments(trainer, dataset)   the moments of the last run Draw can ask
    model_at(snap, moment)          the network as it was then
"""
import threading
from dataclasses import dataclass

from core.memory import SnapshotBudget


@dataclass(frozen=True)
class AskedModel:
    """What ``classify`` needs: a model and the pixel scaling it was trained with."""
    model: object
    scaling: str


def run_moments(trainer, dataset):
    """The weight snapshots of this session's last run on ``dataset`` (oldest first), with the
    trainer's snapshot they belong to; ((), None) when there is no such run."""
    if trainer is None:
        return (), None
    snap = trainer.snapshot(poll=False)
    if snap.dataset != dataset or snap.snapshots is None or snap.model_config is None:
        return (), None
    return snap.snapshots.items(), snap


def model_at(snap, moment):
    """The network of run ``snap`` as it was at ``moment`` (an app.runs.replay.Snapshot)."""
    from core.model import MLP
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    return AskedModel(MLP(snap.model_config, params=moment.params), scaling)

MAX_COUNT = 200
MAX_BYTES = 100 * 2**20
MIN_COUNT = 8
BUDGET = SnapshotBudget(MAX_BYTES, MIN_COUNT, MAX_COUNT)     # the same limits, as core.memory counts


@dataclass(frozen=True)
class Snapshot:
    record: int                  # index in the run's history of the record taken with it
    step: int
    epoch: float
    elapsed: float               # seconds of training when it was taken
    params: dict                 # name -> array, a private copy (never written to)


class Snapshots:
    """The bounded, thread-safe list of one run's snapshots."""

    def __init__(self, max_count=MAX_COUNT, max_bytes=MAX_BYTES):
        self.max_count, self.max_bytes = max_count, max_bytes
        self._lock = threading.Lock()
        self._items = []
        self._bytes = 0
        self.refused = ""            # why there are none, when a copy is too big

    def add(self, record_index, record, params):
        """Keep ``params`` (a fresh copy the caller gives up) as of ``record`` (a TrainRecord dict)."""
        size = sum(a.nbytes for a in params.values())
        if size * MIN_COUNT > self.max_bytes:
            self.refused = (f"This network's weights take {size / 2**20:,.1f} MB, too many to keep "
                            f"{MIN_COUNT} copies within {self.max_bytes / 2**20:,.0f} MB: no replay "
                            "for it. Fewer or smaller hidden layers bring it back.")
            return
        item = Snapshot(record_index, int(record["step"]), float(record["epoch"]),
                        float(record["elapsed"]), params)
        with self._lock:
            self._items.append(item)
            self._bytes += size
            while len(self._items) > self.max_count or self._bytes > self.max_bytes:
                kept = self._items[:-1:2] + [self._items[-1]]
                self._bytes = sum(sum(a.nbytes for a in s.params.values()) for s in kept)
                self._items = kept

    def items(self):
        """The snapshots, oldest first (an immutable copy of the list)."""
        with self._lock:
            return tuple(self._items)

    @property
    def nbytes(self):
        return self._bytes

    def __len__(self):
        return len(self._items)
