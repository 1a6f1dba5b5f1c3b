"""Your handwriting as a small dataset: labelled drawings <-> MNIST-format IDX files.

A ``Drawings`` set holds, per drawing, what the network reads (the 784 preprocessed pixels as
uint8, like MNIST's own images), the label the visitor gave it, and a small picture of the raw
drawing (a 56 x 56 "sketch", for the gallery). A set is immutable: ``add``, ``remove`` and
``take`` return a new set, so one set can be shared by a visitor's sessions without copies.

On disk (a folder, for ``python -m core ... --extra-data DIR``) and in the app's zip, a set is
MNIST-format IDX files, gzip-compressed or not::

    <prefix>-images-idx3-ubyte[.gz]     (N, 28, 28) uint8   what the network reads     required
    <prefix>-labels-idx1-ubyte[.gz]     (N,) uint8, 0-9     the labels                 required
    <prefix>-sketches-idx3-ubyte[.gz]   (N, 56, 56) uint8   the raw drawings, small    optional

Exactly one images file and one labels file; other files are ignored (a README, say). Reading
never trusts a file: its compressed size is checked before it is read, it is decompressed with
a bound (a gzip or zip bomb stops at the limit), its header's declared count and image size are
checked before its payload is decoded (by core.idx), and the counts of the files must agree.
Every problem is a DatasetError that names the file and says what to do.

Limits (memory is bounded by them):
    MAX_DRAWINGS       500 drawings in a set the app keeps (per dataset, per visitor): about
                       2 MB with their sketches
    MAX_FILE_DRAWINGS  100,000 drawings in a folder read by the command line (78 MB of pixels)
    MAX_ZIP_BYTES      4 MB for an uploaded zip (a full set of 500 takes about 0.5 MB)
"""
from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .idx import IMAGES_MAGIC, LABELS_MAGIC, encode_idx, is_gzip, parse_idx, write_bytes_atomic

SIDE = 28                         # what the network reads: 28 x 28, like MNIST
SKETCH_SIDE = 56                  # the gallery's picture of the raw drawing
NUM_CLASSES = 10
MAX_DRAWINGS = 500
MAX_FILE_DRAWINGS = 100_000
MAX_ZIP_BYTES = 4 * 2**20
MAX_ZIP_MEMBERS = 32              # a drawings zip holds 2-4 files; a zip of thousands is refused
DEFAULT_PREFIX = "my-train"
README_NAME = "README.txt"
_KINDS = {                        # kind -> (file name pattern, IDX magic, image side or None)
    "images": (re.compile(r"^(.+)-images-idx3-ubyte(\.gz)?$"), IMAGES_MAGIC, SIDE),
    "labels": (re.compile(r"^(.+)-labels-idx1-ubyte(\.gz)?$"), LABELS_MAGIC, None),
    "sketches": (re.compile(r"^(.+)-sketches-idx3-ubyte(\.gz)?$"), IMAGES_MAGIC, SKETCH_SIDE),
}
EXPECTED_NAMES = ("an images file '<name>-images-idx3-ubyte' and a labels file "
                  "'<name>-labels-idx1-ubyte' (each may end in .gz)")


# --------------------------------------------------------------------------- the set

