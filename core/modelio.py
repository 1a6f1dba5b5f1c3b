"""Model files: one ``.npz`` of plain arrays per model.

Keys:
    meta                 a JSON string: format version, model config, training config, dataset,
                         pixel scaling, final metrics, creation time
    layers.0.W, ...      the weights, under the model's own dotted names
    history.<field>      one float64 array per TrainRecord field (step, train_loss, ...)

Loading uses ``allow_pickle=False`` and refuses any file whose keys, shapes, dtypes or values do
not fit, with a message that says what is wrong. Saving writes a temporary file in the same folder
and renames it, so a crash never leaves half a model.

Limits (one set, used by saving and loading alike, so that nothing is written that cannot be read):
    MAX_FILE_BYTES       64 MB per file: the largest model a visitor may upload or load
    MAX_UNPACKED_BYTES   128 MB of arrays once inflated (weights barely compress; zeros do)
    MAX_META_BYTES       1 MB of JSON metadata
    MAX_HISTORY_RECORDS  a run's records (one per step at most); HISTORY_KEPT of them are kept,
                         thinned evenly, when a model is saved or loaded
A path to load must be a regular file (a FIFO named *.npz would block the reader forever);
``list_models`` shows only regular files inside the model folder (no symlink out of it).
``clean_stale_temp_files`` removes what a save killed half-way left behind.
"""
import io
import json
import math
import os
import re
import stat
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
# A model file may be at most 64 MB: about 16 million float32 parameters (784-2048-2048-1024-10 is
# 7.8M, 31 MB; the recommended 784-256-128-10 is 0.9 MB). Saving refuses a larger model with this
# figure in its message, so that every file written here can be loaded again.
MAX_FILE_BYTES = 64 * 1024 * 1024
UNPACKED_FACTOR = 2                      # arrays may inflate to 2x the file limit: weights barely
MAX_UNPACKED_BYTES = UNPACKED_FACTOR * MAX_FILE_BYTES      # compress, a zip bomb does
MAX_META_BYTES = 2**20                   # the JSON metadata: a few kB in practice
MAX_HISTORY_RECORDS = 1_000_001          # a run has at most core.training.MAX_STEPS steps (+ step 0)
HISTORY_KEPT = 5_000                     # records kept on save and load, evenly thinned: charts show
                                         # at most a few hundred points, and 5,000 dicts cost ~5 MB
STALE_TEMP_SECONDS = 600                 # a save's temporary file older than this was abandoned
# model/<dataset>/pretrained.npz: the shipped model, read-only (no command and no page writes it);
# model/<dataset>/nn_parameters.npz: what `python -m core train` writes by default, as the original
# project did, and what `eval` and `visualize` read when it exists.
PRETRAINED_NAME = "pretrained"
CLI_NAME = "nn_parameters"
HISTORY_FIELDS = ("step", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                  "learning_rate", "elapsed", "samples_per_second")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}$")
# Names Windows reserves for devices, with or without an extension ("con.v2" too): a folder of
# models copied to Windows (or served from it) must not hold them.
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")      # mkstemp's names in save_model


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
        """e.g. "784-256-128-10 relu / softmax, cross_entropy on mnist, test accuracy 98.78% when
        trained (on 10,000 test images)": the file's own figure says which test set it is from,
        since the same model scores differently on the 2,000 images of the bundled sample."""
        acc = self.metrics.get("test_accuracy")
        acc_text = ""
        if isinstance(acc, (int, float)) and not isinstance(acc, bool):
            acc_text = f", test accuracy {acc:.2%} when trained"
            match = re.search(r"\+ ([\d,]+) test images", str(self.metrics.get("data", "")))
            if match:
                acc_text += f" (on {match.group(1)} test images)"
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
    if _WINDOWS_RESERVED.match(name.rstrip(". ")):
        raise ConfigError(f"“{name}” is a device name on Windows (CON, PRN, AUX, NUL, COM1-9, "
                          f"LPT1-9); choose another name.")
    return name


def model_path(root, dataset, name=PRETRAINED_NAME):
    """``root/<dataset>/<name>.npz`` for a validated name; never outside ``root``."""
    name = check_model_name(name)
    root = Path(root).resolve()
    path = (root / dataset / f"{name}.npz").resolve()
    if root not in path.parents:
        raise ConfigError("That model name would be saved outside the model folder.")
    return path


