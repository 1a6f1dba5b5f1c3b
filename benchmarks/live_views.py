"""What the Train page's live view costs the server: the time of one refresh with every view open,
and the memory the replay's weight snapshots take.

    python -m benchmarks.live_views                          # 200 refreshes, the bundled sample
    NN_DATA_DIR=/work/shared/datasets python -m benchmarks.live_views
    python -m benchmarks.live_views --refreshes 400 --interval 0 --skip-memory

1. Time per refresh. A real run of the recommended preset trains in the app's own
   ``app.trainer.Trainer`` thread (fit with report_seconds=0.3, a weight snapshot with each
   record), restarted when it ends, while this thread does what the page's fragment
   (app/train_run.py) does on each refresh with "Show the inside" on and a drawing from the Draw
   page: the snapshot, both curve specs, a copy of the live model, the unit pictures
   (app.inside.weight_grid), the guesses panel (guess_panel, after predicting its 20 images), the
   hidden-space map (hidden_points: 1,000 validation images and the drawing, PCA; map_spec), the
   layer-health rows and their three specs, and the drawing's guess with its chart. Then, as the
   page's st.image and st.vega_lite_chart calls do before anything is sent, Streamlit's own
   encoding of those pictures (JPEG) and charts (Arrow): the same calls, in Streamlit's bare mode
   (no server, nothing sent). Every ``--interval`` seconds (the page polls every 0.5 s). Prints
   p50/p95/max per part and in total. Target: p95 < 60 ms in total. Then ``--after`` refreshes
   of the ended run, back to back (what the replay slider redraws; no training beside it).
2. The map's parts: the forward pass, core.pca's SVD and, for comparison, an eigendecomposition
   of the scatter matrix, at 1 and 2 BLAS threads.
3. Snapshot memory. Peak bytes and count of the run's app.snapshots.Snapshots (100 MB, 200
   copies at most; thinned evenly), watched after every add, over a whole recommended-preset run
   and over a run of a large network (784-1024-1024-10); and what a network too large for 8
   copies gets (no replay).

Figures are printed, never asserted: the machine is shared, so the load average is printed too.
``refresh()`` is what benchmarks/ui_overhead.py --inside runs twice a second beside a training.
"""
import argparse
import dataclasses
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.render.charts import curves_spec, health_spec, map_spec, probabilities_spec, thin
from app.render.images import display_images
from app.render.inside import (
    HEALTH,
    MAP_POINTS,
    UNITS_SHOWN,
    guess_panel,
    health_rows,
    hidden_points,
    panel_indices,
    weight_grid,
)
from app.runs import trainer as trainer_module
from app.runs.replay import MAX_BYTES, MAX_COUNT, Snapshots
from app.runs.trainer import Trainer
from core.datasets import CLASS_NAMES, load_dataset, make_splits  # noqa: E402
from core.model import ModelConfig  # noqa: E402
from core.training import get_preset, plan  # noqa: E402

MB = 2**20
PARTS = ("snapshot", "curves", "live model", "unit pictures", "guesses", "hidden space", "health",
         "drawing guess", "encode pictures", "encode charts")
VIEW_PARTS = PARTS[:8]            # the app's functions; the last two are Streamlit's encoding


def quiet_streamlit():
    """Streamlit in bare mode warns on every call ("missing ScriptRunContext"): silence it."""
    import streamlit.config
    import streamlit.logger
    streamlit.config.get_option("logger.level")     # parses the config, which sets the level
    streamlit.logger.set_log_level(logging.ERROR)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)


