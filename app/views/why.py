"""The "why" views, drawn with Streamlit, shared by Draw and Inspect: the network lighting up
(with a unit's arithmetic), which pixels mattered, what would make it another class, how little
fools it, and (Inspect) the class dreams. Data and pictures come from app.render.why, the specs
from app.render.network_charts, the gradients from core.explain / core.counterfactual /
core.dreams.

Every widget has a key starting with the ``prefix`` the page passes ("draw_why", "inspect_why"),
so each page keeps its own choices; the only session_state key written directly is the chosen
unit's (a widget key: the selectbox's), set before the selectbox is drawn.

    network_view(asked, pixels, names, prefix)       the diagram, a unit picker, the unit
    saliency_view(asked, pixels, names, prefix)      red/blue over the drawing, any class
    counterfactual_view(asked, pixels, names, prefix)
    nudge_view(asked, pixels, names, prefix)
    dreams_view(saved, names, prefix)                a row of 10 pictures, cached per model
"""
import time

import numpy as np
import streamlit as st

from app.data import load_raw
from app.render.images import grey_images
from app.render.network_charts import network_spec, path_spec, pushes_spec
from app.render.why import (
    arithmetic_markdown,
    as_table,
    attribution_picture,
    change_summary,
    diverging_picture,
    grey_picture,
    network_diagram,
    pushes_sentence,
    unit_details,
)
from core.counterfactual import CHANGED, LINF_BUDGET, PIXEL_BUDGET, counterfactual, nudge
from core.dreams import JITTER, PRIOR_STEPS, STEPS
from core.errors import DatasetError
from core.explain import input_gradient, probabilities, saliency, trace

GUESS = "guess"


# -- the network -----------------------------------------------------------------------------------
def _clicked(chart_key, unit_key):
    """on_select of the diagram: a click on a circle chooses that unit (a click elsewhere keeps
    the one chosen)."""
    event = st.session_state.get(chart_key) or {}
    points = (event.get("selection") or {}).get("unit") or []
    for point in points:
        if isinstance(point, dict) and point.get("key"):
            st.session_state[unit_key] = str(point["key"])
            return


def network_view(asked, pixels, names, prefix):
    """The diagram of ``asked`` (a SavedModel or AskedModel: .model, .scaling) reading
    ``pixels`` (784,) in [0, 1]; below it, a unit picker and that unit's weighted input."""
    ss = st.session_state
    model, scaling = asked.model, asked.scaling
    if model.config.is_convolutional:          # its conv and pool stages as feature maps
        from app.views.conv import feature_maps_view
        feature_maps_view(asked, pixels, names, prefix)
        return
    unit_key, chart_key = f"{prefix}_unit", f"{prefix}_network"
    tr = trace(model, pixels, scaling)
    diagram = network_diagram(model, pixels, scaling, names, ss.get(unit_key), tr=tr)
    if ss.get(unit_key) not in diagram.units:
        ss[unit_key] = diagram.default
        diagram = network_diagram(model, pixels, scaling, names, ss[unit_key], tr=tr)
    st.caption("Each circle is a unit: **red** when it is active (positive), **blue** when "
               "negative, white when silent (each layer on its own scale). Each line is one "
               "input's push into a unit, activation × weight: **red** pushes it up, **blue** "
               "down; only the strongest few into each unit are drawn. Click a circle to look "
               "inside it.")
    spec = network_spec(diagram.rows, diagram.width, diagram.height)
    spec["data"]["values"] = as_table(diagram.rows)          # sent as it is: faster per stroke
    st.vega_lite_chart(spec, key=chart_key, on_select=lambda: _clicked(chart_key, unit_key),
                       selection_mode="unit", width="content")
    if diagram.note:
        st.caption(diagram.note)
    st.selectbox("Look inside a unit (or click a circle)", list(diagram.units),
                 format_func=diagram.units.get, key=unit_key,
                 help="Units of every layer as drawn above, from the first hidden layer to the "
                      "outputs.")
    _unit_view(model, tr, ss[unit_key], names, scaling)


