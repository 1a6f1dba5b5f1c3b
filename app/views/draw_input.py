"""What the Draw page classifies and whom it asks: the canvas, an upload or a test image through
the preprocessing switches, and the current model or the last run as it was at a chosen moment.
"""
from dataclasses import fields, replace

import numpy as np
import streamlit as st

from app.data import class_names, dataset_title, load_raw
from app.inputs.pictures import decode_upload
from app.runs.replay import model_at, run_moments
from app.views.draw import BLUR_SIGMA, PIPELINE_ORDER, option_help, test_image
from core.drawing import PreprocessOptions, preprocess_canvas, preprocess_image
from core.errors import NNError


def read_input(dataset, source, canvas, upload, options):
    """(pixels (784,) | None, steps, empty, note) for the chosen source: an upload (decoded once
    and kept), a test image, or the canvas (kept as the visitor's drawing). Raises NNError."""
    ss = st.session_state
    if source == "upload":
        cached = ss["draw_upload_decoded"]
        if cached is None or cached[0] != upload.file_id:
            try:
                grey = decode_upload(upload.getvalue(), f"“{upload.name}”")    # (H, W) uint8
                cached = (upload.file_id, grey, None)
            except NNError as e:
                cached = (upload.file_id, None, str(e))
            ss["draw_upload_decoded"] = cached
        if cached[2]:
            raise NNError(cached[2])
        result = preprocess_image(cached[1], options)
        note = f"Your picture “{upload.name}”, as the network sees it."
        return result.pixels, result.steps, result.empty, note
    if source == "test":
        index, image, label = test_image(load_raw(dataset), ss["draw_test_seed"])
        note = (f"Test image #{index:,} of {dataset_title(dataset)}, labelled "
                f"**{class_names(dataset)[label]}**. Draw on the "
                "canvas to go back to your drawing.")
        return image, ((f"test image #{index}", image.reshape(28, 28)),), False, note
    rgba = canvas.image_data                  # (280, 280, 4) uint8; None before the first stroke
    if rgba is None:
        rgba = ss["draw_rgba"]                    # a restored drawing the canvas has not sent yet
    else:
        ss["draw_rgba"], ss["draw_json"] = rgba, canvas.json_data
    if rgba is None:
        return None, (), True, ""
    result = preprocess_canvas(rgba, options)
    ss["drawing_pixels"] = None if result.empty else np.asarray(result.pixels, np.float32).copy()
    ss["drawing_dataset"] = None if result.empty else dataset
    return result.pixels, result.steps, result.empty, ""


def preprocessing_toggles(dataset, base):
    """A toggle per switchable step of core.drawing.PreprocessOptions, starting from ``base`` (the
    dataset's own steps; each dataset keeps its own switches) -> the options chosen."""
    switchable = sorted((f.name for f in fields(PreprocessOptions)
                         if isinstance(f.default, bool) or f.name == "blur"),
                        key=PIPELINE_ORDER.index)                 # in the order the steps run
    columns = st.columns(3)
    chosen = {}
    for i, name in enumerate(switchable):
        label, help_text = option_help(name, base.box_size)
        on = columns[i % 3].toggle(label, value=bool(getattr(base, name)),
                                   key=f"draw_opt_{dataset}_{name}", help=help_text)
        chosen[name] = (BLUR_SIGMA if on else 0.0) if name == "blur" else on
    return replace(base, **chosen)


def ask_when(dataset, saved, label):
    """(the model to ask, its label): the current model, or, when this session has trained on this
    dataset, that run as it was at a moment the visitor picks ("how did it see my 4 after 10 s?")."""
    ss = st.session_state
    moments, snap = run_moments(ss["trainer"], dataset)
    if not moments:
        return saved, label
    options = [*range(len(moments)), "now"]
    if ss["draw_moment"] not in options:
        ss["draw_moment"] = "now"
    choice = st.select_slider(
        "Ask the network as it was while training", options, key="draw_moment",
        format_func=lambda o: "now" if o == "now" else
        f"{moments[o].elapsed:,.1f} s (step {moments[o].step:,})",
        help=f"Slide back through {snap.label}: see how the network read your drawing after "
             "a few seconds of training, and how its answer changed.")
    if choice == "now":
        return saved, label
    moment = moments[choice]
    return (model_at(snap, moment),
            f"{snap.label} after {moment.elapsed:,.1f} s of training (step {moment.step:,})")