class Parts:
    """Seconds per named part of one refresh."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def part(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def planned_epochs(snap):
    """The run's length in epochs (the curves' fixed x axis), as the page computes it."""
    last = snap.last
    if not last or not last["step"] or not snap.total_steps:
        return None
    return snap.total_steps * last["epoch"] / last["step"]


def refresh(trainer, memo, *, show_inside=True, drawing=None, encode=True):
    """One refresh of the live view as app/train_run.py's fragment does it (Replay off); returns
    {part: seconds}, or None when the run has no record yet. ``memo``: a dict kept between
    refreshes (the last hidden map, as the page keeps it in session_state). ``drawing``: (784,)
    pixels in [0, 1] from the Draw page, or None. ``encode``: also run Streamlit's encoding of the
    pictures and charts (st.image / st.vega_lite_chart in bare mode)."""
    timer = Parts()
    part = timer.part
    with part("snapshot"):
        snap = trainer.snapshot()
    history = snap.history
    if not history:
        return None
    pictures, specs = [], []
    with part("curves"):
        options = {"epochs": planned_epochs(snap), "blew_up": None, "position": None}
        current = (snap.label, history)
        specs.append(curves_spec("loss", current, [], log_scale=True, **options))
        specs.append(curves_spec("accuracy", current, [], **options))
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    names = CLASS_NAMES[snap.dataset]
    if show_inside and snap.splits is not None:
        with part("live model"):
            model = trainer.live_model()
        splits = snap.splits
        if splits.X_val.shape[0]:
            X, y = splits.X_val, splits.y_val
        else:
            X, y = splits.X_test[:MAP_POINTS], splits.y_test[:MAP_POINTS]
        with part("unit pictures"):
            W = np.asarray(model.params["layers.0.W"])                        # (784, H)
            columns = 6 if model.config.hidden_sizes else 5
            pictures.append(weight_grid(W, min(UNITS_SHOWN, W.shape[1]),
                                               columns=columns))
        with part("hidden space"):
            previous = memo.get("hidden_map")
            previous = previous[1] if previous is not None and previous[0] == snap.run_id else None
            points, star = hidden_points(model, X[:MAP_POINTS], previous, drawing)
            memo["hidden_map"] = (snap.run_id, points)
            specs.append(map_spec(points.coordinates, y[:MAP_POINTS], names, star))
        with part("guesses"):
            picks = panel_indices(y)
            predicted = model.predict(X[picks])
            pictures.append(guess_panel(display_images(X[picks], scaling), y[picks],
                                               predicted, names))
        with part("health"):
            rows = health_rows(thin(history))
            epochs = planned_epochs(snap)
            for metric, (title, _, _) in HEALTH.items():
                specs.append(health_spec(
                    rows, metric, title, log_scale=metric != "dead_share",
                    healthy=1e-3 if metric == "update_ratio" else None, epochs=epochs))
    if drawing is not None:
        with part("drawing guess"):
            live = trainer.live_model() if snap.active else (snap.saved.model if snap.saved else None)
            if live is not None:
                probabilities = live.predict_proba(np.asarray(drawing, np.float32)[None, :])[0]
                specs.append(probabilities_spec(probabilities, names, height=150))
    if encode:
        import streamlit as st
        with part("encode pictures"):
            for picture in pictures:
                st.image(picture, width="stretch")
        with part("encode charts"):
            for spec in specs:
                st.vega_lite_chart(spec, width="stretch")
    return timer.seconds


def load_splits_for(preset, dataset="mnist"):
    raw = load_dataset(dataset, os.environ.get("NN_DATA_DIR") or None, download=False)
    train = preset.train
    splits = make_splits(raw, train.validation_size, train.scaling,
                         np.random.default_rng(train.seed))
    return raw, splits


def a_drawing(raw):
    """A digit as the Draw page would hand it over: the first test image, (784,) in [0, 1]."""
    return np.asarray(raw.test_images[0], np.float32) / 255.0


def percentiles(values):
    values = np.asarray(values) * 1000.0
    return np.percentile(values, 50), np.percentile(values, 95), values.max()


def time_refreshes(args, preset, raw, splits):
    quiet_streamlit()
    train_config = dataclasses.replace(preset.train, epochs=args.epochs or preset.train.epochs,
                                       iterations=None)
    trainer = Trainer()
    drawing = a_drawing(raw)
    memo, samples, runs, statuses = {}, [], 0, {}
    refresh(trainer, memo, drawing=drawing)                          # None: warms the imports
    started = time.perf_counter()
    while len(samples) < args.refreshes:
        snap = trainer.snapshot(poll=False)
        if not snap.active:
            if snap.history:
                statuses[snap.status] = statuses.get(snap.status, 0) + 1
            memo.clear()
            trainer.start(preset.model, train_config, splits, dataset=train_config.dataset,
                          label=f"bench {runs + 1}")
            runs += 1
        tick = time.perf_counter()
        if snap.status == "running":
            seconds = refresh(trainer, memo, drawing=drawing)
            if seconds is not None:
                samples.append(seconds)
        time.sleep(max(0.0, args.interval - (time.perf_counter() - tick)))
    wall = time.perf_counter() - started
    trainer.stop()
    trainer.join(30)
    records = len(trainer.snapshot(poll=False).history)
    print(f"\n## Server time per live refresh, every view open ({len(samples)} refreshes, one every "
          f"{args.interval:g} s, beside {runs} run(s) of the recommended preset "
          f"({preset.model.describe()}, {train_config.epochs} epochs each); {wall:.0f} s)\n")
    p95 = table(samples)
    print(f"\nTarget p95 < 60 ms: {'met' if p95 < 60 else 'MISSED'} ({p95:.1f} ms). "
          f"The last run had {records} records when the timing stopped; the map projects "
          f"{MAP_POINTS} validation images.")
    if args.after:
        # the same view once the run has ended (what Replay redraws at each move of its slider):
        # no training beside it, and the BLAS is no longer pinned to the training's 1 thread
        after = [refresh(trainer, memo, drawing=drawing) for _ in range(args.after)]
        print(f"\n### The same refresh after the run has ended ({args.after} back to back; BLAS "
              f"threads as the run left them)\n")
        table(after)


def table(samples):
    """Print p50/p95/max per part and in total (ms); return the total's p95."""
    print("| part | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name in PARTS:
        p50, p95, top = percentiles([s.get(name, 0.0) for s in samples])
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {top:.1f} |")
    views = [sum(s.get(n, 0.0) for n in VIEW_PARTS) for s in samples]
    totals = [sum(s.values()) for s in samples]
    for title, values in (("**views (the app's functions)**", views),
                          ("**total, with Streamlit's encoding**", totals)):
        p50, p95, top = percentiles(values)
        print(f"| {title} | {p50:.1f} | {p95:.1f} | {top:.1f} |")
    return percentiles(totals)[1]


def map_parts(preset, splits, repeats=15):
    """Where the hidden-space map's time goes, on a trained model: the forward pass, core.pca's
    SVD of the (1000, H) activations, and (for comparison) an eigendecomposition of their (H, H)
    scatter matrix, which gives the same components; at 1 BLAS thread (as while a run trains) and
    2 (the library's default, as after a run)."""
    from core import blas
    from core.pca import fit_pca
    train_config = dataclasses.replace(preset.train, epochs=1, iterations=None)
    snap = watched_run(preset.model, train_config, splits, "map")
    model = snap.saved.model
    X = splits.X_val[:MAP_POINTS]
    H = np.asarray(model.hidden_activations(X)[-1], np.float64)              # (N, H)

    def scatter_eigh():
        centred = H - H.mean(axis=0)
        return np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :2]         # (H, 2)

    def timed(f):
        f()
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            f()
            seconds.append(time.perf_counter() - start)
        return 1000 * np.median(seconds), 1000 * min(seconds)

    print(f"\n## The hidden-space map's parts ({H.shape[0]} images, last hidden layer of "
          f"{H.shape[1]}; median (min) ms of {repeats})\n")
    print("| BLAS threads | hidden_activations | fit_pca (SVD of N x H) | eigh of the H x H scatter |")
    print("|---|---|---|---|")
    for threads in (1, 2):
        with blas.threads(threads):
            cells = [timed(lambda: model.hidden_activations(X)), timed(lambda: fit_pca(H, 2)),
                     timed(scatter_eigh)]
        print(f"| {threads} | " + " | ".join(f"{m:.1f} ({lo:.1f})" for m, lo in cells) + " |")
    same = np.allclose(np.abs(np.sum(fit_pca(H, 2).components * scatter_eigh().T, axis=1)), 1,
                       atol=1e-8)
    print(f"\nSame two components (up to sign) from both: {same}.")


