""""Teach it your handwriting", on Draw, Train and Inspect.

    label_buttons(dataset, pixels, guess, source, on_saved)   Draw, under the guess: "Right" and
        "It's actually a [class]" keep the drawing (app.store.drawings)
    section(dataset)                Draw, below: "Your handwriting" accuracy of the current model
        (on the drawings it was not taught), "Teach it" (app.runs.teacher, a background job like
        a training) with before -> after side by side and Undo, the gallery, download / upload
    test_set_choice(dataset, raw)   Inspect: the visitor's drawings as another test set
    training_curve(snap)            Train, in the live view: accuracy on the drawings as the
        network learns (from MIN_FOR_CURVE drawings on)
"""
import numpy as np
import streamlit as st

from app import held
from app.data import as_test_set, class_names, dataset_title, load_splits
from app.render.charts import teach_curve_spec
from app.render.images import framed
from app.render.palette import COLORS
from app.runs import adopt
from app.runs.teacher import Teacher
from app.session import current_model, notify, visitor_token
from app.store.drawings import (
    SKETCH_BYTES,
    clear_drawings,
    delete_drawing,
    drawings_of,
    guesses,
    save_as_actually,
    save_drawing,
    store_drawings,
    zip_bytes,
)
from core.errors import DatasetError, NNError
from core.handwriting import MAX_DRAWINGS, MAX_ZIP_BYTES, from_zip, zip_name
from core.records import known

MIN_TO_TEACH = 5            # drawings before "Teach it" is offered
MIN_FOR_CURVE = 10          # drawings before the Train page draws their curve
MIN_FOR_INSPECT = 2         # drawings before Inspect offers them as a test set
HELD_OUT_SHARE = 0.25       # of each class, kept aside to measure the teaching honestly
# None: core.finetune's own (2,400 on pools, else 800); holds TeachConfig().steps
STEP_CHOICES = (None, 50, 100, 200, 400, 800, 1600, 2400)
PER_PAGE = 40               # gallery pictures per page
PER_ROW = 8
POLL_SECONDS = 0.5




def label_buttons(dataset, pixels, guess, source, on_saved=None):
    """Under the guess on Draw: "Right" and "It's actually a [class]" add the drawing to the
    visitor's set. ``guess``: the class index shown; ``source``: "canvas" | "upload" | "test"
    (test images are labelled already: no buttons); ``on_saved``: called after a drawing was
    added, before the whole page reruns (Draw clears the canvas for the next drawing)."""
    ss = st.session_state
    if ss["my_rerun"]:
        ss["my_rerun"] = False
        if on_saved is not None:
            on_saved()
        st.rerun(scope="app")               # the gallery and the score are outside the fragment
    if source == "test" or pixels is None:
        return
    names = class_names(dataset)
    count = len(drawings_of(dataset))
    full = count >= MAX_DRAWINGS
    keep = ("Your set is full" if full else
            "Add it to your drawings to measure and teach the network your handwriting")
    with st.container(border=True):
        st.caption(f"**Is it right?** {keep} ({count} of {MAX_DRAWINGS}; see *My drawings* "
                   "below).")
        st.button(f"Right: {names[guess]}", icon=":material/check:", key="my_right",
                  on_click=save_drawing, args=(dataset, pixels, guess, source), disabled=full,
                  help=f"It is a {names[guess]}: keep the drawing with that label.")
        st.pills("It's actually a…", [k for k in range(len(names)) if k != guess],
                 format_func=lambda k: names[k], key="my_actually", disabled=full,
                 on_change=save_as_actually, args=(dataset, pixels, source),
                 help="The network got it wrong: keep the drawing with the right label.")


# -- teaching, in the background ---------------------------------------------------------------------


def _teacher():
    ss = st.session_state
    if ss["my_teacher"] is None:
        ss["my_teacher"] = Teacher()
    return ss["my_teacher"]


