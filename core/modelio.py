"""Model files: one ``.npz`` of plain arrays per model.

Keys:
    meta                 a JSON string: format version, model config, training config, dataset,
                         pixel scaling, final metrics, creation time
    layers.0.W, ...      the weights, under the model's own dotted names
    history.<field>      one float64 array per TrainRecord field (step, train_loss, ...)

Loading uses ``allow_pickle=False`` and refuses any file whose keys, shapes, dtypes or values do
not fit, with a message that says what is wrong. Saving writes a temporary file in the same folder
and renames it, so a crash never leaves half a model.
"""
import io
import json
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import DATASETS
from .errors import ConfigError, ModelFileError, NNError
from .model import MLP, ModelConfig

FORMAT_VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024        # the largest model the app builds is ~30 MB
UNPACKED_FACTOR = 4                      # arrays may inflate to 4x the file limit (weights barely compress)
DEFAULT_NAME = "nn_parameters"
HISTORY_FIELDS = ("step", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                  "learning_rate", "elapsed", "samples_per_second")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}$")


@dataclass
class SavedModel:
    model: MLP
    dataset: str
    scaling: str = "unit"
    train_config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)      # list of dicts with HISTORY_FIELDS
    metrics: dict = field(default_factory=dict)       # e.g. {"test_accuracy": 0.98, ...}
    created: str = ""
    path: str = ""

    def describe(self):
        acc = self.metrics.get("test_accuracy")
        acc_text = f", test accuracy {acc:.2%}" if isinstance(acc, (int, float)) else ""
        return f"{self.model.config.describe()} on {self.dataset}{acc_text}"