class PeakSnapshots(Snapshots):
    """app.snapshots.Snapshots that remembers its largest size and count after every add."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.peak_bytes = self.peak_count = self.adds = self.thinnings = 0
        self.copy_bytes = 0

    def add(self, record_index, record, params):
        before = len(self)
        self.copy_bytes = sum(a.nbytes for a in params.values())
        super().add(record_index, record, params)
        self.adds += 1
        if len(self) < before + 1 and not self.refused:
            self.thinnings += 1
        self.peak_bytes = max(self.peak_bytes, self.nbytes)
        self.peak_count = max(self.peak_count, len(self))


def watched_run(model_config, train_config, splits, label):
    """Train with the app's Trainer (its snapshots watched); poll as the page does."""
    original = trainer_module.Snapshots
    trainer_module.Snapshots = PeakSnapshots
    try:
        trainer = Trainer()
        trainer.start(model_config, train_config, splits, dataset=train_config.dataset, label=label)
        while True:
            snap = trainer.snapshot()
            if snap.finished:
                break
            time.sleep(0.5)
        trainer.join(30)
    finally:
        trainer_module.Snapshots = original
    return snap


def memory(args, preset, splits):
    n_train = splits.X_train.shape[0]
    large = dataclasses.replace(preset.model, hidden_sizes=tuple(args.large))
    runs = [("recommended preset", preset.model,
             dataclasses.replace(preset.train, iterations=None)),
            ("large network", large,
             dataclasses.replace(preset.train, epochs=args.large_epochs, iterations=None))]
    print(f"\n## Replay snapshots (limits: {MAX_BYTES / MB:.0f} MB and "
          f"{MAX_COUNT} copies per run; thinned evenly)\n")
    print("| run | network | steps | records | one copy | copies taken | peak kept | peak MB | "
          "kept at the end | MB at the end | thinnings | training s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for title, model_config, train_config in runs:
        _, _, total = plan(train_config, n_train)
        snap = watched_run(model_config, train_config, splits, title)
        kept = snap.snapshots
        sizes = "-".join(map(str, model_config.layer_sizes))
        seconds = snap.history[-1]["elapsed"] if snap.history else float("nan")
        print(f"| {title} ({train_config.epochs} epochs) | {sizes} | {total:,} | "
              f"{len(snap.history):,} | {kept.copy_bytes / MB:.2f} MB | {kept.adds:,} | "
              f"{kept.peak_count} | {kept.peak_bytes / MB:.1f} | {len(kept)} | "
              f"{kept.nbytes / MB:.1f} | {kept.thinnings} | {seconds:.1f} |")
    # a network whose one copy is over MAX_BYTES / MIN_COUNT gets no snapshots: no need to train it
    huge = ModelConfig(hidden_sizes=tuple(args.huge))
    rng = np.random.default_rng(0)
    from core.model import MLP
    params = MLP(huge, rng).copy_params()
    refusing = Snapshots()
    refusing.add(0, {"step": 0, "epoch": 0.0, "elapsed": 0.0}, params)
    sizes = "-".join(map(str, huge.layer_sizes))
    print(f"\n{sizes} ({sum(a.nbytes for a in params.values()) / MB:.1f} MB a copy): "
          f"{len(refusing)} snapshots kept; the page says: \"{refusing.refused}\"")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds from one refresh's start to the next (the page: 0.5)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of each timed run (default: the preset's)")
    parser.add_argument("--large", type=int, nargs="+", default=[1024, 1024],
                        help="hidden sizes of the large network (memory)")
    parser.add_argument("--large-epochs", type=int, default=1)
    parser.add_argument("--huge", type=int, nargs="+", default=[2048, 2048],
                        help="hidden sizes of a network too large for a replay")
    parser.add_argument("--after", type=int, default=20,
                        help="refreshes to time once the run has ended (0: none)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-map", action="store_true",
                        help="skip timing the map's parts (forward pass, SVD, eigh)")
    parser.add_argument("--skip-refreshes", action="store_true")
    args = parser.parse_args()
    preset = get_preset("recommended")
    raw, splits = load_splits_for(preset)
    print(f"{raw.describe()}; {os.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    if not args.skip_refreshes:
        time_refreshes(args, preset, raw, splits)
    if not args.skip_map:
        map_parts(preset, splits)
    if not args.skip_memory:
        memory(args, preset, splits)
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
