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

[from app/inspect_views.py]
Streamlit-side helpers for the Inspect page: Vega-Lite specs, image grids, cached evaluations.

The chart builders return plain Vega-Lite dicts (drawn with ``st.vega_lite_chart`` in 1-3 ms) and
the image builders return uint8 arrays, so they can be tested without a running app. The one
expensive thing, the model's predictions over the whole test set, is computed once per set of
weights (``test_predictions``, keyed by a fingerprint of the weights) and reused on every rerun.

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
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app import settings as app_settings
from core import metrics
from core.datasets import CLASS_NAMES, TITLES, RawDataset
from core.errors import ModelFileError, NNError
from core.modelio import PRETRAINED_NAME, load_model

ROOT = Path(__file__).resolve().parents[1]


def model_root():
    """The folder of model files: ``model/`` next to the app, or ``$NN_MODEL_DIR``."""
    return app_settings.get().model_dir


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
    config = app_settings.get()
    raw = load_dataset(dataset, config.data_dir, download=not config.offline)
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
    return model_root() / dataset / f"{PRETRAINED_NAME}.npz"


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


def test_set_words(raw):
    """Which test set an accuracy is measured on, in words: "the 2,000 test images of the bundled
    sample" or "the 10,000 official test images"."""
    count = f"{len(raw.test_labels):,}"
    return (f"the {count} test images of the bundled sample" if raw.source == "sample"
            else f"the {count} official test images")


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


# -- Inspect: your drawings as a test set -------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DrawingsTestSet(RawDataset):
    """A RawDataset whose test set is the visitor's drawings (Inspect works on it unchanged)."""

    def describe(self):
        return (f"your {len(self.test_labels):,} {dataset_title(self.name)} drawings, "
                "labelled on the Draw page")


def as_test_set(raw, drawings):
    """``raw`` with its test images and labels replaced by the drawings; ``location`` carries the
    set's fingerprint, so Inspect's cached evaluation is redone whenever the set changes."""
    return DrawingsTestSet(name=raw.name, train_images=raw.train_images,
                           train_labels=raw.train_labels, test_images=drawings.images,
                           test_labels=drawings.labels, source="drawings",
                           location=f"drawings {drawings.fingerprint()}")
