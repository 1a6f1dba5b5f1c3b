"""Convolution and pooling layers, on the protocol of core.layers.

Layout: NCHW, batch first, as PyTorch. Images are (N, C, H, W): N samples, C channels, H rows,
W columns. A conv layer's weights are W (C_out, C_in, k, k) and b (C_out,), PyTorch's layout too.

In memory the conv layers keep their outputs channel-major (CNHW: each channel's maps for the
whole batch are one block; the arrays are NCHW views of that): then im2col copies long rows,
every product is a plain matrix product, and the arrays flow from layer to layer without a
transpose. This was measured: NHWC im2col with a one-channel input, and NHWC col2im, were 3-10
times slower (short strided inner loops), and so were products with a transposed tall operand.

Conv2D is im2col and one matrix product: every k x k x C_in patch of the (padded) input becomes a
column of ``cols`` (C_in * k * k, N * H_out * W_out), one copy through a strided view (no Python
loop over pixels), and ``W.reshape(C_out, C_in * k * k) @ cols`` is every output at once. Backward
is two more products (dW = dY @ cols.T, dcols = W.T @ dY) and col2im: each of the k * k kernel
offsets adds its slice of dcols back onto the input it came from.

Stride 1; padding "valid" (no padding: H_out = H - k + 1) or "same" (zeros around so that H_out =
H; for an even k the extra row and column go at the bottom and right, as PyTorch does).
core/reference_conv.py computes the same with explicit loops over every output pixel.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layers import Weighted



PADDINGS = ("valid", "same")


def same_padding(k):
    """(before, after) zeros on each spatial side for 'same' output size with a k x k kernel."""
    before = (k - 1) // 2
    return before, k - 1 - before


class Conv2D(Weighted):
    """k x k convolution (strictly: cross-correlation, as every deep-learning library computes),
    C_in -> C_out channels, stride 1, on the padded input Xp:
    Y[n, o, i, j] = b[o] + sum_{c, u, v} Xp[n, c, i+u, j+v] W[o, c, u, v]."""

    kind = "conv"

    def __init__(self, W, b, padding="valid"):
        if padding not in PADDINGS:
            raise ValueError(f"Unknown padding {padding!r}: use one of {', '.join(PADDINGS)}.")
        super().__init__(W, b)
        self.padding = padding

    @property
    def kernel(self):
        return self.W.shape[2]

    def output_shape(self, in_shape):
        """(C_out, H_out, W_out) for an input of (C_in, H, W)."""
        _, H, W_ = in_shape
        shrink = 0 if self.padding == "same" else self.kernel - 1
        return self.W.shape[0], H - shrink, W_ - shrink

    def _pads(self):
        return same_padding(self.kernel) if self.padding == "same" else (0, 0)

    def _columns(self, X):
        """im2col: (C_in * k * k, N * H_out * W_out), each column one patch in (c, u, v) order."""
        k = self.kernel
        before, after = self._pads()
        if before or after:
            X = np.pad(X, ((0, 0), (0, 0), (before, after), (before, after)))   # (N, C, Hp, Wp)
        windows = sliding_window_view(X, (k, k), axis=(2, 3))       # (N, C, Ho, Wo, k, k), a view
        N, C, Ho, Wo = windows.shape[:4]
        cols = np.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))   # (C, k, k, N, Ho, Wo)
        return cols.reshape(C * k * k, N * Ho * Wo), (N, Ho, Wo)

    def forward(self, X):
        return self.forward_train(X)[0]

    def forward_train(self, X, rng=None):
        cols, (N, Ho, Wo) = self._columns(X)
        C_out = self.W.shape[0]
        Y = self.W.reshape(C_out, -1) @ cols          # (C_out, C_in*k*k) @ (C_in*k*k, N*Ho*Wo)
        Y += self.b[:, None]
        return Y.reshape(C_out, N, Ho, Wo).transpose(1, 0, 2, 3), (cols, X.shape)   # NCHW view

    def backward(self, cache, dY, need_input_grad=True):
        cols, in_shape = cache
        C_out, C_in, k, _ = self.W.shape
        N, _, Ho, Wo = dY.shape
        dY2 = dY.transpose(1, 0, 2, 3).reshape(C_out, -1)   # (C_out, N*Ho*Wo), free for CNHW memory
        dW = (dY2 @ cols.T).reshape(self.W.shape)     # (C_out, N*Ho*Wo) @ (N*Ho*Wo, C_in*k*k)
        grads = {"W": dW, "b": dY2 @ np.ones(dY2.shape[1], dY2.dtype)}
        if not need_input_grad:
            return None, grads
        dcols = (self.W.reshape(C_out, -1).T @ dY2).reshape(C_in, k, k, N, Ho, Wo)
        _, _, H, W_ = in_shape
        before, after = self._pads()
        dXp = np.zeros((C_in, N, H + before + after, W_ + before + after), dY.dtype)
        for u in range(k):                                           # col2im: each kernel offset
            for v in range(k):                                       # sends its share back
                dXp[:, :, u:u + Ho, v:v + Wo] += dcols[:, u, v]
        return dXp[:, :, before:before + H, before:before + W_].transpose(1, 0, 2, 3), grads

    def __repr__(self):
        C_out, C_in, k, _ = self.W.shape
        return f"Conv2D({C_in} -> {C_out}, {k}x{k}, {self.padding})"


class MaxPool2D:
    """2 x 2 max pooling, stride 2: each output is the largest of a 2 x 2 block of its channel. An
    odd last row or column is dropped (as PyTorch's default). The gradient goes to the block's
    largest input; of equal ones, to the first in reading order."""

    kind = "pool"
    params = {}
    size = 2

    def output_shape(self, in_shape):
        C, H, W = in_shape
        return C, H // 2, W // 2

    @staticmethod
    def _corners(X):
        """The four (N, C, H/2, W/2) strided views of each block's corners, in reading order."""
        H2, W2 = X.shape[2] // 2, X.shape[3] // 2
        return [X[:, :, r:2 * H2:2, s:2 * W2:2] for r in (0, 1) for s in (0, 1)]

    def forward(self, X):
        a, b, c, d = self._corners(X)
        return np.maximum(np.maximum(a, b), np.maximum(c, d))

    def forward_train(self, X, rng=None):
        Y = self.forward(X)
        return Y, (X, Y)

    def backward(self, cache, dY, need_input_grad=True):
        X, Y = cache
        dX = np.zeros_like(X)                            # X's memory layout (CNHW)
        taken = np.zeros(Y.shape, bool)
        for corner, d_corner in zip(self._corners(X), self._corners(dX)):
            hit = (corner == Y) & ~taken
            taken |= hit
            np.multiply(dY, hit, out=d_corner)
        return dX, {}

    def __repr__(self):
        return "MaxPool2D(2x2)"
