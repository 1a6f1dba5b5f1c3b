"""Convolution and pooling written as loops over every output pixel: the yardstick core.conv's
im2col layers are measured by (tests/test_conv.py), in the spirit of core/reference.py.

float64, NHWC (N, H, W, C), nothing vectorised beyond the innermost k x k x C_in patch, every
index spelled out. Slow on purpose; use small shapes.

    conv      Y[n, i, j, o] = b[o] + sum_{u, v, c} Xp[n, i + u, j + v, c] * W[u, v, c, o]
              (Xp: X padded with zeros, "same": (k - 1) // 2 before, the rest after)
    backward  dW[u, v, c, o] = sum_{n, i, j} Xp[n, i + u, j + v, c] * dY[n, i, j, o]
              db[o]          = sum_{n, i, j} dY[n, i, j, o]
              dXp[n, i + u, j + v, c] += W[u, v, c, o] * dY[n, i, j, o]   (then cut the padding)
    max pool  Y[n, i, j, c] = max of X[n, 2i:2i+2, 2j:2j+2, c]
              dX: the whole dY[n, i, j, c] to the first largest entry of the block, 0 elsewhere
"""
import numpy as np


def _pads(k, padding):
    if padding == "same":
        return (k - 1) // 2, k - 1 - (k - 1) // 2
    return 0, 0


def conv_forward(X, W, b, padding="valid"):
    """Y (N, H_out, W_out, C_out) for X (N, H, W, C_in), W (k, k, C_in, C_out), b (C_out,)."""
    X, W, b = (np.asarray(a, np.float64) for a in (X, W, b))
    k, C_out = W.shape[0], W.shape[3]
    before, after = _pads(k, padding)
    Xp = np.pad(X, ((0, 0), (before, after), (before, after), (0, 0)))
    N, Hp, Wp, _ = Xp.shape
    Ho, Wo = Hp - k + 1, Wp - k + 1
    Y = np.zeros((N, Ho, Wo, C_out))
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                patch = Xp[n, i:i + k, j:j + k, :]                    # (k, k, C_in)
                for o in range(C_out):
                    Y[n, i, j, o] = b[o] + np.sum(patch * W[:, :, :, o])
    return Y


def conv_backward(X, W, dY, padding="valid"):
    """(dX, dW, db) for the conv of ``conv_forward`` given dL/dY (N, H_out, W_out, C_out)."""
    X, W, dY = (np.asarray(a, np.float64) for a in (X, W, dY))
    k, C_out = W.shape[0], W.shape[3]
    before, after = _pads(k, padding)
    Xp = np.pad(X, ((0, 0), (before, after), (before, after), (0, 0)))
    dXp, dW = np.zeros_like(Xp), np.zeros_like(W)
    N, Ho, Wo, _ = dY.shape
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                for o in range(C_out):
                    g = dY[n, i, j, o]
                    dW[:, :, :, o] += g * Xp[n, i:i + k, j:j + k, :]
                    dXp[n, i:i + k, j:j + k, :] += g * W[:, :, :, o]
    db = dY.sum(axis=(0, 1, 2))
    H, W_ = X.shape[1], X.shape[2]
    return dXp[:, before:before + H, before:before + W_, :], dW, db


def maxpool_forward(X):
    """Y (N, H // 2, W // 2, C): the largest of each 2 x 2 block."""
    X = np.asarray(X, np.float64)
    N, H, W, C = X.shape
    Y = np.zeros((N, H // 2, W // 2, C))
    for n in range(N):
        for i in range(H // 2):
            for j in range(W // 2):
                for c in range(C):
                    Y[n, i, j, c] = X[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c].max()
    return Y


def maxpool_backward(X, dY):
    """dX (N, H, W, C): each block's gradient goes to its first largest entry (reading order)."""
    X, dY = np.asarray(X, np.float64), np.asarray(dY, np.float64)
    dX = np.zeros_like(X)
    N, H2, W2, C = dY.shape
    for n in range(N):
        for i in range(H2):
            for j in range(W2):
                for c in range(C):
                    block = X[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
                    u, v = np.unravel_index(np.argmax(block), (2, 2))   # first largest
                    dX[n, 2 * i + u, 2 * j + v, c] = dY[n, i, j, c]
    return dX
