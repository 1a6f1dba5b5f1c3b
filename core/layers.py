"""Layers and the one protocol every kind of layer follows.

A network is a sequence of layers (core.model). Each layer has

    params                 {"W": array, "b": array} for a layer with weights, {} otherwise: the
                           very arrays stored in the model's dict under dotted keys
                           (``layers.0.W``), so an optimiser's in-place update is seen here
    forward(X) -> Y        inference: nothing kept
    forward_train(X, rng) -> (Y, cache)
                           training: ``cache`` is what backward needs. May overwrite ``X`` (an
                           activation does, in place): the caller hands over an array it owns.
    backward(cache, dY, need_input_grad=True) -> (dX or None, grads)
                           ``grads`` keyed like ``params`` ({"W": dL/dW, "b": dL/db} or {}).
                           May overwrite ``dY``.

The model's training step, the explanations (core.explain) and the tests all go through these
methods, so a new kind of layer (core.conv) plugs in without a backward path of its own.

Shapes are batch-first: dense layers read X (N, D_in), W (D_in, D_out), b (D_out,), Z = X @ W + b
(N, D_out); image layers read (N, C, H, W) (core.conv).
"""
import numpy as np

from .compact import CompactRows


def column_sums(M):
    """M.sum(axis=0) for a (n, k) array, as a matrix-vector product: NumPy's reduction over the
    rows of a narrow array is several times slower than the BLAS."""
    return np.ones(M.shape[0], M.dtype) @ M


class Weighted:
    """A layer with weights: ``params`` is {"W", "b"}, the very arrays of the model's dotted
    ``layers.i.W`` / ``layers.i.b`` (so an optimiser step on the model is seen here)."""

    def __init__(self, W, b):
        self.params = {"W": W, "b": b}

    @property
    def W(self):
        return self.params["W"]

    @property
    def b(self):
        return self.params["b"]


class Dense(Weighted):
    """Z = X @ W + b.

    ``forward_train`` also takes the parts of a CompactRows group (a list, core.compact) for a
    first layer in full-batch training: the same product, skipping the all-zero pixel columns."""

    kind = "dense"

    def forward(self, X):
        Z = X @ self.W                                   # (N, D_in) @ (D_in, D_out) -> (N, D_out)
        Z += self.b
        return Z

    def forward_train(self, X, rng=None):
        if isinstance(X, list):                          # a CompactRows group's parts
            offset, rows = X[-1][0], X[-1][1]
            Z = CompactRows.forward(X, self.W, np.empty((offset + rows, self.W.shape[1]), self.W.dtype))
            Z += self.b
            return Z, X
        return self.forward(X), X

    def backward(self, X, dZ, need_input_grad=True):
        """Given the cached input X (N, D_in) and dL/dZ (N, D_out): (dL/dX or None, grads)."""
        db = column_sums(dZ)                             # (D_out,)
        if isinstance(X, list):
            dW = np.zeros_like(self.W)
            CompactRows.backward(X, dZ, dW)
        else:
            dW = X.T @ dZ                                # (D_in, N) @ (N, D_out) -> (D_in, D_out)
        dX = dZ @ self.W.T if need_input_grad else None  # (N, D_out) @ (D_out, D_in) -> (N, D_in)
        return dX, {"W": dW, "b": db}

    def __repr__(self):
        return f"Dense({self.W.shape[0]} -> {self.W.shape[1]})"


class Activation:
    """An elementwise non-linearity (core.activations) as a layer. Training uses the in-place pair:
    the pre-activation is overwritten by the activation, which is all backward needs."""

    kind = "activation"
    params = {}

    def __init__(self, function):
        self.function = function

    def forward(self, Z):
        return self.function.forward(Z)

    def forward_train(self, Z, rng=None):
        A = self.function.forward_inplace(Z)
        return A, A

    def backward(self, A, dA, need_input_grad=True):
        return self.function.backward_inplace(A, dA), {}

    def __repr__(self):
        return repr(self.function)


class Dropout:
    """Inverted dropout: during training each unit is zeroed with probability ``rate`` and the
    survivors are scaled by 1 / (1 - rate), so nothing changes at inference."""

    kind = "dropout"
    params = {}

    def __init__(self, rate):
        self.rate = rate

    def mask(self, shape, rng, dtype):
        keep = rng.random(shape, dtype=np.float32) >= self.rate
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.rate))

    def forward(self, X):
        return X

    def forward_train(self, X, rng):
        mask = self.mask(X.shape, rng, X.dtype)
        return X * mask, mask

    def backward(self, mask, dY, need_input_grad=True):
        dY *= mask
        return dY, {}

    def __repr__(self):
        return f"Dropout(rate={self.rate})"


class Reshape:
    """Rows to another shape per sample: ``Reshape((1, 28, 28))`` makes images of (N, 784) rows,
    ``Reshape((784,))`` (``Flatten``) rows of images. No copy when the input is contiguous."""

    kind = "reshape"
    params = {}

    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)

    def forward(self, X):
        return X.reshape(X.shape[0], *self.shape)

    def forward_train(self, X, rng=None):
        return self.forward(X), X.shape

    def backward(self, in_shape, dY, need_input_grad=True):
        return (dY.reshape(in_shape) if need_input_grad else None), {}

    def __repr__(self):
        return f"Reshape({'x'.join(map(str, self.shape))})"


class Flatten(Reshape):
    """(N, C, H, W) -> (N, C * H * W), in NCHW order (PyTorch's nn.Flatten)."""

    kind = "flatten"

    def __init__(self, in_shape):
        self.in_shape = tuple(int(s) for s in in_shape)
        super().__init__((int(np.prod(self.in_shape)),))

    def __repr__(self):
        return f"Flatten({'x'.join(map(str, self.in_shape))} -> {self.shape[0]})"
