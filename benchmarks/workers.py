"""Training in worker processes (app.trainer + app.worker): what a run costs and how fast it obeys.

    NN_DATA_DIR=/work/shared/datasets python -m benchmarks.workers [--repeats 5] [--epochs 2]

Measures, for the recommended preset (the bundled sample without NN_DATA_DIR):
  * start: Start -> the worker's first record (spawn, imports, the data sent over the pipe);
  * stop: Stop -> the run's final status, and -> the worker process gone (median and max);
  * memory: the worker's peak RSS (VmHWM in /proc) and the data it holds;
  * two runs at once vs one alone: each run's training images per second (two cores);
  * kill -9 of a server process training a run: seconds until its worker is gone.
Prints a Markdown table.
"""
import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.runs.trainer import Trainer  # noqa: E402
from core.datasets import load_dataset, make_splits     # noqa: E402
from core.training import TrainConfig, get_preset      # noqa: E402
from tests.helpers.procs import exited, status         # noqa: E402
from tests.helpers.runs import KILL_SCRIPT             # noqa: E402


def _wait(predicate, timeout=60.0, every=0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


def start_and_stop(model_config, splits, dataset):
    """(seconds to the first record, to the final status after Stop, to the worker gone, peak RSS)."""
    t = Trainer()
    endless = TrainConfig(learning_rate=0.05, iterations=1_000_000, batch_size=64)
    began = time.perf_counter()
    t.start(model_config, endless, splits, dataset=dataset)
    _wait(lambda: t.snapshot(poll=False).history)
    first = time.perf_counter() - began
    pid = t.worker_pid
    _wait(lambda: len(t.snapshot(poll=False).history) >= 20)
    peak = status("VmHWM", pid)
    asked = time.perf_counter()
    t.stop()
    _wait(lambda: t.snapshot(poll=False).finished)
    final = time.perf_counter() - asked
    _wait(lambda: exited(pid))
    gone = time.perf_counter() - asked
    t.join(10)
    return first, final, gone, peak


def throughput(model_config, train_config, splits, dataset, runs):
    """Images/s of each of ``runs`` runs trained at once."""
    trainers = [Trainer() for _ in range(runs)]
    for i, t in enumerate(trainers):
        t.start(model_config, train_config, splits, dataset=dataset, visitor=f"bench-{i}")
    for t in trainers:
        t.join(3600)
    speeds = []
    for t in trainers:
        last = t.snapshot(poll=False).history[-1]
        speeds.append(last["step"] * train_config.batch_size / last["elapsed"])
    return speeds


def orphan_seconds():
    server = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT))],
                              stdout=subprocess.PIPE, text=True)
    pid = int(server.stdout.readline())
    killed = time.perf_counter()
    server.kill()
    server.wait()
    gone = _wait(lambda: exited(pid), 30)        # exited (a zombie until init reaps it) or gone
    return time.perf_counter() - killed if gone else float("inf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the throughput runs")
    args = parser.parse_args()
    raw = load_dataset(args.dataset, os.environ.get("NN_DATA_DIR"), download=False)
    preset = get_preset("recommended", args.dataset)
    train_config = dataclasses.replace(preset.train, epochs=args.epochs, iterations=None)
    splits = make_splits(raw, train_config.validation_size, train_config.scaling,
                         np.random.default_rng(train_config.seed))
    data_mb = sum(getattr(splits, n).nbytes for n in ("X_train", "y_train", "X_val", "y_val",
                                                       "X_test", "y_test")) / 2**20
    print(f"{raw.describe()}; {preset.model.describe()}; load average "
          f"{os.getloadavg()[0]:.1f}")
    rows = [start_and_stop(preset.model, splits, args.dataset) for _ in range(args.repeats)]
    first, final, gone, peak = (list(column) for column in zip(*rows))
    alone = throughput(preset.model, train_config, splits, args.dataset, 1)
    both = throughput(preset.model, train_config, splits, args.dataset, 2)
    orphans = [orphan_seconds() for _ in range(3)]
    ms = lambda values: f"{1000 * statistics.median(values):,.0f} ms (max {1000 * max(values):,.0f})"
    table = [
        ("Start -> first record (spawn, imports, data over the pipe)", ms(first)),
        ("Stop -> final status", ms(final)),
        ("Stop -> worker process gone", ms(gone)),
        ("worker peak RSS (VmHWM)", f"{statistics.median(peak) / 2**20:,.0f} MB, of which data "
                                    f"{data_mb:,.0f} MB"),
        (f"one run alone, {args.epochs} epochs", f"{alone[0]:,.0f} images/s"),
        ("two runs at once", " and ".join(f"{s:,.0f} images/s ({s / alone[0]:.0%} of alone)"
                                          for s in both)),
        ("kill -9 of the server -> its worker gone", ms(orphans)),
    ]
    print(f"\n| measure ({args.repeats} starts and stops; load average now "
          f"{os.getloadavg()[0]:.1f}) | result |\n|---|---|")
    for name, value in table:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
