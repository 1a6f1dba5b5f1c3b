"""Principal component analysis by SVD, for a 2-D map of images or hidden activations.

    projection = fit_pca(X, k=2)                         # X (N, D)
    xy = projection.transform(X)                         # (N, 2)
    projection = fit_pca(X_later, previous=projection)   # same orientation as before

A live map refits the projection as the network learns. The sign of a principal component is
arbitrary (v and -v explain the same variance), so a plain refit may mirror the map from one
refresh to the next; ``previous`` keeps each component on the side of the one it replaces, so
points move instead of flipping.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Projection:
    mean: np.ndarray          # (D,) the mean row, subtracted before projecting
    components: np.ndarray    # (k, D) orthonormal rows (zero rows when the data has < k directions)
    explained: np.ndarray     # (k,) share of the total variance along each component

    @property
    def k(self):
        return self.components.shape[0]

    def transform(self, X):
        """The (N, k) coordinates of the rows of X (N, D), in float64."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"This projection takes rows of {self.mean.shape[0]} values; got an "
                             f"array of shape {X.shape}.")
        return (X - self.mean) @ self.components.T                # (N, D) @ (D, k)

    def __repr__(self):
        shares = ", ".join(f"{e:.1%}" for e in self.explained)
        return f"Projection(D={self.mean.shape[0]}, k={self.k}, explained [{shares}])"


def fit_pca(X, k=2, previous=None):
    """The first ``k`` principal components of X (N, D) in float64: the eigenvectors of the
    centred data's (D, D) scatter matrix when N > D (fast for maps of many images), else
    ``np.linalg.svd`` of the centred data.

    Without ``previous``, each component's largest entry (in absolute value) is made positive, so
    the same data always gives the same map. With ``previous`` (a Projection of the same D), each
    component whose dot product with the previous one of the same rank is negative is flipped.
    When the data spans fewer than k directions (N < k, D < k), the missing components are zero
    rows that explain 0; constant data explains 0 along every component.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"fit_pca needs a 2-D array with at least one row and one column; got "
                         f"shape {X.shape}.")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"fit_pca needs k >= 1 components; got {k!r}.")
    if not np.isfinite(X).all():
        raise ValueError("fit_pca got NaN or infinite values; a map needs finite data.")
    n, d = X.shape
    if previous is not None and previous.mean.shape[0] != d:
        raise ValueError(f"The previous projection takes {previous.mean.shape[0]} values per row, "
                         f"this data has {d}: fit without previous.")
    mean = X.mean(axis=0)                                         # (D,)
    centred = X - mean                                            # (N, D)
    if n > d:
        # many rows (a map of 1,000 images of a 128-unit layer): the eigenvectors of the (D, D)
        # scatter matrix are the same directions as the SVD's, in a tenth of the time
        values, vectors = np.linalg.eigh(centred.T @ centred)     # ascending
        variance = np.clip(values[::-1], 0.0, None)
        Vt = vectors[:, ::-1].T                                   # (D, D), by variance
    else:
        _, singular, Vt = np.linalg.svd(centred, full_matrices=False)   # Vt (min(N, D), D)
        variance = singular ** 2
    total = variance.sum()
    r = min(k, Vt.shape[0])
    components = np.zeros((k, d))
    explained = np.zeros(k)
    components[:r] = Vt[:r]
    if total > 0:
        explained[:r] = variance[:r] / total

    largest = np.abs(components).argmax(axis=1)                   # (k,)
    signs = np.sign(components[np.arange(k), largest])
    if previous is not None:
        m = min(k, previous.k)
        dots = np.einsum("kd,kd->k", components[:m], previous.components[:m])
        signs[:m] = np.where(dots < 0, -1.0, np.where(dots > 0, 1.0, signs[:m]))
    signs[signs == 0] = 1.0                                       # zero rows stay zero
    components *= signs[:, None]

    for array in (mean, components, explained):
        array.setflags(write=False)
    return Projection(mean=mean, components=components, explained=explained)