def _start_teaching(dataset):
    """Callback of "Teach it"."""
    from core.finetune import TeachConfig
    from core.reader import has_reader

    ss = st.session_state
    saved, label = current_model(dataset)
    drawings = drawings_of(dataset)
    if saved is None:
        notify("warning", f"There is no model to teach. {label}", on="my")
        return
    try:
        validation = saved.train_config.get("validation_size", 5000)
        seed = saved.train_config.get("seed", 0)
        splits = load_splits(dataset, validation, saved.scaling, seed)
        steps = ss["my_teach_steps"]
        # a model grown a second reader (core.reader) is not grown another
        config = TeachConfig(steps=None if steps is None else int(steps),
                             second_reader=not has_reader(saved.train_config))
        share = HELD_OUT_SHARE if ss["my_teach_hold_out"] else 0.0
        # the taught copy: twice as wide when it grows a second reader (core.reader)
        after = config.model_config_after(saved.model.config, len(drawings.labels))
        held.check_room(ss, visitor_token(),
                        after.num_parameters * saved.model.dtype.itemsize,
                        "The taught copy of your model")
        _teacher().start(saved, label, splits, drawings, config, share)
    except NNError as e:
        notify("error", str(e), on="my")


# -- the Draw page's section -----------------------------------------------------------------------
def section(dataset):
    """"My drawings": the score, Teach it, the gallery, download / upload. Below Draw's canvas."""
    ss = st.session_state
    if adopt.adopt("teach"):
        st.rerun()                         # the frame's sidebar then names the taught model
    names = class_names(dataset)
    title = dataset_title(dataset)
    drawings = drawings_of(dataset)
    saved, model_label = current_model(dataset)
    st.subheader("My drawings", anchor="my-drawings",
                 help="Teach the network your handwriting: label your drawings, see how well it "
                      "reads them, and train it on them for a few seconds.")
    notice = ss["my_notice"]
    if notice is not None:
        ss["my_notice"] = None
        if notice[0] == "toast":
            st.toast(notice[1], icon=":material/check:")
        else:
            getattr(st, notice[0])(notice[1])
    if not len(drawings):
        st.info(f"Does the network read **your** handwriting? Draw a "
                f"{'piece of clothing' if dataset == 'fashion-mnist' else 'digit'}, then press "
                "**Right** or **It's actually a …** under the guess. Your drawings collect here: "
                "the network's score on them is *your handwriting* accuracy, and **Teach it** "
                f"trains it on them for a few seconds (from {MIN_TO_TEACH} drawings on).",
                icon=":material/school:")
    else:
        predicted = guesses(saved, drawings)
        _score_and_teach(dataset, drawings, predicted, saved, model_label, names)
        _gallery(dataset, drawings, predicted, names, saved is not None)
    _files(dataset, drawings, title)


def _score_and_teach(dataset, drawings, predicted, saved, model_label, names):
    n = len(drawings)
    left, right_column = st.columns([1, 2], gap="large")
    with left:
        if saved is None:
            st.warning(f"There is no model to measure. {model_label}")
        else:
            taught = _taught_indices(dataset, drawings, saved)
            unseen = np.setdiff1d(np.arange(n), taught)
            right = predicted == drawings.labels
            if taught.size and unseen.size:
                right_count = int(right[unseen].sum())
                st.metric("Your handwriting", f"{right_count / unseen.size:.0%}",
                          help="Share of the drawings it was NOT taught that the current model "
                               "reads right: drawings it trained on would flatter it.")
                st.caption(f"{right_count} of the {unseen.size} drawings it was not taught, "
                           f"by {model_label} ({int(right[taught].sum())} of the "
                           f"{taught.size} it was taught).")
            elif taught.size:
                st.metric("Your handwriting", "–",
                          help="It was taught every drawing you have: draw a few more to "
                               "measure it honestly.")
                st.caption(f"It was taught all {n} of your drawings; draw new ones to see "
                           f"whether it reads your handwriting.")
            else:
                right_count = int(right.sum())
                st.metric("Your handwriting", f"{right_count / n:.0%}",
                          help="Share of your drawings the current model reads right: its "
                               "accuracy on your handwriting.")
                st.caption(f"{right_count} of your {n} drawings right, by {model_label}.")
            counts = drawings.counts()
            wrong = [k for k in range(len(names)) if counts[k] and
                     (predicted[drawings.labels == k] != k).any()]
            if wrong:
                worst = min(wrong, key=lambda k: (predicted[drawings.labels == k] == k).mean())
                got = int((predicted[drawings.labels == worst] == worst).sum())
                st.caption(f"Hardest for it: your **{names[worst]}** ({got} of {counts[worst]} "
                           "right).")
    with right_column:
        _teach_panel(dataset, n, saved)


