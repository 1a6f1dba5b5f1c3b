"""Session state and shared, cached resources of the app: the one place that knows the keys.

Every page starts from ``init_state()`` (the frame calls it on every run), which gives every key
below its default. Never create session_state keys ad hoc: add them here.

Shared by every page (``SHARED_DEFAULTS``):
    "dataset"         str, one of core.datasets.DATASETS: the dataset every page works on. The
                      sidebar selectbox in streamlit_app.py is bound to this key.
    "user_models"     dict dataset -> (SavedModel, label) | None: the model this session trained or
                      loaded for that dataset. Use current_model() / set_current_model(), not the dict.
    "runs"            list of dicts, the finished runs of this session, oldest first, for "compare
                      runs": {"label": str, "dataset": str, "history": list[TrainRecord dict]}.
    "drawing_pixels"  np.ndarray (784,) float32 in [0, 1] | None: the latest drawing as the network
                      sees it (set by the Draw page when it has ink, None when the canvas is empty).
                      The Train page re-classifies it while a model trains.
    "drawing_dataset" str | None: the dataset selected when that drawing was made.
    "trainer"         app.trainer.Trainer | None: this session's background training (created by the
                      Train page; survives page switches because it lives here).
    "train_notice"    (kind, text) | None: a message from a Train page callback ("success" |
                      "error" | "warning" | "info"), shown on the next run.
    "adopted_run"     int: the trainer run_id whose result was last adopted (see adopt_finished_run).
    "hidden_map"      (run_id, app.inside.HiddenMap) | None: the Train page's last hidden-space map,
                      so that the next refresh keeps its orientation.
    "inside_memo"     dict | None: the Train page's inside views as last computed (app.train_run:
                      the network they show, when, and the pictures and charts made of it).
    "replaced_model"  (run_id, dataset, (SavedModel, label) | None) | None: the model that the run
                      run_id replaced when it was adopted (None inside: the pretrained one).
    "inspect_last_tab" str | None: Inspect's tab last open (it comes back after a page switch).
    "train_show"      frozenset of setting names | None: the Train controls a lesson link keeps on
                      screen (None: all). "train_lesson": str | None, the lesson it opened.
    "visitor"         str: this browser's visitor token (app.visitor), "visitor_cookie" bool: the
                      browser has not sent it back yet (the frame renders the cookie script), or
                      "renew": hosted mode writes it once per session, to last cookie_seconds().
    "my_drawings"     dict dataset -> core.handwriting.Drawings | None: the visitor's labelled
                      drawings (app.my_drawings; immutable sets, the dict replaced on change).
    "my_teacher"      app.my_drawings.Teacher | None: this session's "Teach it" run (a thread).
    "my_taught"       int: the teaching run whose model was last adopted (like "adopted_run").
    "my_undo"         (run_id, dataset, (SavedModel, label) | None) | None: the model a teaching
                      replaced, for its Undo.
    "my_notice"       (kind, text) | None: a message for the My drawings section's next run;
                      "my_rerun" bool: a drawing was just labelled (Draw reruns the whole page);
                      "my_curve": the Train page's cache of accuracies on the drawings per moment.
    "lost_run"        str | None: hosted mode, the notice that this visitor's run in progress was
                      lost with the server replica it ran on (app.replica); the frame shows it
                      until the visitor dismisses it.
    "my_actually", "my_teach_steps", "my_teach_hold_out", "my_gallery_show", "my_gallery_page",
    "my_inspect_set"  widget keys of app.my_drawings (label pills, Teach settings, the gallery's
                      filter and page, Inspect's "Test on" choice).
The Draw page's keys (``DRAW_DEFAULTS``, all prefixed "draw_") and the Train page's widget keys
(``app.train_form.form_defaults()``, all prefixed "train.") are listed where they are defined.
A reload restores ``kept_keys()`` from the visitor's previous session.

Functions:
    init_state()                               set every key above to its default if missing
    model_root() -> Path                       model/ (or $NN_MODEL_DIR, used by the tests)
    load_raw(dataset) -> RawDataset            cached; arrays read-only
    load_splits(dataset, validation_size, scaling, seed) -> Splits   cached; arrays read-only
    shipped_model(dataset) -> (SavedModel | None, reason)            model/<dataset>/pretrained.npz
    verified(saved, dataset) -> SavedModel     a file's model with its test accuracy measured here
    current_model(dataset=None) -> (SavedModel | None, label)        the session's model, else shipped
    set_current_model(dataset, saved, label)   make ``saved`` this session's model for ``dataset``
    notify(kind, text)                         a message for the Train page's next run
    adopt_finished_run() -> bool               called by the frame on every run: when the trainer's
                                               run has ended, make its model the current one (if
                                               done or stopped) and add its curves to "runs"; once
    session_liveness() -> callable | None      "is this browser session still connected?" for the
                                               trainer thread (None outside `streamlit run`)
    dataset_title(dataset) -> "MNIST" | "Fashion-MNIST"     (from core.datasets)
    class_names(dataset) -> tuple of 10 names               (from core.datasets)

Caching: datasets are large (the full MNIST as float32 splits is ~220 MB). ``st.cache_data`` would
unpickle a fresh copy on every call and every rerun, so they are kept with ``st.cache_resource``
and their arrays are made read-only: sharing them between sessions is then safe. Models a user
trains live in ``st.session_state`` only; the shipped models are read-only files, shared.
"""
import os
from pathlib import Path

