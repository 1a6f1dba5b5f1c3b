"""Random small distortions of 28 x 28 digit batches, so a model learns the digit, not the pixel.

Every image of a batch gets its own random affine map (shift, rotation, scaling, shear) and, with
some probability, thicker or thinner strokes. The whole batch is done at once: one set of sampling
coordinates per image, then bilinear sampling by gathering the four neighbours of every output
pixel; there is no Python loop over images. A batch of 128 takes about a millisecond.

    augment = AugmentConfig(rotate=10.0)
    X_aug = augment(X, rng)            # (N, 784) -> (N, 784), same dtype

Pixels that come from outside the image are paper: the smallest value of the batch (0 for pixels
in [0, 1], -1 for pixels in [-1, 1]); ink is the large values in both scalings.
"""
from dataclasses import dataclass, asdict

import numpy as np

from .errors import ConfigError

SIDE = 28
_CENTER = (SIDE - 1) / 2                       # rotate and scale about the middle of the field
_GRID_Y, _GRID_X = (g.reshape(-1) - _CENTER for g in np.mgrid[0:SIDE, 0:SIDE].astype(np.float32))


def _check(X):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != SIDE * SIDE:
        raise ConfigError(f"Augmentation works on (N, {SIDE * SIDE}) batches of 28 x 28 images; got "
                          f"shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.floating):
        raise ConfigError(f"Augmentation needs float pixels (scale them first); got {X.dtype}.")
    return X


def _neighbourhood(images, op, cross):
    """3 x 3 max/min filter (or plus-shaped when ``cross``) of (n, 28, 28) images."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    if cross:
        out = op(p[:, 1:-1, 1:-1], p[:, :-2, 1:-1])
        out = op(out, p[:, 2:, 1:-1])
        out = op(out, p[:, 1:-1, :-2])
        return op(out, p[:, 1:-1, 2:])
    rows = op(op(p[:, :-2], p[:, 1:-1]), p[:, 2:])                 # (n, 28, 30)
    return op(op(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])


def change_thickness(X, rng, probability):
    """With ``probability`` per image, thicken (3 x 3 max filter) or thin (plus-shaped min
    filter) the strokes, blended with the original by a random strength so changes stay gentle.
    X: (N, 784) -> new (N, 784) array."""
    n = X.shape[0]
    chosen = np.flatnonzero(rng.random(n) < probability)
    out = X.copy()
    if chosen.size == 0:
        return out
    thicken = rng.random(chosen.size) < 0.5
    # Thinning removes a whole pixel round a 2-3 px stroke, so it gets a lighter hand.
    strength = np.where(thicken, rng.uniform(0.3, 0.8, chosen.size),
                        rng.uniform(0.25, 0.6, chosen.size)).astype(X.dtype)[:, None, None]
    images = X[chosen].reshape(-1, SIDE, SIDE)
    changed = np.where(thicken[:, None, None],
                       _neighbourhood(images, np.maximum, cross=False),
                       _neighbourhood(images, np.minimum, cross=True))
    out[chosen] = (images + strength * (changed - images)).reshape(chosen.size, -1)
    return out


def random_affine(n, rng, shift, rotate, scale, shear):
    """(n, 2, 2) inverse matrices and (n, 2) shifts (row, column) of random affine maps."""
    angle = np.deg2rad(rng.uniform(-rotate, rotate, n))
    zoom = rng.uniform(1 - scale, 1 + scale, n)
    skew = rng.uniform(-shear, shear, n)
    offset = rng.uniform(-shift, shift, (n, 2))
    cos, sin = np.cos(angle), np.sin(angle)
    # Forward map in (x, y): rotation @ shear @ zoom. A = [[a, b], [c, d]].
    a = zoom * cos
    b = zoom * (cos * skew - sin)
    c = zoom * sin
    d = zoom * (sin * skew + cos)
    det = a * d - b * c                                             # zoom ** 2, never 0
    inverse = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[:, None, None]
    return inverse, offset


def warp(X, inverse, offset, fill):
    """Bilinear sampling of each image at its inverse-mapped grid.

    X: (N, 784); inverse: (N, 2, 2) mapping output (x, y) about the centre to input (x, y);
    offset: (N, 2) output shift (x, y) in pixels; fill: value outside the image."""
    n = X.shape[0]
    inverse = inverse.astype(np.float32)
    offset = offset.astype(np.float32)
    gx = _GRID_X[None, :] - offset[:, :1]                         # (N, 784)
    gy = _GRID_Y[None, :] - offset[:, 1:]
    # Input coordinates, +1 for the one pixel of paper padded all round.
    sx = inverse[:, 0, :1] * gx + inverse[:, 0, 1:] * gy + (_CENTER + 1)   # (N, 784) column
    sy = inverse[:, 1, :1] * gx + inverse[:, 1, 1:] * gy + (_CENTER + 1)   # (N, 784) row
    padded = np.full((n, SIDE + 2, SIDE + 2), fill, X.dtype)
    padded[:, 1:-1, 1:-1] = X.reshape(n, SIDE, SIDE)
    flat = padded.reshape(-1)                                      # (N * 900,)
    # Far-away coordinates land on the padding, which is paper.
    np.clip(sx, 0, SIDE, out=sx)
    np.clip(sy, 0, SIDE, out=sy)
    x0 = sx.astype(np.int32)
    y0 = sy.astype(np.int32)
    fx = (sx - x0).astype(X.dtype)
    fy = (sy - y0).astype(X.dtype)
    w = SIDE + 2
    base = (np.arange(n, dtype=np.int32) * (w * w))[:, None] + y0 * w + x0   # (N, 784) top-left
    top_left, top_right = flat[base], flat[base + 1]
    bottom_left, bottom_right = flat[base + w], flat[base + w + 1]
    top = top_left + fx * (top_right - top_left)
    bottom = bottom_left + fx * (bottom_right - bottom_left)
    return top + fy * (bottom - top)


def augment_batch(X, rng, *, shift=2.0, rotate=12.0, scale=0.1, shear=0.1, thickness=0.3):
    """A randomly distorted copy of a batch of 28 x 28 images.

    X: (N, 784) float pixels; rng: np.random.Generator.
    shift: up to this many pixels in x and in y; rotate: up to this many degrees either way;
    scale: zoom in [1 - scale, 1 + scale]; shear: x += shear * y, shear in [-shear, shear];
    thickness: probability that an image's strokes are made thicker or thinner.
    Returns (N, 784) of the same dtype, values within the range of X. All zero -> a plain copy.
    """
    X = _check(X)
    for name, value, upper in (("shift", shift, 10), ("rotate", rotate, 180), ("scale", scale, 0.9),
                               ("shear", shear, 1.0), ("thickness", thickness, 1.0)):
        if not (isinstance(value, (int, float)) and 0 <= value <= upper):
            raise ConfigError(f"Augmentation {name} must be a number from 0 to {upper}; got {value!r}.")
    if X.shape[0] == 0 or not (shift or rotate or scale or shear or thickness):
        return X.copy()
    lo, hi = X.min(), X.max()
    out = change_thickness(X, rng, thickness) if thickness else X
    if shift or rotate or scale or shear:
        inverse, offset = random_affine(X.shape[0], rng, shift, rotate, scale, shear)
        out = warp(out, inverse, offset, lo)
    out = np.clip(out, lo, hi, out=out if out is not X else None)
    return out.astype(X.dtype, copy=False)


@dataclass(frozen=True)
class AugmentConfig:
    """The knobs of ``augment_batch``, as a callable the trainer applies to every mini-batch."""
    shift: float = 2.0
    rotate: float = 12.0
    scale: float = 0.1
    shear: float = 0.1
    thickness: float = 0.3

    def __call__(self, X, rng):
        return augment_batch(X, rng, **asdict(self))

    def to_dict(self):
        return asdict(self)
