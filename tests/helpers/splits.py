"""Tiny real datasets for tests and benchmarks: always a ``core.datasets.Splits``, never a stand-in,
so product code never has to guess at a missing field (its scaling, its test set).

    splits_of(X_train, y_train, X_val, y_val, X_test, y_test)   arrays a test designed itself
    random_splits(n_train, validation, test, seed)              random pixels, random labels
    blobs(n, seed)                                              separable, learnt in a few steps
    sample_splits(dataset, validation_size)                     the bundled sample (raw, splits)

The bundled sample is pinned on purpose: a test's figures never depend on whether the machine has
the full datasets (``NN_DATA_DIR``).
"""
import numpy as np

from core.datasets import Splits, make_splits, read_sample


def splits_of(X_train, y_train, X_val, y_val, X_test=None, y_test=None, scaling="unit"):
    """A Splits of the given arrays (float32 pixels, int64 labels); without a test set, the
    validation set stands in for it."""
    if X_test is None:
        X_test, y_test = X_val, y_val

    def pixels(X):                                                  # (N, 784) float32
        return np.asarray(X, np.float32).reshape(len(X), -1)

    def labels(y):                                                  # (N,) int64
        return np.asarray(y, np.int64)
    return Splits(X_train=pixels(X_train), y_train=labels(y_train), X_val=pixels(X_val),
                  y_val=labels(y_val), X_test=pixels(X_test), y_test=labels(y_test),
                  scaling=scaling, train_indices=np.arange(len(y_train)),
                  val_indices=np.arange(len(y_val)))


def random_splits(n_train=2000, validation=200, test=200, seed=0, scaling="unit"):
    """Random pixels in [0, 1) and random labels 0-9: nothing to learn, but shaped and typed as
    the app's data (for runs whose outcome does not matter: admission, workers, memory)."""
    rng = np.random.default_rng(seed)

    def part(n):
        X = rng.random((n, 784), dtype=np.float32)                 # (n, 784)
        return (X * 2 - 1 if scaling == "symmetric" else X), rng.integers(0, 10, n)
    return splits_of(*part(n_train), *part(validation), *part(test), scaling=scaling)


def blobs(n=600, seed=0, classes=10, dim=784):
    """Separable synthetic data shaped like MNIST: one prototype image per class plus noise.
    5/6 of it for training, the rest for validation (which also stands in as the test set)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((classes, dim)) < 0.15
    y = rng.integers(0, classes, n)
    X = np.clip(prototypes[y] * 0.9 + rng.random((n, dim)) * 0.3, 0, 1).astype(np.float32)
    cut = n * 5 // 6
    return splits_of(X[:cut], y[:cut], X[cut:], y[cut:])


def sample_splits(dataset="mnist", validation_size=1000, scaling="unit", seed=0):
    """(raw, splits) of the bundled sample of ``dataset`` (10,000 training and 2,000 test images),
    whatever ``NN_DATA_DIR`` says."""
    raw = read_sample(dataset)
    return raw, make_splits(raw, validation_size, scaling, np.random.default_rng(seed))
