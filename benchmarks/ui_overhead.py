"""UI overhead on training speed: core.training.fit run directly (as the CLI does) vs the app's
Trainer thread polled every 0.5 s the way the Train page's fragment polls it (snapshot, rebuild
both Vega-Lite specs, classify a drawing with a copy of the live model).

    NN_DATA_DIR=/work/shared/datasets python benchmarks/ui_overhead.py [--preset recommended] [--epochs 1]

Prints the wall time of each, side by side, and the ratio. Runs alternate (direct, trainer,
direct, trainer, ...) so a busy machine affects both alike; the best of each is compared.
"""
import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import charts                                       # noqa: E402
from app.trainer import Trainer                              # noqa: E402
from core.datasets import load_dataset, make_splits          # noqa: E402
from core.model import MLP                                   # noqa: E402
from core.training import fit, get_preset                    # noqa: E402


def direct(model_config, train_config, splits):
    rng = np.random.default_rng(train_config.seed)
    model = MLP(model_config, rng)
    start = time.perf_counter()
    records = list(fit(model, splits, train_config, rng))
    return time.perf_counter() - start, len(records)


def through_trainer(model_config, train_config, splits, poll_seconds=0.5):
    trainer = Trainer()
    drawing = np.zeros((1, 784), np.float32)
    drawing[0, 300:320] = 1.0
    start = time.perf_counter()
    trainer.start(model_config, train_config, splits, dataset=train_config.dataset, label="bench")
    polls = 0
    while True:
        snap = trainer.snapshot()
        polls += 1
        charts.curves_spec("loss", (snap.label, snap.history))
        charts.curves_spec("accuracy", (snap.label, snap.history))
        live = trainer.live_model()
        if live is not None:
            live.predict_proba(drawing)
        if snap.finished:
            break
        time.sleep(poll_seconds)
    # the training itself ends before the final evaluation; time it like the direct run does
    elapsed = snap.history[-1]["elapsed"] if snap.history else time.perf_counter() - start
    wall = time.perf_counter() - start
    return elapsed, len(snap.history), wall, polls, snap.status


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--preset", default="recommended")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    preset = get_preset(args.preset, args.dataset)
    train_config = dataclasses.replace(preset.train, epochs=args.epochs, iterations=None)
    raw = load_dataset(args.dataset, os.environ.get("NN_DATA_DIR"), download=False)
    splits = make_splits(raw, train_config.validation_size, train_config.scaling,
                         np.random.default_rng(train_config.seed))
    print(f"{raw.describe()}; preset {args.preset}, {args.epochs} epoch(s): "
          f"{preset.model.describe()}")
    direct_times, trainer_times = [], []
    for i in range(args.repeats):
        t, n = direct(preset.model, train_config, splits)
        direct_times.append(t)
        print(f"  direct fit          {t:7.2f} s  ({n} records)")
        t, n, wall, polls, status = through_trainer(preset.model, train_config, splits)
        trainer_times.append(t)
        print(f"  Trainer + 0.5 s poll {t:7.2f} s  ({n} records, {polls} polls, {status}; "
              f"{wall:.2f} s with calibration and final evaluation)")
    best_direct, best_trainer = min(direct_times), min(trainer_times)
    print(f"best: direct {best_direct:.2f} s, app {best_trainer:.2f} s, "
          f"ratio {best_trainer / best_direct:.3f} (overhead {100 * (best_trainer / best_direct - 1):+.1f}%)")


if __name__ == "__main__":
    main()
