"""Streamlit-side helpers for the Inspect page: Vega-Lite specs, image grids, cached evaluations.

The chart builders return plain Vega-Lite dicts (drawn with ``st.vega_lite_chart`` in 1-3 ms) and
the image builders return uint8 arrays, so they can be tested without a running app. The one
expensive thing, the model's predictions over the whole test set, is computed once per set of
weights (``test_predictions``, keyed by a fingerprint of the weights) and reused on every rerun.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app import state
from core import metrics
from core.errors import NNError

WEIGHTS_PER_PAGE = 64
HEAT_SCHEME = "blues"


# -- the expensive part, once per model ---------------------------------------------------------
def fingerprint(saved):
    """A short hash of the model's weights and its scaling: the cache key for its evaluations."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(saved.scaling.encode())
    for name in sorted(saved.model.params):
        value = np.ascontiguousarray(saved.model.params[name])
        digest.update(name.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Evaluation:
    probabilities: np.ndarray   # (N, 10) on the test set
    predicted: np.ndarray       # (N,)
    labels: np.ndarray          # (N,)
    confusion: np.ndarray       # (10, 10), row = true class
    per_class: np.ndarray       # (10,) recall of each class
    accuracy: float


@st.cache_data(show_spinner="Running the model on every test image…", max_entries=16)
def test_predictions(model_key, _saved, _raw):
    """Evaluate ``_saved`` on the test images of ``_raw`` (a RawDataset).

    Cached by ``model_key``: the arguments with a leading underscore are not hashed, so the key
    must identify both (see ``evaluation_key``). About 10 MB of work once, a dict lookup after.
    """
    from core.datasets import scale_pixels
    X_test = scale_pixels(_raw.test_images, _saved.scaling)                     # (N, 784)
    probabilities = _saved.model.predict_proba(X_test).astype(np.float32)      # (N, 10)
    predicted = probabilities.argmax(axis=1)
    labels = np.asarray(_raw.test_labels, dtype=np.int64)
    confusion = metrics.confusion_matrix(predicted, labels, probabilities.shape[1])
    return Evaluation(probabilities, predicted, labels, confusion,
                      metrics.per_class_accuracy(confusion), metrics.accuracy(predicted, labels))


def evaluation_key(saved, raw):
    """Identifies a (model weights, test set) pair for ``test_predictions``."""
    return (fingerprint(saved), raw.name, raw.source, raw.location, int(raw.test_images.shape[0]))


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def load_model_file(path, mtime):
    """A saved model file, loaded once per (path, modification time). Read-only: shared. Errors
    name it as <dataset folder>/<file>, never by its path on the server."""
    from pathlib import Path

    from core.modelio import load_model
    path = Path(path)
    return load_model(path, shown_as=f"{path.parent.name}/{path.name}")


def display_images(X, scaling):
    """Model inputs (N, 784) in the given scaling -> (N, 28, 28) floats in [0, 1] to show."""
    X = np.asarray(X, dtype=np.float32)
    if scaling == "symmetric":
        X = (X + 1.0) / 2.0
    return X.reshape(-1, 28, 28)


# -- images --------------------------------------------------------------------------------------
def diverging_rgb(values, limit=None):
    """Map values to RGB uint8: negative blue, zero white, positive red (symmetric around 0)."""
    values = np.asarray(values, dtype=np.float32)
    limit = float(np.max(np.abs(values))) if limit is None else float(limit)
    t = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values)
    red, blue = np.array([178, 24, 43], np.float32), np.array([33, 102, 172], np.float32)
    white = np.float32(255.0)
    pos, neg = np.clip(t, 0, 1)[..., None], np.clip(-t, 0, 1)[..., None]
    rgb = white + pos * (red - white) + neg * (blue - white)
    return (rgb + 0.5).astype(np.uint8)


def weight_images(W, start=0, count=WEIGHTS_PER_PAGE, scale=4):
    """The incoming weights of units ``start .. start+count-1`` of a first layer W (784, H), each as
    a 28x28 red/blue image enlarged ``scale`` times. Each unit has its own colour range (its largest
    |weight| is full colour), so every pattern is visible whatever its magnitude."""
    W = np.asarray(W, dtype=np.float32)
    stop = min(W.shape[1], start + count)
    images = []
    for j in range(start, stop):
        image = diverging_rgb(W[:, j].reshape(28, 28))
        images.append(_margin(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)))
    return images


def grey_images(images, scale=3):
    """(N, 28, 28) floats in [0, 1] -> list of enlarged uint8 images (nearest-neighbour), each with
    a thin white margin so that neighbours in a gallery do not run into each other."""
    out = []
    for image in images:
        image = (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        out.append(_margin(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)))
    return out


def _margin(image, width=3, value=255):
    pad = ((width, width), (width, width)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, constant_values=value)


# -- choosing what to inspect (Streamlit controls) ---------------------------------------------------
def choose_model(dataset):
    """The model chooser: the current model and the saved files of ``dataset`` (the pretrained one
    once). Returns (SavedModel, label); with nothing to inspect it says so and stops the page.
    Raises NNError or OSError for a file that cannot be used."""
    from app.model_files import visible_models          # imports app.state: import here

    current, current_label = state.current_model(dataset)
    files = visible_models(dataset)                 # the visitor's own files in hosted mode
    shipped_is_current = current is not None and current is state.shipped_model(dataset)[0]
    listed = {str(entry.path): entry for entry in files
              if not (shipped_is_current and entry.kind == "pretrained")}
    choices = (["current"] if current is not None else []) + list(listed)

    def describe_choice(choice):
        if choice == "current":
            return f"Current model: {current_label}"
        note = {"pretrained": " (pretrained)", "cli": " (from python -m core train)"}
        return f"Saved file: {listed[choice].name}" + note.get(listed[choice].kind, "")

    if not choices:
        st.warning(f"There is no {state.dataset_title(dataset)} model to inspect yet. "
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
    names = state.class_names(dataset)
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
            st.caption(f"(drawn while {state.dataset_title(ss['drawing_dataset'])} was selected)")
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
