"""Convolution and pooling written as loops over every output pixel: the yardstick core.conv's
im2col layers are measured by (tests/test_conv.py), in the spirit of core/reference.py.

float64, NCHW (N, C, H, W), W (C_out, C_in, k, k), nothing vectorised beyond the innermost
C_in x k x k patch, every index spelled out. Slow on purpose; use small shapes.

    conv      Y[n, o, i, j] = b[o] + sum_{c, u, v} Xp[n, c, i + u, j + v] * W[o, c, u, v]
              (Xp: X padded with zeros, "same": (k - 1) // 2 before, the rest after)
    backward  dW[o, c, u, v] = sum_{n, i, j} Xp[n, c, i + u, j + v] * dY[n, o, i, j]
              db[o]          = sum_{n, i, j} dY[n, o, i, j]
              dXp[n, c, i + u, j + v] += W[o, c, u, v] * dY[n, o, i, j]   (then cut the padding)
    max pool  Y[n, c, i, j] = max of X[n, c, 2i:2i+2, 2j:2j+2]
              dX: the whole dY[n, c, i, j] to the first largest entry of the block, 0 elsewhere
"""
import numpy as np


def _pads(k, padding):
    if padding == "same":
        return (k - 1) // 2, k - 1 - (k - 1) // 2
    return 0, 0


def _padded(X, k, padding):
    before, after = _pads(k, padding)
    return np.pad(X, ((0, 0), (0, 0), (before, after), (before, after))), before


def conv_forward(X, W, b, padding="valid"):
    """Y (N, C_out, H_out, W_out) for X (N, C_in, H, W), W (C_out, C_in, k, k), b (C_out,)."""
    X, W, b = (np.asarray(a, np.float64) for a in (X, W, b))
    C_out, k = W.shape[0], W.shape[2]
    Xp, _ = _padded(X, k, padding)
    N, _, Hp, Wp = Xp.shape
    Ho, Wo = Hp - k + 1, Wp - k + 1
    Y = np.zeros((N, C_out, Ho, Wo))
    for n in range(N):
        for o in range(C_out):
            for i in range(Ho):
                for j in range(Wo):
                    patch = Xp[n, :, i:i + k, j:j + k]                 # (C_in, k, k)
                    Y[n, o, i, j] = b[o] + np.sum(patch * W[o])
    return Y


def conv_backward(X, W, dY, padding="valid"):
    """(dX, dW, db) for the conv of ``conv_forward`` given dL/dY (N, C_out, H_out, W_out)."""
    X, W, dY = (np.asarray(a, np.float64) for a in (X, W, dY))
    k = W.shape[2]
    Xp, before = _padded(X, k, padding)
    dXp, dW = np.zeros_like(Xp), np.zeros_like(W)
    N, C_out, Ho, Wo = dY.shape
    for n in range(N):
        for o in range(C_out):
            for i in range(Ho):
                for j in range(Wo):
                    g = dY[n, o, i, j]
                    dW[o] += g * Xp[n, :, i:i + k, j:j + k]
                    dXp[n, :, i:i + k, j:j + k] += g * W[o]
    db = dY.sum(axis=(0, 2, 3))
    H, W_ = X.shape[2], X.shape[3]
    return dXp[:, :, before:before + H, before:before + W_], dW, db


def maxpool_forward(X):
    """Y (N, C, H // 2, W // 2): the largest of each 2 x 2 block."""
    X = np.asarray(X, np.float64)
    N, C, H, W = X.shape
    Y = np.zeros((N, C, H // 2, W // 2))
    for n in range(N):
        for c in range(C):
            for i in range(H // 2):
                for j in range(W // 2):
                    Y[n, c, i, j] = X[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max()
    return Y


def maxpool_backward(X, dY):
    """dX (N, C, H, W): each block's gradient goes to its first largest entry (reading order)."""
    X, dY = np.asarray(X, np.float64), np.asarray(dY, np.float64)
    dX = np.zeros_like(X)
    N, C, H2, W2 = dY.shape
    for n in range(N):
        for c in range(C):
            for i in range(H2):
                for j in range(W2):
                    block = X[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                    u, v = np.unravel_index(np.argmax(block), (2, 2))   # first largest
                    dX[n, c, 2 * i + u, 2 * j + v] = dY[n, c, i, j]
    return dX
