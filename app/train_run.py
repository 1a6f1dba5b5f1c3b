"""This session's training run, seen from the Train page: Start / Stop / Reset (callbacks that
drive app.trainer.Trainer), the verdict when a run ends, and the live view polled while it runs.

The live view is an ``st.fragment`` that reruns on its own every ``POLL_SECONDS`` while a run is
going: it reads a snapshot of the trainer (never waits for it) and redraws progress, figures,
curves and the visitor's drawing as the network now sees it. The inside views follow the running
network every ``INSIDE_SECONDS``: in between, the same pictures and charts are sent again from a
memo (``inside_memo``), so neither the server nor the browser redoes them twice a second (with
the browser on the same 2-core machine, that work took the training worker's core: a run took
twice as long as the CLI's).
"""
import hashlib
import io
import math
import time

import numpy as np
import streamlit as st

from app import charts
from app import inside, my_drawings
from app.draw_views import to_model_input
from app.inspect_views import display_images, evaluation_key, test_predictions
from app.state import (adopt_finished_run, class_names, current_model, load_raw, load_splits,
                       notify, session_liveness, set_current_model, shipped_model,
                       test_set_words)
from app.train_form import K, build_configs
from app.trainer import Trainer, TrainingBusy
from core.errors import NNError
from core.model import MLP

POLL_SECONDS = 0.5
INSIDE_SECONDS = 2.0      # how often the inside views take the running network's new weights
WORSE_BY = 0.01           # a new model this much less accurate than the one it replaced: warn


def trainer():
    """This session's Trainer, created on first use."""
    if st.session_state["trainer"] is None:
        st.session_state["trainer"] = Trainer()
    return st.session_state["trainer"]


def snapshot():
    """The trainer's snapshot, or None before this session's first run."""
    t = st.session_state["trainer"]
    return t.snapshot() if t is not None else None


# -- callbacks (run before the page, so the page shows their effect at once) --------------------
def start():
    dataset = st.session_state["dataset"]
    try:
        model_config, train_config = build_configs(dataset)
        splits = load_splits(dataset, train_config.validation_size, train_config.scaling,
                             train_config.seed)
        t = trainer()
        run_number = t.snapshot(poll=False).run_id + 1
        sizes = "-".join(str(s) for s in model_config.layer_sizes)
        label = (f"run {run_number} ({sizes}, {train_config.optimizer}, "
                 f"lr {train_config.learning_rate:g})")
        t.start(model_config, train_config, splits, dataset=dataset, label=label,
                data_note=load_raw(dataset).describe(), is_alive=session_liveness())
        st.session_state["train_notice"] = None
    except TrainingBusy as e:
        notify("warning", str(e))
    except NNError as e:
        notify("error", str(e))


def stop():
    if st.session_state["trainer"] is not None:
        st.session_state["trainer"].stop()
        st.session_state["trainer"].join(1.5)     # usually ends within half a second
    adopt_finished_run()


def reset():
    if st.session_state["trainer"] is not None:
        st.session_state["trainer"].reset()
    adopt_finished_run()
    st.session_state["train_notice"] = None


# -- what the page shows --------------------------------------------------------------------------
def verdict(snap):
    """How the last run ended (once it has been adopted), with where to go next."""
    if snap is None or not snap.finished or snap.run_id != st.session_state["adopted_run"]:
        return
    saved = snap.saved
    if snap.status in ("done", "stopped") and saved is not None:
        _comparison(snap)
        links = st.container(horizontal=True)
        links.page_link("pages/draw.py", label="Draw a digit into it", icon=":material/draw:")
        links.page_link("pages/inspect.py", label="See its mistakes", icon=":material/search:")
    elif snap.status == "diverged":
        st.error(snap.message + " The model in use did not change.",
                 icon=":material/trending_up:")
    elif snap.status == "abandoned":
        st.warning(snap.message)
    elif snap.message:
        st.error(snap.message)