def check_model_name(name):
    """Return ``name`` if it is a safe file name for a model, else raise ConfigError."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("Give the model a name.")
    name = name.strip()
    if name.endswith(".npz"):
        name = name[:-4]
    if not _NAME_RE.match(name) or ".." in name:
        raise ConfigError("A model name uses 1 to 64 letters, digits, spaces, '-', '_' or '.', starts "
                          "with a letter or digit, and contains no '..' or '/'.")
    return name


def model_path(root, dataset, name=DEFAULT_NAME):
    """``root/<dataset>/<name>.npz`` for a validated name; never outside ``root``."""
    name = check_model_name(name)
    root = Path(root).resolve()
    path = (root / dataset / f"{name}.npz").resolve()
    if root not in path.parents:
        raise ConfigError("That model name would be saved outside the model folder.")
    return path


def list_models(root, dataset=None):
    """Paths of the .npz files under ``root`` (for one dataset, or all), sorted by name."""
    root = Path(root)
    folders = [root / dataset] if dataset else [p for p in sorted(root.glob("*")) if p.is_dir()]
    return [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.npz"))]


def save_model(path, saved):
    """Write ``saved`` (a SavedModel) to ``path`` atomically. Returns the Path."""
    path = Path(path)
    model = saved.model
    if not model.params_finite():
        raise ModelFileError("The model has NaN or infinite weights; it was not saved.")
    meta = {
        "format": "nn-playground-model",
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "train_config": saved.train_config,
        "dataset": saved.dataset,
        "scaling": saved.scaling,
        "metrics": saved.metrics,
        "created": saved.created or time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    arrays = {"meta": np.array(json.dumps(meta, default=float))}
    arrays.update(model.params)
    for name in HISTORY_FIELDS:
        arrays[f"history.{name}"] = np.array([r.get(name, np.nan) for r in saved.history], np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)                             # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_model(source, expected_dataset=None, max_bytes=MAX_FILE_BYTES):
    """Load a model from a path, bytes or a binary file object. Raises ModelFileError."""
    name = "the uploaded file"
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        try:
            size = os.path.getsize(source)
            if size > max_bytes:
                raise ModelFileError(f"{name} is {size / 2**20:.1f} MB; a model file may be at most "
                                     f"{max_bytes / 2**20:.0f} MB.")
            with open(source, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ModelFileError(f"There is no model file at {name}: train one first "
                                 f"(python -m core train) or give another --model.") from None
        except OSError as e:
            raise ModelFileError(f"Cannot read {name}: {e.strerror or e}.") from None
    else:
        data = source if isinstance(source, (bytes, bytearray)) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ModelFileError(f"{name} is larger than {max_bytes / 2**20:.0f} MB, the limit for a model file.")
    try:
        saved = _parse(data, max_unpacked=UNPACKED_FACTOR * max_bytes)
    except ModelFileError as e:
        raise ModelFileError(f"{name} is not a usable model: {e}") from None
    if expected_dataset is not None and saved.dataset != expected_dataset:
        raise ModelFileError(f"{name} is a model for {saved.dataset}, not {expected_dataset}.")
    saved.path = name if isinstance(source, (str, os.PathLike)) else ""
    return saved


def _parse(data, max_unpacked):
    if not data.startswith(b"PK"):
        raise ModelFileError("it is not an .npz file (a model saved by this app).")
    try:
        # a zip bomb (a small file that inflates to gigabytes) is refused from its declared sizes;
        # zipfile never inflates a member beyond its declared size
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > max_unpacked:
            raise ModelFileError(f"its arrays take {unpacked / 2**20:,.0f} MB uncompressed; a model "
                                 f"may take at most {max_unpacked / 2**20:,.0f} MB.")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise ModelFileError("it contains pickled Python objects, which are never loaded "
                                 "(they could run code).") from None
        raise ModelFileError(f"an array in it cannot be read ({e}).") from None
    except MemoryError:                  # an array header claiming more than the file holds
        raise ModelFileError("an array in it claims to be larger than memory.") from None
    except Exception as e:               # zipfile/zlib/npy errors of a damaged archive, whatever their type
        raise ModelFileError(f"the archive is damaged ({type(e).__name__}: {e}).") from None
    if "meta" not in arrays:
        raise ModelFileError("it has no 'meta' entry, so it was not saved by this app.")
    try:
        meta = json.loads(str(arrays.pop("meta")[()]))
        assert isinstance(meta, dict)
    except Exception:
        raise ModelFileError("its 'meta' entry is not valid JSON.") from None
    if meta.get("format") != "nn-playground-model":
        raise ModelFileError("its 'meta' does not say it is a model of this app.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"it has format version {meta.get('format_version')}; this app reads "
                             f"version {FORMAT_VERSION}.")
    try:
        config = ModelConfig.from_dict(meta["model_config"])
    except (NNError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(f"its architecture is not valid ({e}).") from None
    dataset = meta.get("dataset")
    if dataset not in DATASETS:
        raise ModelFileError(f"its dataset {dataset!r} is not one of {', '.join(DATASETS)}.")
    if config.input_size != 784 or config.output_size != 10:
        raise ModelFileError(f"it takes {config.input_size} inputs and {config.output_size} classes; "
                             f"this app needs 784 and 10.")
    sizes = config.layer_sizes
    expected = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layers.{i}.W"] = (fan_in, fan_out)
        expected[f"layers.{i}.b"] = (fan_out,)
    params = {}
    dtype = np.dtype(config.dtype)
    for key, shape in expected.items():
        if key not in arrays:
            raise ModelFileError(f"the weights {key} are missing.")
        value = arrays.pop(key)
        if value.shape != shape:
            raise ModelFileError(f"{key} has shape {value.shape}, but the architecture "
                                 f"{config.describe()} needs {shape}.")
        if value.dtype.kind != "f":
            raise ModelFileError(f"{key} holds {value.dtype} values, not floating-point numbers.")
        if not np.isfinite(value).all():
            raise ModelFileError(f"{key} contains NaN or infinite values.")
        params[key] = np.ascontiguousarray(value, dtype=dtype)
    history_arrays = {k[len("history."):]: arrays.pop(k) for k in list(arrays) if k.startswith("history.")}
    if arrays:
        raise ModelFileError(f"it has unexpected entries: {', '.join(sorted(arrays)[:5])}.")
    lengths = {v.shape for v in history_arrays.values()}
    if len(lengths) > 1 or any(v.ndim != 1 or v.dtype.kind != "f" for v in history_arrays.values()):
        raise ModelFileError("its training history is malformed.")
    n = next(iter(lengths))[0] if lengths else 0
    history = [{k: float(v[i]) for k, v in history_arrays.items()} for i in range(n)]
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    scaling = meta.get("scaling", "unit")
    if scaling not in ("unit", "symmetric"):
        raise ModelFileError(f"its pixel scaling {scaling!r} is not unit or symmetric.")
    return SavedModel(model=MLP(config, params=params), dataset=dataset, scaling=scaling,
                      train_config=meta.get("train_config") or {}, history=history,
                      metrics=metrics, created=str(meta.get("created", "")))
