"""Layer health: is each layer still learning?

Three numbers per weight layer, measured when ``fit`` makes a record:

    dead_share     hidden units that no longer pass a gradient on a fixed probe batch
                   (ReLU units stuck at 0, sigmoid/tanh units stuck at a rail)
    update_ratio   ||W_after - W_before|| / ||W_before||: how much the last step moved the weights
                   (around 1e-3 is healthy; 1e-1 and up means the learning rate is far too large,
                   1e-6 and below means the layer has stopped moving)
    grad_norm      ||dL/dW||, the Frobenius norm of the loss gradient of the layer's weights

Pure NumPy; nothing here trains or prints.
"""
import math

import numpy as np

# sigmoid'(z) = a (1 - a) is 0.0196 at a = 0.02 or 0.98: under 8% of its peak 0.25.
SIGMOID_SATURATED = 0.02
# tanh'(z) = 1 - a^2 is 0.078 at |a| = 0.96: under 8% of its peak 1, the same share as sigmoid's.
TANH_SATURATED = 0.96
# A saturated unit still learns from the images where it is not; one saturated on 95% of the probe
# images gets a gradient from at most 1 image in 20, which for a chart is as good as dead.
SATURATED_SHARE = 0.95


def dead_share(activations, activation_name):
    """Share of the hidden units of one layer that are dead on a probe batch.

    ``activations`` (N, H): the layer's outputs for N probe images. A unit is dead when
      relu        it is 0 for every probe image (no gradient flows through it at all);
      leaky_relu  it is <= 0 for every probe image (only the small negative slope is left);
      sigmoid     it is below SIGMOID_SATURATED or above 1 - SIGMOID_SATURATED on at least
                  SATURATED_SHARE of the probe images;
      tanh        |a| > TANH_SATURATED on at least SATURATED_SHARE of the probe images.
    Returns a float in [0, 1]; nan when there are no probe images or no units.
    """
    A = np.asarray(activations)                     # (N, H), or conv feature maps (N, C, H, W)
    if A.ndim == 4:                                 # a conv layer's unit is a channel: every
        A = A.transpose(0, 2, 3, 1).reshape(-1, A.shape[1])   # position of every image counts
    if A.ndim != 2:
        raise ValueError(f"dead_share needs the (N, H) activations of one layer, got shape {A.shape}.")
    n, units = A.shape
    if n == 0 or units == 0:
        return float("nan")
    if activation_name == "relu":
        dead = ~(A != 0).any(axis=0)               # (H,)
    elif activation_name == "leaky_relu":
        dead = (A <= 0).all(axis=0)
    elif activation_name == "sigmoid":
        saturated = (A < SIGMOID_SATURATED) | (A > 1 - SIGMOID_SATURATED)   # (N, H)
        dead = saturated.mean(axis=0) >= SATURATED_SHARE
    elif activation_name == "tanh":
        dead = (np.abs(A) > TANH_SATURATED).mean(axis=0) >= SATURATED_SHARE
    else:
        raise ValueError(f"dead_share does not know the activation {activation_name!r}: "
                         f"use relu, leaky_relu, sigmoid or tanh.")
    return float(dead.mean())


def _norm(x):
    """Frobenius norm in float64 (a float32 sum of squares overflows from about 1e19)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(x @ x)) if x.size else 0.0


def update_ratio(before, after):
    """||after - before|| / ||before|| (Frobenius), as a float.

    0.0 when nothing changed (also when ``before`` is all zeros); inf when weights that were all
    zeros moved; inf or nan, never a warning, when the weights themselves are not finite.
    """
    before64 = np.asarray(before, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        change = _norm(np.asarray(after, dtype=np.float64) - before64)
    size = _norm(before64)
    if change == 0.0:
        return 0.0
    if size == 0.0:
        return math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.float64(change) / np.float64(size))


def layer_stats(model, grads, weights_before, probe_X):
    """One dict per weight layer i of ``model`` (the hidden layers, then the output layer):

        {"layer": i, "dead_share": float, "update_ratio": float, "grad_norm": float}

    ``grads``: the step's gradients keyed ``layers.i.W`` (None before any step: grad_norm nan).
    ``weights_before``: ``layers.i.W`` -> a copy of the weights before the step, compared with
    ``model.params`` now (None before any step: update_ratio 0.0). ``probe_X`` (N, 784): a fixed
    batch for dead_share, which is nan for the output layer (it has no activation to die).
    """
    hidden = model.hidden_activations(probe_X) if len(model.layers) > 1 else []   # [(N, H_i)]
    n_layers = len(model.layers)
    stats = []
    for i in range(n_layers):
        name = f"layers.{i}.W"
        stats.append({
            "layer": i,
            "dead_share": (dead_share(hidden[i], model.config.activation) if i < len(hidden)
                           else float("nan")),
            "update_ratio": (0.0 if weights_before is None
                             else update_ratio(weights_before[name], model.params[name])),
            "grad_norm": float("nan") if grads is None else _norm(grads[name]),
        })
    return tuple(stats)
