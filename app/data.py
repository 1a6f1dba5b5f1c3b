"""Cached, shared data: the datasets, the shipped models and the evaluations of models on test sets.

    model_root() -> Path                    the model store (NN_MODEL_DIR, else model/)
    load_raw(dataset) -> RawDataset         folder, cache, download or bundled sample; read-only
    load_splits(dataset, validation_size, scaling, seed) -> Splits          cached; read-only
    shipped_model(dataset, name) -> (SavedModel | None, reason)   model/<dataset>/pretrained.npz,
                                            or convnet.npz (CONVNET_NAME)
    verified(saved, dataset) -> SavedModel  a file's model with its test accuracy measured here
    test_predictions(key, saved, raw) -> Evaluation   predictions on a test set, once per weights
    evaluation_key(saved, raw), fingerprint(saved)    what identifies those weights and that set
    as_test_set(raw, drawings)              the visitor's drawings as a test set (Inspect)
    dataset_title(dataset), class_names(dataset), test_set_words(raw)

Caching: datasets are large (the full MNIST as float32 splits is ~220 MB). ``st.cache_data`` would
unpickle a fresh copy on every call and every rerun, so they are kept with ``st.cache_resource``
and their arrays are made read-only: sharing them between sessions is then safe. Models a visitor
trains live in ``st.session_state`` only (app.session); the shipped models are read-only files,
shared; an evaluation is keyed by a fingerprint of the weights, so it is computed once.
"""
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app.store import hosting
from core import metrics, settings
from core.datasets import CLASS_NAMES, TITLES, RawDataset
from core.errors import ModelFileError, NNError
from core.modelio import PRETRAINED_NAME, load_model

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)
CONVNET_NAME = "convnet"          # model/<dataset>/convnet.npz: the shipped conv net


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


def _skipped_source(done, total, message):
    """A source of the dataset was skipped (no network, a damaged cache): one plain line in the
    server's log, not a RuntimeWarning with its source line (the page says it too, from the
    dataset's notes: ``raw.describe()``). Download progress is not logged."""
    if message and not done and total is None:
        log.warning("%s", message)


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=2)
def load_raw(dataset):
    """The RawDataset (uint8 images) for ``dataset``: folder, cache, download or bundled sample.

    Raises core.errors.DatasetError with a message for the user when nothing can be loaded.
    ``raw.describe()`` says where it came from and how many images it has.
    """
    from core.datasets import load_dataset
    config = settings.get()
    raw = load_dataset(dataset, config.data_dir, download=not config.offline,
                       cache_dir=config.cache_dir, mirrors=config.mirrors or None,
                       progress=_skipped_source)
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


def _shipped_path(dataset, name=PRETRAINED_NAME):
    """<dataset>/<name>.npz (pretrained, or convnet) in the model root, or in hosted mode in the
    app's own model/ folder, never the shared store (app.store.hosting.shipped_root)."""
    folder = hosting.shipped_root(model_root(), hosting.policy().hosted)
    return folder / dataset / f"{name}.npz"


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_shipped(path, mtime, dataset):     # mtime in the key: a replaced file is reloaded
    saved = load_model(path, shown_as=f"{dataset}/{Path(path).name}")
    return verified(saved, dataset) if saved.dataset == dataset else saved


def shipped_model(dataset, name=PRETRAINED_NAME):
    """(SavedModel, "") for model/<dataset>/pretrained.npz (``name="convnet"``: the shipped conv
    net, convnet.npz), or (None, reason) if unusable.

    Shared between sessions (read-only): never train or modify the returned model in place.
    Its test accuracy is measured here (``verified``), not read from the file.
    """
    path = _shipped_path(dataset, name)
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
    is app.data.test_predictions, so Inspect reuses it."""
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
