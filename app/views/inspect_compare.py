"""Inspect's "MLP vs conv net" tab: the two shipped architectures (or the model inspected and the
shipped model of the other kind) on the same test images: where both are right, where each is
wrong, and the images only one of them gets wrong.

    other_architecture(look) -> (SavedModel, label) | (None, reason)
    show_compare(look)                                the counts and the galleries
"""
import numpy as np
import streamlit as st

from app.data import CONVNET_NAME, evaluation_key, shipped_model, test_predictions
from app.render.images import grey_images

SHOWN = 24


def other_architecture(look):
    """The model to compare with the one inspected: the shipped conv net for an MLP, the shipped
    MLP for a conv net."""
    conv = look.saved.model.config.is_convolutional
    saved, reason = shipped_model(look.dataset) if conv else shipped_model(look.dataset,
                                                                            CONVNET_NAME)
    if saved is None:
        return None, reason or "No shipped model of the other kind is installed."
    return saved, ("the pretrained model (an MLP)" if conv else "the pretrained conv net")


def _gallery(look, indices, theirs, label):
    if indices.size == 0:
        st.caption("None.")
        return
    shown = indices[:SHOWN]
    mine = look.evaluation
    images = grey_images(look.raw.test_images[shown].reshape(-1, 28, 28) / 255.0, scale=3)
    names = look.names
    captions = [f"{names[mine.labels[i]]}: {names[mine.predicted[i]]} / {names[theirs.predicted[i]]}"
                for i in shown]
    st.image(images, caption=captions, width=90)
    if indices.size > SHOWN:
        st.caption(f"The first {SHOWN} of {indices.size:,}.")


def show_compare(look):
    other, label = other_architecture(look)
    if other is None:
        st.info(label, icon=":material/info:")
        return
    theirs = test_predictions(evaluation_key(other, look.raw), other, look.raw)
    mine = look.evaluation
    right_mine = mine.predicted == mine.labels
    right_theirs = theirs.predicted == theirs.labels
    mine_name = "conv net" if look.saved.model.config.is_convolutional else "MLP"
    their_name = "MLP" if mine_name == "conv net" else "conv net"
    st.caption(f"The model inspected ({look.label}, an {mine_name}) and {label} on the same "
               f"{mine.labels.size:,} test images. A conv net reads the picture through small "
               "filters that slide over it, so it finds a stroke wherever it is; an MLP weighs "
               "each pixel where it is.")
    cols = st.columns(4)
    cols[0].metric("Both right", f"{int((right_mine & right_theirs).sum()):,}")
    cols[1].metric(f"Only the {mine_name} wrong", f"{int((~right_mine & right_theirs).sum()):,}",
                   help=f"Images {label} gets right and the model inspected does not.")
    cols[2].metric(f"Only the {their_name} wrong", f"{int((right_mine & ~right_theirs).sum()):,}")
    cols[3].metric("Both wrong", f"{int((~right_mine & ~right_theirs).sum()):,}")
    st.caption(f"Accuracy: {mine_name} {mine.accuracy:.2%}, {their_name} {theirs.accuracy:.2%}. "
               f"Captions: true class: {mine_name}'s guess / {their_name}'s guess.")
    confident = -np.maximum(mine.probabilities.max(axis=1), theirs.probabilities.max(axis=1))
    for title, mask in [(f"Only the {mine_name} is wrong", ~right_mine & right_theirs),
                        (f"Only the {their_name} is wrong", right_mine & ~right_theirs),
                        ("Both are wrong", ~right_mine & ~right_theirs)]:
        st.markdown(f"**{title}**")
        indices = np.flatnonzero(mask)
        _gallery(look, indices[np.argsort(confident[indices], kind="stable")], theirs, label)