def list_models(root, dataset=None):
    """Paths of the .npz files under ``root`` (for one dataset, or all), sorted by name: regular
    files only (no FIFO, device or folder named *.npz), and none that resolves outside ``root``
    (a symlink out of the model folder is not a model of this folder)."""
    root = Path(root)
    folders = [root / dataset] if dataset else [p for p in sorted(root.glob("*")) if p.is_dir()]
    return [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.npz"))
            if _inside(p, root) and _is_regular(p)]


def _is_regular(path):
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:                          # a dangling symlink, a file deleted meanwhile
        return False


def _inside(path, root):
    try:
        return Path(root).resolve() in Path(path).resolve().parents
    except (OSError, RuntimeError):          # a symlink loop
        return False


def clean_stale_temp_files(folder, older_than=STALE_TEMP_SECONDS):
    """Delete the temporary files of saves that never finished (a kill -9 mid-save) in
    ``folder``: hidden ``.<name>.<random>.tmp`` regular files older than ``older_than`` seconds
    (a save in progress is younger). Returns how many were removed; never raises."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        try:
            if (_TEMP_RE.match(entry.name) and entry.is_file(follow_symlinks=False)
                    and now - entry.stat(follow_symlinks=False).st_mtime > older_than):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


def estimated_file_bytes(config):
    """About how many bytes a model file of ``config`` takes: its weights barely compress."""
    return config.num_parameters * np.dtype(config.dtype).itemsize + 64 * 1024


def too_large_to_save(config):
    """A sentence saying why a model of ``config`` cannot be saved (and so cannot be loaded
    again), or "" when it fits in a model file."""
    size = estimated_file_bytes(config)
    if size <= MAX_FILE_BYTES:
        return ""
    return (f"A {_sizes(config)} network has {config.num_parameters:,} parameters, about "
            f"{size / 2**20:,.0f} MB as a file; a model file may be at most "
            f"{MAX_FILE_BYTES / 2**20:.0f} MB, so it could not be saved. Use fewer or smaller "
            f"hidden layers to keep it.")


def _sizes(config):
    if config.layers:
        return f"“{config.layers}”"
    return "-".join(str(size) for size in config.layer_sizes)


def thin_history(history, limit=HISTORY_KEPT):
    """At most ``limit`` records of ``history``, evenly spaced, the first and the last kept."""
    if len(history) <= limit:
        return list(history)
    return [history[i] for i in _thin_indices(len(history), limit)]


def _thin_indices(n, limit):
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def save_model(path, saved):
    """Write ``saved`` (a SavedModel) to ``path`` atomically. Returns the Path.

    Refuses (ModelFileError, nothing written) what ``load_model`` would refuse: NaN weights, a
    model larger than MAX_FILE_BYTES; the file is read back before it takes its name. The history
    is thinned to HISTORY_KEPT records.
    """
    path = Path(path)
    model = saved.model
    if not model.params_finite():
        raise ModelFileError("The model has NaN or infinite weights; it was not saved.")
    reason = too_large_to_save(model.config)
    if reason:
        raise ModelFileError(reason)
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
    if arrays["meta"].nbytes > MAX_META_BYTES:
        raise ModelFileError(f"Its settings and figures take {arrays['meta'].nbytes / 2**20:.1f} MB "
                             f"as JSON; a model file allows {MAX_META_BYTES / 2**20:.0f} MB.")
    arrays.update(model.params)
    history = thin_history(saved.history)
    for name in HISTORY_FIELDS:
        arrays[f"history.{name}"] = np.array([r.get(name, np.nan) for r in history], np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_files(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
            size = os.fstat(f.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise ModelFileError(f"The model file would be {size / 2**20:,.1f} MB; a model file may "
                                 f"be at most {MAX_FILE_BYTES / 2**20:.0f} MB, so it was not saved. "
                                 f"Use fewer or smaller hidden layers.")
        load_model(tmp, shown_as="the file just written")      # never keep what cannot be read
        os.chmod(tmp, 0o644)                             # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_model(source, expected_dataset=None, max_bytes=MAX_FILE_BYTES, shown_as=None):
    """Load a model from a path, bytes or a binary file object. Raises ModelFileError.

    A path must be a regular file of at most ``max_bytes``: it is checked with os.stat before it
    is opened (a FIFO would block the reader), and opened without blocking. ``shown_as`` names
    the file in messages (say, its path relative to the model folder); default: the path given.
    """
    name = "the uploaded file"
    if isinstance(source, (str, os.PathLike)):
        name = shown_as or str(source)
        data = _read_regular_file(source, name, max_bytes)
    else:
        name = shown_as or name
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


def _read_regular_file(path, name, max_bytes):
    """The bytes of the regular file at ``path`` (at most max_bytes + 1 of them)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"{name} is not a regular file (a folder, a pipe or a device); "
                                 f"a model is an .npz file.")
        if info.st_size > max_bytes:
            raise ModelFileError(f"{name} is {info.st_size / 2**20:.1f} MB; a model file may be at "
                                 f"most {max_bytes / 2**20:.0f} MB.")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):      # replaced since the stat
                raise ModelFileError(f"{name} is not a regular file; a model is an .npz file.")
            return f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ModelFileError(f"There is no model file at {name}: train one first "
                             f"(python -m core train) or give another --model.") from None
    except OSError as e:
        raise ModelFileError(f"Cannot read {name}: {e.strerror or e}.") from None


