"""Teach it's second reader: a copy of the network that reads every image straightened the way
the visitor's hand turns, leans and squeezes digits, beside the network as it was.

Ten drawings of each digit are too few to teach a network a new way of seeing (measured, issue
25: real digits turned 30 degrees, taught by fine-tuning alone, stay near 94.5% read). But the
network already reads upright digits; what the visitor's hand changes is mostly one affine map
(core.handstyle measures it from their drawings). Undo that map and the original network reads
the drawings almost as well as MNIST. Undoing it is a linear map of the pixels, so it folds into
the first layer's weights, and the result is still a plain MLP:

    784 -> [W1 | U W1] -> 2 x 256 -> [[W2, 0], [0, W2]] -> 2 x 128 -> [W3 ; a W3] -> 10

The first half is the network as it came; the second half is the same network looking through
``U``, the un-warp of the visitor's hand. Their logits add (the second's scaled by ``a``,
TeachConfig.reader_weight, 1 by default: measured best, benchmarks/README.md round 3). Teaching
then trains everything after the first layer (the first layer stays as built: both readers' eyes
are kept) to trust the second reader on drawings in the visitor's hand and the first on the rest,
with the dataset's images and the original model's answers to them holding MNIST in place.

Keeping the first layer fixed also makes teaching cheap: its output for a pool of distorted
dataset images, redrawn ones and drawings is computed once, and each step trains only the
layers after it (a few times less work a step), so a run can take three times the steps in the
same seconds.

    grown = with_reader(model, hand_map, paper=0.0)          # a new MLP, twice as wide
"""
from dataclasses import replace

import numpy as np

from .augment import SIDE, warp
from .errors import ConfigError
from .model import CONV_ROWS, MLP

MAX_GROWN_PARAMETERS = 4_000_000     # beyond this a model is taught without a second reader
GREW = "grew_second_reader"          # the train_config key of a model that grew one


def has_reader(train_config):
    """Whether a saved model's ``train_config`` says it grew a second reader (it grows no other)."""
    return bool((train_config or {}).get(GREW))


def marked(train_config, start, after_config):
    """``train_config`` of a model taught from ``start`` (a SavedModel), marked when it grew a
    reader (its ModelConfig is ``start``'s no more) or ``start`` had one."""
    if after_config != start.model.config or has_reader(start.train_config):
        return {**train_config, GREW: True}
    return train_config


def unwarp_matrix(A, paper=0.0):
    """(M (784, 784), u (784,)) with ``X @ M + paper * u`` the images X (N, 784) sampled at the
    hand map ``A`` (2, 2) about the centre: the drawing as the dataset would have drawn it (the
    inverse of core.handstyle.HandStyle.redraw). ``u``: how much of each pixel comes from
    outside the image (paper)."""
    n = SIDE * SIDE
    A = np.asarray(A, np.float64)
    M = warp(np.eye(n, dtype=np.float32), np.tile(A, (n, 1, 1)), np.zeros((n, 2)), 0.0)
    u = warp(np.zeros((1, n), np.float32), A[None], np.zeros((1, 2)), 1.0)[0]
    return M.astype(np.float64), u.astype(np.float64)


def grown(config):
    """The ModelConfig of ``config`` with a second reader: every hidden layer twice as wide."""
    return replace(config, hidden_sizes=tuple(2 * h for h in config.hidden_sizes))


def can_grow(config):
    """Whether a second reader fits ``config``: a dense MLP (not a conv net) of 28 x 28 inputs
    with at least one hidden layer whose doubled size stays within the limits."""
    if config.layers or not config.hidden_sizes or config.input_size != SIDE * SIDE:
        return False
    try:
        bigger = grown(config)
    except ConfigError:                                # a doubled layer over the unit limit
        return False
    return bigger.num_parameters <= MAX_GROWN_PARAMETERS


def with_reader(model, hand_map, paper=0.0, weight=1.0):
    """A new MLP: ``model`` beside a copy of it that reads through the un-warp of ``hand_map``
    (see the module's text). ``paper``: the pixel value of blank paper in the model's scaling
    (0 for [0, 1], -1 for [-1, 1]); ``weight``: the second reader's share of the logits at the
    start. ``model`` is not changed."""
    config, p = model.config, model.params
    M, u = unwarp_matrix(hand_map, paper)
    last = len(config.hidden_sizes)
    W0, b0 = p["layers.0.W"].astype(np.float64), p["layers.0.b"].astype(np.float64)
    params = {"layers.0.W": np.hstack([W0, M @ W0]),
              "layers.0.b": np.concatenate([b0, b0 + paper * (u @ W0)])}
    for i in range(1, last):
        W, b = p[f"layers.{i}.W"], p[f"layers.{i}.b"]
        zero = np.zeros_like(W)
        params[f"layers.{i}.W"] = np.block([[W, zero], [zero, W]])
        params[f"layers.{i}.b"] = np.concatenate([b, b])
    W, b = p[f"layers.{last}.W"], p[f"layers.{last}.b"]
    params[f"layers.{last}.W"] = np.vstack([W, weight * W])
    params[f"layers.{last}.b"] = b.copy()
    dtype = model.dtype
    return MLP(grown(config), params={k: np.ascontiguousarray(v, dtype) for k, v in params.items()})


