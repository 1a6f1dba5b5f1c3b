"""Image operations on ink images in [0, 1] that core.drawing's pipeline is built from.

    resize_area(img, out_shape)       exact box filtering (area averaging), as two small matrices:
                                      R_y @ img @ R_x.T; a shifted grid places a digit by its
                                      centre of mass at no cost in blur (_resample)
    stroke_width(img)                 the typical stroke width in pixels (ink area / skeleton)
    change_thickness(img, radius)     grey-level dilation or erosion with a square
    _normalize_stroke(img, width, box)  strokes brought to a width at the final resolution
    _gaussian_blur(img, sigma)        separable blur as two matrix products
"""
from functools import lru_cache
import math

import numpy as np

SUPERSAMPLE = 4                  # stroke widths are adjusted at 4x the final resolution

# --------------------------------------------------------------------------- resampling

@lru_cache(maxsize=512)
def _area_matrix(n_in, n_out, step, offset):
    """(n_out, n_in) box-filter matrix: output pixel j averages the input interval
    [offset + j * step, offset + (j + 1) * step); parts outside [0, n_in) are paper (zero).
    Also returns, per output row, the first and one-past-last input column it touches."""
    starts = offset + np.arange(n_out) * step                     # (n_out,)
    lo = np.maximum(starts[:, None], np.arange(n_in)[None, :])
    hi = np.minimum(starts[:, None] + step, np.arange(1, n_in + 1)[None, :])
    m = (np.clip(hi - lo, 0, None) / step).astype(np.float32)
    m[m < 1e-6] = 0                                                # rounding dust
    first = np.clip(np.floor(starts), 0, n_in).astype(int)
    last = np.clip(np.ceil(starts + step), 0, n_in).astype(int)
    for a in (m, first, last):
        a.setflags(write=False)
    return m, first, last


_SMALL_PRODUCT = 100_000      # multiply-adds below which OpenBLAS stays on one thread


