"""Drawings and uploaded images -> 784 MNIST-style pixels, keeping every step for display.

MNIST digits were made like this: crop the ink to its bounding box, fit the longest side into a
20 x 20 box with anti-aliasing (aspect ratio kept), then shift the digit inside a 28 x 28 field so
its centre of mass lands on pixel (14, 14) (measured on the test set: 13.99, 14.01, with a spread
of 0.29 px, which is what whole-pixel shifts give). A model trained on MNIST only works on a drawing
that went through the same steps, so each step here can be switched off to show why it matters.

The pipeline, on an "ink" image in [0, 1] (1 = full ink):

    ink -> crop to the bounding box -> (stroke width normalised at 4x resolution)
        -> area-averaged resampling straight into the 28 x 28 field, placed by centre of mass
        -> (gentle blur) -> (contrast stretched so the brightest pixel is 1, as in MNIST)

Resampling is exact box filtering (area averaging) written as two small matrices, ``R_y @ img @
R_x.T``; placing the digit by its centre of mass is the same product on a shifted grid, so a
sub-pixel shift costs nothing and adds no blur.

Defaults were chosen with ``python -m benchmarks.fidelity`` (MNIST test digits re-drawn as canvas
strokes, brush 10-30 px, digit height 120-250 px; 784-256-128-10 model with augmentation, n=1000):
97.5% with the defaults; without crop 54.6%, stretched instead of fitted 49.0%, box centre instead
of centre of mass 96.7%, without stroke normalisation 97.2%, stroke width 2.0 / 3.0 px 97.1 / 96.6%.
Sub-pixel centring (97.3%) and a 0.5 px blur (97.4%) made no measurable difference, so the
defaults stay with MNIST's own whole-pixel shifts and no blur.

Behaviour at the edges, chosen on purpose:
    * ``None``, a zero-size array or a canvas with no ink -> ``Preprocessed(empty=True)`` with 784
      zeros (the page shows an invitation to draw, not a guess).
    * An uploaded image of one colour (white paper, black paper, a 1 x 1 image) -> empty.
    * A canvas that is ink almost everywhere (more than ``MAX_INK_COVERAGE`` of it) -> DrawingError:
      there is no digit shape to read, and saying so is better than a confident guess.
    * Images larger than ``WORK_SIDE`` pixels on a side are first reduced by block averaging, tile
      by tile, so a 10,000 x 10,000 image or a 1 x 50,000,000 strip stays fast, and the memory used
      beyond the input array stays within ``WORKING_BYTES`` whatever the shape; more than
      ``MAX_PIXELS`` pixels is refused with DrawingError.
    * NaN or infinite values, negative values, a wrong number of dimensions or channels ->
      DrawingError with a message that says what to change.
"""
from dataclasses import dataclass
import math

import numpy as np

from .errors import DrawingError
from .resample import (  # noqa: F401  (resize_area, stroke_width: re-exported for callers)
    SUPERSAMPLE, _bounding_box, _center_of_mass, _gaussian_blur, _normalize_stroke, _resample, resize_area, stroke_width)

FIELD = 28                       # MNIST images are 28 x 28
MNIST_CENTER = 14.0              # where MNIST puts the centre of mass (row and column, pixel index)
MAX_PIXELS = 100_000_000         # 10,000 x 10,000; beyond this an image is refused
WORK_SIDE = 1024                 # larger images are block-averaged down below this side first
MAX_INK_COVERAGE = 0.9           # a canvas inked on more than this fraction has no digit shape
# Beyond the input array, preprocessing any image uses at most about this much: a few tiles of
# _CHUNK_PIXELS float32 temporaries (~16 MB each) plus the reduced image (<= 1024 x 1024 float32,
# 4 MB, a few copies). tests/test_upload_memory.py holds it to that under a memory limit.
WORKING_BYTES = 64 * 2**20
_CHUNK_PIXELS = 1_000_000        # pixels converted to float at a time when reducing a huge image:
                                 # ~16 MB of float32 temporaries per tile, whatever the image's shape


