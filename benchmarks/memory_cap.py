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


from app.runs.replay import MAX_BYTES, MAX_COUNT, MIN_COUNT
from core.memory import SnapshotBudget, format_bytes, run_memory
from core.model import ModelConfig
from core.training import TrainConfig
from tests.helpers.runs import measure_run
from tests.helpers.splits import sample_splits

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
