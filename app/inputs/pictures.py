"""Uploaded pictures, decoded safely: bytes -> a (H, W) uint8 greyscale array (no st.* calls here).

``decode_upload`` decodes with PIL within a memory budget checked from the picture's header
(``DECODE_BUDGET_BYTES``, ``decode_cost``) before anything is decoded: a decompression bomb, an
animation, a huge or odd file gets a clear DrawingError. Large JPEGs are decoded at a reduced
scale, large pictures converted in tiles, and the freed memory given back (core.memory.trim_heap).
``core`` only ever sees arrays.
"""
import io
import math
import struct
import warnings

import numpy as np

from core.drawing import WORK_SIDE, tiles
from core.memory import trim_heap
from core.errors import DrawingError

MAX_UPLOAD_BYTES = 20 * 2**20          # 20 MB: a photo of a digit is far smaller
MAX_UPLOAD_PIXELS = 50_000_000         # 50 megapixels: beyond that it is a decompression bomb
# The most one picture may cost while it is decoded and turned into grey, checked from its header
# before anything is decoded (decode_cost). The result is at most 1024 x 1024 (WORK_SIDE) and a
# 12-megapixel phone photo costs about 60 MB; 200 MB lets a 2 GB server decode several at once,
# and what it refuses (an RGBA PNG over ~35 megapixels, say) is no photo of a digit.
DECODE_BUDGET_BYTES = 200 * 2**20
TILE_PIXELS = 1_000_000                # pixels converted at a time (~48 MB of temporaries at most)
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
UPLOAD_TYPES = ("png", "jpg", "jpeg", "gif", "bmp", "webp")


def decode_cost(image, data=b""):
    """Worst-case bytes that decoding ``image`` (opened, not yet loaded) and turning it into grey
    costs, from its header alone: the decoded picture as Pillow keeps it, the decoder's own
    buffers, one tile of conversion temporaries, the result and a copy of the file's bytes
    (``data``). Measured against the real peaks in tests/test_upload_memory.py."""
    width, height = image.size
    pixels = width * height
    decoded = pixels * _PIXEL_BYTES.get(image.mode, 4)         # Pillow keeps RGB as 4 bytes too
    bands = len(image.getbands())
    if image.format == "JPEG":
        # A progressive JPEG keeps every DCT coefficient (2 bytes per sample) until the last scan;
        # a baseline one decodes a band of 16 rows at a time.
        full_width, full_height = getattr(image, "_nn_full_size", image.size)
        components = 4 if image.info.get("adobe_transform") is not None or bands == 4 else 3
        decoder = (2 * components * full_width * full_height if image.info.get("progressive")
                   else 2 * 16 * components * full_width)
    elif image.format == "WEBP":
        decoder = 8 * pixels                 # libwebp's RGBA frame and the bytes Pillow copies it to
    elif image.format == "PNG" and data[12:16] == b"IHDR":
        depth, colour = data[24], data[25]
        row = (width * _PNG_SAMPLES.get(colour, 4) * depth + 7) // 8 + 1
        decoder = 2 * row                                       # this row and the one before
    else:
        decoder = 2 * 8 * width                                 # two rows of 16-bit RGBA samples
    tile = min(pixels, TILE_PIXELS) * _TILE_BYTES_PER_PIXEL
    k = max(1, math.ceil(max(width, height) / WORK_SIDE))
    result = math.ceil(height / k) * math.ceil(width / k) * (1 if k == 1 else 5)
    return decoded + decoder + tile + result + len(data) + _PAGE_BYTES


