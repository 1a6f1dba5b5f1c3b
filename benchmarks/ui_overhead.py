"""UI overhead on training speed: core.training.fit run directly (as the CLI does) vs the app's
Trainer thread polled every 0.5 s the way the Train page's fragment polls it (snapshot, rebuild
both Vega-Lite specs, classify a drawing with a copy of the live model).

    NN_DATA_DIR=/work/shared/datasets python benchmarks/ui_overhead.py [--preset recommended] [--epochs 1]

Prints the wall time of each, side by side, and the ratio. Runs alternate (direct, trainer,
direct, trainer, ...) so a busy machine affects both alike; the best of each is compared.

With ``--server`` it measures the real thing instead: ``python -m core train`` in a subprocess
against the Train page of a ``streamlit run`` server (127.0.0.1, a free port) driven by headless
Chromium, which presses Start with the page's default (recommended) settings and the same epochs,
and keeps the page open (charts redrawn twice a second) until "Finished after X s of training".
Both report the seconds ``core.training.fit`` ran (data loading and the final test evaluation are
outside it); CLI and app runs alternate:

    python benchmarks/ui_overhead.py --server --epochs 20 --repeats 3     # the bundled sample
"""
import argparse
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def cli_seconds(dataset, epochs, out):
    """``python -m core train`` with the recommended preset -> the seconds of training it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "core", "train", "--preset", "recommended", "--dataset", dataset,
         "--epochs", str(epochs), "--offline", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    return float(re.search(r"\(([\d.,]+) s of training\)", done.stdout).group(1).replace(",", ""))


def app_seconds(page, url, dataset, epochs):
    """Start the recommended training on the Train page and keep watching it -> its seconds."""
    page.goto(f"{url}/train?dataset={dataset}")
    page.get_by_role("heading", name="Train a network").wait_for()
    field = page.get_by_role("spinbutton", name="Epochs")
    field.fill(str(epochs))
    field.press("Enter")
    page.get_by_text(re.compile(r"Plan:")).wait_for()
    page.wait_for_timeout(500)
    page.get_by_role("button", name=re.compile("Start")).click()
    done = page.get_by_text(re.compile(r"Finished after [\d.,]+ s of training"))
    done.wait_for(timeout=900_000)
    return float(re.search(r"after ([\d.,]+) s", done.inner_text()).group(1).replace(",", ""))


def server_mode(args):
    from playwright.sync_api import sync_playwright
    from benchmarks.browser import (CHROMIUM, CHROMIUM_ARGS_UNTHROTTLED, ServerError,
                                    start_server, stop_server)

    work = Path(tempfile.mkdtemp(prefix="ui-overhead-"))
    try:
        server, url = start_server(work / "streamlit.log")
    except ServerError as e:
        sys.exit(str(e))
    cli, app = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS_UNTHROTTLED)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(60_000)
            app_seconds(page, url, args.dataset, 1)                  # warm-up: imports, data
            for i in range(args.repeats):
                cli.append(cli_seconds(args.dataset, args.epochs, work / "cli.npz"))
                app.append(app_seconds(page, url, args.dataset, args.epochs))
                print(f"  run {i + 1}: CLI {cli[-1]:6.2f} s   app (Train page open) "
                      f"{app[-1]:6.2f} s", flush=True)
            page.screenshot(path=str(work / "train-finished.png"))
            browser.close()
    finally:
        stop_server(server)
    ratio = statistics.median(app) / statistics.median(cli)
    print(f"recommended preset, {args.epochs} epochs, {args.dataset}, data: "
          f"{os.environ.get('NN_DATA_DIR') or 'the bundled sample'}")
    print(f"median: CLI {statistics.median(cli):.2f} s ({min(cli):.2f}-{max(cli):.2f}), app "
          f"{statistics.median(app):.2f} s ({min(app):.2f}-{max(app):.2f}); app / CLI = "
          f"{ratio:.3f} (overhead {100 * (ratio - 1):+.1f}%); best vs best "
          f"{min(app) / min(cli):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--preset", default="recommended")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server", action="store_true",
                        help="time the real app in Chromium against the CLI")
    args = parser.parse_args()
    if args.server:
        return server_mode(args)
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
