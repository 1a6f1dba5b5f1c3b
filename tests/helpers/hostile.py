"""Hostile and careless inputs, made without holding them in memory: pictures, model files and
dataset files of the kind a visitor (or a broken mirror) could send. Shared by
``benchmarks/hardening.py`` and the hardening tests (tests/test_hardening_*.py).

    png(width, height, colour_type, bit_depth)   a PNG streamed row by row (a 1 x 900,000 strip or
                                                 a 50-megapixel RGBA picture in a few MB of RAM)
    model_file_with_history(records)             a small .npz whose history has ``records`` entries
    gzip_bomb(claimed_images, real_bytes)        an IDX gzip that inflates far beyond its header
"""
import gzip
import io
import json
import struct
import zipfile
import zlib

import numpy as np

# PNG colour type -> samples per pixel (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA)
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind, body):
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def png(width, height, colour_type=6, bit_depth=8, ink=True, level=1, transparent=False):
    """PNG bytes of ``width`` x ``height`` pixels, compressed piece by piece: memory stays at a few
    MB whatever the size (a 60,000,000 x 1 strip of 16-bit RGBA included). ``ink`` draws a bright
    bar in the middle third (a "1" on black), so the picture is not blank; ``transparent``
    (palette only) adds a tRNS chunk that makes palette entry 0 transparent."""
    channels = PNG_CHANNELS[colour_type]
    row_bytes = (width * channels * bit_depth + 7) // 8
    compressor = zlib.compressobj(level)
    parts = []
    piece = 4 << 20

    def feed(pattern, count):                                   # pattern * count, 4 MB at a time
        per = max(1, piece // max(1, len(pattern)))
        for start in range(0, count, per):
            parts.append(compressor.compress(pattern * min(per, count - start)))

    def row(inked):
        feed(b"\0", 1)                                          # filter type 0
        if not inked:
            feed(b"\0", row_bytes)
        elif bit_depth < 8:                                     # packed bits: ink across the row
            feed(b"\xff", row_bytes)
        else:
            pixel = (b"\x01" if colour_type == 3 else b"\xff" * (bit_depth // 8)) * channels
            left, right = width // 3, max(width // 3 + 1, 2 * width // 3)
            feed(b"\0", left * len(pixel))
            feed(pixel, right - left)
            feed(b"\0", (width - right) * len(pixel))

    top, bottom = height // 4, max(height // 4 + 1, 3 * height // 4)
    if row_bytes + 1 <= piece:                                  # runs of identical rows at once
        for inked, count in ((False, top), (ink, bottom - top), (False, height - bottom)):
            feed(_row_bytes(width, channels, bit_depth, colour_type, inked, row_bytes), count)
    else:
        for y in range(height):
            row(ink and top <= y < bottom)
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    if colour_type == 3:
        chunks.append(_chunk(b"PLTE", b"\0\0\0" + b"\xff\xff\xff" * ((1 << bit_depth) - 1)))
        if transparent:
            chunks.append(_chunk(b"tRNS", b"\0"))
    chunks.append(_chunk(b"IDAT", b"".join(parts)))
    chunks.append(_chunk(b"IEND", b""))
    return b"".join(chunks)


def _row_bytes(width, channels, bit_depth, colour_type, inked, row_bytes):
    """One scanline with its filter byte (only for rows of at most a few MB)."""
    if not inked:
        return bytes(row_bytes + 1)
    if bit_depth < 8:
        return b"\0" + b"\xff" * row_bytes
    pixel = (b"\x01" if colour_type == 3 else b"\xff" * (bit_depth // 8)) * channels
    left, right = width // 3, max(width // 3 + 1, 2 * width // 3)
    return (b"\0" + bytes(left * len(pixel)) + pixel * (right - left)
            + bytes((width - right) * len(pixel)))


def pillow_picture(width, height, mode, fmt, **save):
    """A picture of ``mode`` saved by Pillow in ``fmt`` (a bar of ink in the middle)."""
    from PIL import Image
    image = Image.new(mode, (width, height))
    value = {"1": 1, "I": 65535, "I;16": 65535, "F": 1.0}.get(mode, 255)
    bar = (width // 3, height // 4, max(width // 3 + 1, 2 * width // 3),
           max(height // 4 + 1, 3 * height // 4))
    if mode in ("RGB", "RGBA", "CMYK", "LA", "YCbCr", "P", "PA"):
        image.paste(Image.new(mode, (bar[2] - bar[0], bar[3] - bar[1]),
                              255 if mode == "P" else (255,) * len(mode)), bar[:2])
    else:
        image.paste(value, bar)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


# -- model files ---------------------------------------------------------------------------------
def _meta(hidden=(4,), dataset="mnist", metrics=None):
    sizes = (784, *hidden, 10)
    return {"format": "nn-playground-model", "format_version": 1,
            "model_config": {"input_size": 784, "hidden_sizes": list(hidden), "output_size": 10,
                             "activation": "relu", "output_activation": "softmax",
                             "loss": "cross_entropy", "init": "he", "dropout": 0.0,
                             "dtype": "float32"},
            "train_config": {}, "dataset": dataset, "scaling": "unit",
            "metrics": metrics if metrics is not None else {"test_accuracy": 0.5},
            "created": "", "_sizes": list(sizes)}


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def npz(members, compression=zipfile.ZIP_DEFLATED):
    """Zip bytes of ``members`` [(name, array or raw bytes), ...] in this order; names may repeat
    (duplicates are what ``zipfile`` warns about but writes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                      # "Duplicate name"
            for name, value in members:
                archive.writestr(name, value if isinstance(value, bytes) else _npy(value))
    return buffer.getvalue()


def weights(hidden=(4,), value=0.01, dtype=np.float32):
    sizes = (784, *hidden, 10)
    members = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        members.append((f"layers.{i}.W.npy", np.full((fan_in, fan_out), value, dtype)))
        members.append((f"layers.{i}.b.npy", np.zeros(fan_out, dtype)))
    return members


def model_file(hidden=(4,), history=None, metrics=None, extra=(), value=0.01, dtype=np.float32):
    """A valid model file (bytes) of a 784-<hidden>-10 network; ``history`` maps field -> array."""
    meta = _meta(hidden, metrics=metrics)
    meta.pop("_sizes")
    members = [("meta.npy", np.array(json.dumps(meta)))] + weights(hidden, value, dtype)
    for name, array in (history or {}).items():
        members.append((f"history.{name}.npy", np.asarray(array)))
    return npz(members + list(extra))


def model_file_with_history(records, fields=("step",)):
    """A small model file whose history holds ``records`` entries (zeros compress to nothing)."""
    return model_file(history={name: np.zeros(records) for name in fields})


# -- dataset files ---------------------------------------------------------------------------------
def gzip_bomb(claimed_images=10, real_bytes=1 << 30, kind="images"):
    """An IDX gzip whose header promises ``claimed_images`` 28x28 images (or labels) but which
    inflates to ``real_bytes`` of zeros: the file is about real_bytes / 1000 bytes."""
    header = (struct.pack(">IIII", 0x803, claimed_images, 28, 28) if kind == "images"
              else struct.pack(">II", 0x801, claimed_images))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)          # a gzip member
    parts = [compressor.compress(header)]
    block = bytes(1 << 20)
    for _ in range(real_bytes // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


def idx_gzip(array):
    from core.idx import encode_idx
    return gzip.compress(encode_idx(np.asarray(array, np.uint8)), mtime=0)
