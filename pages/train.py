"""Train: choose a network and its training, start it, watch it learn, keep the result.

Controls on the left (app.views.train_form), the run on the right (app.views.train_run:
Start/Stop/Reset and the live view), the visitor's model files below (app.views.model_files). The
run itself trains in a worker process (app.runs); this page only starts and stops it from callbacks
and polls it.
"""
import streamlit as st

from app.inputs.form import K
from app.runs.line import limits_text
from app.session import init_state
from app.views import model_files, train_form, train_run

init_state()

snap = train_run.snapshot()
busy = snap is not None and snap.active
if not busy:                           # shared links and Home's lessons: ?hidden=10&lesson=...
    notice = train_form.read_link_from_url()
    if notice is not None:
        st.session_state["train_notice"] = notice
dataset = st.session_state["dataset"]

st.title("Train a network")
st.caption("Pick a starting point, change anything, press **Start** and watch the network learn. "
           "Hover over the ? next to any control to see what it does.")
controls, view = st.columns([1, 2], gap="large")

with controls:
    train_form.lesson_card()
    form = train_form.controls(dataset, busy)
    train_form.share_popover(dataset)

with view:
    buttons = st.container(horizontal=True)
    buttons.button("Start", type="primary", icon=":material/play_arrow:", on_click=train_run.start,
                   disabled=busy or form.error is not None or form.raw is None, key=K + "start",
                   help="Train a new network from random weights with the settings on the left.")
    buttons.button("Stop", icon=":material/stop:", on_click=train_run.stop, disabled=not busy,
                   key=K + "stop", help="Stop now and keep the weights learned so far.")
    buttons.button("Reset", icon=":material/restart_alt:", on_click=train_run.reset,
                   key=K + "reset",
                   help="Stop and clear this run's curves (earlier runs stay for comparison).")
    st.caption(limits_text())
    notice = st.session_state["train_notice"]
    if notice is not None:
        getattr(st, notice[0])(notice[1])
    train_run.verdict(snap)
    switches = st.container(horizontal=True)
    overlay = switches.toggle("Compare with earlier runs", value=True, key=K + "overlay",
                              help="Draw the curves of this session's earlier runs (dashed, named "
                                   "in the legend) behind the current one.")
    log_scale = switches.toggle("Loss on a log scale", value=True, key=K + "log_scale",
                                help="A log scale shows the slow end of the loss curve as clearly "
                                     "as its fast start.")
    inside = switches.toggle("Show the inside", value=True, key=K + "inside",
                             help="Below the curves: what the units look for, the guesses, the "
                                  "hidden space and the health of each layer, live, with a replay.")
    train_run.live_view(busy, overlay, log_scale, inside)
    model_files.panel(dataset, expanded=snap is not None and snap.finished)
