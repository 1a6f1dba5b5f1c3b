"""Draw: draw a digit (or upload a picture, or load a test image) and see what the network thinks.

A stroke reruns only the fragment below (not the frame and sidebar), and the fragment does little:
preprocess the canvas (core.drawing), one forward pass, a Vega-Lite chart and one small image. The
step images are drawn only while their expander is open. Datasets and models come cached from
app.session; an uploaded file is decoded once and kept in session_state.

"Why did it say that?" (app.views.why), closed until opened, then only its open tab is computed:
the network lighting up as you draw (a unit's arithmetic on a click), which pixels mattered,
what would make it another class, and how little fools it.
"""
import time

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app.data import class_names, dataset_title
from app.inputs.pictures import MAX_UPLOAD_BYTES, UPLOAD_TYPES
from app.render.images import enlarge
from app.session import current_model, init_state
from app.views.draw import CANVAS_TOOLBAR_FIX, PHONE_CSS, warm_up
from app.views.draw_guess import show_guess
from app.views.draw_input import ask_when, preprocessing_toggles, read_input
from app.views.my_drawings import label_buttons, section
from app.views.why import why_expander
from core.drawing import options_for
from core.errors import NNError

init_state()
ss = st.session_state
dataset = ss["dataset"]
names = class_names(dataset)
fashion = dataset == "fashion-mnist"
title = dataset_title(dataset)


# -- callbacks ------------------------------------------------------------------------------------
def use_canvas():
    ss["draw_source"] = "canvas"


def clear_canvas():
    ss["draw_canvas_version"] += 1           # a new key gives a new, empty canvas
    ss["draw_source"] = "canvas"
    ss["drawing_pixels"] = ss["drawing_dataset"] = None
    ss["draw_rgba"] = ss["draw_json"] = ss["draw_initial"] = None


def use_upload():
    ss["draw_source"] = "upload"


def load_test_image():
    ss["draw_source"] = "test"
    ss["draw_test_seed"] = int(np.random.default_rng().integers(2**31))


# -- the page -------------------------------------------------------------------------------------
st.title("Draw")
st.caption((f"Draw a piece of clothing (or a digit, to see what a {title} model makes of it)"
            if fashion else "Draw a digit from 0 to 9")
           + " in the black square. The network guesses as you draw. Switch the dataset in the "
             "sidebar.")
st.html(CANVAS_TOOLBAR_FIX, unsafe_allow_javascript=True)
st.html(PHONE_CSS)