@dataclass(frozen=True)
class PreprocessOptions:
    """Which steps run, and their parameters. Every step can be switched off for the Draw page.

    crop              crop to the bounding box of the ink (else the whole image is fitted)
    fit_box           fit the longest side into ``box_size`` pixels keeping the aspect ratio
                      (else: stretch the image to fill 28 x 28, the naive resize)
    center_of_mass    place the centre of mass at (14, 14) like MNIST (else: centre the box)
    subpixel          shift by fractions of a pixel (else whole pixels, exactly like MNIST)
    normalize_stroke  thicken or thin the strokes to ``stroke_width`` pixels (MNIST median: 2.5)
    blur              Gaussian sigma in output pixels; 0 turns it off
    stretch_contrast  scale so the brightest pixel is 1, as in every MNIST image
    noise_threshold   ink below this (0..1) is treated as paper texture or noise
    """
    crop: bool = True
    fit_box: bool = True
    center_of_mass: bool = True
    subpixel: bool = False
    normalize_stroke: bool = True
    blur: float = 0.0
    stretch_contrast: bool = True
    box_size: int = 20
    stroke_width: float = 2.5
    noise_threshold: float = 0.1

    def __post_init__(self):
        if not 4 <= self.box_size <= FIELD:
            raise DrawingError(f"box_size must be between 4 and {FIELD} pixels; got {self.box_size}.")
        if not 0.5 <= self.stroke_width <= 6:
            raise DrawingError(f"stroke_width must be between 0.5 and 6 pixels; got {self.stroke_width}.")
        if not 0 <= self.blur <= 3:
            raise DrawingError(f"blur must be a sigma between 0 and 3 pixels; got {self.blur}.")
        if not 0 <= self.noise_threshold < 1:
            raise DrawingError(f"noise_threshold must be in [0, 1); got {self.noise_threshold}.")


# Fashion-MNIST's pictures were made differently (Xiao, Rasul and Vollgraf, 2017): each product
# photo was trimmed, its longest side scaled to all 28 pixels, and the picture centred by its box;
# there is no pen stroke to even out. ``python -m benchmarks.fidelity.fashion --n 2000`` (test
# pictures enlarged 6-9x onto a 280 x 280 canvas at random places, shipped Fashion model: 90.6% on
# the originals): MNIST's steps 36.4%; 28-px box and centre of mass 74.2%; 28-px box centred by its
# box 76.2%; and also without stroke normalisation 89.7% (the steps below).
DATASET_OPTIONS = {
    "mnist": PreprocessOptions(),
    "fashion-mnist": PreprocessOptions(box_size=FIELD, center_of_mass=False, normalize_stroke=False),
}


def options_for(dataset):
    """The preprocessing that matches how ``dataset``'s images were made (MNIST's by default)."""
    return DATASET_OPTIONS.get(dataset, PreprocessOptions())


@dataclass(frozen=True)
class Preprocessed:
    pixels: np.ndarray                          # (784,) float32 in [0, 1], white digit on black
    steps: tuple                                # ((title, 2-D float32 image), ...) for display
    empty: bool                                 # no ink: show an invitation, not a guess

    @property
    def image(self):
        """The result as a (28, 28) image."""
        return self.pixels.reshape(FIELD, FIELD)


def _empty(steps=()):
    return Preprocessed(np.zeros(FIELD * FIELD, np.float32), tuple(steps), True)


# --------------------------------------------------------------------------- input -> ink image

