"""[from app/model_files.py]
The visitor's model files: save the current model, load or delete a saved one, go back to the
pretrained model. Callbacks (they run before the page, which then shows their notice) and the
panel that holds their controls.

Where the files are, who sees them and how much a visitor may keep is app.hosting's policy: in
local mode ``model/<dataset>/<name>.npz`` (or under ``$NN_MODEL_DIR``), one shared folder; in
hosted mode (NN_HOSTED=1) each visitor's own space, with quotas said on the panel. Every listing
of model files (this panel, Inspect's chooser) goes through ``visible_models``, and the load and
delete callbacks only reach names it lists. Files are written atomically; the pretrained
``pretrained.npz`` file is never overwritten or deleted here, whatever the case of the name typed
(a case-insensitive disk would overwrite it). Messages name files by
their path inside the model folder ("mnist/my-net.npz"), never the server's absolute path. The
first time a dataset's files are listed in this process, temporary files left by a save that was
killed half-way are removed (core.modelio.clean_stale_temp_files). A loaded model's accuracy is
measured here (app.state.verified), not taken from the file.

Models that travel: the current model (trained, loaded or pretrained) downloads as the project's
.npz (written by core.modelio.save_model, so validated and read back) or exports as .safetensors
for PyTorch (core.safetensors); both are made only when the button is clicked (a deferred
download), never on every rerun. An uploaded .npz is read by core.modelio.load_model (size cap,
shapes, dtypes, no pickles) and becomes the current model of its dataset; one of the other
dataset is refused with a message saying to switch the dataset first.
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
    """The model files of ``dataset`` this visitor may see (app.hosting.ModelEntry: the shipped
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