def _comparison(snap):
    """The run's test accuracy next to the model it replaced, on the same test images, and a
    one-click way back (or forward again)."""
    saved, dataset = snap.saved, snap.dataset
    accuracy, validation = saved.metrics["test_accuracy"], saved.metrics["val_accuracy"]
    what = "Finished" if snap.status == "done" else f"Stopped at step {snap.last['step']:,}"
    val_text = (f"validation {validation:.2%}" if validation == validation
                else "no validation images were held out")
    raw = load_raw(dataset)
    before, before_label, restore = _replaced(snap)
    before_accuracy = None
    if before is not None:
        before_accuracy = test_predictions(evaluation_key(before, raw), before, raw).accuracy
    in_use = current_model(dataset)[0] is saved
    text = (f"{what} after {snap.last['elapsed']:,.1f} s of training. Test accuracy "
            f"**{accuracy:.2%}** on {test_set_words(raw)} ({val_text})")
    if before_accuracy is not None:
        text += f"; on the same images, {before_label} had **{before_accuracy:.2%}**"
    text += ". "
    if in_use:
        text += "Draw and Inspect now use this run's model."
    else:
        text += f"Draw and Inspect use {current_model(dataset)[1]}."
    if snap.status == "stopped" and snap.message:
        text += f" {snap.message}"                 # why it stopped, e.g. the time limit
    worse = before_accuracy is not None and accuracy < before_accuracy - WORSE_BY
    (st.warning if worse and in_use else st.success)(text)
    if in_use and before_label is not None:
        st.button(f"Go back to {before_label}", key=K + "go_back", icon=":material/undo:",
                  on_click=set_current_model, args=(dataset, restore, before_label),
                  help="Draw and Inspect use that model again; this run stays in the charts and "
                       "can still be saved.")
    elif not in_use:
        st.button("Use this run's model", key=K + "use_run", icon=":material/redo:",
                  on_click=set_current_model, args=(dataset, saved, f"your {snap.label}"))


def _replaced(snap):
    """(SavedModel | None, label | None, what set_current_model restores it with) of the model
    the run replaced when it was adopted."""
    record = st.session_state["replaced_model"]
    if record is None or record[0] != snap.run_id or record[1] != snap.dataset:
        return None, None, None
    if record[2] is not None:
        return (*record[2], record[2][0])
    shipped, _ = shipped_model(snap.dataset)
    if shipped is None:
        return None, None, None
    return shipped, "the pretrained model", None          # None: back to the shipped file


def live_view(busy, overlay, log_scale=True, inside=True):
    """The fragment: progress, figures, curves, the inside of the network, the drawing's guess.
    Polls only while ``busy``."""
    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def view():
        t = st.session_state["trainer"]
        snap = t.snapshot() if t is not None else None
        if snap is not None and snap.finished and snap.run_id != st.session_state["adopted_run"]:
            st.rerun(scope="app")            # show the result and adopt the model
        history = snap.history if snap is not None else []
        if snap is None or (snap.status == "idle" and not history):
            st.info("Press **Start** to train. The loss and accuracy curves appear here as the "
                    "network learns, and update twice a second.")
        elif snap.active:
            _progress(snap)
        if history:
            _figures(history)
        moment = _replay_moment(snap) if inside and history else None
        _curves(snap, history, overlay, log_scale, moment)
        if inside and history:
            _inside(t, snap, moment)
        _drawing_guess(t, snap)
        my_drawings.training_curve(snap)     # accuracy on the visitor's drawings (>= 10)
    view()


def _progress(snap):
    last = snap.last
    if snap.status == "waiting":
        st.info(snap.waiting_text, icon=":material/hourglass_top:")
        return
    if last is None:
        st.progress(0.0, text="Starting the training process…")
        return
    eta_text = f" · about {snap.eta:,.0f} s left" if math.isfinite(snap.eta) else ""
    stopping = " · stopping…" if snap.status == "stopping" else ""
    st.progress(min(1.0, snap.progress),
                text=f"Step {last['step']:,} of {snap.total_steps:,} · epoch {last['epoch']:.2f} · "
                     f"{last['elapsed']:,.1f} s{eta_text}{stopping}")


def _figures(history):
    last = history[-1]
    prev = history[-2] if len(history) > 1 else None
    m = st.columns(4)
    m[0].metric("Train loss", f"{last['train_loss']:.3f}",
                None if prev is None else f"{last['train_loss'] - prev['train_loss']:+.3f}",
                delta_color="inverse", help="Average loss on the last steps' batches.")
    m[1].metric("Train accuracy", f"{last['train_accuracy']:.1%}",
                help="Share of the last steps' training images classified correctly.")
    val = last["val_accuracy"]
    val_delta = None if prev is None or val != val else f"{(val - prev['val_accuracy']) * 100:+.1f} pts"
    m[2].metric("Val. accuracy", f"{val:.1%}" if val == val else "n/a", val_delta,
                help="On held-out images the network never trains on (up to 1,000 of them while "
                     "training; all of them at the end).")
    speed = last["samples_per_second"]
    m[3].metric("Images/s", f"{speed / 1000:.1f}k" if speed >= 10_000 else f"{speed:,.0f}",
                help="Training images processed per second.")


