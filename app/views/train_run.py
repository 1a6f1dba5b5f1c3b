"""This session's training run, seen from the Train page: Start / Stop / Reset (callbacks that drive
app.runs.trainer.Trainer), the verdict when a run ends (compared with the model it replaced, with
a way back: app.runs.adopt). The live view of the run is app.views.train_live.
"""
import streamlit as st

from app import held
from app.data import (
    evaluation_key,
    load_raw,
    load_splits,
    test_predictions,
    test_set_words,
)
from app.inputs.form import K, build_configs
from app.runs import adopt
from app.runs.line import TrainingBusy
from app.runs.trainer import Trainer
from app.session import current_model, notify, session_liveness, visitor_token
from core import memory
from core.errors import NNError
from core.records import known

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
        # a conv net by its kind (its "layer sizes" are only those of its dense part)
        sizes = ("conv net" if model_config.is_convolutional
                 else "-".join(str(s) for s in model_config.layer_sizes))
        held.check_room(st.session_state, visitor_token(), memory.model_bytes(model_config),
                        f"The model this run would make (a {sizes} network)"
                        if not model_config.is_convolutional
                        else f"The model this run would make ({model_config.layers})")
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
def shows_verdict(snap):
    """Whether ``verdict(snap)`` shows anything."""
    return snap is not None and snap.finished and adopt.adopted("train", snap)


def has_short_verdict(snap):
    """Whether the verdict is one message without buttons (a run that diverged or failed), which
    fits beside a lesson's card."""
    return shows_verdict(snap) and not (snap.status in ("done", "stopped")
                                        and snap.saved is not None)


def verdict(snap):
    """How the last run ended (once it has been adopted), with where to go next."""
    if not shows_verdict(snap):
        return
    saved = snap.saved
    if snap.status in ("done", "stopped") and saved is not None:
        links, note = _comparison(snap)
        links.page_link("pages/draw.py", label="Draw a digit into it", icon=":material/draw:")
        links.page_link("pages/inspect.py", label="See its mistakes", icon=":material/search:")
        links.caption(note[0], help=note[1], width="content")
    elif snap.status == "diverged":
        st.error(snap.message + " The model in use did not change.",
                 icon=":material/trending_up:")
    elif snap.status == "abandoned":
        st.warning(snap.message)
    elif snap.message:
        st.error(snap.message)


def _comparison(snap):
    """The run's test accuracy next to the model it replaced, on the same test images, and a
    one-click way back (or forward again); returns the row of that button, for the links, and
    the note that ends the row (which model Draw uses; which images tested it, as its help)."""
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
    # one line of figures in the box, the rest beside the buttons below it: the run's charts
    # must stay on a 1400x900 screen
    text = (f"{what} after {snap.last['elapsed']:,.1f} s of training. Test accuracy "
            f"**{accuracy:.2%}** ({val_text})")
    if before_accuracy is not None:
        text += f"; on the same images, {before_label} had **{before_accuracy:.2%}**"
    text += "."
    if snap.status == "stopped" and snap.message:
        text += f" {snap.message}"                 # why it stopped, e.g. the time limit
    worse = before_accuracy is not None and accuracy < before_accuracy - WORSE_BY
    (st.warning if worse and in_use else st.success)(text)
    row = st.container(horizontal=True, vertical_alignment="center")
    using = ("Draw and Inspect now use this run's model" if in_use
             else f"Draw and Inspect use {current_model(dataset)[1]}")
    note = (f"{using}.", f"Tested on {test_set_words(raw)}.")
    if in_use and before_label is not None:
        row.button(f"Go back to {before_label}", key=K + "go_back", icon=":material/undo:",
                   on_click=adopt.undo, args=("train", snap.run_id, dataset),
                   help="Draw and Inspect use that model again; this run stays in the charts and "
                        "can still be saved.")
    elif not in_use:
        row.button("Use this run's model", key=K + "use_run", icon=":material/redo:",
                   on_click=adopt.redo, args=("train", snap))
    return row, note
