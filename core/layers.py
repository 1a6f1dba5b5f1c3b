"""Layers of the MLP: a fully connected layer and inverted dropout.

Shapes are batch-first: X (N, D_in), W (D_in, D_out), b (D_out,), Z = X @ W + b (N, D_out).
"""
import numpy as np


class Dense:
    """Z = X @ W + b. ``W`` and ``b`` are the very arrays stored in the model's params dict, so an
    optimiser's in-place update is seen here without copying."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, X):
        Z = X @ self.W                                   # (N, D_in) @ (D_in, D_out) -> (N, D_out)
        Z += self.b
        return Z

    def backward(self, X, dZ, need_input_grad=True):
        """Given dL/dZ (N, D_out), return (dL/dX or None, dL/dW, dL/db)."""
        dW = X.T @ dZ                                    # (D_in, N) @ (N, D_out) -> (D_in, D_out)
        db = dZ.sum(axis=0)                              # (D_out,)
        dX = dZ @ self.W.T if need_input_grad else None  # (N, D_out) @ (D_out, D_in) -> (N, D_in)
        return dX, dW, db

    def __repr__(self):
        return f"Dense({self.W.shape[0]} -> {self.W.shape[1]})"


class Dropout:
    """Inverted dropout: during training each unit is zeroed with probability ``rate`` and the
    survivors are scaled by 1 / (1 - rate), so nothing changes at inference."""

    def __init__(self, rate):
        self.rate = rate

    def mask(self, shape, rng, dtype):
        keep = rng.random(shape, dtype=np.float32) >= self.rate
        return keep.astype(dtype) * dtype.type(1.0 / (1.0 - self.rate))

    def __repr__(self):
        return f"Dropout(rate={self.rate})"
