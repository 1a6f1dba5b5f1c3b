"""Model files: which ones a visitor sees, where theirs go, and how they are named.

Where the files are, who sees them and how much a visitor may keep is app.store.hosting's policy:
in local mode ``model/<dataset>/<name>.npz`` (or under ``$NN_MODEL_DIR``), one shared folder; in
hosted mode (NN_HOSTED=1) each visitor's own space. Every listing of model files (the Train
page's panel, Inspect's chooser) goes through ``visible_models``, and load and delete reach only
names it lists (``own_path``). The first time a dataset's files are listed in this process,
temporary files left by a save that was killed half-way are removed. Messages name files by their
path inside the model folder (``shown_path``: "mnist/my-net.npz"), never the server's path.
"""
import re
import tempfile
import threading
from pathlib import Path

from app.data import dataset_title, model_root
from app.session import visitor_token
from app.store import hosting
from app.store.hosting import is_pretrained, policy, saved_root
from core import modelio
from core.errors import ConfigError

_cleaned = set()                 # model folders cleaned of stale temporary files in this process
_cleaned_lock = threading.Lock()


def shown_path(dataset, name):
    """How a model file is named to the visitor: its path inside the model folder."""
    return f"{dataset}/{name}.npz"


def _clean_once(folder):
    with _cleaned_lock:
        if folder in _cleaned:
            return
        _cleaned.add(folder)
    modelio.clean_stale_temp_files(folder)


def saved_root_of(config):
    """Where this visitor's models are <dataset>/<name>.npz (ConfigError: no valid token)."""
    return saved_root(model_root(), visitor_token(), config.hosted)


def visible_models(dataset):
    """The model files of ``dataset`` this visitor may see (app.store.hosting.ModelEntry: the shipped
    one, then the saved ones): the one listing used wherever saved models are listed or loaded."""
    config = policy()
    _clean_once(str(model_root() / dataset))
    try:
        _clean_once(str(saved_root_of(config) / dataset))
    except ConfigError:
        pass
    return hosting.visible_models(model_root(), dataset, visitor_token(), config.hosted)


def saved_model_names(dataset):
    """Names of the models this visitor may load or delete for ``dataset`` (not the pretrained
    one)."""
    return [entry.name for entry in visible_models(dataset) if entry.kind != "pretrained"]


def own_path(dataset, name):
    """The path of this visitor's saved model ``name``; ConfigError if they have none so named
    (a name typed or sent by hand reaches nothing outside the visitor's list)."""
    name = modelio.check_model_name(name)
    if is_pretrained(name) or name not in saved_model_names(dataset):
        raise ConfigError(f"You have no saved {dataset_title(dataset)} model named “{name}”: "
                          "choose one of the saved models listed.")
    return modelio.model_path(saved_root_of(policy()), dataset, name)


def npz_bytes(saved):
    """The .npz file of ``saved`` as bytes, written by modelio.save_model (which refuses what it
    could not read back, and reads the file back before it is kept) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="nn-download-") as folder:
        return modelio.save_model(Path(folder) / "model.npz", saved).read_bytes()


def download_name(saved, extension):
    """e.g. "mnist-784-256-128-10.npz": the dataset and the layer sizes."""
    sizes = "-".join(str(size) for size in saved.model.config.layer_sizes)
    return f"{saved.dataset}-{sizes}.{extension}"


def uploaded_name(file_name):
    """The uploaded file's name as it is shown and kept in labels: safe characters only."""
    stem = re.sub(r"\.npz$", "", str(file_name), flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9 _.\-]", "_", stem)[:64] or "model"
