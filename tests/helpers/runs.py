"""Training runs driven as the app drives them, for the tests and benchmarks that measure them:
Start pressed by many visitors at the same moment, a server process killed while it trains, and
the memory one short run allocates.

    simultaneous_starts(splits, three_visitors(), prefix) -> (started, refused, peak, seconds)
    KILL_SCRIPT.format(root=...)   a server that starts a run, prints its worker's pid and waits
    measure_run(model_config, train_config, splits) -> peak bytes above the start (tracemalloc)
"""
import threading
import time


# -- simultaneous Starts ----------------------------------------------------------------------------
def training_threads(prefix):
    return [t for t in threading.enumerate() if t.name.startswith(f"train-{prefix}") and t.is_alive()]


def simultaneous_starts(splits, trainers, prefix):
    """[(visitor, Trainer)] -> Start on each at the same moment (a barrier releases them);
    returns (visitors started, refusal messages, {"threads": most training threads seen alive,
    "per_visitor": most runs of one visitor}, seconds for all the starts)."""
    from app.runs.line import TrainingBusy, running_by_visitor
    from core.model import ModelConfig
    from core.training import TrainConfig
    model_config = ModelConfig(hidden_sizes=(16,))
    long_run = TrainConfig(learning_rate=0.1, epochs=200, batch_size=50)
    barrier = threading.Barrier(len(trainers))
    started, refused = [], []
    peak = {"threads": 0, "per_visitor": 0}
    done = threading.Event()

    def click(i, visitor, trainer):
        barrier.wait()
        try:
            trainer.start(model_config, long_run, splits, dataset="mnist",
                          label=f"{prefix}{visitor}-{i}", visitor=visitor)
            started.append(visitor)
        except TrainingBusy as e:
            refused.append(str(e))

    def watch():                                  # sample while the clicks land
        while not done.is_set():
            peak["threads"] = max(peak["threads"], len(training_threads(prefix)))
            peak["per_visitor"] = max([peak["per_visitor"], *running_by_visitor().values()])
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    clicks = [threading.Thread(target=click, args=(i, v, t)) for i, (v, t) in enumerate(trainers)]
    start = time.perf_counter()
    for c in clicks:
        c.start()
    for c in clicks:
        c.join(30)
    seconds = time.perf_counter() - start
    time.sleep(0.3)                               # a thread started late would show up now
    done.set()
    watcher.join(5)
    peak["threads"] = max(peak["threads"], len(training_threads(prefix)))
    return started, refused, peak, seconds


def three_visitors():
    """20 Start calls: A clicks 7 times in one tab, B has 7 tabs, C two tabs with 3 clicks each."""
    from app.runs.trainer import Trainer
    tab_a = Trainer()
    tabs_c = [Trainer(), Trainer()]
    return ([("A", tab_a)] * 7 + [("B", Trainer()) for _ in range(7)]
            + [("C", tabs_c[i % 2]) for i in range(6)])


# -- a server killed while it trains -----------------------------------------------------------------
# Run as ``python -c KILL_SCRIPT.format(root=ROOT)``: it prints its worker's pid once the run has
# made its first record, then waits to be killed.
KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from app.runs.trainer import Trainer
from core.model import ModelConfig
from core.training import TrainConfig
from tests.helpers.splits import random_splits
splits = random_splits(2000, validation=100, test=100)
t = Trainer()
t.start(ModelConfig(hidden_sizes=(128,)), TrainConfig(iterations=10**6, batch_size=64), splits)
while not t.snapshot().history:
    time.sleep(0.01)
print(t.worker_pid, flush=True)
time.sleep(600)
"""


# -- one run's memory -------------------------------------------------------------------------------
def measure_run(model_config, train_config, splits, budget=None):
    """Peak bytes allocated by one short run, above what was allocated when it started: the
    network, ``fit`` to its end with a replay snapshot per record (as app.runs.trainer does), then the
    model evaluated on the whole validation and test sets (as the worker ends a run).
    ``budget``: the replay's core.memory.SnapshotBudget, default the app's."""
    import tracemalloc

    from app.runs.replay import MAX_BYTES, MAX_COUNT, MIN_COUNT, Snapshots
    from core.memory import SnapshotBudget
    from core.training import fit, new_run

    budget = budget or SnapshotBudget(MAX_BYTES, MIN_COUNT, MAX_COUNT)
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        model, rng = new_run(model_config, train_config)
        snapshots = Snapshots(max_count=budget.max_count, max_bytes=budget.max_bytes)
        records = fit(model, splits, train_config, rng)
        try:
            for index, record in enumerate(records):
                snapshots.add(index, record.to_dict(), model.copy_params())
        finally:
            records.close()
        model.evaluate(splits.X_val, splits.y_val)
        model.evaluate(splits.X_test, splits.y_test)
        _, peak = tracemalloc.get_traced_memory()
        del model, snapshots
        return peak - base
    finally:
        if started_here:
            tracemalloc.stop()
