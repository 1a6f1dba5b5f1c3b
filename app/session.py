"""The session: every ``st.session_state`` key of the app, in one table, and the current model.

Every page starts from ``init_state()`` (the frame calls it on every run), which gives every key of
``KEYS`` its default. Never create a key that is not in this table: add it here. A key is either
the app's own (initialised here) or a widget's (``widget=True``: the widget creates it with its own
default; it is listed for what it holds and whether a reload keeps it). ``kept=True``: a reload
(app.visitor) restores it from the visitor's previous session. The Train form's widget keys
("train." + a setting name, app.inputs.form.FORM_KEYS) are kept too.

    init_state()                          every key below, if missing; a new session's first run
                                          restores the visitor's work (app.visitor)
    current_model(dataset) -> (SavedModel | None, label)   the session's model, else the shipped one
    set_current_model(dataset, saved, label)               make ``saved`` the current model
    notify(kind, text, on)                a message for the Train page's (or My drawings') next run
    visitor_token()                       this browser's visitor token
    session_liveness() -> callable | None "is this visitor still connected?" for background jobs
    cookie_seconds()                      how long the visitor cookie lasts
"""
from dataclasses import dataclass

import streamlit as st

from app import held, replica, visitor  # noqa: F401  (held: the sweeper's hook)
from app.data import model_root, shipped_model
from app.inputs.form import FORM_KEYS, form_defaults
from app.store.admission import renew_space
from app.store.hosting import clean_when_due, policy
from core import blas, settings
from core.datasets import DATASETS
from core.errors import NNError
from core.finetune import TeachConfig


@dataclass(frozen=True)
class Key:
    default: object
    kept: bool
    meaning: str
    widget: bool = False


def _fresh(value):
    """A session's own copy of a mutable default (never one list or dict shared by sessions)."""
    return type(value)(value) if isinstance(value, (list, dict)) else value