import numpy as np
import streamlit as st

from app import hosting, replica, visitor
from core.datasets import CLASS_NAMES, DATASETS, TITLES
from core.errors import ModelFileError, NNError
from core.modelio import PRETRAINED_NAME, load_model

ROOT = Path(__file__).resolve().parents[1]
MAX_RUNS_KEPT = 8              # earlier runs kept for the compare-runs overlay

SHARED_DEFAULTS = {
    "dataset": DATASETS[0],
    "user_models": None,           # filled per dataset by init_state (a fresh dict per session)
    "runs": [],
    "drawing_pixels": None,
    "drawing_dataset": None,
    "trainer": None,
    "train_notice": None,
    "adopted_run": 0,
    "hidden_map": None,
    "inside_memo": None,
    "replaced_model": None,
    "inspect_last_tab": None,
    "train_show": None,
    "train_lesson": None,
    "lost_run": None,
    "my_drawings": None,           # a new dict on every change (never mutated in place)
    "my_teacher": None,
    "my_taught": 0,
    "my_undo": None,
    "my_notice": None,
    "my_rerun": False,
    "my_curve": None,
    "my_actually": None,
    "my_teach_steps": 200,
    "my_teach_hold_out": True,
    "my_gallery_show": "all",
    "my_gallery_page": 1,
    "my_inspect_set": "test",
}
# The Draw page's keys.
DRAW_DEFAULTS = {
    "draw_brush": 20,               # brush width slider
    "draw_canvas_version": 0,       # in the canvas key: Clear increments it (a new, empty canvas)
    "draw_source": "canvas",        # what is classified: "canvas" | "upload" | "test"
    "draw_test_seed": 0,            # picks the random test image (index = seed % number of images)
    "draw_upload_decoded": None,    # (file_id, (H, W) uint8 | None, error | None): decoded once
    "draw_rgba": None,              # the last canvas image: restores the drawing after a page switch
    "draw_json": None,              # the last canvas objects (Fabric.js JSON), same purpose
    "draw_initial": None,           # the objects the current canvas was created with
    "draw_server_ms": None,         # server time of the last update, shown on the page
    "draw_moment": "now",           # ask the current model ("now") or the last run at a moment
}


def _leave_legacy_pages_mode():
    """Make sure the frame (streamlit_app.py) runs, whatever URL the first visitor opened.

    Streamlit sees our pages/ folder and starts in its legacy multipage mode, which runs a page
    file on its own (no frame, no sidebar, no page config) until some run calls st.navigation.
    A visitor whose first URL is /train would stay in that mode. Switch it off and rerun.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:                       # moved in a later Streamlit: nothing to fix
        return
    if getattr(PagesManager, "uses_pages_directory", None):
        PagesManager.uses_pages_directory = False
        st.rerun()


# What a reload gives back (app.visitor): the visitor's work, not what is transient.
TRANSIENT = {"train_notice", "hidden_map", "inside_memo", "draw_upload_decoded", "draw_server_ms",
             "draw_initial", "draw_canvas_version", "my_notice", "my_rerun", "my_curve"}


def kept_keys():
    """The session_state keys a new session of the same visitor starts from."""
    from app.train_form import FORM_KEYS                 # imports this module: import here
    return [k for k in (*SHARED_DEFAULTS, *DRAW_DEFAULTS) if k not in TRANSIENT] + FORM_KEYS


def init_state():
    """Give every session_state key its default (only keys that are missing); on a session's
    first run, restore the visitor's work from their previous session (app.visitor)."""
    _leave_legacy_pages_mode()
    ss = st.session_state
    if "visitor" not in ss:
        ss["visitor"], needs_cookie = visitor.bind(ss, kept_keys())
        # hosted mode: the token also keys the visitor's saved models, kept for days; the
        # cookie is written again on every new session so that it lasts as long as they do
        ss["visitor_cookie"] = needs_cookie or ("renew" if hosting.settings().hosted else False)
        hosting.clean_when_due(model_root())      # hosted mode: old spaces, at most hourly
        lost = replica.lost_notice(model_root(), ss["visitor"])  # a run lost with its replica
        if lost:
            ss["lost_run"] = lost
    else:
        visitor.seen(ss["visitor"])
    for key, value in {**SHARED_DEFAULTS, **DRAW_DEFAULTS}.items():
        if key not in ss:
            ss[key] = [] if key == "runs" else value      # never share one list between sessions
    if ss["user_models"] is None:
        ss["user_models"] = {name: None for name in DATASETS}
    if ss["dataset"] not in DATASETS:
        ss["dataset"] = DATASETS[0]
    if "train.preset" not in ss:
        from app.train_form import form_defaults         # imports this module: import here
        for key, value in form_defaults().items():
            ss.setdefault(key, value)


