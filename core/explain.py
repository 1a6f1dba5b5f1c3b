"""Why did it say that? Gradients with respect to the input pixels, and saliency.

Everything here speaks in *pixels* in [0, 1], (N, 784), as the visitor draws them, and takes the
model's input scaling ("unit": the network reads the pixels; "symmetric": it reads 2p - 1), so a
gradient says what changing a pixel of the drawing would do. Dropout is never applied: these
explain the network as it predicts. Computed in the model's dtype (float32 for the app's models;
tests/test_explain.py checks a float64 model against central differences).

    trace(model, pixels, scaling) -> Trace       every layer's pre-activation and activation
    logit_gradient(trace, classes, score)        d score / d logits (N, K) for "logit" | "log_prob"
    input_gradient(model, pixels, classes, score, scaling) -> (scores (N,), grads (N, 784))
    unit_input_gradient(model, pixels, layer, unit, scaling) -> (784,)   d z_unit / d pixels
    output_sensitivity(trace, model, layer, unit) -> (K,)   d logits / d (one hidden activation)
    saliency(model, pixels, cls, method, scaling) -> (784,)  "gradient_x_input" | "gradient"

The scores: "logit" is the class's raw score (the output layer's pre-activation), which does not
saturate when the network is sure; "log_prob" is the log of the probability the app shows (the
softmax, or the normalised sigmoids of a sigmoid output, as ``MLP.predict_proba``).
"""
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

SCORES = ("logit", "log_prob")
SALIENCY_METHODS = ("gradient_x_input", "gradient")


def to_model_input(pixels, scaling="unit", dtype=np.float32):
    """Pixels (N, 784) in [0, 1] -> the rows the network reads, in its scaling."""
    X = np.asarray(pixels, dtype=dtype)
    if scaling == "symmetric":
        return X * 2 - 1
    if scaling != "unit":
        raise ConfigError(f"Unknown scaling {scaling!r}: choose unit or symmetric.")
    return X


def _pixel_factor(scaling):
    """d (model input) / d pixel: the chain rule's last link."""
    return 2.0 if scaling == "symmetric" else 1.0


@dataclass(frozen=True)
class Trace:
    """One forward pass with everything kept. With L weight layers:

    inputs[l]   (N, D_l): what layer l reads (inputs[0] is the model input; inputs[l], l >= 1,
                the activation of hidden layer l)
    pre[l]      (N, D_{l+1}): layer l's pre-activation Z = inputs[l] @ W_l + b_l; pre[-1] are
                the logits
    """
    inputs: list
    pre: list

    @property
    def logits(self):
        return self.pre[-1]

    @property
    def hidden(self):
        """The hidden layers' activations, as ``MLP.hidden_activations``."""
        return self.inputs[1:]


def _as_rows(pixels):
    X = np.asarray(pixels)
    return X[None, :] if X.ndim == 1 else X


def trace(model, pixels, scaling="unit"):
    """The forward pass of ``model`` (a core.model.MLP, conv net or not) on pixels (N, 784) or
    (784,), keeping every weight layer's input and pre-activation (a Trace). No dropout. For a
    conv net, a conv layer's input and pre-activation are images (N, C, H, W), and a dense layer
    after pooling reads the pooled maps flattened."""
    X = to_model_input(_as_rows(pixels), scaling, model.dtype)
    if X.ndim != 2 or X.shape[1] != model.config.input_size:
        raise ConfigError(f"The network takes rows of {model.config.input_size} pixels; got an "
                          f"array of shape {np.shape(pixels)}.")
    if not model.config.is_convolutional:
        inputs, pre = [X], []
        n_layers = len(model.layers)
        for l, layer in enumerate(model.layers):
            Z = inputs[-1] @ layer.W + layer.b             # (N, D_l) @ (D_l, D_{l+1})
            pre.append(Z)
            if l < n_layers - 1:
                inputs.append(model.activation.forward(Z))
        return Trace(inputs, pre)
    inputs, pre, A = [], [], X
    weighted = {id(layer) for layer in model.layers}
    for layer in model._inference:                         # no dropout
        if id(layer) in weighted:
            inputs.append(A)
            A = layer.forward(A)
            pre.append(A)
        else:
            A = layer.forward(A)
    return Trace(inputs, pre)


def probabilities(model, logits):
    """What ``MLP.predict_proba`` shows, from logits (N, K): the softmax, or the sigmoids
    normalised to sum to 1."""
    P = model.output_activation.forward(logits)
    if model.config.output_activation == "sigmoid":
        P = P / np.maximum(P.sum(axis=1, keepdims=True), np.finfo(P.dtype).tiny)
    return P


def class_scores(model, logits, classes, score="logit"):
    """The score of ``classes`` (N,) for each row of ``logits`` (N, K)."""
    rows = np.arange(logits.shape[0])
    if score == "logit":
        return logits[rows, classes]
    if score == "log_prob":
        if model.config.output_activation == "softmax":
            top = logits.max(axis=1)
            log_sum = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            return logits[rows, classes] - log_sum
        log_s = -np.logaddexp(0, -logits)                  # log sigmoid(z), never overflows
        top = log_s.max(axis=1)
        log_total = top + np.log(np.exp(log_s - top[:, None]).sum(axis=1))
        return log_s[rows, classes] - log_total
    raise ConfigError(f"Unknown score {score!r}: choose one of {', '.join(SCORES)}.")