KEYS = {
    # shared by every page
    "dataset": Key(DATASETS[0], True, "the dataset every page works on (the sidebar's selectbox)"),
    "user_models": Key(None, True, "dataset -> (SavedModel, label) | None: the model this session "
                       "trained, taught or loaded (use current_model / set_current_model)"),
    "runs": Key([], True, "finished trainings for the compare-runs overlay: "
                "{label, dataset, history}, oldest first"),
    "drawing_pixels": Key(None, True, "(784,) float32 in [0, 1] | None: the latest drawing as the "
                          "network sees it (the Train page classifies it live)"),
    "drawing_dataset": Key(None, True, "the dataset selected when that drawing was made"),
    "visitor": Key(None, False, "this browser's visitor token (set by init_state)"),
    "visitor_cookie": Key(False, False, "True | 'renew': the frame writes the visitor cookie "
                          "on every run of this session"),
    # background jobs and what they replaced (app.runs)
    "trainer": Key(None, True, "app.runs.trainer.Trainer | None: this session's training"),
    "my_teacher": Key(None, True, "app.runs.teacher.Teacher | None: this session's teaching"),
    "adopted": Key({"train": 0, "teach": 0}, True, "kind -> the run_id last adopted "
                   "(app.runs.adopt)"),
    "replaced": Key({"train": None, "teach": None}, True, "kind -> (run_id, dataset, (SavedModel, "
                    "label) | None) | None: what the adopted job's model replaced (its Undo)"),
    # Train
    "train_notice": Key(None, False, "(kind, text) | None: a message from a Train callback"),
    "train_show": Key(None, True, "frozenset of setting names | None: the controls a teacher's "
                      "link keeps on screen (None: all)"),
    "train_lesson": Key(None, True, "the lesson a link opened, or None"),
    "train_locked": Key(False, True, "True when a teacher's link (one with show=) locks the "
                        "controls it does not show: no 'Show every setting'"),
    "dataset_locked": Key(False, True, "True when that link also named the dataset: the sidebar's "
                          "dataset selector is disabled"),
    "hidden_map": Key(None, False, "(run_id, app.render.inside.HiddenMap): keeps the map's "
                      "orientation between refreshes"),
    "inside_memo": Key(None, False, "the inside views as last computed (app.views.inside)"),
    "models_freed": Key(None, True, "the notice that big models of this visitor were let go "
                        "while they were away (app.held), until dismissed"),
    "lost_run": Key(None, False, "hosted mode: the notice that this visitor's run in progress was "
                    "lost with the server replica it ran on (app.replica), until dismissed"),
    # Inspect
    "inspect_last_tab": Key(None, True, "Inspect's tab last open (back after a page switch)"),
    "inspect_tab": Key(None, True, "Inspect's tab control", widget=True),
    "inspect_source": Key(None, False, "Inspect's 'Look at' control", widget=True),
    "inspect_index": Key(0, False, "the test image Inspect looks at (its slider)", widget=True),
    "inspect_true": Key(None, False, "Inspect's mistakes filter by true class", widget=True),
    "inspect_predicted": Key(None, False, "Inspect's mistakes filter by guess", widget=True),
    "inspect_model": Key(None, False, "Inspect's model chooser", widget=True),
    "inspect_mistakes_page": Key(None, False, "Inspect's mistakes page", widget=True),
    "inspect_weights_start": Key(None, False, "Inspect's first unit shown", widget=True),
    # Draw
    "draw_brush": Key(20, True, "brush width slider"),
    "draw_canvas_version": Key(0, False, "in the canvas key: Clear increments it (a new canvas)"),
    "draw_source": Key("canvas", True, "what is classified: 'canvas' | 'upload' | 'test'"),
    "draw_test_seed": Key(0, True, "picks the random test image (index = seed % count)"),
    "draw_upload_decoded": Key(None, False, "(file_id, (H, W) uint8 | None, error | None): an "
                               "upload decoded once"),
    "draw_rgba": Key(None, True, "the last canvas image (restores the drawing)"),
    "draw_json": Key(None, True, "the last canvas objects (Fabric.js JSON), same purpose"),
    "draw_initial": Key(None, False, "the objects the current canvas was created with"),
    "draw_server_ms": Key(None, False, "server time of the last update, shown on the page"),
    "draw_moment": Key("now", True, "ask the current model ('now') or the last run at a moment"),
    "draw_why_open": Key(None, True, "the 'Why did it say that?' toggle", widget=True),
    "draw_why_tab": Key(None, True, "the why views' tab", widget=True),
    "draw_steps_open": Key(None, True, "the preprocessing steps toggle", widget=True),
    # My drawings (app.views.my_drawings)
    "my_drawings": Key(None, True, "dataset -> core.handwriting.Drawings: the visitor's labelled "
                       "drawings (a new dict on every change)"),
    "my_notice": Key(None, False, "(kind, text) | None: a message for My drawings' next run"),
    "my_rerun": Key(False, False, "a drawing was just labelled (Draw reruns the whole page)"),
    "my_curve": Key(None, False, "the Train page's cache of accuracies on the drawings"),
    "my_actually": Key(None, True, "the 'It's actually a ...' pills"),
    "my_teach_steps": Key(TeachConfig().steps, True, "Teach it's steps (core.finetune's default)"),
    "my_teach_hold_out": Key(True, True, "Teach it keeps some drawings aside"),
    "my_gallery_show": Key("all", True, "the gallery's filter"),
    "my_gallery_page": Key(1, True, "the gallery's page"),
    "my_inspect_set": Key("test", True, "Inspect's 'Test on' choice"),
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


def kept_keys():
    """The session_state keys a new session of the same visitor starts from."""
    return [name for name, key in KEYS.items() if key.kept] + FORM_KEYS


def init_state():
    """Give every session_state key its default (only keys that are missing); on a session's
    first run, restore the visitor's work from their previous session (app.visitor)."""
    _leave_legacy_pages_mode()
    ss = st.session_state
    if "visitor" not in ss:
        ss["visitor"], needs_cookie = visitor.bind(ss, kept_keys())
        old_token = visitor.renewed_from(ss["visitor"])   # an unsigned cookie, replaced
        if old_token and policy().hosted:
            renew_space(model_root(), old_token, ss["visitor"])   # its saved models go along
        # hosted mode: the token also keys the visitor's saved models, kept for days; the
        # cookie is written again in every session so that it lasts as long as they do
        ss["visitor_cookie"] = needs_cookie or ("renew" if policy().hosted else False)
        clean_when_due(model_root())      # hosted mode: old spaces, at most hourly
        blas.set_training_threads(settings.get().blas_threads)   # dreams, counterfactuals
        lost = replica.lost_notice(model_root(), ss["visitor"])  # a run lost with its replica
        if lost:
            ss["lost_run"] = lost
    else:
        visitor.seen(ss["visitor"])
    for name, key in KEYS.items():
        if name not in ss and not key.widget and name not in ("visitor", "visitor_cookie"):
            ss[name] = _fresh(key.default)
    if ss["user_models"] is None:
        ss["user_models"] = {name: None for name in DATASETS}
    if ss["dataset"] not in DATASETS:
        ss["dataset"] = DATASETS[0]
    if any(key not in ss for key in FORM_KEYS):    # a new session, or a reload that lost some
        for key, value in form_defaults().items():
            ss.setdefault(key, value)
    publish_kept()


def publish_kept():
    """Hand this session's settings to the visitor's next session (a reload); called at the
    start of every run and by the frame at its end (app.visitor.publish)."""
    visitor.publish(st.session_state["visitor"], st.session_state, kept_keys())


def cookie_seconds():
    """How long the visitor cookie lasts: the reload window (app.visitor.KEEP_SECONDS), or in
    hosted mode as long as the visitor's saved models are kept (NN_HOSTED_KEEP_DAYS)."""
    hosting = policy()
    if hosting.hosted:
        return max(visitor.KEEP_SECONDS, int(hosting.keep_days * 86400))
    return visitor.KEEP_SECONDS


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


def visitor_token():
    """This browser's visitor token (app.visitor), None outside a visitor's session."""
    return st.session_state.get("visitor")


def notify(kind, text, on="train"):
    """Show ``text`` with st.<kind> ("success" | "error" | "warning" | "info"; "toast" for "my")
    on the next run (callbacks cannot draw): at the top of the Train page's run view
    (``on="train"``) or of Draw's My drawings section (``on="my"``)."""
    st.session_state[{"train": "train_notice", "my": "my_notice"}[on]] = (kind, text)


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
