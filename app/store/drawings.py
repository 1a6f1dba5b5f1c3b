"""The visitor's labelled drawings ("Teach it your handwriting"), kept in the session.

The set lives in ``st.session_state["my_drawings"]`` (dataset -> core.handwriting.Drawings, an
immutable set replaced on every change, so a reload's new session can share it: app.visitor keeps
it). "Right" / "It's actually a ..." under Draw's guess save a drawing (its 784 pixels, the label
and a 56 x 56 sketch of the raw strokes); the gallery deletes one or all; the set downloads as
MNIST IDX files in a zip.

    drawings_of(dataset), store_drawings(dataset, drawings)
    save_drawing / save_as_actually / delete_drawing / clear_drawings     callbacks
    guesses(saved, drawings)         the model's guess for each drawing
    zip_bytes(fingerprint, drawings, dataset)   the download, cached per set
"""
import numpy as np
import streamlit as st

from app.data import class_names
from app.session import notify
from core.errors import NNError
from core.handwriting import Drawings, sketch_of, to_zip

SKETCH_BYTES = 784 + 56 * 56 + 1


# -- the set ----------------------------------------------------------------------------------------
def drawings_of(dataset):
    """The visitor's set for ``dataset`` (an empty one when there is none yet)."""
    sets = st.session_state["my_drawings"] or {}
    return sets.get(dataset) or Drawings.empty()


def store_drawings(dataset, drawings):
    sets = dict(st.session_state["my_drawings"] or {})     # a new dict: never shared in place
    sets[dataset] = drawings
    st.session_state["my_drawings"] = sets


def guesses(saved, drawings):
    """(N,) the model's guess for each drawing."""
    if saved is None or not len(drawings):
        return np.zeros(0, np.int64)
    return saved.model.predict(drawings.pixels(saved.scaling, saved.model.dtype))


def raw_picture(source):
    """The raw drawing the guess was made from (canvas RGBA or the uploaded picture), or None."""
    ss = st.session_state
    if source == "upload":
        decoded = ss.get("draw_upload_decoded")
        return decoded[1] if decoded else None
    return ss.get("draw_rgba")


def save_drawing(dataset, pixels, label, source):
    """Callback: add the drawing shown to the set as ``label``."""
    names = class_names(dataset)
    drawings = drawings_of(dataset)
    try:
        picture = raw_picture(source)
        sketch = sketch_of(picture) if picture is not None else None
        drawings = drawings.add(pixels, int(label), sketch)
    except NNError as e:
        notify("error", str(e), on="my")
        return
    store_drawings(dataset, drawings)
    st.session_state["my_rerun"] = True
    notify("toast", f"Saved as {names[label]}: drawing {len(drawings)} of your set. Draw the "
                     "next one.", on="my")


def save_as_actually(dataset, pixels, source):
    label = st.session_state["my_actually"]
    st.session_state["my_actually"] = None
    if label is not None:
        save_drawing(dataset, pixels, label, source)


def delete_drawing(dataset, index, fingerprint):
    drawings = drawings_of(dataset)
    if drawings.fingerprint() != fingerprint:    # the set changed meanwhile (another tab)
        return
    store_drawings(dataset, drawings.remove(index))


def clear_drawings(dataset):
    store_drawings(dataset, Drawings.empty())
    notify("info", "All your drawings of this dataset were deleted.", on="my")


# -- download / upload ------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def zip_bytes(fingerprint, _drawings, dataset):
    """The download's bytes, once per set (keyed by its fingerprint)."""
    return to_zip(_drawings, dataset=dataset)
