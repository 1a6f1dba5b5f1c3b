"""This session's training run, seen from the Train page: Start / Stop / Reset (callbacks that drive
app.runs.trainer.Trainer), the verdict when a run ends (compared with the model it replaced, with
a way back: app.runs.adopt), and the live view.

The live view is an ``st.fragment`` that reruns on its own every ``POLL_SECONDS`` while a run is
going: it reads a snapshot of the trainer (never waits for it) and redraws progress, figures,
curves and the inside of the network (app.views.inside); the replay slider moves them to any
moment of the run.
"""
import math

import streamlit as st

from app import held
from app.data import evaluation_key, load_raw, load_splits, test_predictions, test_set_words
from app.inputs.form import K, build_configs
from app.render.charts import curves_spec
from app.runs import adopt
from app.runs.line import TrainingBusy
from app.runs.trainer import Trainer
from app.session import current_model, notify, session_liveness, visitor_token
from app.views.inside import drawing_guess, inside_views
from app.views.my_drawings import training_curve
from core import memory
from core.errors import NNError
from core.records import known

POLL_SECONDS = 0.5
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
        held.check_room(st.session_state, visitor_token(), memory.model_bytes(model_config),
                        f"The model this run would make (a {sizes} network)")
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
    adopt.adopt("train")


def reset():
    if st.session_state["trainer"] is not None:
        st.session_state["trainer"].reset()
    adopt.adopt("train")
    st.session_state["train_notice"] = None


# -- what the page shows --------------------------------------------------------------------------
def verdict(snap):
    """How the last run ended (once it has been adopted), with where to go next."""
    if snap is None or not snap.finished or not adopt.adopted("train", snap):
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
    val_text = (f"validation {validation:.2%}" if known(validation) is not None
                else "no validation images were held out")
    raw = load_raw(dataset)
    before, before_label, _ = adopt.replaced("train", snap)
    before_accuracy = None
    if before is not None:
        before_accuracy = test_predictions(evaluation_key(before, raw), before, raw).accuracy
    in_use = adopt.in_use(snap)
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
                  on_click=adopt.undo, args=("train", snap.run_id, dataset),
                  help="Draw and Inspect use that model again; this run stays in the charts and "
                       "can still be saved.")
    elif not in_use:
        st.button("Use this run's model", key=K + "use_run", icon=":material/redo:",
                  on_click=adopt.redo, args=("train", snap))


def live_view(busy, overlay, log_scale=True, inside=True):
    """The fragment: progress, figures, curves, the inside of the network, the drawing's guess.
    Polls only while ``busy``."""
    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def view():
        t = st.session_state["trainer"]
        snap = t.snapshot() if t is not None else None
        if snap is not None and snap.finished and not adopt.adopted("train", snap):
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
            inside_views(t, snap, moment)
        drawing_guess(t, snap)
        training_curve(snap)     # accuracy on the visitor's drawings (>= 10)
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
    m[2].metric("Val. accuracy", f"{val:.1%}" if known(val) is not None else "n/a", val_delta,
                help="On held-out images the network never trains on (up to 1,000 of them while "
                     "training; all of them at the end).")
    speed = last["samples_per_second"]
    m[3].metric("Images/s", f"{speed / 1000:.1f}k" if speed >= 10_000 else f"{speed:,.0f}",
                help="Training images processed per second.")


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
    planned = snap.planned_epochs if snap is not None and current and not diverged else None
    options = {"epochs": planned,
               "blew_up": snap.blew_up if diverged else None,
               "position": moment.epoch if moment is not None else None}
    c1, c2 = st.columns(2)
    c1.vega_lite_chart(curves_spec("loss", current, earlier, log_scale=log_scale, **options),
                       width="stretch", key=K + "loss_chart")
    c2.vega_lite_chart(curves_spec("accuracy", current, earlier, **options),
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
