"""A visitor's hand, measured from their drawings, and dataset images redrawn in it.

Ten drawings of each digit show how a person writes, but not the thousand ways anyone writes a
3. The dataset has those. So teaching also shows the network dataset images *redrawn in the
visitor's hand*: the affine map that gives the dataset's digits the shape of the visitor's
(their spread: width, height, lean, tilt), applied to dataset images. The map is measured, not
set: nothing here knows of any particular style.

    hand = HandStyle.measure(X_drawings, y_drawings, X_train, y_train)   # (10, 2, 2) maps
    X_styled = hand.redraw(X_batch, y_batch, rng)                        # (B, 784)

Shape of a set of images of one class: the mean over its images of each image's ink covariance,
a 2 x 2 matrix C (x right, y down, about its centre of mass). The hand is one affine map A (a
turn, a squeeze, a slant) that takes each class's dataset covariance C_m to the visitor's C_d,
A C_m A^T ~ C_d, fitted over all the classes drawn at once (``hand_map``): one class's spread
cannot tell a turn from a squeeze, ten together can.
"""
from dataclasses import dataclass

import numpy as np

from .augment import SIDE, warp

_Y, _X = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
_COORDS = np.stack([_X.reshape(-1), _Y.reshape(-1)], axis=1)        # (784, 2) (x, y)
SAMPLE_PER_CLASS = 200          # dataset images per class measured (enough for a mean shape)
MAX_STRETCH = 1.8               # no axis of a map stretches or shrinks more than this
RIDGE = 0.05                    # pull of the fitted map towards the identity
GAUSS_NEWTON_STEPS = 40         # per starting turn (the fit of 10 classes settles in ~15)


def ink_covariances(X):
    """(N, 2, 2) covariance of each image's ink about its centre of mass (x, y), X (N, 784)."""
    W = np.clip(np.asarray(X, np.float64), 0, None)
    W = W - W.min(axis=1, keepdims=True)                 # paper is 0 in either scaling
    mass = np.maximum(W.sum(axis=1, keepdims=True), 1e-9)
    mean = W @ _COORDS / mass                            # (N, 2)
    second = np.einsum("np,pi,pj->nij", W, _COORDS, _COORDS) / mass[:, :, None]
    return second - mean[:, :, None] * mean[:, None, :]


def _sqrt_spd(C, power):
    values, vectors = np.linalg.eigh(C)
    values = np.maximum(values, 1e-6) ** power
    return (vectors * values) @ vectors.T


def _rotation(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def hand_map(C_from, C_to, ridge=RIDGE):
    """(2, 2) A with A C_from[k] A^T close to C_to[k] for every class k at once (C_from, C_to
    (K, 2, 2)): one hand for all digits, as a person's lean, squeeze and turn are the same
    whatever they write. A = R(theta) [[a, b], [0, c]] (a turn of a squeeze and a slant) is
    fitted by damped Gauss-Newton from turns of -60 to 60 degrees, on the errors relative to
    each class's spread, with a small pull towards the identity (``ridge``) so that a class or
    two still give one answer; stretches capped at MAX_STRETCH.

    One map rather than one per class: a round 0 or 8 has nearly the same spread turned or not,
    so per class a turned hand was read as a squeeze of most digits (measured on real digits
    turned 30 degrees: per class only the 1 and the 8 came out turned; together, -28 degrees)."""
    C_from, C_to = np.asarray(C_from, np.float64), np.asarray(C_to, np.float64)
    scale = np.linalg.norm(C_to.reshape(len(C_to), -1), axis=1)[:, None]      # (K, 1)
    identity = np.array([0.0, 1.0, 0.0, 1.0])

    def matrix(p):
        return _rotation(p[0]) @ np.array([[p[1], p[2]], [0.0, p[3]]])

    def errors(p):
        A = matrix(p)
        M = np.einsum("ij,kjl,ml->kim", A, C_from, A) - C_to                   # (K, 2, 2)
        return np.concatenate([(M.reshape(-1, 4)[:, [0, 1, 3]] / scale).ravel(),
                               ridge * (p - identity)])

    best, best_cost = identity, np.inf
    for turn in np.deg2rad(np.arange(-60, 61, 15)):
        p = np.array([turn, 1.0, 0.0, 1.0])
        r = errors(p)
        cost, damping = r @ r, 1e-2
        for _ in range(GAUSS_NEWTON_STEPS):
            J = np.stack([(errors(p + e) - r) / 1e-6 for e in np.eye(4) * 1e-6], axis=1)
            step = np.linalg.solve(J.T @ J + damping * np.eye(4), -J.T @ r)
            r_new = errors(p + step)
            if r_new @ r_new < cost:
                p, r, cost, damping = p + step, r_new, r_new @ r_new, damping / 3
            else:
                damping *= 4
        if cost < best_cost:
            best, best_cost = p, cost
    U, s, Vt = np.linalg.svd(matrix(best))
    return (U * np.clip(s, 1 / MAX_STRETCH, MAX_STRETCH)) @ Vt


@dataclass(frozen=True)
class HandStyle:
    """Per class, the (2, 2) map (x, y) that redraws dataset images in the visitor's hand (the
    same for every class when measured; the identity when there is nothing to measure)."""
    maps: np.ndarray                                     # (classes, 2, 2)

    @classmethod
    def measure(cls, X_drawings, y_drawings, X_data, y_data, classes=10, rng=None):
        """From the drawings (n, 784) and the dataset (N, 784), labels 0..classes-1: one map
        (``hand_map``) fitted on the classes drawn, used for every class."""
        rng = np.random.default_rng(0) if rng is None else rng
        y_drawings, y_data = np.asarray(y_drawings), np.asarray(y_data)
        mine, theirs = [], []
        for k in range(classes):
            drawn = np.flatnonzero(y_drawings == k)
            known = np.flatnonzero(y_data == k)
            if drawn.size == 0 or known.size == 0:
                continue
            known = rng.choice(known, min(SAMPLE_PER_CLASS, known.size), replace=False)
            theirs.append(ink_covariances(X_data[known]).mean(axis=0))
            mine.append(ink_covariances(X_drawings[drawn]).mean(axis=0))
        A = hand_map(np.stack(theirs), np.stack(mine)) if mine else np.eye(2)
        return cls(np.tile(A, (classes, 1, 1)))

    def redraw(self, X, y, rng=None, amount=(1.0, 1.0)):
        """X (B, 784) images of classes y (B,) warped by their class's map, about the centre.
        ``amount``: each image gets a random share of its map in this range (1: all of it)."""
        t = np.ones(len(y)) if amount == (1.0, 1.0) else rng.uniform(*amount, len(y))
        A = np.eye(2) + t[:, None, None] * (self.maps[np.asarray(y)] - np.eye(2))   # (B, 2, 2)
        inverse = np.linalg.inv(A)
        return warp(X, inverse, np.zeros((len(y), 2)), X.min() if X.size else 0.0)
