"""The per-run memory estimate (core.memory) next to what a run really allocates.

    python -m benchmarks.memory_cap

For a few networks it trains a short run as the app's trainer does (core.training.fit with the
replay's snapshots, then the final evaluation on the validation and test sets) under
``tracemalloc``, which sees every NumPy array, and prints the estimate, the measured peak above
what was allocated before the run, and their ratio. Each run makes a record at every step (the
app makes one every 0.3 s) and is long enough to fill the replay's budget, as a real run does.
The data is the bundled MNIST sample (10,000 training images, 2,000 test images), so it runs
offline in about a minute.
"""
import argparse
import dataclasses
import time
import tracemalloc

import numpy as np

from app.runs.replay import MAX_BYTES, MAX_COUNT, MIN_COUNT, Snapshots
from core.datasets import make_splits, read_sample
from core.memory import SnapshotBudget, format_bytes, run_memory
from core.model import ModelConfig
from core.training import TrainConfig, fit, new_run

BUDGET = SnapshotBudget(MAX_BYTES, MIN_COUNT, MAX_COUNT)

# (what, ModelConfig, TrainConfig): steps enough to fill the replay's budget (more records than
# MAX_BYTES / one copy, or than MAX_COUNT), the rest what the Train page sets.
CONFIGS = [
    ("recommended: 784-256-128-10, Adam, batch 128, dropout 0.1",
     ModelConfig(hidden_sizes=(256, 128), dropout=0.1),
     TrainConfig(optimizer="adam", learning_rate=0.001, batch_size=128, lr_schedule="cosine",
                 iterations=150)),
    ("784-1024-1024-10 tanh, momentum, batch 512",
     ModelConfig(hidden_sizes=(1024, 1024), activation="tanh", init="glorot"),
     TrainConfig(optimizer="momentum", learning_rate=0.01, batch_size=512, iterations=20)),
    ("original: 784-10-10, SGD, full batch",
     ModelConfig(hidden_sizes=(10,), init="small_uniform"),
     TrainConfig(optimizer="sgd", learning_rate=0.1, batch_size=None, iterations=250)),
    ("784-2048-10 sigmoid, Adam, batch 64, augmented, dropout 0.5",
     ModelConfig(hidden_sizes=(2048,), activation="sigmoid", dropout=0.5),
     TrainConfig(optimizer="adam", learning_rate=0.001, batch_size=64, augment=True,
                 iterations=20)),
]


def sample_splits(dataset="mnist", validation_size=1000):
    raw = read_sample(dataset)
    return raw, make_splits(raw, validation_size, "unit", np.random.default_rng(0))


def measure_run(model_config, train_config, splits, budget=BUDGET):
    """Peak bytes allocated by one short run, above what was allocated when it started: the
    network, ``fit`` to its end with a replay snapshot per record (as app.trainer does), then the
    model evaluated on the whole validation and test sets (app.trainer.finish_model)."""
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


def estimate(model_config, train_config, raw):
    return run_memory(model_config, train_config, snapshot_budget=BUDGET,
                      n_images=len(raw.train_labels), n_test=len(raw.test_labels))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.parse_args(argv)
    raw, splits = sample_splits()
    print(f"MNIST sample: {len(splits.y_train):,} training, {len(splits.y_val):,} validation, "
          f"{len(splits.y_test):,} test images; a record at every step\n")
    print("| run | steps | estimate | measured peak | estimate / measured | seconds |")
    print("|---|---|---|---|---|---|")
    estimates = []
    for what, model_config, train_config in CONFIGS:
        train_config = dataclasses.replace(train_config, report_every=1,
                                           validation_size=len(splits.y_val))
        memory = estimate(model_config, train_config, raw)
        estimates.append((what, memory))
        start = time.perf_counter()
        peak = measure_run(model_config, train_config, splits)
        seconds = time.perf_counter() - start
        print(f"| {what} | {train_config.iterations} | {format_bytes(memory.total)} | "
              f"{format_bytes(peak)} | {memory.total / peak:.2f} | {seconds:.1f} |")
    print("\nThe estimate is a sum of parts that are not all alive at once, so it is meant to be "
          "above the peak (a ratio of 1 to 3). The estimates, part by part:")
    for what, memory in estimates:
        print(f"- {what}: {memory.describe(detailed=True)}")


if __name__ == "__main__":
    main()