def _unit_view(model, tr, key, names, scaling):
    details = unit_details(model, tr, key, names, scaling)
    st.markdown(f"#### {details.title}")
    picture_column, sum_column, push_column = st.columns([1.3, 3.4, 2.6], gap="medium")
    with picture_column:
        if details.picture_is_weights:
            st.image(diverging_picture(details.picture, scale=5),
                     caption="Its 784 weights: red where ink raises it, blue where ink lowers "
                             "it", width=140)
            st.image(diverging_picture(details.contribution_picture, scale=5),
                     caption="Your drawing × those weights: what it adds up", width=140)
        else:
            st.image(diverging_picture(details.picture, scale=5),
                     caption="What it looks for around this drawing: where more ink would "
                             "raise (red) or lower (blue) it", width=140)
    with sum_column:
        st.markdown("**Its weighted input, written out** (the largest terms first)")
        st.markdown(arithmetic_markdown(details, scaling))
    with push_column:
        if details.is_output:
            st.markdown(f"**{details.title}** turns z = {details.z:+.2f} into a probability of "
                        f"**{details.activation:.1%}** with the {details.activation_name} of all "
                        f"{len(names)} outputs: the larger its z compared with the others', the "
                        "higher.")
        else:
            st.markdown("**What it pushes**: if it fired 1 more, each output's score (z) would "
                        "change by")
            spec = pushes_spec(details.pushes, names)
            spec["data"]["values"] = as_table(spec["data"]["values"])
            st.vega_lite_chart(spec, width="stretch")
            st.caption(pushes_sentence(details, names))


# -- which pixels mattered -------------------------------------------------------------------------
def _class_choice(label, names, key, guess, help_text, include_guess=True, default=None):
    options = ([GUESS] if include_guess else []) + list(range(len(names)))

    def show(option):
        return f"its guess ({names[guess]})" if option == GUESS else str(names[option])
    index = options.index(default) if default in options else 0
    return st.selectbox(label, options, format_func=show, key=key, index=index, help=help_text)


def saliency_view(asked, pixels, names, prefix):
    """Red/blue over the drawing: which pixels pushed the score of the guess (or of any class)
    up or down, and the same for every class at a glance."""
    model, scaling = asked.model, asked.scaling
    guess = int(np.argmax(probabilities(model, trace(model, pixels, scaling).logits)[0]))
    controls = st.columns([2, 3])
    with controls[0]:
        choice = _class_choice("Towards which class?", names, f"{prefix}_class", guess,
                               "Whose score to explain: the guess, or any other class.")
    with controls[1]:
        method = st.segmented_control(
            "Show", ["gradient_x_input", "gradient"], default="gradient_x_input", required=True,
            key=f"{prefix}_method",
            format_func={"gradient_x_input": "the ink that mattered (gradient × input)",
                         "gradient": "where ink would matter (gradient)"}.get,
            help="Gradient × input: each inked pixel, weighed by how much its ink raised or "
                 "lowered the score. Gradient: for every pixel, inked or not, how the score "
                 "would change with a little more ink there.")
    cls = guess if choice == GUESS else int(choice)
    attribution = saliency(model, pixels, cls, method, scaling)
    picture, text = st.columns([2, 3], vertical_alignment="center")
    picture.image(attribution_picture(pixels, attribution, scale=7), width=196,
                  caption=f"Towards {names[cls]}: red pushed up, blue pushed down")
    with text:
        if method == "gradient_x_input":
            st.markdown(f"**Red pixels pushed the score of {names[cls]} up, blue ones pushed it "
                        "down**; the stronger the colour, the stronger the push. Your drawing is "
                        "the light grey underneath: the background adds nothing, because it has "
                        "no ink.")
        else:
            st.markdown(f"**Where would more ink change the score of {names[cls]}?** Red: more ink "
                        "there would raise it; blue: lower it. Blank pixels count too: this is "
                        "the network's sensitivity, not what your ink did.")
        st.caption("The score is the output's z, before the softmax turns the ten scores into "
                   "probabilities (it keeps moving when the network is already sure).")
    st.markdown("**Every class at a glance** (one colour scale for all ten: a pale picture means "
                "little push either way)")
    X = np.repeat(np.asarray(pixels, np.float32).reshape(1, -1), len(names), axis=0)
    _, grads = input_gradient(model, X, np.arange(len(names)), "logit", scaling)
    if method == "gradient_x_input":
        grads = grads * X
    limit = float(np.abs(grads).max())
    st.image([attribution_picture(pixels, g, scale=3, limit=limit) for g in grads],
             caption=[str(n) for n in names], width=84)


