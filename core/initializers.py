"""Weight initialisers. Each returns ``(W, b)`` with ``W`` of shape (fan_in, fan_out)."""
import numpy as np


def he(fan_in, fan_out, rng, dtype):
    """He et al. 2015: N(0, 2 / fan_in), for ReLU-like units; zero biases."""
    W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
    return W.astype(dtype), np.zeros(fan_out, dtype)


def glorot(fan_in, fan_out, rng, dtype):
    """Glorot & Bengio 2010: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); zero biases."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    W = rng.uniform(-limit, limit, (fan_in, fan_out))
    return W.astype(dtype), np.zeros(fan_out, dtype)


def small_uniform(fan_in, fan_out, rng, dtype):
    """The original project's init: weights and biases from U[-0.5, 0.5)."""
    W = rng.random((fan_in, fan_out)) - 0.5
    b = rng.random(fan_out) - 0.5
    return W.astype(dtype), b.astype(dtype)


INITIALIZERS = {"he": he, "glorot": glorot, "small_uniform": small_uniform}