@st.fragment
def draw_and_guess():
    """Everything a stroke changes: a stroke reruns only this, not the frame around it."""
    started = time.perf_counter()
    saved, model_label = current_model(dataset)
    st.space("small")                       # room for the canvas toolbar, which floats above it
    canvas_column, result_column = st.columns([5, 6], gap="small")

    with canvas_column:
        canvas_box = st.container()
        # compact controls, so that on a phone the guess (the next column, stacked) is in view
        controls = st.container(horizontal=True, gap="small", vertical_alignment="center")
        controls.button("Clear", on_click=clear_canvas, icon=":material/ink_eraser:",
                        help="Start a new drawing.")
        controls.button("Test image", on_click=load_test_image,
                        icon=":material/shuffle:",
                        help=f"Show a real {title} test image, to compare with your drawing.")
        with controls.popover(f"Brush {ss['draw_brush']}", icon=":material/brush:"):
            brush = st.slider("Brush width", 6, 40, key="draw_brush",
                              help="Thickness of the pen in canvas pixels. MNIST strokes are "
                                   "about a tenth of the digit's height: around 20 for a digit "
                                   "filling the square.")
        canvas_key = f"draw_canvas_{ss['draw_canvas_version']}"
        if canvas_key not in ss:
            # a new canvas (first visit, Clear, or back from another page): redraw the last drawing
            ss["draw_initial"] = ss["draw_json"]
        with canvas_box:
            canvas = st_canvas(
                stroke_width=brush, stroke_color="#FFFFFF", background_color="#000000",
                width=280, height=280, drawing_mode="freedraw", update_streamlit=True,
                return_image_data=True, initial_drawing=ss["draw_initial"], key=canvas_key,
                on_change=use_canvas)

    with result_column:     # in the order shown; the secondary controls after the guess
        banner_box, guess_box, moment_box, seen_box = (st.container() for _ in range(4))
        upload = st.file_uploader(
            "Or upload a picture", type=list(UPLOAD_TYPES), key="draw_upload",
            on_change=use_upload, max_upload_size=MAX_UPLOAD_BYTES // 2**20,
            help="A PNG or JPEG of one digit, light on dark or dark on light; it goes through the "
                 "same preprocessing as a drawing.")

    why_box = st.container()                  # "why did it say that?", above the pipeline's steps
    # on_change="rerun" makes .open say whether the expander is open: the step images, the largest
    # part of the page to send, are only drawn while someone looks at them
    pipeline = st.expander("How a drawing becomes the 784 numbers the network reads",
                           key="draw_steps_open", on_change="rerun")
    with pipeline:
        st.markdown(
            "Fashion-MNIST's pictures were made by trimming each product photo, scaling its longest "
            "side to 28 pixels and centring it in a 28x28 image. Your drawing goes through the "
            "same steps. Switch one off and watch the guess change: the network only knows "
            "pictures that look like its training images." if fashion else
            "MNIST digits were made by cropping each handwritten digit, scaling it to fit a 20x20 "
            "box and centring its centre of mass in a 28x28 image. Your drawing goes through the "
            "same steps. Switch one off and watch the guess change: the network only knows digits "
            "that look like its training images.")
        options = preprocessing_toggles(dataset, options_for(dataset))
        steps_box = st.container()

    source = ss["draw_source"]
    if source == "upload" and upload is None:
        source = ss["draw_source"] = "canvas"
    if ss["draw_rgba"] is None and not (canvas.json_data or {}).get("objects"):
        warm_up(saved)                    # nothing drawn yet: get ready for the first stroke
    error, pixels, steps, empty, note = None, None, (), True, ""
    try:
        pixels, steps, empty, note = read_input(dataset, source, canvas, upload, options)
    except NNError as e:
        error = str(e)

    asked, asked_label = None, model_label
    with banner_box:
        if source != "canvas" and not error:
            what = "your uploaded picture" if source == "upload" else "a test image"
            banner = st.container(horizontal=True, vertical_alignment="center")
            banner.info(f"The network is reading {what}, not the canvas.",
                        icon=":material/swap_horiz:")
            banner.button("Back to my drawing", on_click=use_canvas, icon=":material/draw:",
                          key="draw_back_to_canvas")
    with guess_box:
        if error:
            st.error(error)
        elif empty and source == "upload":
            st.warning(f"“{upload.name}” looks blank: it is one colour throughout, so there is no "
                       f"{'shape' if fashion else 'digit'} to read. Upload a picture of one "
                       f"{'piece of clothing' if fashion else 'digit'}, dark on light or light on "
                       "dark.", icon=":material/hide_image:")
        elif empty:
            st.info(("Draw a piece of clothing" if fashion else "Draw a digit")
                    + " in the black square: the network's guess and how sure it is appear here "
                      "as you draw.", icon=":material/draw:")
        elif saved is None:
            st.warning(f"There is no model to ask. {model_label}")
            st.page_link("pages/train.py", label="Train a model (about a minute)",
                         icon=":material/model_training:")
        else:
            with moment_box:                 # a secondary control: under the guess it changes
                asked, asked_label = ask_when(dataset, saved, model_label)
            guess = show_guess(dataset, asked, asked_label, pixels, names,
                               moment=asked is not saved)
            label_buttons(dataset, pixels, guess.index, source, on_saved=clear_canvas)
    with seen_box:
        if saved is not None:
            st.caption(f"Model: {asked_label}, {saved.model.config.describe()}.")
        if pixels is not None and not empty:
            seen = st.columns([2, 3], vertical_alignment="center")
            seen[0].image(enlarge(np.asarray(pixels).reshape(28, 28), 140),
                          caption="What the network receives: 28x28 pixels")
            seen[1].markdown(note or f"Your drawing, shrunk to 28x28 pixels the way {title}'s "
                                     "images were made. Open the steps below to see how.")

    if pipeline.open:
        with steps_box:
            if steps:
                for column, (step_title, image) in zip(st.columns(len(steps)), steps):
                    column.image(enlarge(image, 112, square=True), caption=step_title, width=112)
            else:
                st.caption("Draw something to see each step.")

    with why_box:
        why_expander(asked, None if empty or error else pixels, names, fashion)

    ss["draw_server_ms"] = (time.perf_counter() - started) * 1000
    with pipeline:
        st.caption(f"Server time for this update (preprocessing, prediction and page): "
                   f"{ss['draw_server_ms']:.1f} ms.")


draw_and_guess()
section(dataset)         # your labelled drawings: score, Teach it, gallery, files