def _taught_indices(dataset, drawings, saved):
    """Indices of ``drawings`` that the current model ``saved`` was taught (none unless it is the
    model of this session's last teaching, taught on this very set)."""
    teacher = st.session_state["my_teacher"]
    if teacher is None:
        return np.array([], np.int64)
    snap = teacher.snapshot(poll=False)
    details = snap.details or {}
    if (snap.saved is None or snap.saved is not saved or snap.dataset != dataset
            or "held_out" not in details or details["held_out"][0] != drawings.fingerprint()):
        return np.array([], np.int64)
    return np.setdiff1d(np.arange(len(drawings)), np.array(details["held_out"][1], np.int64))


def _teach_panel(dataset, n, saved):
    teacher = st.session_state["my_teacher"]
    running = teacher is not None and teacher.snapshot(poll=False).active

    @st.fragment(run_every=POLL_SECONDS if running else None)
    def panel():
        ss = st.session_state
        snap = ss["my_teacher"].snapshot() if ss["my_teacher"] is not None else None
        if snap is not None and snap.finished and not adopt.adopted("teach", snap):
            st.rerun(scope="app")              # adopt the taught model on the full rerun
        busy = snap is not None and snap.active
        if busy and not running:
            st.rerun(scope="app")              # "Teach it" reran only this: now poll while it runs
        buttons = st.container(horizontal=True, vertical_alignment="center")
        buttons.button("Teach it", type="primary", icon=":material/school:", key="my_teach",
                       on_click=_start_teaching, args=(dataset,),
                       disabled=busy or n < MIN_TO_TEACH or saved is None,
                       help=f"Train the current model for a few seconds on your drawings mixed "
                            f"with {dataset_title(dataset)}'s training images, so it learns "
                            "your handwriting without forgetting the rest. A quarter of each "
                            "kind of drawing is kept aside to check it honestly.")
        if busy:
            buttons.button("Stop", icon=":material/stop:", key="my_teach_stop",
                           on_click=ss["my_teacher"].stop)
        with buttons.popover("Settings", icon=":material/tune:"):
            st.select_slider("Steps", STEP_CHOICES, key="my_teach_steps",
                             format_func=lambda v: "auto" if v is None else f"{v:,}",
                             help="Optimiser updates of 128 images, 32 of them your drawings "
                                  "(distorted a little each time). More steps, more seconds. "
                                  "auto: 2,400 updates of the layers after the first (a fully "
                                  "connected network grows a second reader for your hand; a conv "
                                  "net keeps its convolutions), or 800 of the whole network.")
            st.toggle("Keep some drawings aside", key="my_teach_hold_out",
                      help=f"Keep {HELD_OUT_SHARE:.0%} of each kind of drawing (of those you "
                           "drew at least 4 times) out of the teaching, to see whether it "
                           "learned your handwriting or only those drawings.")
        if n < MIN_TO_TEACH:
            st.caption(f"Label at least {MIN_TO_TEACH} drawings to teach it ({n} so far).")
        if snap is None or snap.status == "idle" or snap.dataset != dataset:
            if n >= MIN_TO_TEACH:
                st.caption("**Teach it** trains the current model on your drawings for a few "
                           "seconds; then see before → after side by side.")
            return
        if snap.status == "waiting":
            st.info(snap.waiting_text, icon=":material/hourglass_top:")
        elif busy:
            last = snap.last
            step = last["step"] if last else 0
            held = known(last.get("held_out_accuracy")) if last else None
            held_text = f" · your held-out drawings {held:.0%}" if held is not None else ""
            st.progress(snap.progress, text=f"Teaching: step {step} of {snap.total_steps}"
                                            f"{held_text}")
        elif snap.status in ("failed", "diverged", "abandoned"):
            st.error(snap.message)
            return
        elif snap.status == "stopped":
            st.info(snap.message or "Stopped: the model was not changed.")
            return
        outcome = (snap.details or {}).get("outcome")
        if snap.status == "done" and outcome is not None:
            _before_after(snap, outcome, dataset)
        if len(snap.history) > 1:
            st.vega_lite_chart(teach_curve_spec(snap.history), width="stretch",
                               key="my_teach_chart")

    panel()


