"""What the Train page's live view costs the server for a conv net: the time of one refresh that
redraws every inside view, while the `convnet` preset trains beside it.

    python -m benchmarks.live_views_conv                         # 40 refreshes, the bundled sample
    NN_DATA_DIR=/work/shared/datasets python -m benchmarks.live_views_conv --refreshes 60

A run of the `convnet` preset trains in the app's own ``app.runs.trainer.Trainer`` (restarted when
it ends) while this thread does, every ``--interval`` seconds, what the page's fragment does when
its memo of the inside views has expired (every 2 s, app.views.inside.INSIDE_SECONDS; the
refreshes in between send the memo's pictures again): the snapshot, both curve specs, a copy of
the live model, the first conv layer's filters (app.render.conv_inside.filter_grid, as PNG), the
feature maps of the fixed validation image after every conv and pool layer (feature_stages,
feature_strip, PNG), the guesses panel (20 predictions, guess_panel, PNG), the hidden-space map
(hidden_points: 300 validation images through the whole net to the last dense layer, PCA;
map_spec), the layer-health rows and spec; then Streamlit's own encoding of the pictures and
charts (its bare mode: nothing is sent). Prints p50/p95/max per part, in total, and the refresh's
CPU time (the wall-clock figures include waiting for a core on a loaded machine). Figures are
printed, never asserted: the machine is shared, so the load average is printed too.
"""
import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.render.charts import curves_spec, health_spec, map_spec, thin  # noqa: E402
from app.render.conv_inside import (  # noqa: E402
    feature_strip,
    filter_grid,
    layer_names,
    probe_index,
)
from app.render.images import display_images  # noqa: E402
from app.render.inside import CONV_MAP_POINTS, guess_panel, health_rows, hidden_points, panel_indices  # noqa: E402
from app.runs.trainer import Trainer  # noqa: E402
from app.views.inside import CONV_GUESS_COLUMNS, _png  # noqa: E402
from benchmarks.live_views import (  # noqa: E402
    Parts,
    load_splits_for,
    percentiles,
    planned_epochs,
    quiet_streamlit,
)
from core.conv import Conv2D  # noqa: E402
from core.datasets import CLASS_NAMES  # noqa: E402
from core.explain_conv import feature_stages  # noqa: E402
from core.training import get_preset  # noqa: E402

PARTS = ("snapshot", "curves", "live model", "filters", "feature maps", "guesses",
         "hidden space", "health", "encode pictures", "encode charts")
VIEW_PARTS = PARTS[:8]
CPU = "cpu"                   # this process's CPU time for the whole refresh: on a loaded machine
                              # the wall-clock figures wait for a core, this one does not


def refresh(trainer, memo):
    """One refresh that redraws every inside view of a conv net; {part: seconds}, or None before
    the run's first record."""
    timer = Parts()
    part = timer.part
    cpu = time.process_time()
    with part("snapshot"):
        snap = trainer.snapshot()
    history = snap.history
    if not history or snap.splits is None:
        return None
    pictures, specs = [], []
    epochs = planned_epochs(snap)
    with part("curves"):
        current = (snap.label, history)
        specs.append(curves_spec("loss", current, [], log_scale=True, epochs=epochs))
        specs.append(curves_spec("accuracy", current, [], epochs=epochs))
    scaling = snap.train_config.scaling
    names = CLASS_NAMES[snap.dataset]
    X, y = snap.splits.X_val, snap.splits.y_val
    with part("live model"):
        model = trainer.live_model()
    with part("filters"):
        first = next(layer for layer in model.layers if isinstance(layer, Conv2D))
        pictures.append(_png(filter_grid(np.asarray(first.W))))
    with part("feature maps"):
        index = probe_index(X, y)
        image = display_images(X[index:index + 1], scaling)[0]
        pictures.append(_png(feature_strip(image, feature_stages(model, image.reshape(-1),
                                                                 scaling))))
    with part("guesses"):
        picks = panel_indices(y, X)
        predicted = model.predict(X[picks])
        pictures.append(_png(guess_panel(display_images(X[picks], scaling), y[picks], predicted,
                                         names, columns=CONV_GUESS_COLUMNS)))
    with part("hidden space"):
        previous = memo.get("hidden_map")
        points, star = hidden_points(model, X[:CONV_MAP_POINTS], previous)
        memo["hidden_map"] = points
        specs.append(map_spec(points.coordinates, y[:CONV_MAP_POINTS], names, star))
    with part("health"):
        rows = health_rows(thin(history), layer_names(model.config))
        specs.append(health_spec(rows, "update_ratio", log_scale=True, healthy=1e-3,
                                 epochs=epochs))
    import streamlit as st
    with part("encode pictures"):
        for picture in pictures:
            st.image(picture, width="stretch")
    with part("encode charts"):
        for spec in specs:
            st.vega_lite_chart(spec, width="stretch")
    return {**timer.seconds, CPU: time.process_time() - cpu}


def table(samples):
    print("| part | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name in PARTS:
        p50, p95, top = percentiles([s.get(name, 0.0) for s in samples])
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {top:.1f} |")
    for title, values in (("**views (the app's functions)**",
                           [sum(s.get(n, 0.0) for n in VIEW_PARTS) for s in samples]),
                          ("**total, with Streamlit's encoding**",
                           [sum(v for k, v in s.items() if k != CPU) for s in samples]),
                          ("**CPU time of the whole refresh (this process)**",
                           [s[CPU] for s in samples])):
        p50, p95, top = percentiles(values)
        print(f"| {title} | {p50:.1f} | {p95:.1f} | {top:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=40)
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds from one refresh's start to the next (the memo: 2)")
    parser.add_argument("--iterations", type=int, default=400,
                        help="steps of each run of the preset (restarted when it ends)")
    args = parser.parse_args()
    quiet_streamlit()
    preset = get_preset("convnet")
    raw, splits = load_splits_for(preset)
    print(f"{raw.describe()}; {os.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    train_config = dataclasses.replace(preset.train, iterations=args.iterations)
    trainer, memo, samples, runs = Trainer(), {}, [], 0
    started = time.perf_counter()
    while len(samples) < args.refreshes:
        snap = trainer.snapshot(poll=False)
        if not snap.active:
            memo.clear()
            trainer.start(preset.model, train_config, splits, dataset=train_config.dataset,
                          label=f"bench {runs + 1}")
            runs += 1
        tick = time.perf_counter()
        if snap.status == "running":
            seconds = refresh(trainer, memo)
            if seconds is not None:
                samples.append(seconds)
        time.sleep(max(0.05, args.interval - (time.perf_counter() - tick)))
    wall = time.perf_counter() - started
    trainer.stop()
    trainer.join(30)
    print(f"\n## Server time per refresh of a conv net's live views, every view redrawn "
          f"({len(samples)} refreshes, one every {args.interval:g} s, beside {runs} run(s) of "
          f"the convnet preset ({preset.model.describe()}, {args.iterations} steps each); "
          f"{wall:.0f} s)\n")
    table(samples)
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
