"""A readable forward and backward pass for an MLP: the yardstick the fast one is measured by.

The chain rule written out step by step, batch-first (rows are samples), in the spirit of
Nielsen's ``network.py`` and rasbt's ch11 ``neuralnet.py``. It reads only ``model.params`` and
``model.config`` and uses none of core's layer, activation or loss classes, so a mistake there
cannot hide here as well. It is slow on purpose: float64 throughout, the whole batch at once,
nothing in place, nothing fused, every intermediate kept.

With L weight layers and A[0] = X (N, D_0), layer l maps D_l inputs to D_{l+1} outputs:

    forward    Z[l] = A[l] @ W[l] + b[l]                      (N, D_{l+1})
               A[l+1] = f(Z[l]) * keep[l] / (1 - dropout)    hidden layers (keep: 0 or 1)
               P = g(Z[L-1])                                  softmax or sigmoid, (N, K)
    loss       cross-entropy  -mean_n log P[n, y_n]
               MSE            sum (P - Y)^2 / N              Y one-hot (N, K)
    backward   dZ[L-1] = dloss/dZ[L-1]
               dW[l] = A[l].T @ dZ[l],  db[l] = column sums of dZ[l]
               dA[l] = dZ[l] @ W[l].T
               dZ[l-1] = dA[l] * keep[l-1] / (1 - dropout) * f'(Z[l-1])
"""
import numpy as np

from .errors import ConfigError

LEAKY_RELU_SLOPE = 0.01          # core.activations.LeakyReLU's default, which the model uses


def _sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


# name -> (f, f'), each elementwise on the pre-activation Z
HIDDEN = {
    "relu": (lambda Z: np.maximum(Z, 0.0),
             lambda Z: (Z > 0).astype(np.float64)),
    "leaky_relu": (lambda Z: np.where(Z > 0, Z, LEAKY_RELU_SLOPE * Z),
                   lambda Z: np.where(Z > 0, 1.0, LEAKY_RELU_SLOPE)),
    "sigmoid": (_sigmoid,
                lambda Z: _sigmoid(Z) * (1.0 - _sigmoid(Z))),
    "tanh": (np.tanh,
             lambda Z: 1.0 - np.tanh(Z) ** 2),
}


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))       # shifted: the same ratios, no overflow
    return E / E.sum(axis=1, keepdims=True)


def _output_backward(name, P, dP):
    """dloss/dZ from dloss/dP through the output nonlinearity P = g(Z)."""
    if name == "sigmoid":
        return dP * P * (1.0 - P)                       # g' = P (1 - P), elementwise
    # softmax: each row's Jacobian dP_i/dZ_j = P_i (delta_ij - P_j) = diag(P) - P P^T, symmetric
    J = np.einsum("ni,ij->nij", P, np.eye(P.shape[1])) - np.einsum("ni,nj->nij", P, P)  # (N, K, K)
    return np.einsum("nij,nj->ni", J, dP)               # (N, K, K) . (N, K) -> (N, K)


def _check_masks(masks, hidden_sizes, N):
    expected = [(N, h) for h in hidden_sizes]
    got = [np.shape(m) for m in masks]
    if got != expected:
        raise ConfigError(f"Dropout masks must be one (N, H) array of 0s and 1s per hidden layer, "
                          f"shapes {expected}; got {got}.")


def reference_loss_and_grads(model, X, y, masks=None):
    """(loss, P, grads) for rows X (N, D_0) with integer labels y (N,).

    ``P`` (N, K) is the output layer's activation (softmax or sigmoid probabilities), ``grads``
    maps every ``layers.l.W`` / ``layers.l.b`` to dloss/dparam. ``masks``: None for no dropout,
    or one keep-mask (N, H_l) of 0s and 1s per hidden layer; kept units are scaled by
    1 / (1 - config.dropout) (inverted dropout), as in training.
    """
    config = model.config
    L = len(config.layer_sizes) - 1                                  # weight layers
    W = [np.asarray(model.params[f"layers.{l}.W"], np.float64) for l in range(L)]
    b = [np.asarray(model.params[f"layers.{l}.b"], np.float64) for l in range(L)]
    X, y = np.asarray(X, np.float64), np.asarray(y)
    N = X.shape[0]
    f, f_prime = HIDDEN[config.activation]
    if masks is not None:
        _check_masks(masks, config.hidden_sizes, N)
        scale = 1.0 / (1.0 - config.dropout)

    # forward: keep every layer's input A[l] and pre-activation Z[l] for the backward pass
    A, Z = [X], []
    for l in range(L):
        Z.append(A[l] @ W[l] + b[l])                   # (N, D_l) @ (D_l, D_{l+1}) -> (N, D_{l+1})
        if l < L - 1:
            H = f(Z[l])
            A.append(H if masks is None else H * masks[l] * scale)
    P = _softmax(Z[-1]) if config.output_activation == "softmax" else _sigmoid(Z[-1])   # (N, K)
    Y = np.eye(P.shape[1])[y]                                          # (N, K) one-hot

    # the loss, and its gradient with respect to the output layer's pre-activation
    if config.loss == "cross_entropy":
        loss = -np.mean(np.log(P[np.arange(N), y]))
        dZ = (P - Y) / N                    # softmax then cross-entropy: the closed form
    else:
        loss = np.sum((P - Y) ** 2) / N
        dP = 2.0 * (P - Y) / N                                         # (N, K)
        dZ = _output_backward(config.output_activation, P, dP)

    # backward: the chain rule, from the output layer down to the first
    grads = {}
    for l in range(L - 1, -1, -1):
        grads[f"layers.{l}.W"] = A[l].T @ dZ           # (D_l, N) @ (N, D_{l+1}) -> (D_l, D_{l+1})
        grads[f"layers.{l}.b"] = dZ.sum(axis=0)        # (D_{l+1},)
        if l == 0:
            break
        dA = dZ @ W[l].T                               # (N, D_{l+1}) @ (D_{l+1}, D_l) -> (N, D_l)
        if masks is not None:
            dA = dA * masks[l - 1] * scale             # a dropped unit passed nothing forward
        dZ = dA * f_prime(Z[l - 1])                    # (N, D_l)
    return float(loss), P, grads