@dataclass(frozen=True, eq=False)
class Drawings:
    """Labelled drawings: images (N, 784) uint8, labels (N,) uint8 in 0-9, sketches (N, 56, 56)
    uint8. The arrays are read-only; build new sets with ``add``, ``remove``, ``take``."""
    images: np.ndarray
    labels: np.ndarray
    sketches: np.ndarray

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        sketches = np.asarray(self.sketches)
        n = labels.shape[0] if labels.ndim == 1 else -1
        if images.dtype != np.uint8 or labels.dtype != np.uint8 or sketches.dtype != np.uint8:
            raise DatasetError("A drawings set holds uint8 images, labels and sketches.")
        if images.shape != (n, SIDE * SIDE) or sketches.shape != (n, SKETCH_SIDE, SKETCH_SIDE):
            raise DatasetError(f"A drawings set needs images (N, 784), labels (N,) and sketches "
                               f"(N, 56, 56); got {images.shape}, {labels.shape}, "
                               f"{sketches.shape}.")
        if n and int(labels.max()) >= NUM_CLASSES:
            raise DatasetError(f"Labels are 0-9; this set has a label {int(labels.max())}.")
        for name, array in (("images", images), ("labels", labels), ("sketches", sketches)):
            if array.flags.writeable:
                array = array.copy()
                array.setflags(write=False)
            object.__setattr__(self, name, array)

    @classmethod
    def empty(cls):
        return cls(np.zeros((0, SIDE * SIDE), np.uint8), np.zeros(0, np.uint8),
                   np.zeros((0, SKETCH_SIDE, SKETCH_SIDE), np.uint8))

    def __len__(self):
        return int(self.labels.shape[0])

    def __repr__(self):
        return f"Drawings({len(self)} drawings, per class {self.counts().tolist()})"

    @property
    def nbytes(self):
        return self.images.nbytes + self.labels.nbytes + self.sketches.nbytes

    def counts(self):
        """(10,) int: how many drawings of each class."""
        return np.bincount(self.labels, minlength=NUM_CLASSES)

    def add(self, pixels, label, sketch=None, max_drawings=MAX_DRAWINGS):
        """A new set with one more drawing at the end.

        pixels: (784,) floats in [0, 1] (core.drawing's output) or uint8; label: 0-9;
        sketch: (56, 56) uint8 or None (then the 28 x 28 pixels, enlarged, stand in for it).
        Raises DatasetError when the set already holds ``max_drawings``."""
        if len(self) >= max_drawings:
            raise DatasetError(f"You have {len(self):,} drawings, the most a set can hold "
                               f"({max_drawings:,}). Delete some, or download the set and "
                               "start a new one.")
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) \
                or not 0 <= int(label) < NUM_CLASSES:
            raise DatasetError(f"A label is a class number from 0 to 9; got {label!r}.")
        row = as_uint8_pixels(pixels)
        sketch = enlarge_pixels(row) if sketch is None else np.asarray(sketch)
        if sketch.shape != (SKETCH_SIDE, SKETCH_SIDE) or sketch.dtype != np.uint8:
            raise DatasetError(f"A sketch is a (56, 56) uint8 picture; got {sketch.shape} "
                               f"{sketch.dtype}.")
        return Drawings(np.concatenate([self.images, row[None]]),
                        np.append(self.labels, np.uint8(label)),
                        np.concatenate([self.sketches, sketch[None]]))

    def remove(self, index):
        """A new set without drawing ``index``."""
        if not 0 <= index < len(self):
            raise DatasetError(f"There is no drawing number {index + 1}: the set has {len(self)}.")
        keep = np.arange(len(self)) != index
        return self.take(keep)

    def take(self, rows):
        """A new set of the drawings ``rows`` picks (indices or a boolean mask)."""
        return Drawings(self.images[rows], self.labels[rows], self.sketches[rows])

    def pixels(self, scaling="unit", dtype=np.float32):
        """(N, 784) model input in the model's pixel scaling ([0, 1], or [-1, 1] "symmetric")."""
        from .datasets import scale_pixels
        return scale_pixels(self.images, scaling, dtype)

    def fingerprint(self):
        """A short hash of the images and labels: changes whenever the set does."""
        digest = hashlib.blake2b(digest_size=10)
        digest.update(self.images.tobytes())
        digest.update(self.labels.tobytes())
        return digest.hexdigest()