def head_of(model):
    """An MLP of the dense layers after ``model``'s first block (sharing its arrays: training
    the head trains the model), and a function from images (N, 784) to that block's output
    (N, features), the head's input, without dropout. The first block: the first dense layer
    and its activation for an MLP; every conv and pool layer for a conv net (their output
    flattened)."""
    from .layers import Flatten
    config = model.config
    if config.layers:
        split = next(i for i, layer in enumerate(model._inference) if isinstance(layer, Flatten))
        first_weights = sum(1 for spec in config.specs if spec.kind == "conv")
        inputs, hidden = config.layer_sizes[0], config.hidden_sizes
    else:
        split, first_weights = 1, 1                      # Dense, then its activation
        inputs, hidden = config.hidden_sizes[0], config.hidden_sizes[1:]
    head_config = replace(config, layers="", input_size=inputs, hidden_sizes=hidden)
    count = len(model.layers)
    params = {f"layers.{i - first_weights}.{k}": model.params[f"layers.{i}.{k}"]
              for i in range(first_weights, count) for k in ("W", "b")}
    head = MLP(head_config, params=params)
    head.key_offset = first_weights                # head's layers.i is the model's layers.i+this
    block = model._inference[:split + 1]

    def first_block(X):
        A = np.asarray(X, model.dtype)
        for layer in block:
            A = layer.forward(A)
        return A
    return head, first_block


def make_pools(first_block, teacher, X_data, y_data, X_extra, y_extra, hand, augment, config,
                  total, per_batch, rng, caps):
    """The pooled teaching data, distorted once: {name: (the first block's activations (n,
    features), labels (n,), the original model's probabilities (n, classes) or None)} for
    "plain" dataset images, dataset images "styled" in the visitor's hand and the "drawings";
    each pool as large as the run would draw (``per_batch`` a step over ``total`` steps), at
    most ``caps``. Made in blocks of CONV_ROWS images (the pixels are not kept)."""
    pools = {}
    for (name, cap), per in zip(caps.items(), per_batch):
        n = min(cap, per * total)
        if name == "drawings":
            rows = rng.permutation(np.arange(n) % len(y_extra))
            X_from, y_from = X_extra, y_extra
        else:
            rows = rng.integers(0, len(y_data), n)
            X_from, y_from = X_data, y_data
        features, probs = [], []
        for begin in range(0, n, CONV_ROWS):
            part = rows[begin:begin + CONV_ROWS]
            Xb = X_from[part]
            if name == "styled":
                Xb = hand.redraw(Xb, y_from[part])
            if augment is not None and (config.augment if name == "drawings"
                                        else config.augment_dataset):
                Xb = augment(Xb, rng)
            F = first_block(Xb)
            features.append(F.astype(np.float16))                   # half the memory
            if name == "plain":
                probs.append(teacher(Xb, F))
        pools[name] = (np.concatenate(features) if features else np.zeros((0, 0)),
                       y_from[rows], np.concatenate(probs) if probs else None)
    return pools, per_batch


def pool_batch(pools, distill, model, rng):
    """(first-layer activations with dropout (B, units), targets (B, classes), labels (B,)): a
    batch drawn from the pools; the plain dataset images' targets are ``distill`` of the
    original model's answer, the rest the label."""
    pools, per_batch = pools
    parts_F, parts_T, parts_y = [], [], []
    classes = model.config.output_size
    for (name, (features, labels, probs)), per in zip(pools.items(), per_batch):
        if not per or not len(labels):
            continue
        rows = rng.integers(0, len(labels), per)
        T = np.zeros((per, classes), model.dtype)
        T[np.arange(per), labels[rows]] = 1
        if probs is not None and distill:
            T = (1 - distill) * T + distill * probs[rows]
        parts_F.append(features[rows])
        parts_T.append(T)
        parts_y.append(labels[rows])
    F = np.concatenate(parts_F).astype(model.dtype)
    if model.dropout is not None and not model.config.layers:   # an MLP's first layer has one
        F *= model.dropout.mask(F.shape, rng, F.dtype)
    return F, np.concatenate(parts_T).astype(model.dtype, copy=False), np.concatenate(parts_y)
