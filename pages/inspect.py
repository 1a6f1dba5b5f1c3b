"""Inspect: how good is the model, where is it wrong, and what has it learned?

The model's predictions over the whole test set are computed once per set of weights
(app.data.test_predictions) and reused on every rerun; the rest is cheap. The network
diagram and saliency come from app.views.why, as on Draw; the class dreams are computed once per
model (cached by the fingerprint of its weights).
"""
import streamlit as st

from app.data import class_names, dataset_title, evaluation_key, load_raw, test_predictions
from app.session import init_state
from app.views import inspect
from app.views.my_drawings import test_set_choice
from core.errors import NNError

init_state()
ss = st.session_state
dataset = ss["dataset"]
names = class_names(dataset)
title = dataset_title(dataset)

st.title("Inspect")
st.caption(f"Open up a {title} model: where it is right, where it is wrong, and what its units "
           "respond to. Switch the dataset in the sidebar.")

# -- which model ------------------------------------------------------------------------------------
try:
    saved, label = inspect.choose_model(dataset)
    raw = test_set_choice(dataset, load_raw(dataset))   # or your drawings
    evaluation = test_predictions(evaluation_key(saved, raw), saved, raw)
except NNError as e:
    st.error(str(e))
    st.stop()
except OSError as e:                       # e.g. the file went away: no server path on the page
    st.error(f"That model file cannot be read: {e.strerror or 'unknown error'}.")
    st.stop()

config = saved.model.config
wrong = int((evaluation.predicted != evaluation.labels).sum())
cols = st.columns(4)
cols[0].metric("Test accuracy", f"{evaluation.accuracy:.2%}",
               help=f"Share of the {evaluation.labels.size:,} test images it classifies correctly. "
                    "It never saw them while training.")
cols[1].metric("Mistakes", f"{wrong:,}", help="Test images it gets wrong: see the Mistakes tab.")
cols[2].metric("Hidden layers", config.layers if config.is_convolutional else
               ", ".join(str(h) for h in config.hidden_sizes) or "none",
               help=f"Units in each hidden layer. The whole network: {config.describe()}.")
cols[3].metric("Parameters", f"{saved.model.num_parameters:,}",
               help="Weights and biases the training adjusted.")
st.caption(f"Test set: {raw.describe()}.")


def remember_tab():
    ss["inspect_last_tab"] = ss["inspect_tab"]


# the tab last open comes back when the visitor returns to this page
look = inspect.Look(saved, label, raw, evaluation, names, dataset)
opened = ss["inspect_last_tab"] if ss["inspect_last_tab"] in inspect.TABS else None
for tab, show in zip(st.tabs(list(inspect.TABS), key="inspect_tab", default=opened,
                             on_change=remember_tab), inspect.TABS.values()):
    if tab.open:
        with tab:
            show(look)