def as_uint8_pixels(pixels):
    """784 pixels, floats in [0, 1] or uint8, -> (784,) uint8 (rounded, like MNIST's files)."""
    pixels = np.asarray(pixels)
    if pixels.size != SIDE * SIDE:
        raise DatasetError(f"A drawing is {SIDE * SIDE} pixels (28 x 28); got {pixels.size}.")
    pixels = pixels.reshape(SIDE * SIDE)
    if pixels.dtype == np.uint8:
        return pixels.copy()
    values = pixels.astype(np.float64)
    if not np.isfinite(values).all():
        raise DatasetError("A drawing's pixels must be finite numbers.")
    return (np.clip(values, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def enlarge_pixels(row):
    """(784,) uint8 -> (56, 56) uint8, each pixel doubled: the sketch of a drawing without one."""
    image = np.asarray(row, np.uint8).reshape(SIDE, SIDE)
    return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)


def sketch_of(image):
    """A raw drawing -> its (56, 56) uint8 sketch, light ink on black.

    image: a canvas (H, W, 4) RGBA or (H, W, 3) (ink: the brightest channel times alpha), or a
    greyscale picture (H, W) (dark ink on light paper is inverted, judged by its border); uint8
    or floats in [0, 1]. Padded to a square, then area-averaged to 56 x 56."""
    from .drawing import resize_area
    array = np.asarray(image)
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1 or array.shape[0] * array.shape[1] > 2**22:
        raise DatasetError(f"A sketch is made from a 2-D picture of at most 4 megapixels; got "
                           f"shape {array.shape}.")
    values = array.astype(np.float32)
    if array.dtype == np.uint8 or values.max(initial=0) > 1.0:
        values /= 255.0
    if values.ndim == 3:
        ink = values[..., :3].max(axis=2) if values.shape[2] >= 3 else values[..., 0]
        if values.shape[2] in (2, 4):
            ink = ink * values[..., -1]
    else:
        ink = values
        border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
        if float(np.median(border)) > 0.5:
            ink = 1.0 - ink
    ink = np.nan_to_num(np.clip(ink, 0.0, 1.0))
    h, w = ink.shape
    side = max(h, w)
    if h != w:
        top, left = (side - h) // 2, (side - w) // 2
        ink = np.pad(ink, ((top, side - h - top), (left, side - w - left)))
    small = resize_area(ink, (SKETCH_SIDE, SKETCH_SIDE))
    return (np.clip(small, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- bytes -> set

def _cap(name):
    """``name`` with a capital first letter, to start a message ("the zip file" -> "The ...")."""
    return name[:1].upper() + name[1:]


def _payload_limit(kind, max_drawings):
    """The most bytes a decompressed file of ``kind`` may hold: header plus ``max_drawings``."""
    side = _KINDS[kind][2]
    per_item = side * side if side else 1
    return 4 + 4 * (3 if side else 1) + max_drawings * per_item


def _inflate(data, limit, source):
    """``data`` decompressed when it is gzip (else unchanged), refusing more than ``limit`` bytes
    without ever holding more than ``limit + 1`` of them."""
    if not is_gzip(data):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise DatasetError(f"{source} is a corrupt gzip file ({error}).") from None
    if len(out) > limit:
        raise DatasetError(f"{source} unpacks to more than {limit:,} bytes, more than a set of "
                           "drawings this size can hold.")
    if not inflater.eof:
        raise DatasetError(f"{source} is a truncated gzip file: it ends before its data does.")
    return out


def _check_header(data, kind, source, max_drawings):
    """Refuse a wrong magic number, a declared count over ``max_drawings`` or the wrong image
    size from the header alone, before the payload is looked at."""
    magic_wanted, side = _KINDS[kind][1], _KINDS[kind][2]
    if len(data) < 4:
        raise DatasetError(f"{source} is too short to be an IDX file ({len(data)} bytes).")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != magic_wanted:
        raise DatasetError(f"{source} is not an IDX {kind} file: its magic number is "
                           f"0x{magic:08x}, expected 0x{magic_wanted:08x}. Is it the right file?")
    ndim = 3 if side else 1
    if len(data) < 4 + 4 * ndim:
        raise DatasetError(f"{source} is truncated: its header is incomplete.")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    if dims[0] > max_drawings:
        raise DatasetError(f"{source} declares {dims[0]:,} {kind}; a set may hold at most "
                           f"{max_drawings:,} drawings.")
    if side and dims[1:] != (side, side):
        raise DatasetError(f"{source} holds {dims[1]}x{dims[2]} images; drawings here are "
                           f"{side}x{side}.")


def parse_file(data, kind, source, max_drawings=MAX_DRAWINGS):
    """One file's bytes (gzip or raw) -> images (N, side * side) or labels (N,) uint8."""
    raw = _inflate(data, _payload_limit(kind, max_drawings), source)
    _check_header(raw, kind, source, max_drawings)
    return parse_idx(raw, source=source, expect="labels" if kind == "labels" else "images")


def classify_names(names, where):
    """{kind: name} of the drawings files among ``names`` (file names, no folders). Raises
    DatasetError when the images or labels file is missing or there are two of a kind."""
    found = {}
    for name in names:
        for kind, (pattern, _, _) in _KINDS.items():
            if pattern.match(name):
                found.setdefault(kind, []).append(name)
    for kind, matches in found.items():
        if len(matches) > 1:
            raise DatasetError(f"{_cap(where)} holds {len(matches)} {kind} files ({', '.join(sorted(matches))}); "
                               f"put one set of drawings per {'zip' if 'zip' in where else 'folder'}.")
    missing = [kind for kind in ("images", "labels") if kind not in found]
    if missing:
        listed = ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "") or "nothing"
        raise DatasetError(f"{_cap(where)} has no {' and no '.join(missing)} file: it should hold "
                           f"{EXPECTED_NAMES}. It holds: {listed}.")
    return {kind: matches[0] for kind, matches in found.items()}


def from_files(files, where, max_drawings=MAX_DRAWINGS, sketches=True):
    """A Drawings set from {file name: bytes} (what a folder or a zip holds).

    ``where`` names the container in messages. Without a sketches file (or with
    ``sketches=False``) the sketches are the 28 x 28 pixels enlarged."""
    names = classify_names(list(files), where)
    images = parse_file(files[names["images"]], "images", f"{names['images']} in {where}",
                        max_drawings)
    labels = parse_file(files[names["labels"]], "labels", f"{names['labels']} in {where}",
                        max_drawings)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{_cap(where)}: {names['images']} holds {images.shape[0]:,} images but "
                           f"{names['labels']} holds {labels.shape[0]:,} labels; they must be "
                           "the same drawings.")
    if images.shape[0] == 0:
        raise DatasetError(f"{_cap(where)} holds no drawings (its files are empty).")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DatasetError(f"{_cap(where)}: label {int(labels[bad[0]])} of drawing {int(bad[0]) + 1} is "
                           f"not a class; labels are 0-9 ({bad.size:,} such labels).")
    if sketches and "sketches" in names:
        small = parse_file(files[names["sketches"]], "sketches",
                           f"{names['sketches']} in {where}", max_drawings)
        if small.shape[0] != images.shape[0]:
            raise DatasetError(f"{_cap(where)}: {names['sketches']} holds {small.shape[0]:,} sketches "
                               f"for {images.shape[0]:,} drawings.")
        small = small.reshape(-1, SKETCH_SIDE, SKETCH_SIDE)
    else:
        small = np.stack([enlarge_pixels(row) for row in images]) if len(images) else \
            np.zeros((0, SKETCH_SIDE, SKETCH_SIDE), np.uint8)
    return Drawings(images, labels, small)


def _compressed_limit(kind, max_drawings):
    """The most bytes a file of ``kind`` may take on disk or in a zip (raw, or gzip of it)."""
    raw = _payload_limit(kind, max_drawings)
    return raw + raw // 100 + 1024                   # gzip of incompressible data grows a little


def from_zip(data, max_drawings=MAX_DRAWINGS, max_bytes=MAX_ZIP_BYTES, name="the zip file"):
    """A Drawings set from the bytes of a zip (the app's download, or one a person made).

    Refuses a file over ``max_bytes``, anything that is not a zip, encrypted members, more than
    MAX_ZIP_MEMBERS members, and members whose declared size is too large, before inflating."""
    Name = _cap(name)
    if not data:
        raise DatasetError(f"{Name} is empty.")
    if len(data) > max_bytes:
        raise DatasetError(f"{Name} is {len(data) / 2**20:.1f} MB; a drawings zip may be at most "
                           f"{max_bytes / 2**20:.0f} MB (a full set of {MAX_DRAWINGS} takes "
                           "about 0.5 MB).")
    if is_gzip(data):
        raise DatasetError(f"{Name} is a single gzip file, not a zip: upload the .zip that "
                           f"'Download' gave you, or zip {EXPECTED_NAMES} together.")
    if not data.startswith(b"PK"):
        raise DatasetError(f"{Name} is not a zip file: upload the .zip that 'Download' gave you.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > MAX_ZIP_MEMBERS:
                raise DatasetError(f"{Name} holds {len(members):,} files; a drawings zip holds "
                                   f"{EXPECTED_NAMES}.")
            by_name = {}
            for member in members:
                base = member.filename.replace("\\", "/").rsplit("/", 1)[-1]
                if base.startswith(".") or base.startswith("__MACOSX"):
                    continue
                by_name.setdefault(base, member)
            names = classify_names(list(by_name), name)
            files = {}
            for kind, base in names.items():
                member = by_name[base]
                if member.flag_bits & 0x1:
                    raise DatasetError(f"{base} in {name} is encrypted; zip it without a password.")
                limit = _compressed_limit(kind, max_drawings)
                if member.file_size > limit:
                    raise DatasetError(f"{base} in {name} is {member.file_size:,} bytes unpacked; "
                                       f"a file of {max_drawings:,} drawings takes at most "
                                       f"{limit:,}.")
                with archive.open(member) as handle:
                    content = handle.read(limit + 1)
                if len(content) > limit:
                    raise DatasetError(f"{base} in {name} unpacks to more than it declares.")
                files[base] = content
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            NotImplementedError, ValueError, RuntimeError) as error:
        raise DatasetError(f"{Name} is damaged or not a plain zip ({error}).") from None
    return from_files(files, name, max_drawings)


def read_dir(folder, max_drawings=MAX_FILE_DRAWINGS, sketches=False):
    """A Drawings set from a folder of IDX files (the command line's --extra-data DIR)."""
    folder = Path(folder)
    if not folder.exists():
        raise DatasetError(f"{folder} does not exist: give a folder holding {EXPECTED_NAMES}.")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is a file, not a folder: give the folder that holds "
                           f"{EXPECTED_NAMES}.")
    try:
        names = [p.name for p in folder.iterdir() if p.is_file()]
    except OSError as error:
        raise DatasetError(f"{folder} cannot be read: {error.strerror or error}.") from None
    found = classify_names(names, str(folder))
    if not sketches:
        found.pop("sketches", None)
    files = {}
    for kind, name in found.items():
        path = folder / name
        limit = _compressed_limit(kind, max_drawings)
        try:
            size = path.stat().st_size
            if size > limit:
                raise DatasetError(f"{path} is {size:,} bytes; a file of at most "
                                   f"{max_drawings:,} drawings takes at most {limit:,}.")
            files[name] = path.read_bytes()
        except OSError as error:
            raise DatasetError(f"{path} cannot be read: {error.strerror or error}.") from None
    return from_files(files, str(folder), max_drawings, sketches=sketches)