def _banded_product(band, img):
    """``matrix @ img`` for a banded box-filter matrix, in blocks of rows that only touch the
    input rows they need. Same result as the full product, but each piece is small: it does less
    work and never wakes BLAS threads, which cost milliseconds on a busy machine."""
    matrix, first, last = band
    n_out, width = matrix.shape[0], img.shape[1]
    if n_out * matrix.shape[1] * width <= _SMALL_PRODUCT:
        return matrix @ img
    out = np.empty((n_out, width), np.float32)
    span = max(1, int(last[-1] - first[0]) // n_out + 2)           # input rows per output row
    rows = max(1, int(math.sqrt(_SMALL_PRODUCT / (width * span))))
    for i in range(0, n_out, rows):
        j = min(i + rows, n_out)
        lo, hi = first[i], max(first[i] + 1, last[i:j].max())
        out[i:j] = matrix[i:j, lo:hi] @ img[lo:hi]
    return out


def _resample(img, out_shape, step, offset):
    """Area-averaged resampling of ``img`` onto a grid of ``out_shape`` pixels of ``step`` input
    pixels each, the first starting at ``offset`` (per axis, in input pixels).
    Computes ``R_y @ img @ R_x.T`` with the two banded box-filter matrices."""
    ry = _area_matrix(img.shape[0], out_shape[0], float(step[0]), float(offset[0]))
    rx = _area_matrix(img.shape[1], out_shape[1], float(step[1]), float(offset[1]))
    tmp = _banded_product(ry, img)                                 # (out_h, w)
    return _banded_product(rx, tmp.T).T                            # (out_h, out_w)


def resize_area(img, out_shape):
    """Box-filter (area averaging) resize of a 2-D image to ``out_shape``, aspect not kept."""
    img = np.asarray(img, np.float32)
    step = (img.shape[0] / out_shape[0], img.shape[1] / out_shape[1])
    return _resample(img, out_shape, step, (0.0, 0.0))


def _bounding_box(ink):
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _center_of_mass(img):
    mass = img.sum(dtype=np.float64)
    cy = img.sum(axis=1, dtype=np.float64) @ np.arange(img.shape[0]) / mass
    cx = img.sum(axis=0, dtype=np.float64) @ np.arange(img.shape[1]) / mass
    return cy, cx


# --------------------------------------------------------------------------- stroke width

def stroke_width(img):
    """Estimated stroke width in pixels: 2 * area / outline length.

    The outline is the total variation of the image (soft edges count as one crossing), times
    pi / 4 because counting horizontal and vertical steps overestimates a curve's length by 4 / pi
    on average. MNIST test digits measure 1.8 / 2.5 / 3.9 pixels (5th / 50th / 95th percentile).
    """
    area = float(img.sum(dtype=np.float64))
    outline = float(np.abs(np.diff(img, axis=0)).sum(dtype=np.float64)
                    + np.abs(np.diff(img, axis=1)).sum(dtype=np.float64))
    return 8.0 * area / (math.pi * outline) if outline > 0 else 0.0


def _morph_step(img, op, square):
    """One 3 x 3 (square) or plus-shaped (cross) max/min filter; the border is paper."""
    p = np.pad(img, 1)
    if square:
        rows = op(op(p[:-2], p[1:-1]), p[2:])                      # (h, w + 2)
        return op(op(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    out = op(p[1:-1, 1:-1], p[:-2, 1:-1])
    out = op(out, p[2:, 1:-1])
    out = op(out, p[1:-1, :-2])
    return op(out, p[1:-1, 2:])


def change_thickness(img, radius):
    """Dilate (radius > 0) or erode (radius < 0) by a roughly round (octagonal) element of
    ``|radius|`` pixels; fractional radii blend the two nearest whole ones."""
    if radius == 0:
        return img
    op = np.maximum if radius > 0 else np.minimum
    whole, frac = divmod(abs(radius), 1.0)
    out = img
    for i in range(int(whole)):
        out = _morph_step(out, op, square=i % 2 == 1)             # cross, square, cross, ...
    if frac > 1e-3:
        nxt = _morph_step(out, op, square=int(whole) % 2 == 1)
        out = (1 - frac) * out + frac * nxt
    return out


def _normalize_stroke(img, target_width, box_pixels):
    """Resample ``img`` so its longest side is ``box_pixels`` (4x the final box), then thicken or
    thin its strokes so that, once fitted to the final box, they are ``target_width`` wide.
    Returns the image at the 4x resolution with a margin for the dilation."""
    long_side = max(img.shape)
    step = long_side / box_pixels
    margin = box_pixels // 4
    shape = (math.ceil(img.shape[0] / step) + 2 * margin, math.ceil(img.shape[1] / step) + 2 * margin)
    offset = ((img.shape[0] - (shape[0] - 2 * margin) * step) / 2 - margin * step,
              (img.shape[1] - (shape[1] - 2 * margin) * step) / 2 - margin * step)
    big = _resample(img, shape, (step, step), offset)
    width = stroke_width(big)
    if width <= 0:
        return big
    # Dilating by r grows the box from B to B + 2r, and fitting shrinks the strokes by B / (B + 2r):
    # solve (width + 2r) * final / (B + 2r) = target for r, with final = B / SUPERSAMPLE.
    target = target_width * SUPERSAMPLE                            # in pixels of the 4x image
    radius = (target - width) / (2 - 2 * target / box_pixels)
    radius = float(np.clip(radius, -(width - 1) / 2, margin - 1))  # never erase a stroke
    return change_thickness(big, radius)


@lru_cache(maxsize=16)
def _blur_matrix(n, sigma):
    """(n, n) banded Gaussian matrix; blurring is one product per axis, like the resampling."""
    offsets = np.arange(n)[:, None] - np.arange(n)[None, :]
    band = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= max(1, math.ceil(3 * sigma)))
    band = (band / band.sum(axis=1, keepdims=True)).astype(np.float32)
    band.setflags(write=False)
    return band


def _gaussian_blur(img, sigma):
    band = _blur_matrix(img.shape[0], float(sigma))
    return band @ img @ band.T