def cookie_seconds():
    """How long the visitor cookie lasts: the reload window (app.visitor.KEEP_SECONDS), or in
    hosted mode as long as the visitor's saved models are kept (NN_HOSTED_KEEP_DAYS)."""
    settings = hosting.settings()
    if settings.hosted:
        return max(visitor.KEEP_SECONDS, int(settings.keep_days * 86400))
    return visitor.KEEP_SECONDS


def model_root():
    """The folder of model files: ``model/`` next to the app, or ``$NN_MODEL_DIR``."""
    return hosting.store_root()


def dataset_title(dataset):
    return TITLES.get(dataset, dataset)


def class_names(dataset):
    return CLASS_NAMES[dataset]


def _read_only(*arrays):
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=2)
def load_raw(dataset):
    """The RawDataset (uint8 images) for ``dataset``: folder, cache, download or bundled sample.

    Raises core.errors.DatasetError with a message for the user when nothing can be loaded.
    ``raw.describe()`` says where it came from and how many images it has.
    """
    from core.datasets import load_dataset
    offline = os.environ.get("NN_OFFLINE", "").strip().lower() in ("1", "true", "yes")
    raw = load_dataset(dataset, os.environ.get("NN_DATA_DIR") or None, download=not offline)
    _read_only(raw.train_images, raw.train_labels, raw.test_images, raw.test_labels)
    return raw


