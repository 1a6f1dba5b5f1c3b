"""Hidden-layer activations and the output nonlinearities.

Each activation is a tiny class with ``forward(Z)`` and ``backward(Z, A, dA)`` where ``Z`` is the
pre-activation, ``A = forward(Z)`` and ``dA`` the gradient of the loss with respect to ``A``.
Both ``Z`` and ``A`` are passed so each function can use whichever is cheaper.

The training hot path uses the in-place pair instead: ``forward_inplace(Z)`` overwrites the
pre-activation with the activation, and ``backward_inplace(A, dA)`` turns ``dA`` into ``dZ`` in place
from the activation alone (for ReLU and leaky ReLU, ``Z > 0`` exactly when ``A > 0``). It saves
an allocation and a pass over memory per layer and step; tests/test_speed_paths.py checks that
both pairs give the same numbers.
"""
import numpy as np


class ReLU:
    name = "relu"

    def forward(self, Z):
        return np.maximum(Z, 0, dtype=Z.dtype)

    def backward(self, Z, A, dA):
        return dA * (Z > 0)

    def forward_inplace(self, Z):
        return np.maximum(Z, 0, out=Z)

    def backward_inplace(self, A, dA):
        return np.multiply(dA, A > 0, out=dA)

    def __repr__(self):
        return "ReLU()"


class LeakyReLU:
    name = "leaky_relu"

    def __init__(self, slope=0.01):
        self.slope = slope

    def forward(self, Z):
        return np.where(Z > 0, Z, Z * Z.dtype.type(self.slope))

    def backward(self, Z, A, dA):
        return np.where(Z > 0, dA, dA * dA.dtype.type(self.slope))

    def forward_inplace(self, Z):
        return np.multiply(Z, Z.dtype.type(self.slope), out=Z, where=Z <= 0)

    def backward_inplace(self, A, dA):
        # valid for slope >= 0: then A > 0 exactly when Z > 0
        return np.multiply(dA, dA.dtype.type(self.slope), out=dA, where=A <= 0)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class Sigmoid:
    name = "sigmoid"

    def forward(self, Z):
        # tanh form: exact, and never overflows for large |Z|
        return (np.tanh(Z * Z.dtype.type(0.5)) + 1) * Z.dtype.type(0.5)

    def backward(self, Z, A, dA):
        return dA * A * (1 - A)

    def forward_inplace(self, Z):
        half = Z.dtype.type(0.5)
        Z *= half
        np.tanh(Z, out=Z)
        Z += 1
        Z *= half
        return Z

    def backward_inplace(self, A, dA):
        dA *= A
        dA *= 1 - A
        return dA

    def __repr__(self):
        return "Sigmoid()"


class Tanh:
    name = "tanh"

    def forward(self, Z):
        return np.tanh(Z)

    def backward(self, Z, A, dA):
        return dA * (1 - A * A)

    def forward_inplace(self, Z):
        return np.tanh(Z, out=Z)

    def backward_inplace(self, A, dA):
        dA *= 1 - A * A
        return dA

    def __repr__(self):
        return "Tanh()"


def softmax(Z):
    """Row-wise softmax of logits ``Z`` (N, K); finite for any finite logits (max is subtracted)."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class Softmax:
    """Output nonlinearity. Its backward is the full Jacobian-vector product (used with MSE);
    with cross-entropy the fused gradient in ``losses`` is used instead."""

    name = "softmax"

    def forward(self, Z):
        return softmax(Z)

    def backward(self, Z, A, dA):
        # dZ_i = A_i * (dA_i - sum_j dA_j A_j)
        return A * (dA - (dA * A).sum(axis=1, keepdims=True))

    def __repr__(self):
        return "Softmax()"


HIDDEN_ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh}
OUTPUT_ACTIVATIONS = {"softmax": Softmax, "sigmoid": Sigmoid}
