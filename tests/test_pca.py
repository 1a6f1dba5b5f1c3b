"""PCA (core.pca): the same answer as np.linalg.svd, a stable orientation, and no crash on odd data."""
import numpy as np
import pytest

from core.pca import Projection, fit_pca


def stretched(n=200, d=6, seed=0):
    """(n, d) float64 points with clearly different variances along random directions."""
    rng = np.random.default_rng(seed)
    scales = np.array([5.0, 2.0, 1.0, 0.5, 0.2, 0.1])[:d]
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return rng.normal(size=(n, d)) * scales @ rotation + rng.normal(size=d)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_matches_numpy_svd_up_to_sign(k):
    X = stretched()
    p = fit_pca(X, k=k)
    centred = X - X.mean(axis=0)
    _, s, Vt = np.linalg.svd(centred, full_matrices=False)
    assert p.components.shape == (k, 6) and p.explained.shape == (k,) and p.mean.shape == (6,)
    np.testing.assert_allclose(p.mean, X.mean(axis=0), rtol=0, atol=1e-12)
    for i in range(k):
        dot = p.components[i] @ Vt[i]
        assert abs(abs(dot) - 1) < 1e-12, f"component {i}: |mine . svd| = {abs(dot)}"
        np.testing.assert_allclose(p.components[i], np.sign(dot) * Vt[i], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.explained, s[:k] ** 2 / (s ** 2).sum(), rtol=1e-12)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(k), atol=1e-12)
    xy = p.transform(X)                                                   # (N, k)
    assert xy.shape == (200, k) and xy.dtype == np.float64
    np.testing.assert_allclose(xy.var(axis=0) * 200, s[:k] ** 2, rtol=1e-10)


def test_same_data_same_map():
    X = stretched(seed=3)
    a, b = fit_pca(X), fit_pca(X.copy())
    np.testing.assert_array_equal(a.components, b.components)


def test_previous_keeps_the_orientation():
    X = stretched(seed=1)
    first = fit_pca(X, k=3)
    flipped = Projection(mean=first.mean, components=first.components * np.array([[-1], [1], [-1]]),
                         explained=first.explained)
    again = fit_pca(X, k=3, previous=flipped)
    np.testing.assert_allclose(again.components, flipped.components, atol=1e-12)
    np.testing.assert_allclose(again.transform(X), flipped.transform(X), atol=1e-9)
    # data that moved a little: each new component lies on the side of the one it replaces
    moved = X + np.random.default_rng(2).normal(scale=0.05, size=X.shape)
    follow = fit_pca(moved, k=3, previous=flipped)
    assert (np.einsum("kd,kd->k", follow.components, flipped.components) > 0.9).all()


def test_previous_with_another_width_is_refused():
    with pytest.raises(ValueError, match="previous"):
        fit_pca(stretched(d=6), previous=fit_pca(stretched(d=5)))


def test_a_single_row_gives_zero_variance_and_no_crash():
    X = np.arange(5.0)[None, :]                                           # (1, 5)
    p = fit_pca(X, k=2)
    assert p.components.shape == (2, 5) and np.isfinite(p.components).all()
    np.testing.assert_array_equal(p.explained, [0.0, 0.0])
    np.testing.assert_allclose(p.transform(X), [[0.0, 0.0]])


def test_one_column_pads_with_a_zero_component():
    X = np.array([[1.0], [3.0], [2.0], [6.0]])                           # (4, 1)
    p = fit_pca(X, k=2)
    np.testing.assert_allclose(p.components, [[1.0], [0.0]])
    np.testing.assert_allclose(p.explained, [1.0, 0.0])
    np.testing.assert_allclose(p.transform(X)[:, 0], X[:, 0] - 3.0)
    np.testing.assert_array_equal(p.transform(X)[:, 1], 0.0)
    again = fit_pca(-X, k=2, previous=p)                                  # a zero row stays zero
    np.testing.assert_array_equal(again.components[1], [0.0])


def test_fewer_rows_than_components():
    X = stretched(n=2, d=6)
    p = fit_pca(X, k=4)
    assert p.components.shape == (4, 6)
    np.testing.assert_allclose(p.explained, [1.0, 0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(p.components[2:], 0.0)


def test_constant_data():
    p = fit_pca(np.full((10, 4), 7.0), k=2)
    np.testing.assert_array_equal(p.explained, [0.0, 0.0])
    np.testing.assert_allclose(p.transform(np.full((3, 4), 7.0)), 0.0)


def test_float32_input_and_frozen_arrays():
    X = stretched().astype(np.float32)
    p = fit_pca(X)
    assert p.components.dtype == np.float64
    with pytest.raises(ValueError):
        p.components[0, 0] = 1.0                                          # read-only
    with pytest.raises(ValueError, match="rows of 6"):
        p.transform(np.zeros((2, 5)))


@pytest.mark.parametrize("X,message", [
    (np.zeros((0, 3)), "at least one row"),
    (np.zeros(3), "2-D"),
    (np.array([[1.0, np.nan]]), "NaN"),
])
def test_bad_input_is_refused(X, message):
    with pytest.raises(ValueError, match=message):
        fit_pca(X)
