"""Class dreams: for each class, a picture the network scores very highly for it.

Gradient ascent on log p(class), from a plain grey image, pixels kept in [0, 1]. Left alone, the
ascent finds salt-and-pepper patterns no person would read as a digit (a network can be sure of
those); three regularisers keep the pictures readable:

    L2        a pull of every pixel towards black (no ink), so only ink that earns its place stays
    blur      each step's gradient is blurred (Gaussian), so ink is added as strokes
    jitter    each step looks at the picture shifted by a few pixels at random, so the ink must
              work wherever it lands, as a digit's strokes do (Yosinski et al. 2015)

All ten classes ascend together, as one batch of 10 rows. The BLAS is pinned to one thread while
they do (core.blas: two threads are many times slower for these small products on a shared
2-core machine).

    class_dreams(model, rng, ...) -> (K, 784) pixels in [0, 1], row k for class k
"""
import numpy as np

from . import blas
from .explain import square_side, input_gradient, smooth

STEPS = 300
LEARNING_RATE = 0.05     # the largest change of a pixel per step
L2 = 0.5                 # pull towards black, relative to the step
BLUR = 1.5               # Gaussian sigma (pixels) of each step's gradient
JITTER = 3               # random shifts of up to 3 pixels each way
START = 0.5              # the grey the dreams start from


def class_dreams(model, rng, classes=None, steps=STEPS, learning_rate=LEARNING_RATE, l2=L2,
                 blur=BLUR, jitter=JITTER, start=START, scaling="unit"):
    """(len(classes), D) pixels in [0, 1]: row i is the dream of ``classes[i]`` (default: every
    class). ``rng`` (a np.random.Generator) draws the jitter, so the same seed gives the same
    dreams. Blur and jitter need square pictures (D = side * side); otherwise they are skipped.

    Each step: x <- clip(x + learning_rate * (g / max|g| - l2 * x), 0, 1), with g the blurred
    gradient of log p(class) at x shifted by the jitter (and shifted back)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("class_dreams needs a random generator for its jitter: pass "
                        f"rng=np.random.default_rng(seed) (got {type(rng).__name__}).")
    classes = np.arange(model.config.output_size) if classes is None else np.asarray(classes)
    size = model.config.input_size
    side = square_side(size)
    X = np.full((classes.size, size), start, dtype=model.dtype)               # (K, D)
    with blas.threads(blas.training_threads()):
        for _ in range(steps):
            dy, dx = rng.integers(-jitter, jitter + 1, 2) if jitter and side else (0, 0)
            shifted = _roll(X, side, dy, dx)
            _, grad = input_gradient(model, shifted, classes, "log_prob", scaling)
            grad = smooth(_roll(grad, side, -dy, -dx), blur)
            grad /= np.abs(grad).max(axis=1, keepdims=True) + np.finfo(grad.dtype).tiny
            X += learning_rate * (grad - l2 * X)
            np.clip(X, 0, 1, out=X)
    return X


def _roll(X, side, dy, dx):
    """Rows of X (N, side*side) shifted by (dy, dx) pixels, wrapping around."""
    if not side or (dy == 0 and dx == 0):
        return X
    return np.roll(X.reshape(-1, side, side), (int(dy), int(dx)), axis=(1, 2)).reshape(X.shape)
