"""Convolution and pooling layers, on the protocol of core.layers.

Layout: NHWC, batch first. Images are (N, H, W, C): N samples, H rows, W columns, C channels,
channels fastest in memory. A conv layer's weights are W (k, k, C_in, C_out) and b (C_out,).

Conv2D is im2col and one matrix product: every k x k x C_in patch of the (padded) input becomes a
row of ``cols`` (N * H_out * W_out, k * k * C_in), taken through a strided view with no Python
loop, and ``cols @ W.reshape(k * k * C_in, C_out)`` is every output at once, already in NHWC
order. Backward is two more products (dW = cols.T @ dY, dcols = dY @ W.T) and col2im: each of the
k * k kernel offsets adds its slice of dcols back onto the input it came from.

Stride 1; padding "valid" (no padding: H_out = H - k + 1) or "same" (zeros around so that H_out =
H; for an even k the extra row and column go at the bottom and right, as PyTorch does).
core/reference_conv.py computes the same with explicit loops over every output pixel.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layers import column_sums

PADDINGS = ("valid", "same")


def same_padding(k):
    """(before, after) zeros on each spatial side for 'same' output size with a k x k kernel."""
    before = (k - 1) // 2
    return before, k - 1 - before


class Conv2D:
    """k x k convolution (strictly: cross-correlation, as every deep-learning library computes),
    C_in -> C_out channels, stride 1. Y[n, i, j, o] = b[o] + sum_{u, v, c} X[n, i+u, j+v, c] W[u, v, c, o]
    on the padded input X."""

    kind = "conv"

    def __init__(self, W, b, padding="valid"):
        if padding not in PADDINGS:
            raise ValueError(f"Unknown padding {padding!r}: use one of {', '.join(PADDINGS)}.")
        self.params = {"W": W, "b": b}
        self.padding = padding

    @property
    def W(self):
        return self.params["W"]

    @property
    def b(self):
        return self.params["b"]

    @property
    def kernel(self):
        return self.W.shape[0]

    def output_shape(self, in_shape):
        """(H_out, W_out, C_out) for an input of (H, W, C_in)."""
        H, W_, _ = in_shape
        shrink = 0 if self.padding == "same" else self.kernel - 1
        return H - shrink, W_ - shrink, self.W.shape[3]

    def _padded(self, X):
        if self.padding == "valid":
            return X
        before, after = same_padding(self.kernel)
        return np.pad(X, ((0, 0), (before, after), (before, after), (0, 0)))

    def _columns(self, X):
        """im2col: (N * H_out * W_out, k * k * C_in) rows, each one patch in (u, v, c) order."""
        k = self.kernel
        Xp = self._padded(X)                                        # (N, Hp, Wp, C_in)
        windows = sliding_window_view(Xp, (k, k), axis=(1, 2))     # (N, Ho, Wo, C_in, k, k), a view
        N, Ho, Wo, C = windows.shape[:4]
        cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, k * k * C)   # the one copy
        return cols, (N, Ho, Wo)

    def forward(self, X):
        return self.forward_train(X)[0]

    def forward_train(self, X, rng=None):
        cols, (N, Ho, Wo) = self._columns(X)
        C_out = self.W.shape[3]
        Y = cols @ self.W.reshape(-1, C_out)          # (N*Ho*Wo, k*k*C_in) @ (k*k*C_in, C_out)
        Y += self.b
        return Y.reshape(N, Ho, Wo, C_out), (cols, X.shape)

    def backward(self, cache, dY, need_input_grad=True):
        cols, in_shape = cache
        k, C_in, C_out = self.kernel, self.W.shape[2], self.W.shape[3]
        N, Ho, Wo, _ = dY.shape
        dY2 = dY.reshape(-1, C_out)                                  # (N*Ho*Wo, C_out)
        dW = (cols.T @ dY2).reshape(self.W.shape)    # (k*k*C_in, N*Ho*Wo) @ (N*Ho*Wo, C_out)
        grads = {"W": dW, "b": column_sums(dY2)}
        if not need_input_grad:
            return None, grads
        dcols = (dY2 @ self.W.reshape(-1, C_out).T).reshape(N, Ho, Wo, k, k, C_in)
        _, H, W_, _ = in_shape
        before, after = same_padding(k) if self.padding == "same" else (0, 0)
        dXp = np.zeros((N, H + before + after, W_ + before + after, C_in), dY.dtype)
        for u in range(k):                                           # col2im: each kernel offset
            for v in range(k):                                       # sends its share back
                dXp[:, u:u + Ho, v:v + Wo, :] += dcols[:, :, :, u, v, :]
        return dXp[:, before:before + H, before:before + W_, :], grads

    def __repr__(self):
        k, _, C_in, C_out = self.W.shape
        return f"Conv2D({C_in} -> {C_out}, {k}x{k}, {self.padding})"


class MaxPool2D:
    """2 x 2 max pooling, stride 2: each output is the largest of a 2 x 2 block of its channel. An
    odd last row or column is dropped (as PyTorch's default). The gradient goes to the block's
    largest input; of equal ones, to the first in reading order."""

    kind = "pool"
    params = {}
    size = 2

    def output_shape(self, in_shape):
        H, W, C = in_shape
        return H // 2, W // 2, C

    @staticmethod
    def _corners(X):
        """The four (N, H/2, W/2, C) strided views of each block's corners, in reading order."""
        H2, W2 = X.shape[1] // 2, X.shape[2] // 2
        return [X[:, r:2 * H2:2, s:2 * W2:2, :] for r in (0, 1) for s in (0, 1)]

    def forward(self, X):
        a, b, c, d = self._corners(X)
        return np.maximum(np.maximum(a, b), np.maximum(c, d))

    def forward_train(self, X, rng=None):
        Y = self.forward(X)
        return Y, (X, Y)

    def backward(self, cache, dY, need_input_grad=True):
        X, Y = cache
        dX = np.zeros_like(X)
        taken = np.zeros(Y.shape, bool)
        for corner, d_corner in zip(self._corners(X), self._corners(dX)):
            hit = (corner == Y) & ~taken
            taken |= hit
            np.multiply(dY, hit, out=d_corner)
        return dX, {}

    def __repr__(self):
        return "MaxPool2D(2x2)"