def _as_array(image, what):
    if image is None:
        return None
    try:
        arr = np.asarray(image)
    except Exception as e:                                  # ragged lists and the like
        raise DrawingError(f"The {what} could not be read as an array of pixels ({e}).") from None
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DrawingError(f"The {what} must hold numbers (pixel values); it holds {arr.dtype}.")
    if arr.ndim not in (2, 3):
        raise DrawingError(f"The {what} must be a 2-D grayscale or 3-D colour image (height, width"
                           f"[, channels]); it has {arr.ndim} dimension(s), shape {arr.shape}.")
    if arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4):
        raise DrawingError(f"The {what} has {arr.shape[2]} channels; use 1 (gray), 2 (gray + alpha), "
                           f"3 (RGB) or 4 (RGBA). Shape {arr.shape} may have its axes swapped.")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise DrawingError(f"The {what} is {arr.shape[1]:,} x {arr.shape[0]:,} pixels; at most "
                           f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted. Scale it down first.")
    return arr


def tiles(H, W, k=1, pixels=None):
    """(r0, r1, c0, c1) tiles covering an H x W image in reading order. Each side is a multiple of
    ``k`` (but at the image's edges), so k x k blocks never straddle two tiles, and a tile holds
    about ``pixels`` pixels (at least one k x k block): memory per tile is bounded whatever the
    image's shape, a 1 x 100,000,000 strip as much as a 10,000 x 10,000 square."""
    pixels = pixels or _CHUNK_PIXELS
    cols = min(W, k * max(1, pixels // (k * min(H, k))))          # whole blocks across
    rows = min(H, k * max(1, pixels // (k * cols)))               # whole blocks down
    for r0 in range(0, H, rows):
        for c0 in range(0, W, cols):
            yield r0, min(H, r0 + rows), c0, min(W, c0 + cols)


def _value_scale(arr, what):
    """Divisor that maps the values to [0, 1]; checks for NaN and out-of-range values."""
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint8:
            return 255.0
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0:
            raise DrawingError(f"The {what} has negative pixel values ({lo}); pixels go from 0 up.")
        if arr.dtype == np.uint16 and hi > 255:
            return 65535.0
        return 255.0 if hi > 1 else 1.0
    lo = hi = 0.0
    H, W = arr.shape[:2]
    per_pixel = arr[:1, :1].size                                     # channels
    for r0, r1, c0, c1 in tiles(H, W, 1, max(1, _CHUNK_PIXELS // per_pixel)):
        part = arr[r0:r1, c0:c1]
        if not np.isfinite(part).all():
            raise DrawingError(f"The {what} contains NaN or infinite values; every pixel must be a "
                               f"number between 0 and 1 (or 0 and 255).")
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    if lo < 0 or hi > 255:
        raise DrawingError(f"The {what} has pixel values from {lo:g} to {hi:g}; they must be between "
                           f"0 and 1 (or 0 and 255).")
    return 255.0 if hi > 1.0 else 1.0


def _gray_and_alpha(block, scale, colour):
    """(gray premultiplied by alpha, alpha or None) in float32 for a (h, W[, C]) block."""
    channels = 1 if block.ndim == 2 else block.shape[2]
    if channels in (1, 2) or block.ndim == 2:
        gray = block if block.ndim == 2 else block[..., 0]
    elif colour == "max":                                   # canvas: white or coloured strokes
        # np.maximum on channel slices is ~10x faster than .max(axis=2) on a short last axis.
        gray = np.maximum(np.maximum(block[..., 0], block[..., 1]), block[..., 2])
    else:                                                   # photo: perceived brightness
        gray = (0.299 * block[..., 0].astype(np.float32) + 0.587 * block[..., 1]
                + 0.114 * block[..., 2])
    gray = gray.astype(np.float32) * np.float32(1.0 / scale)
    if channels in (2, 4):
        alpha = block[..., -1]
        if alpha.min() * np.float32(1.0 / scale) >= 0.999:          # opaque everywhere: ignore it
            return gray, None
        alpha = alpha.astype(np.float32) * np.float32(1.0 / scale)
        return gray * alpha, alpha
    return gray, None


def _reduce(arr, what, colour):
    """Input array -> (premultiplied gray, alpha or None) at most WORK_SIDE on a side.

    Huge images are block-averaged tile by tile (``tiles``), so the memory used beyond the input
    is a few tiles of ``_CHUNK_PIXELS`` floats plus the result, whatever the image's shape.
    Averaging the premultiplied gray and the alpha separately keeps compositing exact.
    """
    scale = _value_scale(arr, what)
    H, W = arr.shape[:2]
    k = max(1, math.ceil(max(H, W) / WORK_SIDE))
    if k == 1:
        return _gray_and_alpha(arr, scale, colour)
    h, w = math.ceil(H / k), math.ceil(W / k)
    gray = np.zeros((h, w), np.float32)
    alpha = None
    per_pixel = arr[:1, :1].size
    for r0, r1, c0, c1 in tiles(H, W, k, max(1, _CHUNK_PIXELS // per_pixel)):
        g, a = _gray_and_alpha(arr[r0:r1, c0:c1], scale, colour)
        rows, cols = slice(r0 // k, math.ceil(r1 / k)), slice(c0 // k, math.ceil(c1 / k))
        gray[rows, cols] = block_mean(g, k)
        if a is not None:
            if alpha is None:
                alpha = np.ones((h, w), np.float32)               # the tiles so far were opaque
            alpha[rows, cols] = block_mean(a, k)
    return gray, alpha


def block_mean(x, k):
    """(h, w) -> (ceil(h / k), ceil(w / k)): the mean of each k x k block; a partial block at the
    right or bottom edge is the mean of the pixels it has. Sums with ``np.add.reduceat``, so it
    never pads: padding a 1 x W strip (or an H x 1 one) to whole blocks would cost k times it."""
    h, w = x.shape
    sums = np.add.reduceat(x, np.arange(0, w, k), axis=1, dtype=np.float32)   # (h, ceil(w / k))
    sums = np.add.reduceat(sums, np.arange(0, h, k), axis=0)                  # (ceil(h / k), ...)
    rows = np.full(sums.shape[0], k, np.float32)
    rows[-1] = h - (sums.shape[0] - 1) * k
    cols = np.full(sums.shape[1], k, np.float32)
    cols[-1] = w - (sums.shape[1] - 1) * k
    return sums / np.outer(rows, cols)


def _remove_noise(ink, threshold):
    if threshold <= 0:
        return ink
    return np.clip((ink - threshold) / (1 - threshold), 0, 1, dtype=np.float32)


# --------------------------------------------------------------------------- the pipeline

def _pipeline(ink, options, steps):
    """ink: (H, W) float32 in [0, 1], noise removed and not empty -> Preprocessed."""
    coverage = float((ink > 0.5).mean())
    if coverage > MAX_INK_COVERAGE:
        raise DrawingError(f"{coverage:.0%} of the image is ink, so there is no digit shape to read. "
                           f"Clear the canvas (or use a picture with a digit on plain paper) and draw "
                           f"one digit.")
    img = ink
    if options.crop:
        y0, y1, x0, x1 = _bounding_box(ink > 0)
        img = ink[y0:y1, x0:x1]
        steps.append(("Cropped to the ink", img))
    if options.normalize_stroke:
        box = options.box_size if options.fit_box else FIELD
        img = _normalize_stroke(img, options.stroke_width, box * SUPERSAMPLE)
        nz = img > 1e-3
        if options.crop and nz.any():
            y0, y1, x0, x1 = _bounding_box(nz)
            img = img[y0:y1, x0:x1]
        steps.append((f"Strokes {options.stroke_width:g} px wide", img))
    h, w = img.shape
    if options.fit_box:
        step = max(h, w) / options.box_size                        # input pixels per output pixel
        box_h, box_w = h / step, w / step                          # the digit's size in output pixels
        # Where the box-centred digit starts, in output pixels.
        top, left = (FIELD - box_h) / 2, (FIELD - box_w) / 2
        fitted = _resample(img, (FIELD, FIELD), (step, step), (-top * step, -left * step))
        steps.append((f"Fitted to {options.box_size} px, aspect kept", fitted))
        if options.center_of_mass:
            cy, cx = _center_of_mass(img)                          # input pixel index
            # An input pixel index i lands at output coordinate (i + 0.5) / step - 0.5 + top.
            top = MNIST_CENTER - ((cy + 0.5) / step - 0.5)
            left = MNIST_CENTER - ((cx + 0.5) / step - 0.5)
            if not options.subpixel:
                top, left = round(top), round(left)
            # Never push ink out of the field.
            top = min(max(top, 0.0), FIELD - box_h)
            left = min(max(left, 0.0), FIELD - box_w)
            out = _resample(img, (FIELD, FIELD), (step, step), (-top * step, -left * step))
            steps.append(("Centre of mass at (14, 14)", out))
        else:
            out = fitted
    else:
        out = resize_area(img, (FIELD, FIELD))
        steps.append(("Stretched to 28 x 28", out))
    if options.blur > 0:
        out = _gaussian_blur(out, options.blur)
        steps.append((f"Blurred (sigma {options.blur:g})", out))
    peak = float(out.max())
    if peak <= 0:
        return _empty(steps)
    if options.stretch_contrast:
        out = out / peak
    else:
        out = np.minimum(out, 1.0)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    steps.append(("Model input (28 x 28)", out))
    return Preprocessed(out.reshape(-1), tuple(steps), False)


def preprocess_canvas(rgba, options=PreprocessOptions()):
    """A canvas drawing (white strokes on black) -> Preprocessed.

    rgba: (H, W, 4) or (H, W, 3) (or (H, W)) array, uint8 0..255 or float 0..1 (0..255 accepted).
    Ink is the brightest of R, G, B times alpha, so any stroke colour on black or on a transparent
    background works. None, a zero-size array or a canvas without ink -> empty=True.
    Raises DrawingError for NaN, a wrong shape, or a canvas that is ink almost everywhere.
    """
    arr = _as_array(rgba, "canvas drawing")
    if arr is None or arr.size == 0:
        return _empty()
    premult, _ = _reduce(arr, "canvas drawing", colour="max")    # composited over black
    ink = _remove_noise(premult, options.noise_threshold)
    steps = [("Ink", ink)]
    if not ink.any():
        return _empty(steps)
    return _pipeline(ink, options, steps)


def preprocess_image(image_array, options=PreprocessOptions()):
    """An uploaded picture, decoded to an array, -> Preprocessed.

    image_array: (H, W) grayscale or (H, W, C) with C = 1, 2, 3 or 4, any size up to MAX_PIXELS,
    uint8/uint16 or float. Dark ink on light paper is inverted: the paper colour is the median of
    the border pixels. Transparent areas count as paper (of the colour opposite to the opaque
    pixels). The paper level is subtracted and faint noise removed, then the canvas pipeline runs.
    A picture of one colour (including 1 x 1) -> empty=True.
    """
    arr = _as_array(image_array, "image")
    if arr is None or arr.size == 0:
        return _empty()
    premult, alpha = _reduce(arr, "image", colour="luminance")
    gray = premult
    if alpha is not None and float(alpha.min()) < 0.99:
        opaque = float(alpha.sum())
        content = float(premult.sum()) / opaque if opaque > 0 else 0.0
        paper = 1.0 if content < 0.5 else 0.0                      # opposite of what is drawn
        gray = premult + (1.0 - alpha) * np.float32(paper)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    steps = [("Image (gray)", gray)]
    if background > 0.5:                                           # dark ink on light paper
        gray = 1.0 - gray
        background = 1.0 - background
    peak = float(gray.max())
    if peak - background < 0.1:                                    # one colour: blank paper
        return _empty(steps)
    ink = np.clip((gray - background) / (peak - background), 0, 1).astype(np.float32)
    ink = _remove_noise(ink, options.noise_threshold)
    steps.append(("Ink", ink))
    if not ink.any():
        return _empty(steps)
    return _pipeline(ink, options, steps)
