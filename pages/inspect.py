"""Inspect: how good is the model, where is it wrong, and what has it learned?

The model's predictions over the whole test set are computed once per set of weights
(app.inspect_views.test_predictions) and reused on every rerun; the rest is cheap. The network
diagram and saliency come from app.why_views, as on Draw; the class dreams are computed once per
model (cached by the fingerprint of its weights).
"""
import numpy as np
import streamlit as st

from app.data import (
    class_names,
    dataset_title,
    evaluation_key,
    fingerprint,
    load_raw,
    test_predictions,
)
from app.inputs.pictures import to_model_input
from app.render.charts import (
    activation_spec,
    confusion_spec,
    curves_spec,
    per_class_spec,
    probabilities_spec,
)
from app.render.images import WEIGHTS_PER_PAGE, enlarge, grey_images, weight_images
from app.session import init_state
from app.views.draw import classify
from app.views.inspect import choose_model, pick_image
from app.views.my_drawings import test_set_choice
from app.views.why import dreams_view, network_view, saliency_view
from core import metrics
from core.errors import NNError

MISTAKES_PER_PAGE = 40
ANY = "any"

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
    saved, label = choose_model(dataset)
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
cols[2].metric("Hidden layers", ", ".join(str(h) for h in config.hidden_sizes) or "none",
               help=f"Units in each hidden layer. The whole network: {config.describe()}.")
cols[3].metric("Parameters", f"{saved.model.num_parameters:,}",
               help="Weights and biases the training adjusted.")
st.caption(f"Test set: {raw.describe()}.")


# -- the tabs, each drawn only when open -------------------------------------------------------------

# -- accuracy ---------------------------------------------------------------------------------------
def show_accuracy():
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Confusion matrix")
        st.caption("Each row is a true class, each column what the model said. The diagonal "
                   "(green) is right; the darker an orange cell, the more of that class goes wrong "
                   "that way.")
        st.vega_lite_chart(confusion_spec(evaluation.confusion, names),
                           width="content")
    with right:
        st.subheader("Accuracy per class")
        st.caption("How many images of each true class it gets right; the dashed line is the "
                   "overall accuracy.")
        st.vega_lite_chart(per_class_spec(evaluation.per_class, names, evaluation.accuracy),
                           width="stretch")
        worst = int(np.nanargmin(evaluation.per_class))
        confusion = evaluation.confusion.copy()
        np.fill_diagonal(confusion, 0)
        t, p = np.unravel_index(int(confusion.argmax()), confusion.shape)
        st.info(f"Hardest class: **{names[worst]}** ({evaluation.per_class[worst]:.1%} right). "
                f"Most common mistake: **{names[t]}** taken for **{names[p]}** "
                f"({confusion[t, p]:,} times).", icon=":material/lightbulb:")