# --------------------------------------------------------------------------- set -> bytes

def encode_files(drawings, prefix=DEFAULT_PREFIX, compress=True):
    """{file name: bytes} of a set: images, labels and sketches, gzip-compressed by default."""
    import gzip
    files = {
        f"{prefix}-images-idx3-ubyte": encode_idx(drawings.images, (SIDE, SIDE)),
        f"{prefix}-labels-idx1-ubyte": encode_idx(drawings.labels),
        f"{prefix}-sketches-idx3-ubyte": encode_idx(drawings.sketches),
    }
    if not compress:
        return files
    return {f"{name}.gz": gzip.compress(data, compresslevel=6, mtime=0)
            for name, data in files.items()}


def readme_text(drawings, dataset="mnist"):
    counts = ", ".join(f"{k}: {c}" for k, c in enumerate(drawings.counts()))
    return (f"Your {dataset} drawings in MNIST's IDX format ({len(drawings)} drawings; per class "
            f"{counts}).\n\n"
            "  *-images-idx3-ubyte.gz    28x28 pixels, what the network reads\n"
            "  *-labels-idx1-ubyte.gz    the labels you gave, 0-9\n"
            "  *-sketches-idx3-ubyte.gz  56x56 pictures of your raw drawings\n\n"
            "Upload this zip on the Draw page to get them back. Unzipped into a folder DIR:\n"
            f"  python -m core eval -dataset {dataset} --extra-data DIR\n"
            f"  python -m core train -dataset {dataset} --start-from model/{dataset}/"
            "pretrained.npz --extra-data DIR --out my-model.npz\n")


def to_zip(drawings, prefix=DEFAULT_PREFIX, dataset="mnist"):
    """The bytes of a zip of the set's gzip IDX files and a README (the app's download).
    The same set always gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in encode_files(drawings, prefix).items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
        archive.writestr(zipfile.ZipInfo(README_NAME, date_time=(2024, 1, 1, 0, 0, 0)),
                         readme_text(drawings, dataset))
    return buffer.getvalue()


def write_dir(drawings, folder, prefix=DEFAULT_PREFIX, compress=True):
    """Write the set's IDX files into ``folder`` (created if missing), each atomically.
    Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_bytes_atomic(folder / name, data)
            for name, data in encode_files(drawings, prefix, compress).items()]


def zip_name(dataset, drawings):
    return f"my-{dataset}-drawings-{len(drawings)}.zip"