@st.cache_resource(show_spinner="Preparing training, validation and test sets…", max_entries=4)
def load_splits(dataset, validation_size=5000, scaling="unit", seed=0):
    """Splits (X_train, y_train, X_val, y_val, X_test, y_test) of ``dataset``, scaled, read-only.

    The same arguments always give the same split (the shuffle uses ``seed``).
    """
    from core.datasets import make_splits
    raw = load_raw(dataset)
    splits = make_splits(raw, validation_size, scaling, np.random.default_rng(seed))
    _read_only(*(getattr(splits, name) for name in
                 ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")))
    return splits


def _shipped_path(dataset):
    """model/<dataset>/pretrained.npz: in the model root, or in hosted mode the app's own model/
    folder, never the shared store (app.hosting.shipped_root)."""
    folder = hosting.shipped_root(model_root(), hosting.settings().hosted)
    return folder / dataset / f"{PRETRAINED_NAME}.npz"


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_shipped(path, mtime, dataset):     # mtime in the key: a replaced file is reloaded
    saved = load_model(path, shown_as=f"{dataset}/{Path(path).name}")
    return verified(saved, dataset) if saved.dataset == dataset else saved


def shipped_model(dataset):
    """(SavedModel, "") for model/<dataset>/pretrained.npz, or (None, reason) if unusable.

    Shared between sessions (read-only): never train or modify the returned model in place.
    Its test accuracy is measured here (``verified``), not read from the file.
    """
    path = _shipped_path(dataset)
    shown = f"{dataset}/{path.name}"            # never the server's absolute path
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None, (f"No pretrained {dataset_title(dataset)} model is installed "
                      f"({path.name} is missing): train one on the Train page.")
    try:
        saved = _load_shipped(str(path), mtime, dataset)
    except ModelFileError as e:
        return None, f"The pretrained model cannot be used: {e}"
    if saved.dataset != dataset:
        return None, f"{shown} is a {saved.dataset} model, not {dataset_title(dataset)}."
    return saved, ""


def verified(saved, dataset):
    """``saved`` (a SavedModel read from a file) with its test accuracy measured here, on this
    app's test images of ``dataset``, instead of the figure the file claims: a file can claim
    anything. The claim stays as metrics["claimed_test_accuracy"], the count of images as
    metrics["test_images"]; without a usable test set the accuracy is left out. The evaluation
    is app.inspect_views.test_predictions, so Inspect reuses it."""
    import dataclasses

    from app.inspect_views import evaluation_key, test_predictions

    metrics = {key: value for key, value in saved.metrics.items() if key != "test_accuracy"}
    if "test_accuracy" in saved.metrics:
        metrics["claimed_test_accuracy"] = saved.metrics["test_accuracy"]
    try:
        raw = load_raw(dataset)
        evaluation = test_predictions(evaluation_key(saved, raw), saved, raw)
        metrics["test_accuracy"] = float(evaluation.accuracy)
        metrics["test_images"] = int(raw.test_labels.shape[0])
    except NNError:                    # no dataset: show no accuracy rather than the claim
        pass
    return dataclasses.replace(saved, metrics=metrics)


def current_model(dataset=None):
    """(SavedModel | None, label) for ``dataset`` (default: the selected one).

    The model this session trained or loaded for that dataset, else the shipped one. With neither,
    (None, a sentence saying why and what to do). Draw and Inspect use this.
    """
    init_state()
    dataset = dataset or st.session_state["dataset"]
    entry = st.session_state["user_models"].get(dataset)
    if entry is not None:
        return entry
    saved, reason = shipped_model(dataset)
    if saved is None:
        return None, reason
    return saved, "the pretrained model"


def set_current_model(dataset, saved, label="your model"):
    """Make ``saved`` (a SavedModel; None to go back to the shipped one) this session's model."""
    init_state()
    if saved is not None and saved.dataset != dataset:
        raise NNError(f"That is a {saved.dataset} model; it cannot be the {dataset} model.")
    models = dict(st.session_state["user_models"])
    models[dataset] = None if saved is None else (saved, label)
    st.session_state["user_models"] = models


def notify(kind, text):
    """Show ``text`` with st.<kind> ("success" | "error" | "warning" | "info") at the top of the
    Train page's run view on the next run (callbacks cannot draw)."""
    st.session_state["train_notice"] = (kind, text)


def adopt_finished_run():
    """If this session's run has ended since we last looked, adopt it. Returns True if it did.

    A finished or stopped run becomes the current model for its dataset (Draw and Inspect then
    use it); every run with at least one record joins "runs" for the compare-runs overlay.
    A diverged run keeps the shipped/previous model: its weights are the last good ones, but
    a run that blew up is not what the user wants to draw into.
    """
    init_state()
    trainer = st.session_state["trainer"]
    if trainer is None:
        return False
    snap = trainer.snapshot(poll=False)
    if not snap.finished or snap.run_id == st.session_state["adopted_run"]:
        return False
    st.session_state["adopted_run"] = snap.run_id
    if snap.history:
        st.session_state["runs"] = [*st.session_state["runs"],
                                    {"label": snap.label, "dataset": snap.dataset,
                                     "history": snap.history}][-MAX_RUNS_KEPT:]
    if snap.saved is not None and snap.status in ("done", "stopped"):
        # what it replaces, for the verdict's comparison and its one-click way back
        st.session_state["replaced_model"] = (snap.run_id, snap.dataset,
                                              st.session_state["user_models"].get(snap.dataset))
        set_current_model(snap.dataset, snap.saved, f"your {snap.label}")
    return True


def test_set_words(raw):
    """Which test set an accuracy is measured on, in words: "the 2,000 test images of the bundled
    sample" or "the 10,000 official test images"."""
    count = f"{len(raw.test_labels):,}"
    return (f"the {count} test images of the bundled sample" if raw.source == "sample"
            else f"the {count} official test images")


def session_liveness():
    """A callable telling whether this visitor still has a session connected (any tab, or the
    session after a reload), for the trainer thread; None when there is no Streamlit runtime
    (AppTest, scripts)."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        ctx = get_script_run_ctx()
        if ctx is None or not Runtime.exists():
            return None
        if not Runtime.instance().is_active_session(ctx.session_id):
            return None
        token = st.session_state["visitor"]
        return lambda: visitor.connected(token)
    except Exception:          # private runtime details moved: fall back to the poll timeout
        return None