# -- what would make it a 3 ------------------------------------------------------------------------
def counterfactual_view(asked, pixels, names, prefix):
    """A few steps of gradient ascent on log p(target) from the drawing: the changed pixels, the
    result and the probability path."""
    model, scaling = asked.model, asked.scaling
    before = probabilities(model, trace(model, pixels, scaling).logits)[0]
    guess, runner_up = (int(i) for i in np.argsort(before)[::-1][:2])
    controls = st.columns([2, 3], vertical_alignment="bottom")
    with controls[0]:
        target = _class_choice("Make it a", names, f"{prefix}_target", guess,
                               "The class to steer the drawing towards.", include_guess=False,
                               default=runner_up)
    with controls[1]:
        pen_only = st.toggle("Pen only: add ink, never erase", key=f"{prefix}_pen",
                             help="Like drawing more strokes: pixels may only get brighter.")
    result = counterfactual(model, pixels, int(target), pen_only=pen_only, scaling=scaling)
    p = result.probabilities[:, result.target]
    after = result.probabilities[-1]
    new_guess = int(np.argmax(after))
    count, mean, largest = change_summary(result.change, CHANGED)
    name = names[result.target]
    if result.steps == 0:
        st.info(f"It already reads this as **{name}** with {p[0]:.0%}: nothing to change."
                if new_guess == result.target and p[0] >= 0.9 else
                f"No small change raises the probability of **{name}** from here.",
                icon=":material/info:")
    images = st.columns(3)
    images[0].image(grey_picture(pixels, 5), width=140,
                    caption=f"Your drawing: {names[guess]} ({before[guess]:.0%})")
    images[1].image(diverging_picture(result.change, scale=5), width=140,
                    caption="Changed pixels: red ink added, blue ink taken away")
    images[2].image(grey_picture(result.pixels, 5), width=140,
                    caption=f"After {result.steps} steps: {names[new_guess]} "
                            f"({after[new_guess]:.0%})")
    st.markdown(
        f"**{result.steps} small steps** uphill on the probability of {name} took it from "
        f"**{p[0]:.1%} to {p[-1]:.1%}**, changing **{count} of {result.change.size} pixels** by "
        f"more than {CHANGED:g} (on average by {mean:.2f}, at most by {largest:.2f}; 1 is full "
        "ink). Each step moves every pixel a little in the direction that raises the "
        f"probability of {name} fastest (its gradient, smoothed a little so changes come as "
        "strokes), and is kept only if the probability went up.")
    st.vega_lite_chart(path_spec(result.probabilities, names, result.target, guess),
                       width="stretch")
    st.caption(f"Probability of {name} (red) and of the first guess {names[guess]} (dark grey) "
               "after each step; the other classes are the faint lines.")


# -- how little fools it ---------------------------------------------------------------------------
KINDS = {"linf": "a faint change everywhere", "pixels": "a few pixels"}


def nudge_view(asked, pixels, names, prefix):
    """The smallest change that flips the guess: every pixel by at most epsilon, or a few pixels
    set to black or white."""
    model, scaling = asked.model, asked.scaling
    controls = st.columns([2, 3], vertical_alignment="bottom")
    with controls[0]:
        kind = st.segmented_control("Change", list(KINDS), format_func=KINDS.get,
                                    default="linf", required=True, key=f"{prefix}_kind")
    with controls[1]:
        if kind == "linf":
            budget = st.slider("At most this much per pixel (1 = full ink)", 0.01, 0.3,
                               LINF_BUDGET, 0.01, key=f"{prefix}_linf",
                               help="The budget: the nudge looks for the smallest change "
                                    "within it.")
        else:
            budget = st.slider("At most this many pixels", 1, 60, PIXEL_BUDGET,
                               key=f"{prefix}_pixels",
                               help="Each chosen pixel is set to black or white.")
    result = nudge(model, pixels, kind, budget, scaling=scaling)
    guess, new_guess = result.guess, result.new_guess
    what = (f"every pixel by at most **{result.size:.3f}** ({result.size:.1%} of full ink)"
            if kind == "linf" else f"**{int(result.size)} pixel{'s' if result.size != 1 else ''}**"
                                   f" of {result.original.size}")
    if result.flipped:
        st.warning(f"Fooled: changing {what} turns **{names[guess]} "
                   f"({result.before[guess]:.0%})** into **{names[new_guess]} "
                   f"({result.after[new_guess]:.0%})**.", icon=":material/warning:")
    else:
        st.info(f"Not fooled within this budget: after changing {what}, it still says "
                f"**{names[guess]}** ({result.after[guess]:.0%}). Raise the budget.",
                icon=":material/shield:")
    if result.before[guess] < 0.8:
        st.caption(f"It was only {result.before[guess]:.0%} sure to begin with; a confident "
                   "guess is the more striking one to fool.")
    images = st.columns(3)
    images[0].image(grey_picture(result.original, 5), width=140,
                    caption=f"Your drawing: {names[guess]} ({result.before[guess]:.0%})")
    images[1].image(grey_picture(result.pixels, 5), width=140,
                    caption=f"Nudged: {names[new_guess]} ({result.after[new_guess]:.0%})")
    largest = float(np.abs(result.change).max(initial=0.0))
    images[2].image(diverging_picture(result.change, scale=5), width=140,
                    caption=f"The change, made visible (full colour = {largest:.2f})")
    st.markdown("A person sees the same drawing in both pictures. The network does not: it adds "
                "up tiny pushes from all 784 pixels, and a change aimed along its gradient "
                "adds many small pushes in the same direction. "
                + ("Here each pixel moved a tiny step against the guess, over and over, and the "
                   "smallest budget that still flips it was kept." if kind == "linf" else
                   "Here the pixels were changed one at a time, each time the one that hurt the "
                   "guess most, until it flipped."))