def _before_after(snap, o, dataset):
    """The outcome of the last teaching: before -> after on the held-out drawings and the test
    set, side by side; Undo while the taught model is in use, and a way back to it after."""
    if not adopt.in_use(snap):
        st.info("You went back to the model from before this teaching; the taught model is "
                "no longer in use.", icon=":material/undo:")
        if st.button("Use the taught model again", icon=":material/redo:", key="my_redo_button"):
            adopt.redo("teach", snap)
            st.rerun(scope="app")     # the headline, Draw and the sidebar name the model too
        return
    cols = st.columns(2)
    if o.n_held_out:
        cols[0].metric(f"Your {o.n_held_out} drawings it never saw",
                       f"{o.held_out_before:.0%} → {o.held_out_after:.0%}",
                       f"{(o.held_out_after - o.held_out_before) * 100:+.0f} points",
                       help="Drawings kept out of the teaching: did it learn your handwriting, "
                            "not just those drawings?")
    else:
        cols[0].metric(f"The {o.n_taught} drawings it was taught",
                       f"{o.taught_before:.0%} → {o.taught_after:.0%}",
                       f"{(o.taught_after - o.taught_before) * 100:+.0f} points",
                       help="Nothing was kept aside, so this is on the drawings it trained on.")
    cols[1].metric(f"The {o.n_test:,} test images", f"{o.test_before:.2%} → {o.test_after:.2%}",
                   f"{(o.test_after - o.test_before) * 100:+.2f} points",
                   help="Did it forget the dataset while it learned your handwriting?")
    aside = (f" On the {o.n_taught} drawings it was taught: {o.taught_before:.0%} → "
             f"{o.taught_after:.0%}." if o.n_held_out else
             " Draw at least 4 of a kind to keep some aside and measure it honestly.")
    grew = ""
    if snap.details.get("grew") and snap.saved is not None:
        sizes = snap.saved.model.config.hidden_sizes
        grew = (f" It grew a **second reader** for your hand ({' and '.join(map(str, sizes))} "
                "units now): half of it is a copy of the network that sees each drawing "
                "straightened the way your hand turns, leans and squeezes it; the layers after "
                "the first learned when to trust which half. Inspect shows both.")
    st.caption(f"{o.steps:,} steps in {o.seconds:.1f} s.{aside}{grew} The taught model is now the "
               "current model: draw again to try it.")
    _, before_label, _ = adopt.replaced("teach", snap)
    if before_label is not None:
        if st.button("Undo: back to the model before", icon=":material/undo:",
                     key="my_undo_button"):
            adopt.undo("teach", snap.run_id, dataset)
            st.rerun(scope="app")     # this panel is a fragment; the headline is not


