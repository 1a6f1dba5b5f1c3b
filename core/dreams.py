"""Class dreams: for each class, a picture the network scores very highly for it.

Gradient ascent on log p(class), pixels kept in [0, 1]. Left alone, the ascent finds salt-and-pepper
patterns no person would read as a digit (a network can be sure of those); three regularisers keep
the pictures readable:

    prior     start from a picture of the class (the mean of its training images: ``class_means``)
              and pull every pixel back towards it (L2), so the dream is the class as the network
              would have it, not any pattern it happens to score highly; without a prior the
              ascent starts from plain grey and the pull is towards black (no ink)
    blur      each step's gradient is blurred (Gaussian), so ink is added as strokes
    jitter    each step looks at the picture shifted by a few pixels at random, so the ink must
              work wherever it lands, as a digit's strokes do (Yosinski et al. 2015)

All ten classes ascend together, as one batch of 10 rows. The BLAS is pinned to one thread while
they do (core.blas: two threads are many times slower for these small products on a shared
2-core machine). With the shipped models, the ten dreams take about 0.2-0.3 s.

    class_means(images, labels, K) -> (K, D) the mean training image of each class, in [0, 1]
    class_dreams(model, rng, prior=means) -> (K, D) pixels in [0, 1], row k for class k
"""
import numpy as np

from . import blas
from .explain import square_side, input_gradient, smooth

STEPS = 300              # from grey
PRIOR_STEPS = 150        # from the class average: it starts close
LEARNING_RATE = 0.05     # the largest change of a pixel per step
L2 = 0.5                 # pull towards black (from grey), relative to the step
PRIOR_L2 = 1.0           # pull back towards the prior, relative to the step
BLUR = 1.5               # Gaussian sigma (pixels) of each step's gradient
JITTER = 3               # random shifts of up to 3 pixels each way
START = 0.5              # the grey the dreams start from


def class_dreams(model, rng, classes=None, steps=None, learning_rate=LEARNING_RATE, l2=None,
                 blur=BLUR, jitter=JITTER, start=START, scaling="unit", prior=None):
    """(len(classes), D) pixels in [0, 1]: row i is the dream of ``classes[i]`` (default: every
    class). ``rng`` (a np.random.Generator) draws the jitter, so the same seed gives the same
    dreams. Blur and jitter need square pictures (D = side * side); otherwise they are skipped.
    ``prior``: (K, D) a picture of every class in [0, 1] (``class_means``), the start and the
    anchor of the L2 pull; None starts from grey ``start`` and pulls towards black. ``steps`` and
    ``l2`` default to PRIOR_STEPS and PRIOR_L2 with a prior, STEPS and L2 without.

    Each step: x <- clip(x + learning_rate * (g / max|g| - l2 * (x - anchor)), 0, 1), with g the
    blurred gradient of log p(class) at x shifted by the jitter (and shifted back)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("class_dreams needs a random generator for its jitter: pass "
                        f"rng=np.random.default_rng(seed) (got {type(rng).__name__}).")
    classes = np.arange(model.config.output_size) if classes is None else np.asarray(classes)
    size = model.config.input_size
    side = square_side(size)
    steps = (STEPS if prior is None else PRIOR_STEPS) if steps is None else steps
    l2 = (L2 if prior is None else PRIOR_L2) if l2 is None else l2
    if prior is None:
        anchor = np.zeros((classes.size, size), dtype=model.dtype)
        X = np.full((classes.size, size), start, dtype=model.dtype)           # (K, D)
    else:
        prior = np.asarray(prior, dtype=model.dtype)
        if prior.ndim != 2 or prior.shape[1] != size or prior.shape[0] <= classes.max():
            raise ValueError(f"The prior must hold a picture of {size} pixels for every class "
                             f"(got shape {prior.shape}).")
        anchor = prior[classes]                                               # (K, D)
        X = anchor.copy()
    with blas.threads(blas.training_threads()):
        for _ in range(steps):
            dy, dx = rng.integers(-jitter, jitter + 1, 2) if jitter and side else (0, 0)
            shifted = _roll(X, side, dy, dx)
            _, grad = input_gradient(model, shifted, classes, "log_prob", scaling)
            grad = smooth(_roll(grad, side, -dy, -dx), blur)
            grad /= np.abs(grad).max(axis=1, keepdims=True) + np.finfo(grad.dtype).tiny
            X += learning_rate * (grad - l2 * (X - anchor))
            np.clip(X, 0, 1, out=X)
    return X


def class_means(images, labels, classes):
    """(classes, D) float32 in [0, 1]: the mean of the ``images`` (N, D) (uint8 in 0-255, or floats
    in [0, 1]) of each class in ``labels`` (N,); a class with no image gets plain black."""
    images = np.asarray(images)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    labels = np.asarray(labels)
    means = np.zeros((classes, images.shape[1]), np.float32)
    for k in range(classes):
        members = images[labels == k]
        if len(members):
            means[k] = members.mean(axis=0, dtype=np.float64) / scale
    return means


def _roll(X, side, dy, dx):
    """Rows of X (N, side*side) shifted by (dy, dx) pixels, wrapping around."""
    if not side or (dy == 0 and dx == 0):
        return X
    return np.roll(X.reshape(-1, side, side), (int(dy), int(dx)), axis=(1, 2)).reshape(X.shape)
