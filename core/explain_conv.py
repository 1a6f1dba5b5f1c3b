"""A conv net's feature maps for one drawing, and the arithmetic behind one value of a map.

Everything speaks in pixels (784,) in [0, 1], as core.explain, with the model's input scaling.

    feature_stages(model, pixels, scaling) -> [Stage]    every conv (after its activation) and pool
                                                         layer's maps (C, H, W) for one drawing
    strongest(stage, channel) -> (row, col)              where a map responds most
    map_arithmetic(model, stages, s, channel, row, col) -> MapArithmetic
                                                         the patch, the filter, the sum, z, a
    map_input_gradient(model, pixels, s, channel, scaling) -> (784,)
                                                         d (the map's sum) / d pixels: what the
                                                         map responds to, around this drawing

A stage's ``position`` is its index in ``model.sequence`` (the layer whose output it is), so the
gradient walks back from there with the layers' own backward passes.
"""
from dataclasses import dataclass

import numpy as np

from .conv import Conv2D, MaxPool2D
from .errors import ConfigError
from .explain import _as_rows, _pixel_factor, to_model_input
from .layers import Activation, Dropout


@dataclass(frozen=True)
class Stage:
    kind: str                  # "conv" (its activation's output) | "pool"
    number: int                # 1, 2, ... among the conv layers (a pool: the conv layer before it)
    position: int              # index in model.sequence of the layer whose output these maps are
    maps: np.ndarray           # (C, H, W) for the drawing
    inputs: np.ndarray         # (C_in, H_in, W_in) what the stage read (a conv: its input images)
    pre: np.ndarray | None     # (C, H, W) a conv's pre-activation z, None for a pool
    layer: object              # the Conv2D (for a conv stage) or the MaxPool2D

    @property
    def title(self):
        C, H, W = self.maps.shape
        if self.kind == "conv":
            k = self.layer.kernel
            return f"Conv {self.number}: {C} filters {k}x{k} → {C} maps {H}x{W}"
        return f"Pool {self.number}: the largest of each 2x2 → {C} maps {H}x{W}"


def feature_stages(model, pixels, scaling="unit"):
    """The feature maps of one drawing (784,) after every conv layer (activation applied) and
    every pool layer, in order; [] for an MLP."""
    if not model.config.is_convolutional:
        return []
    X = to_model_input(_as_rows(pixels)[:1], scaling, model.dtype)            # (1, 784)
    stages, A, conv, conv_in, conv_pre, number = [], X, None, None, None, 0
    for position, layer in enumerate(model.sequence):
        if isinstance(layer, Dropout):
            continue
        before, A = A, layer.forward(A)
        if isinstance(layer, Conv2D):
            conv, conv_in, conv_pre, number = layer, before[0], A[0], number + 1
        elif isinstance(layer, Activation) and A.ndim == 4:
            stages.append(Stage("conv", number, position, np.array(A[0]), np.array(conv_in),
                                np.array(conv_pre), conv))
        elif isinstance(layer, MaxPool2D):
            stages.append(Stage("pool", number, position, np.array(A[0]), np.array(before[0]),
                                None, layer))
        if A.ndim == 2 and stages:
            break
    return stages


def strongest(stage, channel):
    """(row, col) of the largest value of map ``channel``."""
    m = stage.maps[channel]
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(m)), m.shape))


@dataclass(frozen=True)
class MapArithmetic:
    """How one value of a map was made. A conv: a = f(z), z = b + sum(patch * filter) over the
    C_in x k x k inputs under the filter. A pool: a = the largest of the 2x2 block."""
    kind: str
    row: int
    col: int
    patch: np.ndarray          # (C_in, k, k) for a conv, (2, 2) for a pool
    weights: np.ndarray | None  # (C_in, k, k) the filter, None for a pool
    bias: float
    z: float                   # the weighted sum (a pool: the largest input)
    a: float                   # the map's value


def map_arithmetic(stages, s, channel, row, col):
    """The arithmetic of value (row, col) of map ``channel`` of stage ``s``."""
    stage = stages[s]
    a = float(stage.maps[channel, row, col])
    if stage.kind == "pool":
        patch = stage.inputs[channel, 2 * row:2 * row + 2, 2 * col:2 * col + 2]
        return MapArithmetic("pool", row, col, np.array(patch), None, 0.0, float(patch.max()), a)
    layer = stage.layer
    k = layer.kernel
    images = stage.inputs
    if layer.padding == "same":
        from .conv import same_padding
        before, after = same_padding(k)
        images = np.pad(images, ((0, 0), (before, after), (before, after)))
    patch = np.array(images[:, row:row + k, col:col + k])                  # (C_in, k, k)
    W = np.asarray(layer.W[channel])                                        # (C_in, k, k)
    b = float(layer.b[channel])
    return MapArithmetic("conv", row, col, patch, np.array(W), b, float(stage.pre[channel, row, col]), a)


def map_input_gradient(model, pixels, stage, channel, scaling="unit"):
    """d (sum of map ``channel`` of ``stage``) / d pixels, (784,), at one drawing: where more ink
    would make the map respond more (> 0) or less (< 0). The layers' own backward passes."""
    X = to_model_input(_as_rows(pixels)[:1], scaling, model.dtype)
    if X.shape[1] != model.config.input_size:
        raise ConfigError(f"The network takes rows of {model.config.input_size} pixels.")
    layers = model.sequence[:stage.position + 1]
    caches, A = [], X
    for layer in layers:
        A, cache = layer.forward_train(A, None)
        caches.append(cache)
    dA = np.zeros_like(A)
    dA[:, channel] = 1
    for layer, cache in zip(reversed(layers), reversed(caches)):
        dA, _ = layer.backward(cache, dA, need_input_grad=True)
    return np.asarray(dA).reshape(-1) * _pixel_factor(scaling)
