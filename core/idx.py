"""Read and write IDX files (the MNIST file format), gzip-compressed or raw, fully validated.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the payload:

    0x00000801  labels  (N,)          uint8
    0x00000803  images  (N, rows, cols) uint8

Images are returned batch-first and flattened, ``(N, rows * cols)`` -- ``(N, 784)`` for MNIST --
and labels as ``(N,)``. Anything else (an empty file, a wrong magic number, a payload that is
shorter or longer than the header says, a broken gzip stream) raises DatasetError with a message
that names the file and says what is wrong.
"""
from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetError

LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
GZIP_MAGIC = b"\x1f\x8b"
_KIND_BY_MAGIC = {LABELS_MAGIC: "labels", IMAGES_MAGIC: "images"}
_NDIM_BY_KIND = {"labels": 1, "images": 3}


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts with the gzip magic bytes 1f 8b."""
    return data[:2] == GZIP_MAGIC


def decompress(data: bytes, source: str = "the data") -> bytes:
    """``data`` decompressed when it is gzip, unchanged otherwise; DatasetError when the gzip is broken."""
    if not is_gzip(data):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(
            f"{source} is a corrupt gzip file ({error}). Delete it and download it again."
        ) from None


def idx_kind(data: bytes) -> str | None:
    """"images", "labels" or None, from the magic number of (decompressed) IDX bytes."""
    if len(data) < 4:
        return None
    return _KIND_BY_MAGIC.get(struct.unpack(">I", data[:4])[0])


def parse_idx(data: bytes, source: str = "the data", expect: str | None = None) -> np.ndarray:
    """Decode IDX bytes (gzip or raw), e.g. straight after a download.

    Returns images as ``(N, rows * cols)`` uint8 and labels as ``(N,)`` uint8 (a fresh, writable
    array). ``expect`` ("images" or "labels") also refuses a file of the other kind, so that
    swapped file names are caught. ``source`` names the data in error messages.
    """
    if len(data) == 0:
        raise DatasetError(f"{source} is empty (0 bytes). Delete it and download it again.")
    data = decompress(data, source)
    if len(data) < 4:
        raise DatasetError(
            f"{source} is truncated: expected at least 4 bytes of header, found {len(data):,}.")
    (magic,) = struct.unpack(">I", data[:4])
    kind = _KIND_BY_MAGIC.get(magic)
    if kind is None:
        raise DatasetError(
            f"{source} is not an MNIST-style IDX file: its magic number is 0x{magic:08x}, expected "
            f"0x{LABELS_MAGIC:08x} (labels) or 0x{IMAGES_MAGIC:08x} (images).")
    if expect is not None and kind != expect:
        raise DatasetError(f"{source} holds {kind}, but {expect} were expected there. "
                           f"Check that the file names are not swapped.")
    ndim = _NDIM_BY_KIND[kind]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{source} is truncated: expected at least {header:,} bytes of header, "
                           f"found {len(data):,}.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if kind == "images" and (dims[1] == 0 or dims[2] == 0):
        raise DatasetError(f"{source} says its images are {dims[1]}x{dims[2]} pixels; "
                           f"expected a positive size such as 28x28.")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise DatasetError(f"{source} is truncated: expected {expected:,} bytes, "
                           f"found {len(data):,}. Delete it and download it again.")
    if len(data) > expected:
        raise DatasetError(f"{source} has the wrong length: its header promises {expected:,} bytes, "
                           f"found {len(data):,} ({len(data) - expected:,} extra).")
    flat = np.frombuffer(data, dtype=np.uint8, offset=header).copy()
    if kind == "images":
        return flat.reshape(dims[0], dims[1] * dims[2])  # (N, rows * cols)
    return flat  # (N,)


def read_idx(path: str | os.PathLike, expect: str | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed (detected by its first bytes) or raw.

    Images come back as ``(N, rows * cols)`` uint8, labels as ``(N,)`` uint8.
    Raises DatasetError for a missing, empty, truncated, corrupt or wrong-kind file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist.") from None
    except OSError as error:
        raise DatasetError(f"{path} cannot be read: {error.strerror or error}.") from None
    return parse_idx(data, source=str(path), expect=expect)


def encode_idx(array: np.ndarray, image_shape: tuple[int, int] = (28, 28)) -> bytes:
    """The raw (uncompressed) IDX bytes of a uint8 array.

    ``(N,)`` is written as labels; ``(N, rows, cols)`` as images; ``(N, rows * cols)`` as images of
    ``image_shape`` (28x28 by default).
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise DatasetError(f"IDX files here hold uint8 values; got an array of {array.dtype}.")
    if array.ndim == 2:
        rows, cols = image_shape
        if array.shape[1] != rows * cols:
            raise DatasetError(f"cannot write a {array.shape} array as {rows}x{cols} images.")
        array = array.reshape(array.shape[0], rows, cols)
    if array.ndim == 1:
        magic = LABELS_MAGIC
    elif array.ndim == 3:
        magic = IMAGES_MAGIC
    else:
        raise DatasetError(f"cannot write a {array.ndim}-D array as IDX: expected labels (N,) or "
                           f"images (N, rows, cols) / (N, rows * cols).")
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A crash or a full disk leaves either the old file or none, never half a file, and no temporary
    file behind. OSError (read-only folder, disk full) propagates to the caller.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o644)  # mkstemp makes 0600; a data file is for everyone to read
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = True,
              image_shape: tuple[int, int] = (28, 28)) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress``), atomically."""
    data = encode_idx(array, image_shape)
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return write_bytes_atomic(path, data)
