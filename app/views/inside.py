"""The inside of the network on the Train page, live and in the replay: what the first-layer units
look for, the guesses on fixed validation images, the hidden-space map, each layer's health, and
the visitor's drawing as the network sees it now.

The views follow a running network every ``INSIDE_SECONDS``: in between, the same pictures and
charts are sent again from a memo (``inside_memo``), so neither the server nor the browser redoes
them twice a second (with the browser on the same 2-core machine, that work took the training
worker's core: a run took twice as long as the CLI's).

    inside_views(trainer, snap, moment, slots)   the four inside views, for now or a replay
                                          moment, each into its place on the dashboard; a conv
                                          net's filters instead of the units, and its feature
                                          maps in one more place (app.views.inside_conv)
    drawing_guess(trainer, snap)          the visitor's drawing, classified by the running network
"""
import hashlib
import io
import math
import time

import numpy as np
import streamlit as st

from app.data import class_names
from app.inputs.form import K
from core.explain import to_model_input
from app.render.charts import map_spec, probabilities_spec, thin
from app.render.conv_inside import layer_names
from app.render.curves import HEALTHY_UPDATE, health_spec
from app.render.images import display_images
from app.render.inside import (
    HEALTH,
    CONV_MAP_POINTS,
    MAP_POINTS,
    UNITS_SHOWN,
    guess_panel,
    health_rows,
    health_verdict,
    hidden_points,
    panel_indices,
    weight_grid,
)
from app.views.inside_conv import feature_maps_view, filters_view
from core.errors import NNError
from core.model import MLP

INSIDE_SECONDS = 2.0      # how often the inside views take the running network's new weights
# Sizes on the dashboard (app.views.train_live): one row of curves and map, one of pictures and health
CHART_HEIGHT = 215        # the curves and the hidden-space map, whole charts
CHART_HEIGHT_ENDED = 195  # the same once the run has ended: the verdict above takes the room
HEALTH_HEIGHT = 200       # the layer-health chart, under its choice of figure
CONV_HEALTH_HEIGHT = 185  # a conv net's, in a narrower column: its caption takes two lines
UNITS_WIDTH = 215         # the 6 x 6 unit pictures, square
UNITS_WIDTH_ENDED = 170   # once the run has ended: the verdict above takes the room
HEALTH_CHOICES = {"Update size": "update_ratio", "Gradient": "grad_norm", "Dead units": "dead_share"}
GUESS_COLUMNS = 7         # the 20 guesses in 3 rows: big enough to read the guess under each
CONV_GUESS_COLUMNS = 5    # a conv net's, in a narrower column (the feature maps take the room)


def chart_height(snap):
    """The height of the curves and the hidden-space map: a little less once the run has ended
    and its verdict (or a diverged run's explanation) shows above them."""
    return CHART_HEIGHT if snap is None or snap.active else CHART_HEIGHT_ENDED


def _inside_model(t, snap, moment):
    """(the network the inside views show, the memo of views made of it). A replay moment is
    shown as it is; a running network is taken again only every INSIDE_SECONDS."""
    memo = st.session_state["inside_memo"]
    now = time.monotonic()
    if moment is not None:
        key = (snap.run_id, "moment", moment.record)
    elif (snap.active and memo is not None and memo["run"] == snap.run_id
          and memo["key"][1] == "live" and now - memo["taken"] < INSIDE_SECONDS):
        return memo["model"], memo["views"]
    else:
        key = (snap.run_id, "live", len(snap.history), snap.status)
    if memo is not None and memo["key"] == key:
        return memo["model"], memo["views"]
    model = (MLP(snap.model_config, params=moment.params) if moment is not None
             else t.live_model())
    memo = {"run": snap.run_id, "key": key, "taken": now, "model": model, "views": {}}
    st.session_state["inside_memo"] = memo
    return model, memo["views"]


def _remembered(views, name, make):
    """``views[name]``, made by ``make()`` the first time for this network."""
    if name not in views:
        views[name] = make()
    return views[name]