def _planned_epochs(snap):
    """The run's length in epochs, for a fixed x axis (None when unknown)."""
    last = snap.last if snap is not None else None
    if not last or not last["step"] or not snap.total_steps:
        return None
    return snap.total_steps * last["epoch"] / last["step"]


def _curves(snap, history, overlay, log_scale, moment):
    current = (snap.label, history) if history else None
    earlier = []
    if overlay:
        earlier = [(r["label"], r["history"]) for r in st.session_state["runs"]
                   if r["dataset"] == st.session_state["dataset"]
                   and (snap is None or r["label"] != snap.label)]
    if not (current or earlier):
        return
    diverged = snap is not None and snap.status == "diverged"
    # a fixed axis of the planned run, except for a run that blew up early: its few points
    # would be a sliver at the left edge
    options = {"epochs": _planned_epochs(snap) if current and not diverged else None,
               "blew_up": snap.blew_up if diverged else None,
               "position": moment.epoch if moment is not None else None}
    c1, c2 = st.columns(2)
    c1.vega_lite_chart(charts.curves_spec("loss", current, earlier, log_scale=log_scale, **options),
                       width="stretch", key=K + "loss_chart")
    c2.vega_lite_chart(charts.curves_spec("accuracy", current, earlier, **options),
                       width="stretch", key=K + "accuracy_chart")


# -- the inside of the network --------------------------------------------------------------------
def _replay_moment(snap):
    """The snapshot the replay slider points at, or None to show the network as it is now."""
    kept = snap.snapshots.items() if snap.snapshots is not None else ()
    if not st.toggle("Replay", key=K + "replay", disabled=not kept,
                     help="Go back to any moment of the run: the pictures, guesses, map and "
                          "health below show the network as it was then, and a red line marks "
                          "the moment on the curves."):
        if snap.snapshots is not None and snap.snapshots.refused:
            st.caption(snap.snapshots.refused)
        return None
    share = st.slider("Moment of the run", 0, 100, 100, step=1, key=K + "replay_at",
                      format="%d%%", help="0% is the random start; 100% the latest weights.")
    target = share / 100 * kept[-1].elapsed
    moment = min(kept, key=lambda k: abs(k.elapsed - target))
    st.caption(f"Showing the network at step {moment.step:,} (epoch {moment.epoch:.2f}, "
               f"{moment.elapsed:,.1f} s into training; {len(kept)} moments kept, "
               f"{snap.snapshots.nbytes / 2**20:,.1f} MB).")
    return moment


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


def _inside(t, snap, moment):
    """What the units look for, guesses flipping, the hidden space and layer health."""
    model, views = _inside_model(t, snap, moment)
    if model is None or snap.splits is None:
        return
    names = class_names(snap.dataset)
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    X, y, which = _probe_images(snap.splits)
    st.subheader("Inside the network", anchor=False)
    left, right = st.columns(2, gap="medium")
    with left:
        kept = snap.snapshots.items() if snap.snapshots is not None else ()
        start = kept[0].params if kept and kept[0].step == 0 else None
        _unit_pictures(model, names, start, views)
    with right:
        _hidden_space(model, X, y, names, scaling, which, snap.run_id, views)
    _guesses(model, X, y, names, scaling, which, views)
    _health(snap, moment, views)


def _probe_images(splits):
    """(X, y, words) of the images the live views look at: the live validation images, or the
    first test images when no validation images were held out."""
    if splits.X_val.shape[0]:
        return splits.X_val, splits.y_val, "validation images"
    return splits.X_test[:inside.MAP_POINTS], splits.y_test[:inside.MAP_POINTS], "test images"


