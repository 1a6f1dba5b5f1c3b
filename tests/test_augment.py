"""core.augment: shapes, ranges, determinism and identity of the batch distortions."""
import numpy as np
import pytest

from core.augment import AugmentConfig, augment_batch, random_affine, warp
from core.errors import ConfigError


def digit_batch(n=64, seed=0):
    """Blurry strokes (bars and rings) in the middle of the field, like MNIST digits."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    X = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        cy, cx, r = rng.uniform(11, 17), rng.uniform(11, 17), rng.uniform(4, 8)
        ring = np.exp(-((np.hypot(yy - cy, xx - cx) - r) ** 2) / 2.0)
        bar = np.exp(-((xx - cx) ** 2) / 1.5) * (np.abs(yy - cy) < 9)
        X[i] = np.clip(ring if i % 2 else bar, 0, 1)
    return X.reshape(n, 784)


def test_shape_dtype_and_range_are_kept():
    X = digit_batch()
    for dtype in (np.float32, np.float64):
        Y = augment_batch(X.astype(dtype), np.random.default_rng(1))
        assert Y.shape == X.shape and Y.dtype == dtype
        assert Y.min() >= 0.0 and Y.max() <= 1.0
        assert not np.allclose(Y, X)


def test_symmetric_pixels_keep_minus_one_paper():
    X = digit_batch() * 2 - 1
    Y = AugmentConfig()(X, np.random.default_rng(2))
    assert Y.min() >= -1 and Y.max() <= 1
    corners = Y.reshape(-1, 28, 28)[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.allclose(corners, -1)


def test_all_knobs_zero_is_identity():
    X = digit_batch()
    Y = augment_batch(X, np.random.default_rng(3), shift=0, rotate=0, scale=0, shear=0, thickness=0)
    assert np.array_equal(Y, X) and Y is not X
    inverse, offset = random_affine(len(X), np.random.default_rng(3), 0, 0, 0, 0)
    assert np.allclose(warp(X, inverse, offset, 0.0), X, atol=1e-6)


def test_whole_pixel_shift_moves_the_image():
    X = digit_batch(4)
    inverse = np.tile(np.eye(2), (4, 1, 1))
    offset = np.tile([2.0, -1.0], (4, 1))                   # 2 right, 1 up
    Y = warp(X, inverse, offset, 0.0).reshape(4, 28, 28)
    assert np.allclose(Y[:, :-1, 2:], X.reshape(4, 28, 28)[:, 1:, :-2], atol=1e-6)


def test_same_seed_same_result_and_different_seed_differs():
    X = digit_batch()
    a = augment_batch(X, np.random.default_rng(7))
    b = augment_batch(X, np.random.default_rng(7))
    c = augment_batch(X, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_mass_is_roughly_preserved():
    X = digit_batch(128)
    geometric = augment_batch(X, np.random.default_rng(4), scale=0.0, shear=0.0, thickness=0.0)
    ratio = geometric.sum(1) / X.sum(1)
    assert np.allclose(ratio, 1, atol=0.06), ratio.min()
    full = AugmentConfig()(X, np.random.default_rng(4))
    ratio = full.sum(1) / X.sum(1)
    assert 0.9 < ratio.mean() < 1.15 and ratio.min() > 0.3 and ratio.max() < 2.0


def test_rotation_turns_a_vertical_bar():
    X = np.zeros((1, 28, 28), np.float32)
    X[0, 6:22, 13:15] = 1
    inverse, offset = random_affine(1, np.random.default_rng(0), 0, 0, 0, 0)
    angle = np.deg2rad(45)
    inverse[0] = [[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]
    Y = warp(X.reshape(1, 784), inverse, offset, 0.0).reshape(28, 28)
    ys, xs = np.nonzero(Y > 0.3)
    assert abs(np.corrcoef(ys, xs)[0, 1]) > 0.9          # a diagonal now


def test_bad_input_is_refused_clearly():
    with pytest.raises(ConfigError, match="784"):
        augment_batch(np.zeros((3, 100), np.float32), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="rotate"):
        augment_batch(np.zeros((3, 784), np.float32), np.random.default_rng(0), rotate=-1)
    assert augment_batch(np.zeros((0, 784), np.float32), np.random.default_rng(0)).shape == (0, 784)
