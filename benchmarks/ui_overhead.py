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

With ``--inside`` it measures what the inside of the network costs (the page's "Show the inside"
toggle) instead: the same Trainer run polled every 0.5 s with the page's refresh work with the
inside views (benchmarks/live_views.refresh: curves, unit pictures, guesses panel, hidden-space
map, layer health, a drawing's guess, and Streamlit's encoding of them in bare mode) against the
same run with the toggle off (curves and the drawing's guess only). Runs alternate (off, on, off,
on, ...); the medians of training throughput (images/s over fit's own seconds) are compared.
Default length: 3 epochs of full MNIST (NN_DATA_DIR), the preset's 20 on the bundled sample.
``--server --inside`` does the same on the real Train page in Chromium, the toggle on vs off:

    NN_DATA_DIR=/work/shared/datasets python benchmarks/ui_overhead.py --inside --repeats 5
    python benchmarks/ui_overhead.py --server --inside --epochs 20 --repeats 3
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

from app.render.charts import curves_spec  # noqa: E402
from app.runs.trainer import Trainer  # noqa: E402
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
        curves_spec("loss", (snap.label, snap.history))
        curves_spec("accuracy", (snap.label, snap.history))
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


def with_live_view(model_config, train_config, splits, show_inside, drawing, poll_seconds=0.5):
    """The Trainer's run, refreshed every ``poll_seconds`` as the Train page does with "Show the
    inside" on or off -> (seconds fit trained, images/s, refreshes, median ms per refresh)."""
    from benchmarks.live_views import refresh
    trainer = Trainer()
    memo, refresh_seconds = {}, []
    trainer.start(model_config, train_config, splits, dataset=train_config.dataset, label="bench")
    while True:
        tick = time.perf_counter()
        if trainer.snapshot(poll=False).finished:
            break
        seconds = refresh(trainer, memo, show_inside=show_inside, drawing=drawing)
        if seconds is not None:
            refresh_seconds.append(sum(seconds.values()))
        time.sleep(max(0.0, poll_seconds - (time.perf_counter() - tick)))
    snap = trainer.snapshot()
    trainer.join(30)
    elapsed = snap.history[-1]["elapsed"]
    images = train_config.epochs * splits.X_train.shape[0]
    return (elapsed, images / elapsed, len(refresh_seconds),
            1000 * statistics.median(refresh_seconds) if refresh_seconds else float("nan"),
            snap.status)


def inside_mode(args):
    """Training throughput in-process with the live view's inside views on vs off."""
    from benchmarks.live_views import a_drawing, quiet_streamlit
    quiet_streamlit()
    preset = get_preset(args.preset, args.dataset)
    raw = load_dataset(args.dataset, os.environ.get("NN_DATA_DIR"), download=False)
    splits = make_splits(raw, preset.train.validation_size, preset.train.scaling,
                         np.random.default_rng(preset.train.seed))
    full = splits.X_train.shape[0] > 20_000
    epochs = args.epochs or (3 if full else preset.train.epochs)
    train_config = dataclasses.replace(preset.train, epochs=epochs, iterations=None)
    drawing = a_drawing(raw)
    print(f"{raw.describe()}; preset {args.preset}, {epochs} epoch(s): {preset.model.describe()}; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with_live_view(preset.model, dataclasses.replace(train_config, epochs=1), splits, True,
                   drawing)                                          # warm-up: imports, caches
    speeds = {False: [], True: []}
    for i in range(args.repeats):
        for show_inside in (False, True):
            seconds, speed, refreshes, ms, status = with_live_view(
                preset.model, train_config, splits, show_inside, drawing)
            speeds[show_inside].append(speed)
            print(f"  run {i + 1}, inside {'on ' if show_inside else 'off'}: {seconds:6.2f} s of "
                  f"training, {speed:9,.0f} images/s; {refreshes} refreshes, median "
                  f"{ms:.1f} ms each ({status})", flush=True)
    off, on = statistics.median(speeds[False]), statistics.median(speeds[True])
    pairs = [b / a for a, b in zip(speeds[False], speeds[True])]
    print(f"median images/s: inside off {off:,.0f} ({min(speeds[False]):,.0f}-"
          f"{max(speeds[False]):,.0f}), inside on {on:,.0f} ({min(speeds[True]):,.0f}-"
          f"{max(speeds[True]):,.0f}); on / off = {on / off:.3f} (cost "
          f"{100 * (1 - on / off):+.1f}% of throughput; pair by pair {statistics.median(pairs):.3f}, "
          f"{min(pairs):.3f}-{max(pairs):.3f}); target: cost <= 10%")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def cli_seconds(dataset, epochs, out):
    """``python -m core train`` with the recommended preset -> the seconds of training it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "core", "train", "--preset", "recommended", "--dataset", dataset,
         "--epochs", str(epochs), "--offline", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    return float(re.search(r"\(([\d.,]+) s of training\)", done.stdout).group(1).replace(",", ""))


def set_switch(page, key, on):
    """Turn the page's toggle with widget key ``key`` (e.g. "train.inside") on or off."""
    switch = page.locator(f".st-key-{key.replace('.', '-')}")
    box = switch.locator("input")
    if box.is_checked() != on:
        switch.locator("label").click()
    page.wait_for_function(
        "([selector, on]) => { const b = document.querySelector(selector); return b && b.checked === on; }",
        arg=[f".st-key-{key.replace('.', '-')} input", on])


def app_seconds(page, url, dataset, epochs, show_inside=None):
    """Start the recommended training on the Train page and keep watching it -> its seconds.
    ``show_inside``: set the page's "Show the inside" toggle first (None: leave it). A new
    visitor each time: the app gives a returning visitor (its cookie) their last session's run,
    whose "Finished after" would be read before this run has even started."""
    page.context.clear_cookies()
    page.goto(f"{url}/train?dataset={dataset}")
    page.get_by_role("heading", name="Train a network").wait_for()
    if show_inside is not None:
        set_switch(page, "train.inside", show_inside)
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
    from tests.helpers.browser import (CHROMIUM, CHROMIUM_ARGS_UNTHROTTLED, ServerError,
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
            if args.inside:
                return server_inside(args, page, url, work)
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


def server_inside(args, page, url, work):
    """The real Train page, "Show the inside" off vs on, runs alternating; prints the medians."""
    seconds = {False: [], True: []}
    for i in range(args.repeats):
        for show_inside in (False, True):
            seconds[show_inside].append(app_seconds(page, url, args.dataset, args.epochs,
                                                    show_inside))
        print(f"  run {i + 1}: inside off {seconds[False][-1]:6.2f} s   inside on "
              f"{seconds[True][-1]:6.2f} s of training", flush=True)
    page.screenshot(path=str(work / "train-finished-inside.png"))
    off, on = statistics.median(seconds[False]), statistics.median(seconds[True])
    pairs = [b / a for a, b in zip(seconds[False], seconds[True])]
    print(f"recommended preset, {args.epochs} epochs, {args.dataset}, data: "
          f"{os.environ.get('NN_DATA_DIR') or 'the bundled sample'}; Chromium on the same machine")
    print(f"median seconds of training: inside off {off:.2f} ({min(seconds[False]):.2f}-"
          f"{max(seconds[False]):.2f}), inside on {on:.2f} ({min(seconds[True]):.2f}-"
          f"{max(seconds[True]):.2f}); throughput on / off = {off / on:.3f} (cost "
          f"{100 * (1 - off / on):+.1f}%; pair by pair {statistics.median(pairs):.3f} x the "
          f"time, {min(pairs):.3f}-{max(pairs):.3f}); screenshot {work / 'train-finished-inside.png'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--preset", default="recommended")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 1 (--inside: 3 on full MNIST, 20 on the bundled sample)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server", action="store_true",
                        help="time the real app in Chromium against the CLI")
    parser.add_argument("--inside", action="store_true",
                        help="compare the live view with the inside views on vs off")
    args = parser.parse_args()
    if args.inside and not args.server:
        return inside_mode(args)
    if args.epochs is None:
        args.epochs = 20 if args.server and args.inside else 1
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
