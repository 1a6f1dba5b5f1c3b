"""[from app/inspect_views.py]
Streamlit-side helpers for the Inspect page: Vega-Lite specs, image grids, cached evaluations.

The chart builders return plain Vega-Lite dicts (drawn with ``st.vega_lite_chart`` in 1-3 ms) and
the image builders return uint8 arrays, so they can be tested without a running app. The one
expensive thing, the model's predictions over the whole test set, is computed once per set of
weights (``test_predictions``, keyed by a fingerprint of the weights) and reused on every rerun.
"""
from pathlib import Path

import numpy as np
import streamlit as st

from app.data import class_names, dataset_title, load_model_file, shipped_model
from app.session import current_model
from app.store.files import visible_models
from core.errors import NNError

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
