"""MNIST and Fashion-MNIST: find them, load them, split them, scale them.

``load_dataset`` looks in this order and takes the first source that works:

1. the folder the user names (``data_dir``: NN_DATA_DIR in the CLI and the app): ``<dir>/<dataset>/`` laid out
   like the official files, or a folder that directly holds the four files. A named folder that is
   broken is an error, not a silent fallback: the user asked for it.
2. the cache folder ``<cache_dir>/<dataset>/`` (default ``~/.cache/nn-playground/<dataset>/``),
   checked against the official SHA-256; a damaged cache is reported and skipped.
3. a download from the mirrors into the cache (not when ``download=False``, which the CLI and the
   app pass for NN_OFFLINE=1; an offline machine fails within seconds).
4. the real sample bundled in ``core/data/<dataset>.npz`` (10,000 training + 2,000 test images).

Why a source was skipped goes to the ``progress`` callback (or a warning) and into
``RawDataset.notes``. Loaded datasets are kept in memory and their arrays are read-only.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import download as downloads
from .errors import ConfigError, DatasetError, DownloadError
from .idx import MAX_IDX_BYTES, decompress, parse_idx, read_file_bytes

DATASETS = ("mnist", "fashion-mnist")
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}
SCALINGS = ("unit", "symmetric")
IMAGE_SIZE = 784  # 28 x 28
NUM_CLASSES = 10
SAMPLE_DIR = Path(__file__).resolve().parent / "data"
_SPLIT_FILES = {  # RawDataset field -> official file name (without .gz)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_SOURCE_WORDS = {"folder": "the folder", "cache": "the cache", "download": "a download into",
                 "sample": "the bundled sample"}

Progress = Callable[[int, "int | None", str], None]


@dataclass(frozen=True, eq=False)
class RawDataset:
    """A dataset as stored: uint8 pixels 0..255, uint8 labels 0..9, read-only arrays."""
    name: str                 # "mnist" | "fashion-mnist"
    train_images: np.ndarray  # (N, 784) uint8
    train_labels: np.ndarray  # (N,) uint8
    test_images: np.ndarray   # (M, 784) uint8
    test_labels: np.ndarray   # (M,) uint8
    source: str               # "folder", "cache", "download", "sample"
    location: str             # path or description shown to the user
    notes: tuple[str, ...] = ()  # why earlier sources were skipped, for the curious user

    def describe(self) -> str:
        """E.g. "MNIST from the bundled sample: 10,000 training + 2,000 test images"."""
        where = _SOURCE_WORDS.get(self.source, self.source)
        if self.source != "sample":
            where = f"{where} {self.location}"
        return (f"{TITLES.get(self.name, self.name)} from {where}: "
                f"{len(self.train_labels):,} training + {len(self.test_labels):,} test images")

    def __repr__(self) -> str:
        return f"RawDataset({self.describe()!r})"


@dataclass(frozen=True, eq=False)
class Splits:
    """Training, validation and test sets, scaled floats and int64 labels."""
    X_train: np.ndarray  # (N_train, 784) float
    y_train: np.ndarray  # (N_train,) int64
    X_val: np.ndarray    # (N_val, 784) float, (0, 784) when there is no validation set
    y_val: np.ndarray    # (N_val,) int64
    X_test: np.ndarray   # (M, 784) float
    y_test: np.ndarray   # (M,) int64
    scaling: str         # "unit" | "symmetric"
    train_indices: np.ndarray | None = field(default=None)  # rows of raw.train_* used for training
    val_indices: np.ndarray | None = field(default=None)    # rows held out for validation

    def __repr__(self) -> str:
        return (f"Splits(train={len(self.y_train):,}, val={len(self.y_val):,}, "
                f"test={len(self.y_test):,}, scaling={self.scaling!r}, dtype={self.X_train.dtype})")


# ---------------------------------------------------------------------------------------------
# Loading


def check_name(name: str) -> str:
    """``name`` if it is a known dataset, else ConfigError listing the valid names."""
    if name not in DATASETS:
        raise ConfigError(f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}.")
    return name


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``~/.cache/nn-playground``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    try:
        return Path.home() / ".cache" / "nn-playground"
    except RuntimeError:  # no home folder (some service accounts): a cache that lasts a while
        return Path(tempfile.gettempdir()) / "nn-playground"


def sample_path(name: str) -> Path:
    """The bundled sample of ``name``: core/data/<name>.npz."""
    return SAMPLE_DIR / f"{check_name(name)}.npz"


_memory: dict[tuple, RawDataset] = {}
_memory_lock = threading.Lock()


def clear_memory_cache() -> None:
    """Forget every dataset kept in memory (the next load_dataset reads the files again)."""
    with _memory_lock:
        _memory.clear()


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 progress: Progress | None = None, cache_dir: str | os.PathLike | None = None,
                 mirrors: tuple | list | None = None) -> RawDataset:
    """Load ``name`` ("mnist" or "fashion-mnist") from the first source that works.

    Order: ``data_dir`` -> cache (``cache_dir``) -> download into the cache (from ``mirrors``,
    default the official ones; not when ``download`` is False) -> bundled sample.
    ``progress(done_bytes, total_bytes_or_None, message)`` hears about downloads and about sources
    that were skipped. Raises ConfigError for an unknown name, DatasetError for a named folder
    that does not hold a valid dataset (or when even the bundled sample is missing).
    The result is kept in memory; its arrays are read-only.
    """
    check_name(name)
    folder = Path(data_dir).expanduser().resolve() if data_dir is not None else None
    cache = cache_root(cache_dir) / name
    mirrors = tuple(mirrors) if mirrors else None
    key = (name, str(folder), str(cache), bool(download), mirrors)
    with _memory_lock:
        if key in _memory:
            return _memory[key]
    raw = _load_uncached(name, folder, cache, bool(download), progress, mirrors)
    with _memory_lock:
        return _memory.setdefault(key, raw)


def _load_uncached(name, folder, cache, allow_download, progress, mirrors=None) -> RawDataset:
    if folder is not None:
        return read_folder(name, _dataset_folder(name, folder), source="folder")

    notes = []

    def skip(reason):
        notes.append(reason)
        if progress:
            progress(0, None, reason)
        else:
            warnings.warn(reason, RuntimeWarning, stacklevel=4)

    if any(downloads.cached_file(cache, base) for base in _SPLIT_FILES.values()):
        try:
            return read_folder(name, cache, source="cache", verify=True)
        except DatasetError as error:
            skip(f"The cached {TITLES[name]} in {cache} is incomplete or damaged ({error}); "
                 f"trying the next source.")

    if allow_download:
        try:
            downloads.download_dataset(name, cache, mirrors=mirrors, progress=progress)
            return read_folder(name, cache, source="download", notes=notes)  # verified on arrival
        except DownloadError as error:
            if error.unreachable:              # one line, not one per mirror and file
                notes.append(str(error))
                skip(f"No network: {TITLES[name]} could not be downloaded, so the bundled sample "
                     f"is used. To get the full dataset, run again when online, or pass a folder "
                     f"holding its files with --data-dir / NN_DATA_DIR (--offline / NN_OFFLINE=1 "
                     f"skips the attempt).")
            else:
                skip(f"Could not download {TITLES[name]}: {error}")
        except DatasetError as error:
            skip(f"The downloaded {TITLES[name]} is not usable: {error}")
        except OSError as error:  # read-only or full cache folder
            skip(f"Cannot save {TITLES[name]} in the cache folder {cache} "
                 f"({error.strerror or error}); set NN_CACHE_DIR to a writable folder.")
    else:
        notes.append("Downloading is switched off (NN_OFFLINE / --offline).")

    return read_sample(name, notes=tuple(notes))


def _dataset_folder(name: str, folder: Path) -> Path:
    """The folder that holds the files: ``<folder>/<name>/`` or ``<folder>`` itself."""
    if not folder.is_dir():
        raise DatasetError(f"The data folder {folder} does not exist (or is not a folder). "
                           f"Check --data-dir / NN_DATA_DIR.")
    nested = folder / name
    if nested.is_dir():
        return nested
    if any(downloads.cached_file(folder, base) for base in _SPLIT_FILES.values()):
        return folder
    expected = ", ".join(f"{base}.gz" for base in _SPLIT_FILES.values())
    raise DatasetError(f"The data folder {folder} holds no {TITLES[name]} files: expected a "
                       f"subfolder {name}/ (or the files themselves) with {expected}.")


def read_folder(name: str, folder: str | os.PathLike, *, source: str = "folder",
                verify: bool = False, notes: list | tuple = ()) -> RawDataset:
    """Read the four IDX files of ``name`` in ``folder`` (``.gz`` or raw) into a RawDataset.

    ``verify`` also checks them against the official SHA-256 (for the cache, which only ever holds
    official files). Raises DatasetError naming the missing, damaged or inconsistent file.
    """
    folder = Path(folder)
    arrays = {}
    missing = [base for base in _SPLIT_FILES.values() if downloads.cached_file(folder, base) is None]
    if missing:
        raise DatasetError(f"{folder} lacks {', '.join(f'{base}(.gz)' for base in missing)} "
                           f"of {TITLES[name]}.")
    for key, base in _SPLIT_FILES.items():
        path = downloads.cached_file(folder, base)
        kind = "labels" if key.endswith("labels") else "images"
        arrays[key] = _read_file(path, kind, downloads.SHA256[name][base] if verify else None,
                                 downloads.OFFICIAL_BYTES[base] if verify else MAX_IDX_BYTES)
    return _make_raw(name, arrays, source, str(folder), tuple(notes))


def _read_file(path: Path, kind: str, sha256: str | None,
               max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """One IDX file, decompressed once (never beyond what its header promises, nor ``max_bytes``:
    a gzip bomb is refused before its checksum is computed), optionally checked against
    ``sha256``."""
    data = read_file_bytes(path, max_bytes + downloads.GZIP_SLACK)
    if not data:
        raise DatasetError(f"{path} is empty (0 bytes).")
    data = decompress(data, str(path), max_bytes=max_bytes)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DatasetError(f"{path} does not match the official SHA-256 checksum.")
    return parse_idx(data, source=str(path), expect=kind)


def read_sample(name: str, notes: tuple[str, ...] = ()) -> RawDataset:
    """The real sample bundled in core/data/<name>.npz (built by scripts/make_sample.py)."""
    path = sample_path(name)
    reason = "" if not notes else " Before that: " + " ".join(notes)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in _SPLIT_FILES}
    except FileNotFoundError:
        raise DatasetError(f"The bundled sample {path} is missing, and no other source worked."
                           f"{reason} Reinstall the app or pass --data-dir / NN_DATA_DIR.") from None
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(f"The bundled sample {path} is damaged ({error})."
                           f"{reason} Reinstall the app or pass --data-dir / NN_DATA_DIR.") from None
    return _make_raw(name, arrays, "sample", str(path), notes)


def sample_meta(name: str) -> dict:
    """The provenance stored with the bundled sample: source, licence, seed, counts."""
    with np.load(sample_path(name), allow_pickle=False) as npz:
        return json.loads(str(npz["meta"]))


def _make_raw(name, arrays, source, location, notes) -> RawDataset:
    """Validate shapes, dtypes, labels and counts; freeze the arrays; build the RawDataset."""
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise DatasetError(f"{TITLES[name]} in {location}: {part} images and labels must be "
                               f"uint8, found {images.dtype} and {labels.dtype}.")
        if images.ndim != 2 or images.shape[1] != IMAGE_SIZE:
            raise DatasetError(f"{TITLES[name]} in {location}: {part} images have shape "
                               f"{images.shape}, expected (N, {IMAGE_SIZE}) (28x28 pixels).")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetError(f"{TITLES[name]} in {location}: {len(images):,} {part} images but "
                               f"{len(labels):,} {part} labels. The files do not belong together.")
        if len(labels) == 0:
            raise DatasetError(f"{TITLES[name]} in {location} has no {part} images.")
        if labels.max() >= NUM_CLASSES:
            raise DatasetError(f"{TITLES[name]} in {location}: a {part} label is {labels.max()}, "
                               f"expected 0..{NUM_CLASSES - 1}.")
        images.flags.writeable = False
        labels.flags.writeable = False
    return RawDataset(name=name, source=source, location=location, notes=tuple(notes), **arrays)


# ---------------------------------------------------------------------------------------------
# Scaling and splits


def scale_pixels(images_uint8: np.ndarray, scaling: str = "unit", dtype=np.float32) -> np.ndarray:
    """uint8 pixels 0..255 as floats: "unit" -> [0, 1], "symmetric" -> [-1, 1]. Same shape."""
    if scaling not in SCALINGS:
        raise ConfigError(f"Unknown scaling {scaling!r}. Choose one of: {', '.join(SCALINGS)}.")
    images_uint8 = np.asarray(images_uint8)
    if images_uint8.dtype != np.uint8:
        raise ConfigError(f"scale_pixels expects uint8 pixels 0..255, got {images_uint8.dtype}; "
                          f"pixels that are already floats must not be scaled twice.")
    scaled = images_uint8.astype(dtype)
    if scaling == "unit":
        scaled /= 255.0
    else:
        scaled /= 127.5  # 0 -> 0, 255 -> exactly 2
        scaled -= 1.0
    return scaled


def validation_count(validation_size: int | float, n_train: int) -> int:
    """How many of ``n_train`` images to hold out: an int count or a float fraction in [0, 1)."""
    if isinstance(validation_size, (bool, np.bool_)):
        raise ConfigError("validation_size must be a number of images or a fraction, not a bool.")
    if isinstance(validation_size, (int, np.integer)):
        count = int(validation_size)
    elif isinstance(validation_size, (float, np.floating)):
        if not 0.0 <= validation_size < 1.0:
            raise ConfigError(f"A validation fraction must be in [0, 1); got {validation_size}.")
        count = int(round(float(validation_size) * n_train))
    else:
        raise ConfigError(f"validation_size must be an int or a float, got {validation_size!r}.")
    if count < 0:
        raise ConfigError(f"validation_size must not be negative; got {count}.")
    if count >= n_train:
        raise ConfigError(f"A validation set of {count:,} images leaves none of the {n_train:,} "
                          f"training images for training; choose fewer than {n_train:,}.")
    return count


def make_splits(raw: RawDataset, validation_size: int | float = 5000, scaling: str = "unit",
                rng: np.random.Generator | int | None = None, dtype=np.float32) -> Splits:
    """Hold out a random validation set from the training images; scale everything.

    ``validation_size`` is a count or a fraction in [0, 1); 0 gives empty (0, 784) validation
    arrays. The draw is plain random (not stratified) and reproducible: ``rng`` is a Generator
    (or a seed; None means seed 0). The test set is left as it is.
    """
    if scaling not in SCALINGS:
        raise ConfigError(f"Unknown scaling {scaling!r}. Choose one of: {', '.join(SCALINGS)}.")
    n_train = len(raw.train_labels)
    count = validation_count(validation_size, n_train)
    rng = np.random.default_rng(0 if rng is None else rng)
    order = rng.permutation(n_train)
    val_indices = np.sort(order[:count])
    train_indices = np.sort(order[count:])
    images, labels = raw.train_images, raw.train_labels
    return Splits(
        X_train=scale_pixels(images[train_indices], scaling, dtype),
        y_train=labels[train_indices].astype(np.int64),
        X_val=scale_pixels(images[val_indices], scaling, dtype),
        y_val=labels[val_indices].astype(np.int64),
        X_test=scale_pixels(raw.test_images, scaling, dtype),
        y_test=np.asarray(raw.test_labels).astype(np.int64),
        scaling=scaling,
        train_indices=train_indices,
        val_indices=val_indices,
    )