# -- class dreams ----------------------------------------------------------------------------------
DREAM_WIDTH = 72               # px: ten in a row at 1400 px with the sidebar, four on a phone
DREAM_KINDS = {"readable": "readable (from the class's average)",
               "raw": "raw (from grey, no rules)"}


@st.cache_data(show_spinner="Dreaming up one picture per class…", max_entries=16)
def class_dreams_for(model_key, kind, _saved):
    """(10, 784) dreams of ``_saved`` (not hashed: ``model_key`` identifies it, the fingerprint
    of its weights), their probabilities (10, 10) and the milliseconds the ascent took."""
    from core.dreams import class_dreams, class_means
    if kind == "readable":
        raw = load_raw(_saved.dataset)
        images = raw.train_images.reshape(len(raw.train_images), -1)            # (N, 784) uint8
        options = {"prior": class_means(images, raw.train_labels, _saved.model.config.output_size)}
    else:
        options = {"l2": 0.0, "blur": 0.0, "jitter": 0}
    started = time.perf_counter()
    dreams = class_dreams(_saved.model, np.random.default_rng(0), scaling=_saved.scaling,
                          **options)
    elapsed_ms = (time.perf_counter() - started) * 1000
    probs = probabilities(_saved.model, trace(_saved.model, dreams, _saved.scaling).logits)
    return dreams, probs, elapsed_ms


def dreams_view(saved, model_key, names, prefix):
    """For each class, a picture the model scores highest for it, as a row of 10."""
    kind = st.segmented_control("Dreams", list(DREAM_KINDS), format_func=DREAM_KINDS.get,
                                default="readable", required=True, key=f"{prefix}_dreams",
                                help="Raw: plain gradient ascent from grey; the network is just "
                                     "as sure of patterns no person would read.")
    try:
        dreams, probs, elapsed_ms = class_dreams_for(model_key, kind, saved)
    except DatasetError as e:
        st.error(f"The readable dreams start from the training images, which cannot be read: {e}")
        return
    shown = dreams / np.maximum(dreams.max(axis=1, keepdims=True), 1e-6)
    pictures = grey_images(shown.reshape(-1, 28, 28), scale=4)
    row = st.container(horizontal=True, gap="small")      # wraps on a phone: 4 to a row
    for k, picture in enumerate(pictures):
        row.image(picture, caption=f"{names[k]} ({probs[k, k]:.0%})", width=DREAM_WIDTH)
    st.caption(
        ("Each picture started as the average of its class's training images and was changed, "
         f"{PRIOR_STEPS} small steps, in whatever way raised the model's probability of its class (the "
         "percentage under it), with a pull back towards the average: what the network would "
         "add to or take from a typical example to be sure. Each step is blurred and looks at "
         f"the picture shifted by up to {JITTER} pixels, so the ink comes as strokes that work "
         "wherever they land." if kind == "readable" else
         f"Each picture started as plain grey and was changed, {STEPS} small steps, in whatever "
         "way raised the model's probability of its class (the percentage under it). Without "
         "rules the pictures are noise, yet the network is sure of them: it was never asked "
         "about pictures unlike its training images.")
        + f" Each picture is brightened to its own brightest pixel. Dreamt in {elapsed_ms:,.0f} ms.")


WHY_TABS = {"The network, lighting up": network_view, "Which pixels mattered": saliency_view,
            "What would make it another class": counterfactual_view,
            "How little fools it": nudge_view}


def why_expander(asked, pixels, names, fashion):
    """"Why did it say that?": the network diagram, saliency, counterfactual and nudge of the
    model asked about ``pixels``, in tabs; only the open tab of the open expander is computed."""
    why = st.expander("Why did it say that? Look inside the network as you draw",
                      key="draw_why_open", on_change="rerun", icon=":material/neurology:")
    if not why.open:
        return
    with why:
        if asked is None or pixels is None:
            st.caption(("Draw something" if not fashion else "Draw a piece of clothing")
                       + " (or load a test image) to see why the network guesses what it does.")
            return
        tabs = st.tabs(list(WHY_TABS), key="draw_why_tab", on_change="rerun")
        for tab, view in zip(tabs, WHY_TABS.values()):
            if tab.open:
                with tab:
                    view(asked, np.asarray(pixels, np.float32), names, "draw_why")