def _png(picture):
    """An RGB uint8 picture as PNG bytes: made once, sent again as the same file (same id)."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def inside_views(t, snap, moment, slots):
    """What the units look for, guesses flipping, the hidden space and layer health, each drawn
    into its place on the dashboard: ``slots`` maps "units", "guesses", "map", "health" to a
    Streamlit container, and for a conv net "maps" too (its filters go in "units")."""
    model, views = _inside_model(t, snap, moment)
    if model is None or snap.splits is None:
        return
    names = class_names(snap.dataset)
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    X, y, which = _probe_images(snap.splits)
    conv = model.config.is_convolutional

    def remembered(name, make):
        return _remembered(views, name, make)
    with slots["units"]:
        if conv:
            filters_view(model, remembered, _png)
        else:
            kept = snap.snapshots.items() if snap.snapshots is not None else ()
            start = kept[0].params if kept and kept[0].step == 0 else None
            _unit_pictures(model, names, start, views,
                           UNITS_WIDTH if snap.active else UNITS_WIDTH_ENDED)
    if conv:
        with slots["maps"]:
            feature_maps_view(model, X, y, scaling, remembered, _png)
    with slots["map"]:
        _hidden_space(model, X, y, names, scaling, which, snap.run_id, views, chart_height(snap))
    with slots["guesses"]:
        if conv:                          # a narrower column: a shorter caption
            _guesses(model, X, y, names, scaling, which, views, CONV_GUESS_COLUMNS,
                     "Green: right, red: wrong.")
        else:
            _guesses(model, X, y, names, scaling, which, views)
    with slots["health"]:
        _health(snap, moment, views, layer_names(model.config),
                CONV_HEALTH_HEIGHT if conv else HEALTH_HEIGHT)


def _probe_images(splits):
    """(X, y, words) of the images the live views look at: the live validation images, or the
    first test images when no validation images were held out."""
    if splits.X_val.shape[0]:
        return splits.X_val, splits.y_val, "validation images"
    return splits.X_test[:MAP_POINTS], splits.y_test[:MAP_POINTS], "test images"


def _unit_pictures(model, names, start_params, views, width=UNITS_WIDTH):
    W = np.asarray(model.params["layers.0.W"])                        # (784, H)
    has_hidden = len(model.config.hidden_sizes) > 0
    count = min(UNITS_SHOWN, W.shape[1])
    head = st.container(horizontal=True, vertical_alignment="center")
    head.markdown("**What the units look for**")
    # "what they learned" by default: in a wide layer the random start hides the strokes
    view = head.segmented_control(
        "Show", ["weights", "learned"], default="learned",
        key=K + "weights_view", label_visibility="collapsed", disabled=start_params is None,
        help="Weights: each unit's incoming weights as they are. Learned: what training has "
             "added to them since the random start, without the starting noise.")
    learned = view == "learned" and start_params is not None

    def picture():
        change = W - np.asarray(start_params["layers.0.W"]) if learned else W
        return _png(weight_grid(change, count, columns=6 if has_hidden else 5))
    st.image(_remembered(views, ("units", learned), picture), width=width)
    what = (f"the first {count} of {W.shape[1]} first-layer units" if has_hidden
            else "the 10 output units (" + ", ".join(map(str, names)) + ")")
    how = ("what training has added to the 784 incoming weights" if learned
           else "the 784 incoming weights")
    nothing_yet = learned and start_params is not None and not np.any(
        W != np.asarray(start_params["layers.0.W"]))
    st.caption("Nothing learned yet: this is the random start." if nothing_yet
               else "Red: ink pushes the unit up; blue: down.",
               help=f"{how.capitalize()} of {what}, as 28x28 pictures: red where ink pushes the "
                    "unit up, blue where it pushes it down. They start as noise and form strokes.")


def _guesses(model, X, y, names, scaling, which, views, columns=GUESS_COLUMNS,
             caption="Green: right, red: wrong. Watch them flip."):
    picks = panel_indices(y, X)

    def panel():
        predicted = model.predict(X[picks])
        return int((predicted == y[picks]).sum()), _png(guess_panel(
            display_images(X[picks], scaling), y[picks], predicted, names,
            columns=columns))
    right, picture = _remembered(views, "guesses", panel)
    st.markdown(f"**Its guesses: {right} of {len(picks)} right**")
    st.image(picture, width="stretch")
    st.caption(caption,
               help=f"The same {len(picks)} {which} for the whole run (two of each class), the "
                    "guess under each: green when right, red when wrong.")


def _hidden_space(model, X, y, names, scaling, which, run_id, views, height=CHART_HEIGHT):
    drawing = st.session_state["drawing_pixels"]
    if drawing is not None:
        drawing = to_model_input(drawing.reshape(1, -1), scaling)
    seen = None if drawing is None else hashlib.sha1(np.ascontiguousarray(drawing)).hexdigest()

    def chart():
        last = st.session_state["hidden_map"]
        previous = last[1] if last is not None and last[0] == run_id else None
        n = CONV_MAP_POINTS if model.config.is_convolutional else MAP_POINTS
        points, star = hidden_points(model, X[:n], previous, drawing)
        st.session_state["hidden_map"] = (run_id, points)    # the next map keeps this orientation
        return points, map_spec(points.coordinates, y[:n], names, star, height=height)
    points, spec = _remembered(views, ("map", seen), chart)
    st.markdown(f"**The hidden space** · {points.layer}"
                + (" · ★ your drawing" if seen is not None else ""),
                help=f"{len(points.coordinates):,} {which} as {points.layer} sees them, flattened "
                     "to 2-D (PCA). As the network learns, each class gathers into its own "
                     "cluster.")
    st.vega_lite_chart(spec, width="stretch", key=K + "map_chart")


def _axis_epochs(snap):
    """The x axis of the health figures, as the curves have it: the planned run, except for a
    run that blew up early (its few points would be a sliver at the left edge)."""
    return None if snap.status == "diverged" else snap.planned_epochs


def _health(snap, moment, views, names, height=HEALTH_HEIGHT):
    """One health figure at a time, chosen by name, tall enough to read, with what it says now.
    ``names``: each weight layer's name on the chart."""
    rows = _remembered(views, "health_rows",
                       lambda: health_rows(thin(snap.history), names))
    head = st.container(horizontal=True, vertical_alignment="center")
    head.markdown("**Layer health**")
    chosen = head.segmented_control(
        "Health figure", list(HEALTH_CHOICES), default="Update size", key=K + "health_view",
        label_visibility="collapsed",
        help="Three figures of each layer's health, one at a time: " + "; ".join(
            f"{HEALTH[m][0]}: {HEALTH[m][1]}" for m in HEALTH_CHOICES.values()))
    metric = HEALTH_CHOICES.get(chosen, "update_ratio")
    if not rows:
        st.caption("Health figures appear with the first steps.")
        return
    _, subtitle, meaning = HEALTH[metric]
    position = moment.epoch if moment is not None else None
    spec = _remembered(views, ("health", metric, position),
                       lambda: health_spec(
                           rows, metric, log_scale=metric != "dead_share",
                           healthy=HEALTHY_UPDATE if metric == "update_ratio" else None,
                           position=position, epochs=_axis_epochs(snap),
                           height=height, legend_inside=True,
                           rising=snap.status == "diverged"))
    st.vega_lite_chart(spec, width="stretch", key=f"{K}health_chart")
    record = snap.history[moment.record] if moment is not None else snap.history[-1]
    values = [layer[metric] for layer in record.get("layers") or ()
              if isinstance(layer.get(metric), float) and math.isfinite(layer[metric])]
    now = health_verdict(metric, max(values) if values else None)
    st.caption(f"**{HEALTH[metric][0]} now** (largest layer): {now}", help=f"{subtitle} {meaning}")


def drawing_guess(t, snap):
    """See your own digit being learned: the drawing, classified by the model as it is now."""
    pixels = st.session_state["drawing_pixels"]
    if pixels is None or snap is None or not snap.history:
        return
    if st.session_state["drawing_dataset"] not in (None, snap.dataset):
        return
    model = t.live_model() if snap.active else (snap.saved.model if snap.saved else None)
    if model is None:
        return
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    try:
        X = to_model_input(pixels.reshape(1, -1), scaling)                       # (1, 784)
        probabilities = model.predict_proba(X)[0]
    except NNError:
        return
    names = class_names(snap.dataset)
    best = int(np.argmax(probabilities))
    with st.container(border=True):
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        c1.image(np.asarray(pixels, np.float32).reshape(28, 28), width=112, clamp=True,
                 caption="your drawing")
        c2.markdown(f"**Your drawing, as the network sees it now:** "
                    f"{names[best]} ({probabilities[best]:.0%})")
        c2.vega_lite_chart(probabilities_spec(probabilities, names, height=150),
                           width="stretch", key=K + "drawing_chart")