def logit_gradient(model, logits, classes, score="logit"):
    """d score(class) / d logits, (N, K), for each row's class in ``classes`` (N,)."""
    N, K = logits.shape
    onehot = np.zeros((N, K), logits.dtype)
    onehot[np.arange(N), classes] = 1
    if score == "logit":
        return onehot
    if score != "log_prob":
        raise ConfigError(f"Unknown score {score!r}: choose one of {', '.join(SCORES)}.")
    if model.config.output_activation == "softmax":
        return onehot - probabilities(model, logits)       # d log softmax_k / dz = e_k - p
    # p_k = s_k / S with s = sigmoid(z), S = sum_j s_j:
    # d log p_k / dz_j = (1 - s_k) [j == k] - s_j (1 - s_j) / S
    s = model.output_activation.forward(logits)
    total = np.maximum(s.sum(axis=1, keepdims=True), np.finfo(s.dtype).tiny)
    return onehot * (1 - s) - s * (1 - s) / total


def backward_to_input(model, tr, layer, dZ, scaling="unit"):
    """d (something) / d pixels (N, 784), given its gradient ``dZ`` (N, D_{layer+1}) with respect
    to weight layer ``layer``'s pre-activation (layer L-1 is the output layer)."""
    for l in range(layer, -1, -1):
        dA, _ = model.layers[l].backward(tr.inputs[l], dZ)    # (N, D_{l+1}) -> (N, D_l)
        if l == 0:
            return dA * dA.dtype.type(_pixel_factor(scaling))
        dZ = model.activation.backward(tr.pre[l - 1], tr.inputs[l], dA)


def input_gradient(model, pixels, classes, score="logit", scaling="unit"):
    """(scores (N,), d score / d pixels (N, 784)) of class ``classes[n]`` (an int for all rows,
    or (N,) ints) for each row of ``pixels``, with the network reading them in ``scaling``.
    Any network of core.layers (MLP or conv net): the model's own backward pass, down to the
    pixels."""
    X = to_model_input(_as_rows(pixels), scaling, model.dtype)
    if X.ndim != 2 or X.shape[1] != model.config.input_size:
        raise ConfigError(f"The network takes rows of {model.config.input_size} pixels; got an "
                          f"array of shape {np.shape(pixels)}.")
    logits, caches = model.forward_train(X, training=False)              # (N, K)
    N = logits.shape[0]
    classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), (N,))
    G = logit_gradient(model, logits, classes, score)                    # (N, K)
    _, grads = model.backward(caches, G, training=False, input_grad=True)
    return class_scores(model, logits, classes, score), grads * grads.dtype.type(_pixel_factor(scaling))


def unit_input_gradient(model, pixels, layer, unit, scaling="unit"):
    """d z / d pixels (784,) for the pre-activation z of ``unit`` in weight layer ``layer`` (0 =
    the first hidden layer, L-1 the outputs) at one drawing: what the unit looks for around it.
    For layer 0 it is the unit's weights (times 2 for "symmetric" scaling)."""
    tr = trace(model, pixels, scaling)
    dZ = np.zeros_like(tr.pre[layer])
    dZ[:, unit] = 1
    return backward_to_input(model, tr, layer, dZ, scaling)[0]


def output_sensitivity(model, tr, layer, unit):
    """d logits / d a (K,): how the logits move when the activation a of ``unit`` in hidden layer
    ``layer`` (0 = the first) rises, at the drawing of ``tr`` (row 0), the rest held fixed. For the
    last hidden layer this is the unit's outgoing weights."""
    dZ = np.asarray(model.layers[layer + 1].W[unit], dtype=tr.pre[0].dtype)      # (D_{l+2},)
    for l in range(layer + 1, len(model.layers) - 1):
        A = tr.inputs[l + 1][0]
        dA = model.activation.backward(tr.pre[l][0], A, dZ)                      # through f
        dZ = dA @ model.layers[l + 1].W
    return dZ


def saliency(model, pixels, cls, method="gradient_x_input", scaling="unit"):
    """Which pixels pushed the score (logit) of class ``cls`` up (> 0) or down (< 0), (784,).

    "gradient": d logit / d pixel, where more ink would raise (or lower) the score, defined
    everywhere, inked or not. "gradient_x_input": pixel * d logit / d pixel, the ink that is
    there, weighed by its effect: (x - blank) times the gradient, with a blank canvas (no ink) as
    the baseline in either scaling, so the background never counts.
    """
    if method not in SALIENCY_METHODS:
        raise ConfigError(f"Unknown saliency {method!r}: choose one of "
                          f"{', '.join(SALIENCY_METHODS)}.")
    pixels = np.asarray(pixels).reshape(-1)
    _, grads = input_gradient(model, pixels, cls, "logit", scaling)
    grad = grads[0]
    return grad if method == "gradient" else grad * pixels.astype(grad.dtype)


def square_side(size):
    """The side of a square image of ``size`` pixels, or None when it is not square."""
    side = int(round(size ** 0.5))
    return side if side * side == size else None


def _blur_matrix(n, sigma, dtype):
    """(n, n) rows of a Gaussian kernel, each summing to 1 (edges renormalised)."""
    offsets = np.arange(n)[:, None] - np.arange(n)[None, :]
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= max(1, int(3 * sigma + 1)))
    return (kernel / kernel.sum(axis=1, keepdims=True)).astype(dtype)


def smooth(images, sigma):
    """A Gaussian blur of each row of ``images`` (N, side*side), as square pictures; rows that are
    not square pictures, and sigma <= 0, are returned unchanged. Used to keep gradient steps
    smooth: a step of blurred gradient adds strokes, not salt and pepper."""
    images = np.asarray(images)
    side = square_side(images.shape[-1])
    if not sigma or sigma <= 0 or side is None:
        return images
    B = _blur_matrix(side, float(sigma), images.dtype)                         # (side, side)
    squares = images.reshape(-1, side, side)
    return (B @ squares @ B.T).reshape(images.shape)                          # rows, then columns
