"""Convolution and pooling layers, on the protocol of core.layers.

Layout: NCHW, batch first, as PyTorch. Images are (N, C, H, W): N samples, C channels, H rows,
W columns. A conv layer's weights are W (C_out, C_in, k, k) and b (C_out,), PyTorch's layout too.

In memory the image layers keep their arrays CHWN: channel, row, column, and the batch innermost
(as cuda-convnet did); the arrays they hand on are NCHW views of that memory, and the next image
layer takes them without a copy. With the batch innermost, every shift of a kernel offset moves
whole runs of W_out * N contiguous numbers (1,024 for the convnet preset's second conv at batch
128): im2col is a few long copies, col2im a few long adds, and pooling's corners are runs of N.
Measured against the CNHW layout this replaced (runs of W_out = 8 numbers), batch 128, one
thread: im2col 3.8 -> 0.7 ms, col2im 7.8 -> 2.2 ms (benchmarks/speed_conv.py has the whole step).

Conv2D is im2col and one matrix product: every k x k x C_in patch of the (padded) input becomes a
column of ``cols`` (C_in * k * k, H_out * W_out * N), one copy through a strided view (no Python
loop over pixels), and ``W.reshape(C_out, C_in * k * k) @ cols`` is every output at once. Backward
is two more products (dW = dY @ cols.T, dcols = W.T @ dY) and col2im: each of the k * k kernel
offsets adds its slice of dcols back onto the input it came from. A first layer needs no input
gradient (core.model asks for none), so its backward is the dW product alone.

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


def channels_first(X):
    """The CHWN array (C, H, W, N) behind an NCHW array (N, C, H, W): free when X is an NCHW view
    of CHWN memory (what these layers hand on), one transposing copy otherwise."""
    return np.ascontiguousarray(X.transpose(1, 2, 3, 0))


def as_nchw(X):
    """The NCHW view (N, C, H, W) of a CHWN array (C, H, W, N)."""
    return X.transpose(3, 0, 1, 2)


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
        """im2col of X (C, H, W, N): (C_in * k * k, H_out * W_out * N), each column one patch in
        (c, u, v) order, the columns in (i, j, n) order."""
        k = self.kernel
        before, after = self._pads()
        if before or after:
            X = np.pad(X, ((0, 0), (before, after), (before, after), (0, 0)))   # (C, Hp, Wp, N)
        windows = sliding_window_view(X, (k, k), axis=(1, 2))       # (C, Ho, Wo, N, k, k), a view
        C, Ho, Wo, N = windows.shape[:4]
        cols = np.ascontiguousarray(windows.transpose(0, 4, 5, 1, 2, 3))   # (C, k, k, Ho, Wo, N)
        return cols.reshape(C * k * k, Ho * Wo * N), (Ho, Wo, N)

    def forward(self, X):
        return self.forward_train(X)[0]

    def forward_train(self, X, rng=None):
        X = channels_first(X)                                        # (C_in, H, W, N)
        cols, (Ho, Wo, N) = self._columns(X)
        C_out = self.W.shape[0]
        Y = self.W.reshape(C_out, -1) @ cols          # (C_out, C_in*k*k) @ (C_in*k*k, Ho*Wo*N)
        Y += self.b[:, None]
        return as_nchw(Y.reshape(C_out, Ho, Wo, N)), (cols, X.shape)

    def backward(self, cache, dY, need_input_grad=True):
        cols, in_shape = cache
        C_out, C_in, k, _ = self.W.shape
        dY = channels_first(dY)                                      # (C_out, Ho, Wo, N)
        _, Ho, Wo, N = dY.shape
        dY2 = dY.reshape(C_out, -1)                                  # (C_out, Ho*Wo*N)
        # (C_in*k*k, Ho*Wo*N) @ (Ho*Wo*N, C_out), transposed: this order of the operands ran 1.3-1.5x
        # faster in OpenBLAS than dY2 @ cols.T for the preset's shapes
        dW = np.ascontiguousarray((cols @ dY2.T).T).reshape(self.W.shape)
        grads = {"W": dW, "b": dY2 @ np.ones(dY2.shape[1], dY2.dtype)}
        if not need_input_grad:
            return None, grads
        dcols = (self.W.reshape(C_out, -1).T @ dY2).reshape(C_in, k, k, Ho, Wo, N)
        _, H, W_, _ = in_shape
        before, after = self._pads()
        dXp = np.zeros((C_in, H + before + after, W_ + before + after, N), dY.dtype)
        for u in range(k):                                           # col2im: each kernel offset
            for v in range(k):                                       # sends its share back
                dXp[:, u:u + Ho, v:v + Wo] += dcols[:, u, v]
        return as_nchw(dXp[:, before:before + H, before:before + W_]), grads

    def __repr__(self):
        C_out, C_in, k, _ = self.W.shape
        return f"Conv2D({C_in} -> {C_out}, {k}x{k}, {self.padding})"


class MaxPool2D:
    """2 x 2 max pooling, stride 2: each output is the largest of a 2 x 2 block of its channel. An
    odd last row or column is dropped (as PyTorch's default). The gradient goes to the block's
    largest input; of equal ones, to the first in reading order.

    Forward keeps, per output, which corner won (three boolean maps a quarter of the input's
    size), so backward only scatters: no comparisons of the input against the output again."""

    kind = "pool"
    params = {}
    size = 2

    def output_shape(self, in_shape):
        C, H, W = in_shape
        return C, H // 2, W // 2

    @staticmethod
    def _corners(X):
        """The four (C, H/2, W/2, N) strided views of each block's corners of X (C, H, W, N), in
        reading order: top left, top right, bottom left, bottom right."""
        H2, W2 = X.shape[1] // 2, X.shape[2] // 2
        return [X[:, r:2 * H2:2, s:2 * W2:2] for r in (0, 1) for s in (0, 1)]

    def forward(self, X):
        a, b, c, d = self._corners(channels_first(X))
        return as_nchw(np.maximum(np.maximum(a, b), np.maximum(c, d)))

    def forward_train(self, X, rng=None):
        X = channels_first(X)                                        # (C, H, W, N)
        a, b, c, d = self._corners(X)
        right_top = b > a                           # ties go to the first in reading order
        right_bottom = d > c
        top, bottom = np.maximum(a, b), np.maximum(c, d)
        bottom_wins = bottom > top
        Y = np.maximum(top, bottom, out=top)                         # (C, H/2, W/2, N)
        return as_nchw(Y), (X.shape, right_top, right_bottom, bottom_wins)

    def backward(self, cache, dY, need_input_grad=True):
        in_shape, right_top, right_bottom, bottom_wins = cache
        dY = channels_first(dY)                                      # (C, H/2, W/2, N)
        odd = in_shape[1] % 2 or in_shape[2] % 2
        dX = (np.zeros if odd else np.empty)(in_shape, dY.dtype)     # the dropped edge gets 0
        a, b, c, d = self._corners(dX)
        bottom = dY * bottom_wins
        top = np.subtract(dY, bottom, out=dY)                        # dY where the top row won
        np.multiply(top, right_top, out=b)
        np.subtract(top, b, out=a)
        np.multiply(bottom, right_bottom, out=d)
        np.subtract(bottom, d, out=c)
        return as_nchw(dX), {}

    def __repr__(self):
        return "MaxPool2D(2x2)"
