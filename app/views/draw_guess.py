"""Draw's guess: the model in use, and beside it the other model a visitor would compare with.

After a run (or a teaching, or an uploaded model) the model in use is the visitor's; the shipped
model's guess is shown beside it, so that a quick 96% run is compared with the 98.8% one rather than
silently used. When the shipped model is in use and this session has a finished run of the dataset,
the run is shown beside it; with no run, the shipped conv net (model/<dataset>/convnet.npz) is, so
an MLP's guess is always compared with a conv net's (and the conv net in use with the MLP). Which
one is in use is said in words, with a button to switch.

    beside(dataset)                         the model to show beside the one in use, or None
    show_guess(asked, label, pixels, names) the metrics, the bars (both models), the switch
"""
from dataclasses import dataclass

import numpy as np
import streamlit as st

from app.data import CONVNET_NAME, shipped_model
from app.render.charts import compare_spec, probabilities_spec
from app.runs import adopt
from app.session import set_current_model
from app.views.draw import classify

BAR_STEP = 15                # px per class in the bars: the guess fits under the canvas on a phone
PRETRAINED = "the pretrained model"
CONVNET = "the pretrained conv net"


@dataclass(frozen=True)
class Beside:
    saved: object            # core.modelio.SavedModel
    label: str               # what it is called ("the pretrained model", "your run 1 (784-32-10...)")
    short: str               # its metric's label ("The pretrained model says", "Your run says")
    run: object = None       # the finished training's RunState when ``saved`` is its model
    convnet: bool = False    # the shipped conv net


def finished_run(dataset):
    """This session's finished training of ``dataset`` whose model could be used, or None."""
    job = adopt.job("train")
    if job is None:
        return None
    snap = job.snapshot(poll=False)
    if (not snap.finished or snap.saved is None or snap.dataset != dataset
            or snap.status not in adopt.KEEPS["train"]):
        return None
    return snap


def beside(dataset):
    """The model to show beside the current one: the shipped model when the visitor's own model is
    in use; the visitor's finished run when the shipped model is in use; else None."""
    own = st.session_state["user_models"].get(dataset)
    if own is not None:
        shipped, _ = shipped_model(dataset)
        return None if shipped is None else Beside(shipped, PRETRAINED, "The pretrained model says")
    run = finished_run(dataset)
    if run is None:
        convnet, _ = shipped_model(dataset, CONVNET_NAME)
        return None if convnet is None else Beside(convnet, CONVNET, "The conv net says",
                                                   convnet=True)
    return Beside(run.saved, adopt.label("train", run), "Your run says", run)


def _accuracy(saved):
    accuracy = (saved.metrics or {}).get("test_accuracy")
    if not isinstance(accuracy, (int, float, np.floating)) or not np.isfinite(accuracy):
        return ""
    return f" ({float(accuracy):.1%} on the test images)"


def show_guess(dataset, asked, asked_label, pixels, names, moment=False):
    """The guess of ``asked`` (the model in use, or a run at a moment when ``moment``) for 784
    ``pixels``: prediction, confidence and the probability bars; with a model beside it (see
    ``beside``), its guess in the same bars and a sentence saying which one is in use. Returns
    the guess of ``asked`` (app.views.draw.Guess)."""
    guess = classify(asked, pixels, names)
    metrics = st.container(horizontal=True, gap="medium")       # side by side on a phone too
    metrics.metric("Prediction", guess.label, help="The class with the highest probability.",
                   width="content")
    metrics.metric("Confidence", f"{guess.confidence:.0%}", width="content",
                   help="The probability the network gives its guess. A confident network can "
                        "still be wrong: see Inspect.")
    other = None if moment else beside(dataset)
    if other is None:
        st.vega_lite_chart(probabilities_spec(guess.probabilities, names,
                                              height={"step": BAR_STEP},
                                              axis_title=None, label_size=12),
                           width="stretch")
        return guess
    second = classify(other.saved, pixels, names)
    mine, theirs = f"in use: {asked_label}", f"beside it: {other.label}"
    metrics.metric(other.short,
                   f"{second.label} · {second.confidence:.0%}", width="content",
                   help="The same drawing read by the model that is not in use, for comparison.")
    st.vega_lite_chart(compare_spec([(mine, guess.probabilities, True),
                                     (theirs, second.probabilities, False)], names),
                       width="stretch")
    agree = ("Both read it as" if guess.index == second.index else "They disagree:")
    st.markdown(f":material/compare_arrows: **In use: {asked_label}**{_accuracy(asked)}. "
                f"Beside it, for comparison: {other.label}{_accuracy(other.saved)}. {agree} "
                + (f"**{guess.label}**." if guess.index == second.index else
                   f"**{guess.label}** ({guess.confidence:.0%}) against **{second.label}** "
                   f"({second.confidence:.0%})."))
    _switch(dataset, other, asked_label)
    return guess


def _switch(dataset, other, asked_label):
    """A button making the model beside the current one current, when that can be undone here.
    The whole page reruns after it (the sidebar names the model in use; Draw is a fragment)."""
    if other.convnet:
        if st.button(f"Use {CONVNET}", key="draw_use_convnet", icon=":material/grid_view:",
                     help="Make the conv net the model Draw and Inspect use: then the "
                          "why views show its feature maps. The pretrained model stays beside it."):
            set_current_model(dataset, other.saved, CONVNET)
            st.rerun(scope="app")
        return
    if other.run is not None:
        if st.button(f"Use {other.label}", key="draw_use_run", icon=":material/redo:",
                     help="Make your run the model Draw and Inspect use."):
            adopt.redo("train", other.run)
            st.rerun(scope="app")
        return
    run = finished_run(dataset)
    if asked_label == CONVNET or (run is not None and adopt.in_use(run)):
        if st.button("Use the pretrained model", key="draw_use_pretrained", icon=":material/undo:",
                     help=f"Draw and Inspect use the pretrained model instead of {asked_label}; "
                          f"{'the conv net' if asked_label == CONVNET else 'your run'} stays "
                          "beside it."):
            set_current_model(dataset, None)
            st.rerun(scope="app")
