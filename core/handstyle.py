"""A visitor's hand, measured from their drawings, and dataset images redrawn in it.

Ten drawings of each digit show how a person writes, but not the thousand ways anyone writes a
3. The dataset has those. So teaching also shows the network dataset images *redrawn in the
visitor's hand*: for each class, the affine map that gives the dataset's images of that class the
shape of the visitor's (their spread: width, height, lean, tilt), applied to dataset images of
that class. The map is measured, not set: nothing here knows of any particular style.

    hand = HandStyle.measure(X_drawings, y_drawings, X_train, y_train)   # (10, 2, 2) maps
    X_styled = hand.redraw(X_batch, y_batch, rng)                        # (B, 784)

Shape of a set of images, per class: the mean over its images of each image's ink covariance,
a 2 x 2 matrix C (x right, y down, about its centre of mass). A map A = C_d^(1/2) R C_m^(-1/2)
(R a rotation) takes images with covariance C_m to covariance C_d; ``shape_map`` picks the R
that distorts least: a turn for a tilted hand, a squeeze for narrow writing, a shear for a
slant.
"""
from dataclasses import dataclass

import numpy as np

from .augment import SIDE, warp

_Y, _X = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
_COORDS = np.stack([_X.reshape(-1), _Y.reshape(-1)], axis=1)        # (784, 2) (x, y)
SAMPLE_PER_CLASS = 200          # dataset images per class measured (enough for a mean shape)
MAX_STRETCH = 1.8               # no axis of a map stretches or shrinks more than this
TURNS = np.deg2rad(np.arange(-60, 61, 2.5))   # the turns a map may include
TURN_COST = 1.0                 # per radian of turn, against the log of the stretch ratio


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


def shape_map(C_from, C_to):
    """(2, 2) A with A C_from A^T = C_to: of all such maps C_to^(1/2) R C_from^(-1/2) (R a
    rotation), the one that distorts least (the smallest ratio of its stretches, a little less
    turn breaking ties), so a tilted 1 is turned rather than smeared; stretches capped."""
    to_half, from_minus_half = _sqrt_spd(C_to, 0.5), _sqrt_spd(C_from, -0.5)
    best, best_cost = None, np.inf
    for theta in TURNS:
        A = to_half @ _rotation(theta) @ from_minus_half
        s = np.linalg.svd(A, compute_uv=False)
        cost = np.log(s[0] / max(s[1], 1e-9)) + TURN_COST * abs(theta)
        if cost < best_cost:
            best, best_cost = A, cost
    U, s, Vt = np.linalg.svd(best)
    return (U * np.clip(s, 1 / MAX_STRETCH, MAX_STRETCH)) @ Vt


@dataclass(frozen=True)
class HandStyle:
    """Per class, the (2, 2) map (x, y) that redraws dataset images in the visitor's hand
    (the identity for a class they did not draw)."""
    maps: np.ndarray                                     # (classes, 2, 2)

    @classmethod
    def measure(cls, X_drawings, y_drawings, X_data, y_data, classes=10, rng=None):
        """From the drawings (n, 784) and the dataset (N, 784), labels 0..classes-1."""
        rng = np.random.default_rng(0) if rng is None else rng
        y_drawings, y_data = np.asarray(y_drawings), np.asarray(y_data)
        maps = np.tile(np.eye(2), (classes, 1, 1))
        for k in range(classes):
            mine = np.flatnonzero(y_drawings == k)
            theirs = np.flatnonzero(y_data == k)
            if mine.size == 0 or theirs.size == 0:
                continue
            theirs = rng.choice(theirs, min(SAMPLE_PER_CLASS, theirs.size), replace=False)
            maps[k] = shape_map(ink_covariances(X_data[theirs]).mean(axis=0),
                                ink_covariances(X_drawings[mine]).mean(axis=0))
        return cls(maps)

    def redraw(self, X, y, rng=None, amount=(1.0, 1.0)):
        """X (B, 784) images of classes y (B,) warped by their class's map, about the centre.
        ``amount``: each image gets a random share of its map in this range (1: all of it)."""
        t = np.ones(len(y)) if amount == (1.0, 1.0) else rng.uniform(*amount, len(y))
        A = np.eye(2) + t[:, None, None] * (self.maps[np.asarray(y)] - np.eye(2))   # (B, 2, 2)
        inverse = np.linalg.inv(A)
        return warp(X, inverse, np.zeros((len(y), 2)), X.min() if X.size else 0.0)
