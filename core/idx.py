"""Read and write IDX files (the MNIST file format), gzip-compressed or raw, fully validated.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the payload:

    0x00000801  labels  (N,)          uint8
    0x00000803  images  (N, rows, cols) uint8

Images are returned batch-first and flattened, ``(N, rows * cols)`` -- ``(N, 784)`` for MNIST --
and labels as ``(N,)``. Anything else (an empty file, a wrong magic number, a payload that is
shorter or longer than the header says, a broken gzip stream) raises DatasetError with a message
that names the file and says what is wrong.

Decompression is capped: a gzip inflates to at most what its IDX header promises (read from the
first bytes of the stream before the rest is inflated), and never beyond ``MAX_IDX_BYTES``; a
970 KB gzip bomb stops there instead of growing to gigabytes.
"""
from __future__ import annotations

import gzip
import math
import os
import stat
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
# The largest file decompressed or read: the largest official file is 47 MB (60,000 training
# images of 28x28); 200 MB leaves room for a folder of ~250,000 images, and a gzip bomb stops here.
MAX_IDX_BYTES = 200 * 2**20
_HEADER_BYTES = 16                       # the longest IDX header (images: magic + 3 dimensions)
_CHUNK = 1 << 20                         # bytes inflated at a time


def idx_size(header: bytes) -> int | None:
    """The total size in bytes (header + payload) that the IDX header at the start of ``header``
    promises, or None when it is not an IDX header (or too short to tell)."""
    if len(header) < 4:
        return None
    kind = _KIND_BY_MAGIC.get(struct.unpack(">I", header[:4])[0])
    if kind is None:
        return None
    ndim = _NDIM_BY_KIND[kind]
    if len(header) < 4 + 4 * ndim:
        return None
    dims = struct.unpack(f">{ndim}I", header[4:4 + 4 * ndim])
    return 4 + 4 * ndim + math.prod(dims)


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts with the gzip magic bytes 1f 8b."""
    return data[:2] == GZIP_MAGIC


def decompress(data: bytes, source: str = "the data", max_bytes: int = MAX_IDX_BYTES) -> bytes:
    """``data`` decompressed when it is gzip, unchanged otherwise; DatasetError when the gzip is
    broken, or when it would inflate beyond what its IDX header promises or beyond ``max_bytes``.

    The header is inflated first (16 bytes) and checked before anything else: a bomb is refused
    having inflated at most ``min(promised, max_bytes) + 1`` bytes, whatever it would become.
    """
    if not is_gzip(data):
        if len(data) > max_bytes:
            raise DatasetError(f"{source} is {len(data) / 2**20:,.0f} MB; an IDX file here may "
                               f"take at most {max_bytes / 2**20:,.0f} MB.")
        return data
    try:
        return _inflate(data, source, max_bytes)
    except (zlib.error, EOFError) as error:
        raise DatasetError(
            f"{source} is a corrupt gzip file ({error}). Delete it and download it again."
        ) from None


def _inflate(data, source, max_bytes):
    chunks, total = [], 0
    limit, checked, promised = max_bytes, False, None
    rest = data
    while True:                                     # one gzip member after another
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        while not inflater.eof:
            want = _HEADER_BYTES - total if total < _HEADER_BYTES else min(_CHUNK, limit + 1 - total)
            piece = inflater.decompress(pending, max(1, want))
            pending = inflater.unconsumed_tail
            if piece:
                chunks.append(piece)
                total += len(piece)
                if not checked and total >= 8:        # once, at the stream's start
                    promised = idx_size(b"".join(chunks)[:_HEADER_BYTES])
                    checked = promised is not None or total >= _HEADER_BYTES
                    if promised is not None:
                        if promised > max_bytes:
                            raise DatasetError(
                                f"{source} says it holds {promised:,} bytes; an IDX file here may "
                                f"take at most {max_bytes:,} bytes. Delete it and download it again.")
                        limit = promised
                if total > limit:
                    what = ("its header promises" if promised is not None
                            else "an IDX file here may take")
                    raise DatasetError(
                        f"{source} inflates to more than the {limit:,} bytes {what} (a damaged "
                        f"file or a decompression bomb). Delete it and download it again.")
            elif not pending:
                if not inflater.eof:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
                break
        rest = inflater.unused_data
        if not rest.lstrip(b"\0"):                  # trailing zero padding is allowed by gzip
            break
        if not is_gzip(rest):
            raise zlib.error("trailing garbage after the compressed data")
    return b"".join(chunks)


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
    data = read_file_bytes(path)
    return parse_idx(data, source=str(path), expect=expect)


def read_file_bytes(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> bytes:
    """The bytes of the regular file ``path``, refused (DatasetError) from its size before it is
    read when it is larger than ``max_bytes``, or when it is not a regular file (a FIFO would
    block the reader)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DatasetError(f"{path} is not a regular file.")
        if info.st_size > max_bytes:
            raise DatasetError(f"{path} is {info.st_size / 2**20:,.0f} MB; an IDX file here may "
                               f"take at most {max_bytes / 2**20:,.0f} MB.")
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist.") from None
    except OSError as error:
        raise DatasetError(f"{path} cannot be read: {error.strerror or error}.") from None


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
