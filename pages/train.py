"""Train: choose a network and its training, start it, watch it learn, keep the result.

The page is an instrument: the settings in the side panel (app.views.train_form: collapsible
groups, below the frame's dataset selector), the run in the main area (Start / Stop / Reset, then
app.views.train_live's dashboard: headline figures, curves and the inside of the network on one
screen), the visitor's model files below (app.views.model_files). The run itself trains in a
worker process (app.runs); this page only starts and stops it from callbacks and polls it.
"""
import streamlit as st

from app.inputs.form import K
from app.runs.line import limits_text
from app.session import init_state
from app.views import model_files, train_form, train_live, train_run

init_state()

snap = train_run.snapshot()
busy = snap is not None and snap.active
if not busy:                           # shared links and Home's lessons: ?hidden=10&lesson=...
    locked = st.session_state["dataset_locked"]
    notice = train_form.read_link_from_url()
    if notice is not None:
        st.session_state["train_notice"] = notice
    if st.session_state["dataset_locked"] != locked:
        st.rerun()                     # the frame's dataset selector, drawn before, follows
dataset = st.session_state["dataset"]
train_live.dashboard_style()

with st.sidebar:
    st.markdown("**Settings**")
    form = train_form.controls(dataset, busy)
    train_form.share_popover(dataset)
    st.caption(limits_text())

bar = st.container(horizontal=True, vertical_alignment="center")
bar.title("Train a network", anchor=False, width="content")
bar.button("Start", type="primary", icon=":material/play_arrow:", on_click=train_run.start,
           disabled=busy or form.error is not None or form.raw is None, key=K + "start",
           help="Train a new network from random weights with the settings in the side panel.")
bar.button("Stop", icon=":material/stop:", on_click=train_run.stop, disabled=not busy,
           key=K + "stop", help="Stop now and keep the weights learned so far.")
bar.button("Reset", icon=":material/restart_alt:", on_click=train_run.reset, key=K + "reset",
           help="Stop and clear this run's curves (earlier runs stay for comparison).")
overlay = bar.toggle("Compare runs", value=True, key=K + "overlay",
                     help="Draw the curves of this session's earlier runs (dashed, named in the "
                          "legend) behind the current one.")
log_scale = bar.toggle("Log-scale loss", value=True, key=K + "log_scale",
                       help="A log scale shows the slow end of the loss curve as clearly as its "
                            "fast start. A run that blew up is always shown on one.")
inside = bar.toggle("Inside views", value=True, key=K + "inside",
                    help="What the units look for, the guesses, the hidden space and the health "
                         "of each layer, live, with a replay.")
notice = st.session_state["train_notice"]
if notice is not None:
    getattr(st, notice[0])(notice[1])
if train_form.has_lesson_card() and train_run.has_short_verdict(snap):
    lesson_at, verdict_at = st.columns([1.5, 1], gap="small")  # side by side: the run stays in view
    with lesson_at:
        train_form.lesson_card()
    with verdict_at:
        train_run.verdict(snap)
else:
    train_form.lesson_card()
    train_run.verdict(snap)
train_live.live_view(busy, overlay, log_scale, inside)
model_files.panel(dataset, expanded=snap is not None and snap.finished)