def _gallery(dataset, drawings, predicted, names, measured):
    ss = st.session_state
    fingerprint = drawings.fingerprint()
    labels = drawings.labels
    right = predicted == labels if measured else np.ones(len(labels), bool)
    options = ["all", "wrong", *range(len(names))]
    if ss["my_gallery_show"] not in options:
        ss["my_gallery_show"] = "all"
    top = st.columns([2, 1, 1], vertical_alignment="bottom")
    show = top[0].selectbox(
        "Show", options, key="my_gallery_show",
        format_func=lambda o: ("all your drawings" if o == "all" else
                               "the ones it gets wrong" if o == "wrong" else f"your {names[o]}s"),
        help="Green frame: the current model reads it right; red: it reads it wrong (the caption "
             "says what it sees).")
    if show == "all":
        rows = np.arange(len(labels))
    elif show == "wrong":
        rows = np.flatnonzero(~right)
    else:
        rows = np.flatnonzero(labels == show)
    pages = max(1, -(-rows.size // PER_PAGE))
    if not 1 <= ss["my_gallery_page"] <= pages:
        ss["my_gallery_page"] = 1
    page = 1
    if pages > 1:
        page = top[1].number_input("Page", 1, pages, key="my_gallery_page",
                                   help=f"{PER_PAGE} drawings per page.")
    with top[2].popover("Delete all", icon=":material/delete_sweep:"):
        st.write(f"Delete all {len(labels)} of your {dataset_title(dataset)} drawings? "
                 "Download them first to keep a copy.")
        st.button("Delete them all", type="primary", key="my_clear_all",
                  on_click=clear_drawings, args=(dataset,))
    if rows.size == 0:
        st.caption("None: every drawing of yours is read right." if show == "wrong"
                   else "No drawings of that kind yet.")
        return
    held = set()
    teacher = ss["my_teacher"]
    if teacher is not None:
        snap = teacher.snapshot()
        held_out = (snap.details or {}).get("held_out")
        if snap.dataset == dataset and held_out is not None and held_out[0] == fingerprint:
            held = set(held_out[1])
    shown = rows[(page - 1) * PER_PAGE:page * PER_PAGE]
    for start in range(0, shown.size, PER_ROW):
        columns = st.columns(PER_ROW)
        for column, i in zip(columns, shown[start:start + PER_ROW]):
            label = names[labels[i]]
            caption = label if right[i] else f"{label}, seen as {names[predicted[i]]}"
            if i in held:
                caption += " (kept aside)"
            column.image(framed(drawings.sketches[i], right[i]), caption=caption, width=68)
            column.button("Delete", key=f"my_delete_{fingerprint}_{i}", icon=":material/close:",
                          type="tertiary", on_click=delete_drawing, args=(dataset, int(i), fingerprint),
                          help=f"Delete this drawing of a {label}.")


def _on_upload(dataset, key):
    """Callback of the uploader: add the drawings of the zip (skipping ones already in the set)."""
    upload = st.session_state.get(key)
    if upload is None:
        return
    try:
        incoming = from_zip(upload.getvalue(), name=f"“{upload.name}”")
    except DatasetError as e:
        notify("error", str(e), on="my")
        return
    drawings = drawings_of(dataset)
    have = {row.tobytes() + bytes([label]) for row, label in zip(drawings.images, drawings.labels)}
    new = [i for i, (row, label) in enumerate(zip(incoming.images, incoming.labels))
           if row.tobytes() + bytes([label]) not in have]
    if len(drawings) + len(new) > MAX_DRAWINGS:
        notify("error", f"“{upload.name}” holds {len(new)} new drawings; with your "
                         f"{len(drawings)} that is more than the {MAX_DRAWINGS} a set may hold. "
                         "Delete some first, or clear your set.", on="my")
        return
    merged = drawings
    for i in new:
        merged = merged.add(incoming.images[i], int(incoming.labels[i]), incoming.sketches[i])
    store_drawings(dataset, merged)
    skipped = len(incoming) - len(new)
    notify("success", f"Added {len(new)} drawings from “{upload.name}”"
                       + (f" ({skipped} were in your set already)" if skipped else "") + ".", on="my")


def _files(dataset, drawings, title):
    columns = st.columns(2, vertical_alignment="bottom")
    if len(drawings):
        columns[0].download_button(
            f"Download my {len(drawings)} drawings", zip_bytes(drawings.fingerprint(), drawings,
                                                                dataset),
            file_name=zip_name(dataset, drawings), mime="application/zip", key="my_download",
            icon=":material/download:", on_click="ignore",
            help="A zip of MNIST-format IDX files (gzip): images, labels and your raw drawings. "
                 "Upload it here later, or use it with python -m core --extra-data.")
    (columns[1] if len(drawings) else columns[0]).file_uploader(
        "Upload a set of drawings (zip)", type=["zip"], key=f"my_upload_{dataset}",
        max_upload_size=max(1, MAX_ZIP_BYTES // 2**20), on_change=_on_upload,
        args=(dataset, f"my_upload_{dataset}"),
        help="A zip from 'Download my drawings', or one with a '*-images-idx3-ubyte' and a "
             "'*-labels-idx1-ubyte' file (.gz or not) of 28x28 MNIST-style images.")
    from app.visitor import KEEP_SECONDS
    st.caption(f"Limits: {MAX_DRAWINGS} drawings per dataset (about "
               f"{MAX_DRAWINGS * SKETCH_BYTES / 2**20:.0f} MB), an uploaded zip of at most "
               f"{MAX_ZIP_BYTES // 2**20} MB. Your {title} drawings live in this browser session "
               f"only: a reload finds them for {KEEP_SECONDS // 60} minutes; download them to "
               "keep them.")


def test_set_choice(dataset, raw):
    """Inspect: "Test on" the dataset's test images or the visitor's drawings (when there are
    at least MIN_FOR_INSPECT). Returns the RawDataset whose test set the page should use."""
    if adopt.adopt("teach"):
        st.rerun()
    drawings = drawings_of(dataset)
    if len(drawings) < MIN_FOR_INSPECT:
        return raw
    choice = st.segmented_control(
        "Test on", ["test", "mine"], key="my_inspect_set", required=True,
        format_func=lambda o: (f"the {len(raw.test_labels):,} test images" if o == "test"
                               else f"your {len(drawings)} drawings"),
        help="Your drawings from the Draw page as a test set: the confusion matrix, the "
             "mistakes and the activations then show how it reads your handwriting.")
    return as_test_set(raw, drawings) if choice == "mine" else raw


# -- Train: accuracy on your drawings while it learns ---------------------------------------------
def training_curve(snap):
    """In the Train page's live view: the accuracy on the visitor's drawings at every kept moment
    of the run (app.runs.replay), next to the validation accuracy. Only from MIN_FOR_CURVE drawings
    of the run's dataset; each moment is measured once (cached per run and set)."""
    if snap is None or not snap.history or snap.model_config is None:
        return
    drawings = drawings_of(snap.dataset)
    if len(drawings) < MIN_FOR_CURVE:
        return
    from core.model import MLP

    ss = st.session_state
    scaling = snap.train_config.scaling if snap.train_config is not None else "unit"
    key = (snap.run_id, snap.started, drawings.fingerprint(), scaling)
    cache = ss["my_curve"]
    if cache is None or cache[0] != key:
        cache = (key, {})
    points = dict(cache[1])
    moments = snap.snapshots.items() if snap.snapshots is not None else ()
    X = None
    for moment in moments:
        if moment.step in points:
            continue
        if X is None:
            X = drawings.pixels(scaling, np.dtype(snap.model_config.dtype))
        model = MLP(snap.model_config, params=moment.params)
        points[moment.step] = (moment.epoch, float((model.predict(X) == drawings.labels).mean()))
    ss["my_curve"] = (key, points)
    if not points:
        return
    values = [{"epoch": epoch, "accuracy": accuracy, "on": f"your {len(drawings)} drawings"}
              for _, (epoch, accuracy) in sorted(points.items())]
    values += [{"epoch": r["epoch"], "accuracy": r["val_accuracy"], "on": "validation images"}
               for r in snap.history if known(r["val_accuracy"]) is not None]
    latest = max(points)
    st.vega_lite_chart({
        "data": {"values": values}, "height": 300,      # the whole chart: title, legend and axes included
        "title": {"text": f"Your handwriting while it learns: {points[latest][1]:.0%} at step "
                          f"{latest:,}", "anchor": "start", "fontSize": 13},
        "mark": {"type": "line", "tooltip": True},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative", "title": "epoch"},
            "y": {"field": "accuracy", "type": "quantitative", "axis": {"format": ".0%"},
                  "scale": {"domain": [0, 1]}, "title": None},
            "color": {"field": "on", "type": "nominal", "title": None,
                      "scale": {"domain": [f"your {len(drawings)} drawings", "validation images"],
                                "range": [COLORS["drawings"], COLORS["validation"]]},
                      "legend": {"orient": "top"}}},
    }, width="stretch", key="my_training_curve")