def _parse(data, max_unpacked):
    if not data.startswith(b"PK"):
        raise ModelFileError("it is not an .npz file (a model saved by this app).")
    try:
        arrays = _read_arrays(data, max_unpacked)
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
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
    except Exception:                    # not text, not JSON, nested too deep (RecursionError)
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
    expected = {}
    for i, (w_shape, b_shape) in enumerate(config.weight_shapes()):
        expected[f"layers.{i}.W"] = tuple(w_shape)
        expected[f"layers.{i}.b"] = tuple(b_shape)
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
        with np.errstate(over="ignore"):
            value = np.ascontiguousarray(value, dtype=dtype)
        if not np.isfinite(value).all():             # after the cast: 1e300 is inf in float32
            raise ModelFileError(f"{key} contains NaN or infinite values (as {dtype}).")
        params[key] = value
    history_arrays = {k[len("history."):]: arrays.pop(k) for k in list(arrays)
                      if k[len("history."):] in HISTORY_FIELDS and k.startswith("history.")}
    if arrays:
        raise ModelFileError(f"it has unexpected entries: {', '.join(sorted(arrays)[:5])}.")
    history = _history(history_arrays)
    metrics = _metrics(meta.get("metrics"))
    scaling = meta.get("scaling", "unit")
    if scaling not in ("unit", "symmetric"):
        raise ModelFileError(f"its pixel scaling {scaling!r} is not unit or symmetric.")
    train_config = meta.get("train_config")
    model = MLP(config, params=params)
    _refuse_overflowing(model, dataset, scaling)
    return SavedModel(model=model, dataset=dataset, scaling=scaling,
                      train_config=train_config if isinstance(train_config, dict) else {},
                      history=history, metrics=metrics, created=str(meta.get("created", ""))[:64])


# Images of the bundled sample a loaded model must give finite outputs on.
PROBE_SAMPLE_IMAGES = 64


def _refuse_overflowing(model, dataset, scaling):
    """Refuse weights that are finite but so large (1e30) that the outputs are not: the Draw page
    would show "Prediction 0 / Confidence nan%"."""
    from .datasets import read_sample, scale_pixels
    images = read_sample(dataset).test_images[:PROBE_SAMPLE_IMAGES]
    with np.errstate(all="ignore"):
        probs = model.predict_proba(scale_pixels(images, scaling, dtype=model.dtype))
    if not np.isfinite(probs).all():
        raise ModelFileError("its outputs on the bundled sample images are not finite numbers: "
                             "its weights are too large (the products overflow), so it could not "
                             "show a prediction. Train it again with a smaller learning rate.")


