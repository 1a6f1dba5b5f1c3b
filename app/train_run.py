"""This session's training run, seen from the Train page: Start / Stop / Reset (callbacks that
drive app.trainer.Trainer), the verdict when a run ends, and the live view polled while it runs.

The live view is an ``st.fragment`` that reruns on its own every ``POLL_SECONDS`` while a run is
going: it reads a snapshot of the trainer (never waits for it) and redraws progress, figures,
curves and the visitor's drawing as the network now sees it.
"""
import math

import numpy as np
import streamlit as st

from app import charts
from app.draw_views import to_model_input
from app.state import (adopt_finished_run, class_names, load_raw, load_splits, notify,
                       session_liveness)
from app.train_form import K, build_configs
from app.trainer import Trainer, TrainingBusy
from core.errors import NNError

POLL_SECONDS = 0.5


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
        accuracy, validation = saved.metrics["test_accuracy"], saved.metrics["val_accuracy"]
        what = "Finished" if snap.status == "done" else f"Stopped at step {snap.last['step']:,}"
        val_text = (f"validation {validation:.1%}" if validation == validation
                    else "no validation images were held out")
        st.success(f"{what} after {snap.last['elapsed']:,.1f} s of training. Test accuracy "
                   f"**{accuracy:.1%}** ({val_text}). Draw and Inspect now use this model.")
        links = st.container(horizontal=True)
        links.page_link("pages/draw.py", label="Draw a digit into it", icon=":material/draw:")
        links.page_link("pages/inspect.py", label="See its mistakes", icon=":material/search:")
    elif snap.status == "diverged":
        st.error(snap.message, icon=":material/trending_up:")
    elif snap.status == "abandoned":
        st.warning(snap.message)
    elif snap.message:
        st.error(snap.message)


def live_view(busy, overlay):
    """The fragment: progress, figures, curves, the drawing's guess. Polls only while ``busy``."""
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
        _curves(snap, history, overlay)
        _drawing_guess(t, snap)
    view()


def _progress(snap):
    last = snap.last
    if last is None:
        st.progress(0.0, text="Starting: timing the first steps…")
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


def _curves(snap, history, overlay):
    current = (snap.label, history) if history else None
    earlier = []
    if overlay:
        earlier = [(r["label"], r["history"]) for r in st.session_state["runs"]
                   if r["dataset"] == st.session_state["dataset"]
                   and (snap is None or r["label"] != snap.label)]
    if current or earlier:
        c1, c2 = st.columns(2)
        c1.vega_lite_chart(charts.curves_spec("loss", current, earlier), width="stretch",
                           key=K + "loss_chart")
        c2.vega_lite_chart(charts.curves_spec("accuracy", current, earlier), width="stretch",
                           key=K + "accuracy_chart")


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
