"""Inspect's panels: which model to look at, which image, and the tabs' bodies.

``choose_model`` offers the current model and the visitor's saved files; ``pick_image`` a test
image or the visitor's drawing. Each tab is a function of a ``Look`` (the model, its evaluation on
the chosen test set, the class names), drawn only when open (``TABS``).
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app.data import class_names, dataset_title, fingerprint, load_model_file, shipped_model
from app.render.charts import (
    activation_spec,
    confusion_spec,
    curves_spec,
    per_class_spec,
    probabilities_spec,
)
from app.render.images import WEIGHTS_PER_PAGE, enlarge, grey_images, weight_images
from app.session import current_model
from app.store.files import visible_models
from app.views.conv import feature_maps_gallery, filters_view
from app.views.draw import classify
from app.views.inspect_compare import show_compare
from app.views.why import dreams_view, network_view, saliency_view
from core import metrics
from core.errors import NNError
from core.explain import to_model_input
from core.reader import has_reader

HEAT_SCHEME = "blues"


# -- choosing what to inspect (Streamlit controls) ---------------------------------------------------
def choose_model(dataset):
    """The model chooser: the current model and the saved files of ``dataset`` (the pretrained one
    once). Returns (SavedModel, label); with nothing to inspect it says so and stops the page.
    Raises NNError or OSError for a file that cannot be used."""

    current, current_label = current_model(dataset)
    files = visible_models(dataset)                 # the visitor's own files in hosted mode
    shipped_is_current = current is not None and current is shipped_model(dataset)[0]
    listed = {str(entry.path): entry for entry in files
              if not (shipped_is_current and entry.kind == "pretrained")}
    choices = (["current"] if current is not None else []) + list(listed)

    def describe_choice(choice):
        if choice == "current":
            return f"Current model: {current_label}"
        note = {"pretrained": " (pretrained)", "cli": " (from python -m core train)"}
        return f"Saved file: {listed[choice].name}" + note.get(listed[choice].kind, "")

    if not choices:
        st.warning(f"There is no {dataset_title(dataset)} model to inspect yet. "
                   f"{current_label}")
        st.page_link("pages/train.py", label="Train a model (about a minute)",
                     icon=":material/model_training:")
        st.stop()
    choice = st.selectbox("Model", choices, format_func=describe_choice, key="inspect_model",
                          help="The current model is the one you trained last (or the pretrained "
                               "one); saved models are the ones listed on the Train page.")
    if choice == "current" or choice not in listed:      # only a file of the visitor's list
        return current, current_label
    path = Path(choice)
    saved = load_model_file(str(path), path.stat().st_mtime)
    if saved.dataset != dataset:
        raise NNError(f"{path.name} is a {saved.dataset} model; switch the dataset in the sidebar "
                      "to inspect it.")
    return saved, path.stem


def pick_image(raw, dataset):
    """A test image (slider, Random) or the visitor's drawing: (784 pixels in [0, 1], caption),
    or (None, None) when there is no drawing yet. Shared by the Activations and the network tabs
    (the same keys: the image picked on one is still picked on the other)."""
    ss = st.session_state
    names = class_names(dataset)
    has_drawing = ss.get("drawing_pixels") is not None
    sources = ["A test image", "Your drawing"]
    source = st.segmented_control("Look at", sources, default=sources[0], key="inspect_source",
                                  required=True,
                                  help="Pick a test image, or the digit you drew on the Draw page.")
    count = raw.test_images.shape[0]

    def random_index():
        ss["inspect_index"] = int(np.random.default_rng().integers(count))

    if source == "Your drawing" and not has_drawing:
        st.info("You have not drawn anything yet: draw a digit on the Draw page, then come back.")
        st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
        return None, None
    if source == "Your drawing":
        if ss.get("drawing_dataset") not in (None, dataset):
            st.caption(f"(drawn while {dataset_title(ss['drawing_dataset'])} was selected)")
        return np.asarray(ss["drawing_pixels"], np.float32), "Your drawing"
    pick = st.columns([4, 1], vertical_alignment="bottom")
    if ss.get("inspect_index", 0) >= count:
        ss["inspect_index"] = 0
    index = pick[0].slider("Test image", 0, count - 1, key="inspect_index",
                           help="Index of the test image to feed the network.")
    pick[1].button("Random", on_click=random_index, icon=":material/shuffle:",
                   use_container_width=True)
    x = raw.test_images[index].astype(np.float32) / 255.0
    return x, f"Test image #{index:,}: {names[int(raw.test_labels[index])]}"


@dataclass(frozen=True)
class Look:
    """What Inspect looks at: a model, its evaluation on a test set, the names of the classes."""
    saved: object                  # core.modelio.SavedModel
    label: str                     # what the model is called on the page
    raw: object                    # the test set (core.datasets.RawDataset, or the drawings)
    evaluation: object             # app.data.Evaluation of saved on raw
    names: tuple
    dataset: str


MISTAKES_PER_PAGE = 40
ANY = "any"



# -- accuracy ---------------------------------------------------------------------------------------
def show_accuracy(look):
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Confusion matrix")
        st.caption("Each row is a true class, each column what the model said. The diagonal "
                   "(green) is right; the darker an orange cell, the more of that class goes wrong "
                   "that way.")
        st.vega_lite_chart(confusion_spec(look.evaluation.confusion, look.names),
                           width="content")
    with right:
        st.subheader("Accuracy per class")
        st.caption("How many images of each true class it gets right; the dashed line is the "
                   "overall accuracy.")
        st.vega_lite_chart(per_class_spec(look.evaluation.per_class, look.names, look.evaluation.accuracy),
                           width="stretch")
        worst = int(np.nanargmin(look.evaluation.per_class))
        confusion = look.evaluation.confusion.copy()
        np.fill_diagonal(confusion, 0)
        t, p = np.unravel_index(int(confusion.argmax()), confusion.shape)
        st.info(f"Hardest class: **{look.names[worst]}** ({look.evaluation.per_class[worst]:.1%} right). "
                f"Most common mistake: **{look.names[t]}** taken for **{look.names[p]}** "
                f"({confusion[t, p]:,} times).", icon=":material/lightbulb:")

# -- mistakes -----------------------------------------------------------------------------------------
def show_mistakes(look):
    st.caption("Test images the model gets wrong, the most confident mistakes first. Many are "
               "hard even for people; some are mislabelled.")
    filters = st.columns(3)
    true_pick = filters[0].selectbox("True class", [ANY, *look.names], key="inspect_true")
    predicted_pick = filters[1].selectbox("Predicted as", [ANY, *look.names], key="inspect_predicted")
    indices = metrics.mistakes(look.evaluation.probabilities, look.evaluation.labels,
                               None if true_pick == ANY else look.names.index(true_pick),
                               None if predicted_pick == ANY else look.names.index(predicted_pick))
    pages = max(1, -(-indices.size // MISTAKES_PER_PAGE))
    page = filters[2].number_input("Page", 1, pages, 1, key="inspect_mistakes_page",
                                   help=f"{MISTAKES_PER_PAGE} mistakes per page.") if pages > 1 else 1
    shown = indices[(page - 1) * MISTAKES_PER_PAGE:page * MISTAKES_PER_PAGE]
    if indices.size == 0:
        st.success("No mistakes of that kind on the test set.")
    else:
        st.write(f"**{indices.size:,}** mistakes" + (f", page {page} of {pages}" if pages > 1 else "")
                 + ". Caption: true → predicted (confidence).")
        images = grey_images(look.raw.test_images[shown].reshape(-1, 28, 28) / 255.0, scale=3)
        captions = [f"{look.names[look.evaluation.labels[i]]} → {look.names[look.evaluation.predicted[i]]} "
                    f"({look.evaluation.probabilities[i, look.evaluation.predicted[i]]:.0%})" for i in shown]
        st.image(images, caption=captions, width=90)

# -- activations --------------------------------------------------------------------------------------
def show_activations(look):
    x, caption = pick_image(look.raw, look.dataset)
    if x is not None:
        guess = classify(look.saved, x, look.names)
        image_col, output_col = st.columns([1, 2], gap="large")
        image_col.image(enlarge(x.reshape(28, 28), 168), caption=caption)
        with output_col:
            st.metric("Predicted", guess.label, f"{guess.confidence:.0%} sure", delta_color="off",
                      delta_arrow="off")
            st.vega_lite_chart(probabilities_spec(guess.probabilities, look.names, title="Output layer"),
                               width="stretch")
        if look.saved.model.config.is_convolutional:
            feature_maps_gallery(look.saved, x)
        X = to_model_input(x.reshape(1, -1), look.saved.scaling)                 # (1, 784)
        hidden = [h for h in look.saved.model.hidden_activations(X) if h.ndim == 2]
        if not hidden:
            st.caption("This network has no hidden layer: the inputs go straight to the outputs.")
        for i, layer in enumerate(hidden):
            values = layer[0]
            active = int((values > 1e-6).sum()) if look.saved.model.config.activation in ("relu",) else None
            note = f", {active} of {values.size} active" if active is not None else ""
            st.vega_lite_chart(activation_spec(values, f"Hidden layer {i + 1}: {values.size} units "
                                                       f"({look.saved.model.config.activation}{note})"),
                               width="stretch")

# -- the network, lighting up -------------------------------------------------------------------------
def show_network(look):
    x, caption = pick_image(look.raw, look.dataset)
    if x is None:
        return
    guess = classify(look.saved, x, look.names)
    st.markdown(f"**{caption}**: the model says **{guess.label}** ({guess.confidence:.0%}). "
                "Why? Follow the strongest pushes from the pixels through each layer to the "
                "outputs.")
    network_view(look.saved, x, look.names, "inspect_why")
    st.subheader("Which pixels mattered")
    saliency_view(look.saved, x, look.names, "inspect_why")

# -- class dreams -------------------------------------------------------------------------------------
def show_dreams(look):
    st.caption("What does the model think a 3 looks like? For each class, a picture it scores "
               "very highly for that class, found by gradient ascent: from the class's average "
               "training image (readable) or from plain grey (raw). Computed once per model.")
    dreams_view(look.saved, fingerprint(look.saved), look.names, "inspect_why")

# -- first-layer weights ------------------------------------------------------------------------------
def show_weights(look):
    if look.saved.model.config.is_convolutional:
        filters_view(look.saved.model)
        return
    W = np.asarray(look.saved.model.params["layers.0.W"])                 # (784, H)
    units = W.shape[1]
    is_output = len(look.saved.model.config.hidden_sizes) == 0
    st.caption(("Each picture is the 784 incoming weights of one " +
                ("output unit (no hidden layer)" if is_output else "first-layer hidden unit") +
                ", laid out as the 28x28 image. **Red**: ink there pushes the unit up; **blue**: "
                "ink there pushes it down; white: the unit ignores that pixel. Each unit has its "
                "own colour scale."))
    # a network taught a handwriting grew a second reader (core.reader): its second half of
    # units are the first half seen through the visitor's hand
    reader = units // 2 if has_reader(look.saved.train_config) else 0
    if reader:
        st.caption(f"Taught a handwriting, this network grew a **second reader**: units "
                   f"{reader}–{units - 1} are units 0–{reader - 1} looking through your hand (unit "
                   f"{reader}, marked ↻ 0, is unit 0 turned, leaned and squeezed the way you draw), "
                   "so that what they learned from the dataset fits your drawings.")
    start = 0
    if units > WEIGHTS_PER_PAGE:
        starts = list(range(0, units, WEIGHTS_PER_PAGE))
        start = st.select_slider(
            "Units", starts, key="inspect_weights_start",
            format_func=lambda s: f"{s}–{min(units, s + WEIGHTS_PER_PAGE) - 1}",
            help=f"{units} units, {WEIGHTS_PER_PAGE} at a time.")
    images = weight_images(W, start, WEIGHTS_PER_PAGE, scale=3)
    captions = ([look.names[j] for j in range(start, start + len(images))] if is_output
                else [f"unit {j}" + (f" (↻ {j - reader})" if reader and j >= reader else "")
                      for j in range(start, start + len(images))])
    st.image(images, caption=captions, width=90)

# -- training curves ----------------------------------------------------------------------------------
def show_curves(look):
    if not look.saved.history:
        st.info("This model was look.saved without a training history.")
    else:
        left, right = st.columns(2)
        shown = (look.label, look.saved.history)
        left.vega_lite_chart(curves_spec("loss", shown), width="stretch")
        right.vega_lite_chart(curves_spec("accuracy", shown), width="stretch")
        last = look.saved.history[-1]
        st.caption(f"{len(look.saved.history)} records over {last.get('epoch', float('nan')):.1f} "
                   f"epochs, {last.get('elapsed', float('nan')):.0f} s of training.")
    if look.saved.train_config:
        with st.expander("Training settings"):
            st.json(look.saved.train_config, expanded=True)


# Inspect's tabs, each drawn only when open (on_change="rerun"; the galleries are the costly part)
TABS = {"Accuracy": show_accuracy, "Mistakes": show_mistakes, "Activations": show_activations,
        "The network, lighting up": show_network, "What units look for": show_weights,
        "Class dreams": show_dreams, "MLP vs conv net": show_compare,
        "Training curves": show_curves}