def decode_upload(data, name="The file"):
    """Decode image bytes into a (H, W) uint8 greyscale array. Raises DrawingError.

    Refuses non-images, animations, files over 20 MB, images over 50 megapixels and any picture
    whose decoding would cost more than ``DECODE_BUDGET_BYTES`` (checked from its header, before
    anything is decoded). CMYK, 16-bit, palette and transparent images are converted so that the
    digit keeps its contrast: a transparent background is filled with the colour opposite to the
    ink. Pictures larger than ``core.drawing.WORK_SIDE`` on a side come back block-averaged to
    that size (core would reduce them the same way), converted tile by tile so that no full-size
    float copy is ever made; large JPEGs are decoded at 1/2, 1/4 or 1/8 scale to begin with.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DrawingError(f"{name} is empty: choose a PNG or JPEG picture of a digit.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DrawingError(f"{name} is {len(data) / 2**20:.1f} MB; upload an image of at most "
                           f"{MAX_UPLOAD_BYTES // 2**20} MB (a digit needs only a few kB).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise DrawingError(f"{name} is {width:,} x {height:,} pixels; upload an image of "
                                   f"at most {MAX_UPLOAD_PIXELS // 1_000_000} megapixels.")
            if image.format not in ACCEPTED_FORMATS:
                raise DrawingError(f"{name} is a {image.format} image; upload a PNG or JPEG.")
            if min(width, height) < 1:
                raise DrawingError(f"{name} has no pixels.")
            if getattr(image, "n_frames", 1) > 1:
                raise DrawingError(f"{name} is an animation; upload a single still image.")
            _draft(image)
            cost = decode_cost(image, data)
            if cost > DECODE_BUDGET_BYTES:
                raise DrawingError(
                    f"{name} is {width:,} x {height:,} pixels ({image.mode}); opening it would take "
                    f"about {cost / 2**20:,.0f} MB, more than the {DECODE_BUDGET_BYTES // 2**20} MB "
                    f"a picture may use on this server. Scale it down (a digit needs only a few "
                    f"hundred pixels a side) and upload it again.")
            try:
                image.load()
                orientation = _orientation(image)
                grey = _to_grey(image)
            finally:
                image.close()
                if cost > _TRIM_ABOVE:
                    trim_heap()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DrawingError(f"{name} is too many pixels to open safely; upload an image of at most "
                           f"{MAX_UPLOAD_PIXELS // 1_000_000} megapixels.") from None
    except UnidentifiedImageError:
        raise DrawingError(f"{name} is not an image PIL can read; upload a PNG or JPEG.") from None
    except MemoryError:                 # a decoder asked for more than the server has
        raise DrawingError(f"{name} needs more memory to open than this server has; upload a "
                           f"smaller picture.") from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as e:
        raise DrawingError(f"{name} is damaged or truncated ({e}); upload another copy.") from None
    return _transpose(grey, orientation)      # phone photos are often stored sideways


# Bytes per pixel of a decoded picture as Pillow stores it: 1 for 1-bit, grey and palette, 2 for
# 16-bit grey, 4 for everything else (RGB is stored as 4 bytes, LA too).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_TILE_BYTES_PER_PIXEL = 48     # a tile's crop, its array, four float32 channels, grey and alpha
# What the Draw page itself adds while it shows an upload (Streamlit's copy of the file, the
# preprocessing steps, the enlarged pictures), measured on a real server: about 25 MB.
_PAGE_BYTES = 32 * 2**20
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}                  # PNG colour type -> samples


# After a picture this large, freed memory goes back to the system at once: glibc keeps what a
# thread freed in that thread's arena, and Streamlit runs each session in its own thread, so
# without this a server's resident memory grew by ~100 MB with each large upload in a new session.
_TRIM_ABOVE = 64 * 2**20


def _draft(image):
    """A large JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) that still gives at least
    WORK_SIDE pixels on its longer side, and straight to grey when it is colour: less to decode,
    a fraction of the memory."""
    if image.format != "JPEG":
        return
    width, height = image.size
    k = math.ceil(max(width, height) / WORK_SIDE)
    if k < 2:
        return
    image._nn_full_size = (width, height)        # the coefficients stay full size (decode_cost)
    mode = "L" if image.mode in ("L", "RGB", "YCbCr") else image.mode
    image.draft(mode, (math.ceil(width / k), math.ceil(height / k)))


_TRANSPOSE = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
              5: lambda a: a.T, 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).T,
              8: lambda a: np.rot90(a, 1)}


def _orientation(image):
    """The EXIF orientation (1-8; 1 = as stored). A damaged EXIF block counts as 1."""
    try:
        value = image.getexif().get(0x0112, 1)
        return int(value) if int(value) in _TRANSPOSE else 1
    except Exception:                     # Pillow raises many kinds of errors on broken EXIF
        return 1


def _transpose(grey, orientation):
    """``grey`` turned the way ImageOps.exif_transpose turns a picture (on the small result)."""
    if orientation not in _TRANSPOSE:
        return grey
    return np.ascontiguousarray(_TRANSPOSE[orientation](grey))


def _to_grey(image):
    """A loaded PIL image of any mode -> (H, W) uint8 greyscale, block-averaged to at most
    WORK_SIDE on a side. Converted tile by tile (``TILE_PIXELS`` at a time): the memory beyond
    the decoded picture is one tile of temporaries and the result."""
    from core.drawing import block_mean
    width, height = image.size
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        kind = "wide"
    elif mode in ("LA", "RGBA") or (mode == "P" and "transparency" in image.info):
        kind = "alpha"
    else:
        kind = "plain"
    k = max(1, math.ceil(max(width, height) / WORK_SIDE))
    boxes = [(c0, r0, c1, r1) for r0, r1, c0, c1 in tiles(height, width, k, TILE_PIXELS)]
    # First pass (wide and alpha kinds): what the conversion needs to know about the whole picture.
    peak, ink, opacity, lowest_alpha = -np.inf, 0.0, 0.0, 1.0
    if kind != "plain":
        for box in boxes:
            if kind == "wide":
                values = np.asarray(image.crop(box), dtype=np.float64)
                finite = values[~np.isnan(values)]
                if finite.size:
                    peak = max(peak, float(finite.max()))
            else:
                grey, alpha = _grey_alpha(image.crop(box))
                ink += float((grey * alpha).sum(dtype=np.float64))
                opacity += float(alpha.sum(dtype=np.float64))
                lowest_alpha = min(lowest_alpha, float(alpha.min()))
    background = 255.0 if ink / max(opacity, 1e-6) < 128 else 0.0
    out = np.empty((math.ceil(height / k), math.ceil(width / k)),
                   np.uint8 if k == 1 else np.float32)
    for box in boxes:
        tile = image.crop(box)
        if kind == "wide":
            values = np.asarray(tile, dtype=np.float64)
            if mode == "F" and peak <= 1.0:
                values = values * 255.0
            elif peak > 255:
                values = values / 257.0                 # 16-bit samples: 65535 -> 255
            grey = np.clip(np.nan_to_num(values), 0, 255).astype(np.uint8)
        elif kind == "alpha":
            grey, alpha = _grey_alpha(tile)
            if lowest_alpha < 0.98:
                grey = grey * alpha + np.float32(background) * (1 - alpha)
            grey = np.clip(grey, 0, 255).astype(np.uint8)
        else:
            if mode == "P":
                tile = tile.convert("RGB")
            elif mode not in ("L", "RGB", "1"):
                tile = tile.convert("RGB")              # CMYK, YCbCr, LAB, HSV, PA, La, RGBa...
            grey = np.asarray(tile.convert("L"), dtype=np.uint8)
        c0, r0, c1, r1 = box
        rows, cols = slice(r0 // k, math.ceil(r1 / k)), slice(c0 // k, math.ceil(c1 / k))
        out[rows, cols] = grey if k == 1 else block_mean(grey, k)
    if k == 1:
        return out
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _grey_alpha(tile):
    """(grey 0..255, alpha 0..1) float32 of a tile with transparency."""
    rgba = np.asarray(tile.convert("RGBA"), dtype=np.float32)
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return grey, rgba[..., 3] / 255.0