def _unit_pictures(model, names, start_params, views):
    W = np.asarray(model.params["layers.0.W"])                        # (784, H)
    has_hidden = len(model.config.hidden_sizes) > 0
    count = min(inside.UNITS_SHOWN, W.shape[1])
    st.markdown("**What the units look for**")
    # "what they learned" by default: in a wide layer the random start hides the strokes
    view = st.segmented_control(
        "Show", ["their weights", "what they learned"], default="what they learned",
        key=K + "weights_view", label_visibility="collapsed", disabled=start_params is None,
        help="Weights: each unit's incoming weights as they are. Learned: what training has "
             "added to them since the random start, without the starting noise.")
    learned = view == "what they learned" and start_params is not None

    def picture():
        change = W - np.asarray(start_params["layers.0.W"]) if learned else W
        return _png(inside.weight_grid(change, count, columns=6 if has_hidden else 5))
    st.image(_remembered(views, ("units", learned), picture),
             width="stretch")
    what = (f"the first {count} of {W.shape[1]} first-layer units" if has_hidden
            else "the 10 output units (" + ", ".join(map(str, names)) + ")")
    how = ("what training has added to the 784 incoming weights" if learned
           else "the 784 incoming weights")
    st.caption(f"{how.capitalize()} of {what}, as 28x28 pictures: red where ink pushes the unit "
               "up, blue where it pushes it down. They start as noise and form strokes.")


def _guesses(model, X, y, names, scaling, which, views):
    picks = inside.panel_indices(y, X)

    def panel():
        predicted = model.predict(X[picks])
        return int((predicted == y[picks]).sum()), _png(inside.guess_panel(
            display_images(X[picks], scaling), y[picks], predicted, names))
    right, picture = _remembered(views, "guesses", panel)
    st.markdown(f"**Its guesses: {right} of {len(picks)} right**")
    st.image(picture, width="stretch")
    st.caption(f"The same {len(picks)} {which} for the whole run (two of each class), the guess "
               "under each: green when right, red when wrong. Watch them flip.")


def _hidden_space(model, X, y, names, scaling, which, run_id, views):
    drawing = st.session_state["drawing_pixels"]
    if drawing is not None:
        drawing = to_model_input(drawing, scaling)
    seen = None if drawing is None else hashlib.sha1(np.ascontiguousarray(drawing)).hexdigest()

    def chart():
        last = st.session_state["hidden_map"]
        previous = last[1] if last is not None and last[0] == run_id else None
        points, star = inside.hidden_points(model, X[:inside.MAP_POINTS], previous, drawing)
        st.session_state["hidden_map"] = (run_id, points)    # the next map keeps this orientation
        return points, charts.map_spec(points.coordinates, y[:inside.MAP_POINTS], names, star)
    points, spec = _remembered(views, ("map", seen), chart)
    st.markdown("**The hidden space**")
    st.vega_lite_chart(spec, width="stretch", key=K + "map_chart")
    st.caption(f"{len(points.coordinates):,} {which} as {points.layer} sees them, flattened to 2-D "
               "(PCA). As the network learns, each class gathers into its own cluster"
               + ("; the star is your drawing." if seen is not None else "."))


def _health(snap, moment, views):
    rows = _remembered(views, "health_rows",
                       lambda: inside.health_rows(charts.thin(snap.history)))
    st.markdown("**Layer health**")
    if not rows:
        st.caption("Health figures appear with the first steps.")
        return
    epochs = _planned_epochs(snap)
    position = moment.epoch if moment is not None else None
    record = snap.history[moment.record] if moment is not None else snap.history[-1]
    for column, (metric, (title, subtitle, meaning)) in zip(st.columns(3), inside.HEALTH.items()):
        spec = _remembered(views, ("health", metric, position),
                           lambda: charts.health_spec(
                               rows, metric, title, log_scale=metric != "dead_share",
                               healthy=1e-3 if metric == "update_ratio" else None,
                               position=position, epochs=epochs))
        column.vega_lite_chart(spec, width="stretch", key=f"{K}health_{metric}")
        values = [layer[metric] for layer in record.get("layers") or ()
                  if isinstance(layer.get(metric), float) and math.isfinite(layer[metric])]
        now = inside.health_verdict(metric, max(values) if values else None)
        column.caption(f"{subtitle} **Now** (largest layer): {now}", help=meaning)


def _drawing_guess(t, snap):
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
        probabilities = model.predict_proba(to_model_input(pixels, scaling))[0]
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
        c2.vega_lite_chart(charts.probabilities_spec(probabilities, names, height=150),
                           width="stretch", key=K + "drawing_chart")