def _read_arrays(data, max_unpacked):
    """{name: array} of the .npz ``data``, each member checked before anything is inflated.

    Refused: inflated sizes over ``max_unpacked`` in all (a zip bomb; zipfile never inflates a
    member beyond its declared size), a name twice (the archive would say two things, and
    np.load would read one of them), a member that is not .npy, an .npy header claiming more
    than its member holds, object arrays (pickles), metadata over MAX_META_BYTES and history
    columns longer than MAX_HISTORY_RECORDS.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        unpacked = sum(info.file_size for info in members)
        if unpacked > max_unpacked:
            raise ModelFileError(f"its arrays take {unpacked / 2**20:,.0f} MB uncompressed; a model "
                                 f"may take at most {max_unpacked / 2**20:,.0f} MB.")
        names = [info.filename for info in members]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ModelFileError(f"it holds {', '.join(twice[:3])} more than once, so its contents "
                                 f"are ambiguous.")
        arrays = {}
        members.sort(key=lambda info: info.filename != "meta.npy")      # the metadata first
        for info in members:
            if not info.filename.endswith(".npy"):
                raise ModelFileError(f"it has an entry {info.filename[:40]!r} that is not an array.")
            key = info.filename[:-4]
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in _HEADER_READERS:
                    raise ModelFileError(f"its array {key[:40]} is in .npy format {version}, which "
                                         f"this app does not read.")
                shape, _, dtype = _HEADER_READERS[version](member)
                if dtype.hasobject:
                    raise ModelFileError("it contains pickled Python objects, which are never "
                                         "loaded (they could run code).")
                claimed = math.prod(shape) * dtype.itemsize
                if claimed > info.file_size:
                    raise ModelFileError(f"its array {key[:40]} claims {claimed:,} bytes but holds "
                                         f"{info.file_size:,}.")
                if key == "meta" and claimed > MAX_META_BYTES:
                    raise ModelFileError(f"its metadata takes {claimed / 2**20:,.1f} MB; at most "
                                         f"{MAX_META_BYTES / 2**20:.0f} MB is read.")
                if key.startswith("history.") and math.prod(shape) > MAX_HISTORY_RECORDS:
                    raise ModelFileError(f"its training history has {math.prod(shape):,} records; "
                                         f"a run has at most {MAX_HISTORY_RECORDS:,}.")
            with archive.open(info) as member:
                arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            if key == "meta":
                _refuse_too_large(arrays[key])
    return arrays


def _refuse_too_large(meta_array):
    """Refuse, before its weights are read, a model larger than a file may be: what save_model
    refuses to write, load_model refuses to read (a file of zeros would pass the size limits)."""
    try:
        config = ModelConfig.from_dict(json.loads(str(meta_array[()]))["model_config"])
    except Exception:                    # malformed: _parse says what is wrong with it
        return
    size = estimated_file_bytes(config)
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"its {_sizes(config)} network has {config.num_parameters:,} "
                             f"parameters, about {size / 2**20:,.0f} MB; a model file may hold at "
                             f"most {MAX_FILE_BYTES / 2**20:.0f} MB.")


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def _history(columns):
    """History records (dicts) from {field: 1-D float array}: at most HISTORY_KEPT of them, thinned
    evenly before anything becomes a Python object."""
    lengths = {v.shape for v in columns.values()}
    if len(lengths) > 1 or any(v.ndim != 1 or v.dtype.kind != "f" for v in columns.values()):
        raise ModelFileError("its training history is malformed.")
    n = next(iter(lengths))[0] if lengths else 0
    keep = _thin_indices(n, HISTORY_KEPT) if n > HISTORY_KEPT else np.arange(n)
    picked = {k: v[keep].astype(np.float64).tolist() for k, v in columns.items()}
    return [{k: values[i] for k, values in picked.items()} for i in range(len(keep))]


_ACCURACIES = ("test_accuracy", "val_accuracy", "train_accuracy")


def _metrics(metrics):
    """The file's metrics as plain values: finite numbers (accuracies within [0, 1]) and short
    strings; anything else is dropped. What a file claims is still only a claim: the app measures
    accuracy itself before showing it (app.session)."""
    if not isinstance(metrics, dict):
        return {}
    clean = {}
    for key, value in list(metrics.items())[:50]:
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            if key in _ACCURACIES and not 0.0 <= value <= 1.0:
                continue
            clean[key] = value
        elif isinstance(value, str) and len(value) <= 500 and key not in _ACCURACIES:
            clean[key] = value
    return clean
