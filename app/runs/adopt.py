"""[from app/state.py]
Session state and shared, cached resources of the app: the one place that knows the keys.

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

[from app/my_drawings.py]
Teach it your handwriting: the visitor's own labelled drawings, measured and taught.

The views (each a function a page calls; the pages stay thin):

    label_buttons(dataset, pixels, guess, source, on_saved)   Draw, under the guess: "Right" and
        "It's actually a [class]" add the drawing (its 784 pixels, the label and a 56 x 56 sketch
        of the raw drawing) to the visitor's set for that dataset
    section(dataset)                Draw, below: "Your handwriting" accuracy of the current model,
        "Teach it" with before -> after side by side, the gallery (the current model's guess in
        green or red, delete one, clear all), download / upload the set as MNIST IDX files
    test_set_choice(dataset, raw)   Inspect: the visitor's drawings as another test set (the
        confusion matrix, mistakes and activations then work on them)
    training_curve(snap)            Train, in the live view: accuracy on the drawings as the
        network learns (from 10 drawings on)

The set lives in ``st.session_state["my_drawings"]`` (dataset -> core.handwriting.Drawings, an
immutable set, so a reload's new session can share it: app.visitor keeps it for 30 minutes).
Teaching runs core.finetune.teach in a background thread (``Teacher``), like a training: a click
elsewhere or a page switch does not stop it, and the page polls it. When it ends, the taught
model becomes the current one, with a one-click way back.
"""

import streamlit as st

from app.session import init_state, notify, set_current_model

MAX_RUNS_KEPT = 8              # earlier runs kept for the compare-runs overlay


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


def adopt_taught(dataset=None):
    """When a teaching run has ended since we last looked, make its model the current one (and
    keep the one it replaces for Undo). Returns True when it adopted a model."""
    ss = st.session_state
    teacher = ss["my_teacher"]
    if teacher is None:
        return False
    snap = teacher.snapshot()
    if not snap.finished or snap.run_id == ss["my_taught"]:
        return False
    ss["my_taught"] = snap.run_id
    if snap.status == "done" and snap.saved is not None:
        ss["my_undo"] = (snap.run_id, snap.dataset, ss["user_models"].get(snap.dataset))
        set_current_model(snap.dataset, snap.saved, snap.label)
    return True


def _undo(run_id, dataset):
    ss = st.session_state
    undo = ss["my_undo"]
    if undo is None or undo[0] != run_id:
        return
    previous = undo[2]
    set_current_model(dataset, *(previous if previous is not None else (None, "")))
    ss["my_undo"] = None
    notify("info", "Back to the model from before the teaching.", on="my")