# -- mistakes -----------------------------------------------------------------------------------------
def show_mistakes():
    st.caption("Test images the model gets wrong, the most confident mistakes first. Many are "
               "hard even for people; some are mislabelled.")
    filters = st.columns(3)
    true_pick = filters[0].selectbox("True class", [ANY, *names], key="inspect_true")
    predicted_pick = filters[1].selectbox("Predicted as", [ANY, *names], key="inspect_predicted")
    indices = metrics.mistakes(evaluation.probabilities, evaluation.labels,
                               None if true_pick == ANY else names.index(true_pick),
                               None if predicted_pick == ANY else names.index(predicted_pick))
    pages = max(1, -(-indices.size // MISTAKES_PER_PAGE))
    page = filters[2].number_input("Page", 1, pages, 1, key="inspect_mistakes_page",
                                   help=f"{MISTAKES_PER_PAGE} mistakes per page.") if pages > 1 else 1
    shown = indices[(page - 1) * MISTAKES_PER_PAGE:page * MISTAKES_PER_PAGE]
    if indices.size == 0:
        st.success("No mistakes of that kind on the test set.")
    else:
        st.write(f"**{indices.size:,}** mistakes" + (f", page {page} of {pages}" if pages > 1 else "")
                 + ". Caption: true → predicted (confidence).")
        images = grey_images(raw.test_images[shown].reshape(-1, 28, 28) / 255.0, scale=3)
        captions = [f"{names[evaluation.labels[i]]} → {names[evaluation.predicted[i]]} "
                    f"({evaluation.probabilities[i, evaluation.predicted[i]]:.0%})" for i in shown]
        st.image(images, caption=captions, width=90)

# -- activations --------------------------------------------------------------------------------------
def show_activations():
    x, caption = pick_image(raw, dataset)
    if x is not None:
        guess = classify(saved, x, names)
        image_col, output_col = st.columns([1, 2], gap="large")
        image_col.image(enlarge(x.reshape(28, 28), 168), caption=caption)
        with output_col:
            st.metric("Predicted", guess.label, f"{guess.confidence:.0%} sure", delta_color="off",
                      delta_arrow="off")
            st.vega_lite_chart(probabilities_spec(guess.probabilities, names, title="Output layer"),
                               width="stretch")
        hidden = saved.model.hidden_activations(to_model_input(x, saved.scaling))
        if not hidden:
            st.caption("This network has no hidden layer: the inputs go straight to the outputs.")
        for i, layer in enumerate(hidden):
            values = layer[0]
            active = int((values > 1e-6).sum()) if config.activation in ("relu",) else None
            note = f", {active} of {values.size} active" if active is not None else ""
            st.vega_lite_chart(activation_spec(values, f"Hidden layer {i + 1}: {values.size} units "
                                                       f"({config.activation}{note})"),
                               width="stretch")

# -- the network, lighting up -------------------------------------------------------------------------
def show_network():
    x, caption = pick_image(raw, dataset)
    if x is None:
        return
    guess = classify(saved, x, names)
    st.markdown(f"**{caption}**: the model says **{guess.label}** ({guess.confidence:.0%}). "
                "Why? Follow the strongest pushes from the pixels through each layer to the "
                "outputs.")
    network_view(saved, x, names, "inspect_why")
    st.subheader("Which pixels mattered")
    saliency_view(saved, x, names, "inspect_why")

# -- class dreams -------------------------------------------------------------------------------------
def show_dreams():
    st.caption("What does the model think a 3 looks like? For each class, a picture it scores "
               "very highly for that class, found by gradient ascent from a grey picture. "
               "Computed once per model.")
    dreams_view(saved, fingerprint(saved), names, "inspect_why")

# -- first-layer weights ------------------------------------------------------------------------------
def show_weights():
    W = np.asarray(saved.model.params["layers.0.W"])                 # (784, H)
    units = W.shape[1]
    is_output = len(config.hidden_sizes) == 0
    st.caption(("Each picture is the 784 incoming weights of one " +
                ("output unit (no hidden layer)" if is_output else "first-layer hidden unit") +
                ", laid out as the 28x28 image. **Red**: ink there pushes the unit up; **blue**: "
                "ink there pushes it down; white: the unit ignores that pixel. Each unit has its "
                "own colour scale."))
    start = 0
    if units > WEIGHTS_PER_PAGE:
        starts = list(range(0, units, WEIGHTS_PER_PAGE))
        start = st.select_slider(
            "Units", starts, key="inspect_weights_start",
            format_func=lambda s: f"{s}–{min(units, s + WEIGHTS_PER_PAGE) - 1}",
            help=f"{units} units, {WEIGHTS_PER_PAGE} at a time.")
    images = weight_images(W, start, WEIGHTS_PER_PAGE, scale=3)
    captions = ([names[j] for j in range(start, start + len(images))] if is_output
                else [f"unit {j}" for j in range(start, start + len(images))])
    st.image(images, caption=captions, width=90)

# -- training curves ----------------------------------------------------------------------------------
def show_curves():
    if not saved.history:
        st.info("This model was saved without a training history.")
    else:
        left, right = st.columns(2)
        shown = (label, saved.history)
        left.vega_lite_chart(curves_spec("loss", shown), width="stretch")
        right.vega_lite_chart(curves_spec("accuracy", shown), width="stretch")
        last = saved.history[-1]
        st.caption(f"{len(saved.history)} records over {last.get('epoch', float('nan')):.1f} "
                   f"epochs, {last.get('elapsed', float('nan')):.0f} s of training.")
    if saved.train_config:
        with st.expander("Training settings"):
            st.json(saved.train_config, expanded=True)


# on_change="rerun": only the open tab's content runs (the galleries are the costly part)
TABS = {"Accuracy": show_accuracy, "Mistakes": show_mistakes, "Activations": show_activations,
        "The network, lighting up": show_network, "What units look for": show_weights,
        "Class dreams": show_dreams, "Training curves": show_curves}
def remember_tab():
    ss["inspect_last_tab"] = ss["inspect_tab"]


# the tab last open comes back when the visitor returns to this page
opened = ss["inspect_last_tab"] if ss["inspect_last_tab"] in TABS else None
for tab, show in zip(st.tabs(list(TABS), key="inspect_tab", default=opened,
                             on_change=remember_tab), TABS.values()):
    if tab.open:
        with tab:
            show()
