"""A network as a sequence of layers (core.layers' protocol): a config dataclass and the model.

An MLP (``hidden_sizes``):

    X (N, 784) -> [Dense -> activation -> dropout] * len(hidden_sizes) -> Dense -> output (N, 10)

A conv net (``layers``, text as core.architecture reads it, e.g. "conv 8x5, pool 2, dense 128"):

    X (N, 784) -> images (N, 1, 28, 28) -> [Conv2D -> activation | MaxPool2D] ...
               -> Flatten -> [Dense -> activation -> dropout] ... -> Dense -> output (N, 10)

Parameters live in one dict with dotted keys, one pair per weight layer in order:
``layers.0.W`` (784, H0) or (C0, 1, k, k) for a conv, ``layers.0.b`` (H0,), ..., the last being
the output layer.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, ReLU
from .architecture import MAX_UNITS, image_shapes, is_convolutional, layers_text, parse_layers
from .compact import CompactRows  # noqa: F401  (re-exported: core.training imports it from here)
from .conv import Conv2D, MaxPool2D
from .errors import ConfigError
from .initializers import INITIALIZERS
from .layers import Activation, Dense, Dropout, Flatten, Reshape
from .losses import LOSSES

MAX_HIDDEN_LAYERS = 6
MAX_DROPOUT = 0.9         # inclusive; at higher rates too few units survive a step to learn from
# Batches larger than this are processed in chunks of this many rows (2 MB of float32 pixels:
# a chunk's forward and backward pass run while it is still in the CPU cache).
CHUNK_ROWS = 1024
# Inference on a conv net runs in blocks of this many images: a block's im2col columns are
# k * k * C_in times its feature maps (the convnet preset's second layer: 25 MB per 256 images).
CONV_ROWS = 256


@dataclass(frozen=True)
class ModelConfig:
    input_size: int = 784
    hidden_sizes: tuple = (128,)
    output_size: int = 10
    activation: str = "relu"
    output_activation: str = "softmax"
    loss: str = "cross_entropy"
    init: str = "he"
    dropout: float = 0.0
    dtype: str = "float32"
    layers: str = ""          # "" for an MLP of hidden_sizes; else core.architecture's text form,
                              # which then sets hidden_sizes to its dense layers' sizes

    def __post_init__(self):
        if self.layers:
            specs = parse_layers(self.layers)
            object.__setattr__(self, "layers", layers_text(specs) if is_convolutional(specs) else "")
            object.__setattr__(self, "hidden_sizes", tuple(s.units for s in specs if s.kind == "dense"))
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        self.validate()

    @property
    def specs(self):
        """The hidden layers as core.architecture.LayerSpecs (dense ones only for an MLP)."""
        if self.layers:
            return parse_layers(self.layers)
        return parse_layers(", ".join(str(h) for h in self.hidden_sizes))

    @property
    def is_convolutional(self):
        return bool(self.layers)

    @property
    def image_side(self):
        side = int(round(self.input_size ** 0.5))
        return side if side * side == self.input_size else None

    def validate(self):
        def choose(field, value, options):
            if value not in options:
                raise ConfigError(f"Unknown {field} {value!r}: choose one of {', '.join(options)}.")
        choose("activation", self.activation, HIDDEN_ACTIVATIONS)
        choose("output activation", self.output_activation, OUTPUT_ACTIVATIONS)
        choose("loss", self.loss, LOSSES)
        choose("initialiser", self.init, INITIALIZERS)
        choose("dtype", self.dtype, ("float32", "float64"))
        if self.loss == "cross_entropy" and self.output_activation != "softmax":
            raise ConfigError("Cross-entropy is computed with a softmax output: set the output "
                              "activation to softmax, or use the MSE loss with a sigmoid output.")
        if len(self.hidden_sizes) > MAX_HIDDEN_LAYERS:
            raise ConfigError(f"{len(self.hidden_sizes)} hidden layers is too many: use at most "
                              f"{MAX_HIDDEN_LAYERS}.")
        for size in self.hidden_sizes:
            if not 1 <= size <= MAX_UNITS:
                raise ConfigError(f"A hidden layer of {size} units is not possible: each hidden "
                                  f"layer needs between 1 and {MAX_UNITS} units.")
        if self.input_size < 1 or self.output_size < 2:
            raise ConfigError("The network needs at least 1 input and 2 output classes.")
        if not 0.0 <= self.dropout <= MAX_DROPOUT:
            raise ConfigError(f"Dropout {self.dropout} is out of range: use a rate from 0 to "
                              f"{MAX_DROPOUT}.")
        if self.layers:
            if self.image_side is None:
                raise ConfigError(f"Conv layers need square images; {self.input_size} inputs are not.")
            image_shapes(self.specs, self.image_side)

    @property
    def image_shapes(self):
        """(C, H, W) after each conv or pool layer; () for an MLP."""
        return tuple(image_shapes(self.specs, self.image_side)) if self.layers else ()

    @property
    def layer_sizes(self):
        """(inputs, hidden sizes..., outputs) of the dense layers; for a conv net the first is the
        size of the flattened image the first dense layer reads."""
        first = self.input_size
        if self.layers:
            C, H, W = self.image_shapes[-1]
            first = C * H * W
        return (first, *self.hidden_sizes, self.output_size)

    def weight_shapes(self):
        """[(W shape, b shape)] of every weight layer, in key order (layers.0, layers.1, ...)."""
        shapes, channels = [], 1
        for spec in (self.specs if self.layers else ()):
            if spec.kind == "conv":
                shapes.append(((spec.units, channels, spec.kernel, spec.kernel), (spec.units,)))
                channels = spec.units
        sizes = self.layer_sizes
        shapes += [((fan_in, fan_out), (fan_out,)) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
        return shapes

    @property
    def num_parameters(self):
        """Weights and biases of every layer: for a dense one (fan_in + 1) * fan_out."""
        return sum(int(np.prod(w)) + int(np.prod(b)) for w, b in self.weight_shapes())

    def describe(self):
        """e.g. '784-128-10 relu / softmax, cross_entropy', or for a conv net
        'conv 8x5, pool 2, dense 128, 10 out; relu / softmax, cross_entropy'."""
        if self.layers:
            return (f"{self.layers}, {self.output_size} out; {self.activation} / "
                    f"{self.output_activation}, {self.loss}")
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"{sizes} {self.activation} / {self.output_activation}, {self.loss}"

    def to_dict(self):
        d = asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _pool_before_relu(sequence):
    """``sequence`` with every ReLU that a max pool follows moved after the pool: the same numbers
    and the same gradients, on a quarter of the values. Max pooling commutes with a non-decreasing
    function, so the forward values agree; the gradient goes to the block's largest pre-activation,
    the element whose ReLU won the block, except when the block's largest is <= 0, where the ReLU
    sends 0 either way. (Not done for the other activations: their rounding can make two different
    inputs equal outputs, and then the two orders could pick different winners.) Measured on the
    convnet preset, batch 128, one thread: a training step 32.7 -> 29.8 ms of CPU time (the first
    ReLU runs on 16 x 12 x 12 maps instead of 16 x 24 x 24, before and after)."""
    out = list(sequence)
    for i in range(len(out) - 1):
        if (isinstance(out[i], Activation) and isinstance(out[i].function, ReLU)
                and isinstance(out[i + 1], MaxPool2D)):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _require_generator(rng, purpose):
    """Refuse anything but a np.random.Generator: a None would mean an unseeded, unrepeatable run
    (or an AttributeError deep inside a draw), and an int seed is too easily shared by mistake."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{purpose} needs a random generator: pass rng=np.random.default_rng(seed) "
                        f"(got {type(rng).__name__}).")


class MLP:
    """A network of layers (an MLP, or a conv net when ``config.layers`` says so). ``params`` maps
    ``layers.i.W`` / ``layers.i.b`` to arrays; ``layers`` are its weight layers (Dense or Conv2D,
    ``layers[i]`` holding ``layers.i.*``); ``sequence`` is every layer in order, the activations,
    dropout, pooling and reshapes included, which training and explanations walk.

    ``MLP(config, rng)`` draws new weights from ``rng`` (a np.random.Generator, required so that
    every run can be repeated); ``MLP(config, params=params)`` wraps existing weights.
    """

    def __init__(self, config, rng=None, params=None):
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.activation = HIDDEN_ACTIVATIONS[config.activation]()
        self.output_activation = OUTPUT_ACTIVATIONS[config.output_activation]()
        self.loss_fn = LOSSES[config.loss](self.output_activation)
        # one Dropout shared by every dense hidden layer (it keeps nothing between calls)
        self.dropout = Dropout(config.dropout) if config.dropout > 0 else None
        if params is None:
            _require_generator(rng, "Initialising a network's weights")
            init = INITIALIZERS[config.init]
            params = {}
            for i, (w_shape, _) in enumerate(config.weight_shapes()):
                if len(w_shape) == 4:                                  # conv (C_out, C_in, k, k)
                    fan_in, fan_out = int(np.prod(w_shape[1:])), w_shape[0]
                    W, b = init(fan_in, fan_out, rng, self.dtype)      # (C_in*k*k, C_out)
                    W = np.ascontiguousarray(W.T).reshape(w_shape)
                else:
                    W, b = init(*w_shape, rng, self.dtype)             # (fan_in, fan_out)
                params[f"layers.{i}.W"], params[f"layers.{i}.b"] = W, b
        self.params = params
        self._build_layers()

    def _build_layers(self):
        config = self.config
        hidden = Activation(self.activation)
        weight_layers, sequence = [], []

        def weights(make, **kwargs):
            i = len(weight_layers)
            layer = make(self.params[f"layers.{i}.W"], self.params[f"layers.{i}.b"], **kwargs)
            layer.key = f"layers.{i}."
            weight_layers.append(layer)
            sequence.append(layer)

        shape = None                                       # (C, H, W) while the data are images
        if config.layers:
            shape = (1, config.image_side, config.image_side)
            sequence.append(Reshape(shape))
        for spec in config.specs:
            if spec.kind == "conv":
                weights(Conv2D, padding=spec.padding)
                shape = weight_layers[-1].output_shape(shape)
                sequence.append(hidden)
            elif spec.kind == "pool":
                sequence.append(MaxPool2D())
                shape = sequence[-1].output_shape(shape)
            else:
                if shape is not None:
                    sequence.append(Flatten(shape))
                    shape = None
                weights(Dense)
                sequence.append(hidden)
                if self.dropout is not None:
                    sequence.append(self.dropout)
        if shape is not None:
            sequence.append(Flatten(shape))
        weights(Dense)                                     # the output layer: logits
        self.layers, self.sequence = weight_layers, sequence
        self._inference = [layer for layer in sequence if not isinstance(layer, Dropout)]
        # what forward_train and backward walk: the same layers, a ReLU that a pool follows moved
        # after the pool
        self._steps = {True: _pool_before_relu(self.sequence), False: _pool_before_relu(self._inference)}
        # below the first layer with weights no gradient is needed (the images' is not)
        self._first_weighted = {id(seq): next(i for i, layer in enumerate(seq) if layer.params)
                                for seq in self._steps.values()}

    @property
    def num_parameters(self):
        """The size of the arrays the model holds; the same as ``config.num_parameters``."""
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        return f"MLP({self.config.describe()}, {self.num_parameters:,} parameters)"

    # -- parameters -------------------------------------------------------------------------
    def param_names(self):
        return list(self.params)

    def copy_params(self):
        return {k: v.copy() for k, v in self.params.items()}

    def take_over(self, other):
        """Become ``other`` (another MLP): its config, weights and layers, in place, so that
        whoever holds this model holds the new one (teaching's second reader grows a model)."""
        self.__dict__.update(other.__dict__)

    def load_params(self, params):
        """Copy ``params`` into the model's own arrays (keeps optimiser references valid)."""
        for k, v in params.items():
            self.params[k][...] = v

    def params_finite(self):
        return all(np.isfinite(p).all() for p in self.params.values())

    # -- forward / backward -----------------------------------------------------------------
    def _as_input(self, X):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.config.input_size:
            raise ConfigError(f"The network takes rows of {self.config.input_size} pixels; got an "
                              f"array of shape {X.shape}.")
        return X.astype(self.dtype, copy=False)

    def forward(self, X):
        """The (N, 10) logits for X (N, 784): the output layer's pre-activations, before the
        softmax or sigmoid (``predict_proba`` applies it). Inference only: no dropout, nothing
        kept for a backward pass (training uses ``loss_and_grads``)."""
        A = self._as_input(X)
        for layer in self._inference:
            A = layer.forward(A)
        return A

    def forward_train(self, X, rng=None, training=True):
        """(logits (N, 10), the caches of every layer) for backward; X (N, 784) rows, or the
        parts of a CompactRows group for a first dense layer. Dropout when ``training``."""
        sequence = self._steps[training]
        caches = []
        A = X
        for layer in sequence:
            A, cache = layer.forward_train(A, rng)
            caches.append(cache)
        return A, caches

    def backward(self, caches, dZ, training=True, grads_out=None, input_grad=False):
        """The chain rule through every layer, from dL/dlogits ``dZ`` (N, 10) and the caches of
        ``forward_train``: {``layers.i.W``: dL/dW, ...} (added into ``grads_out`` when given),
        and dL/dX (N, 784) when ``input_grad``."""
        sequence = self._steps[training]
        grads = {} if grads_out is None else grads_out
        first = 0 if input_grad else self._first_weighted[id(sequence)]
        for i in range(len(sequence) - 1, first - 1, -1):
            layer = sequence[i]
            dZ, layer_grads = layer.backward(caches[i], dZ, need_input_grad=i > first or input_grad)
            for name, grad in layer_grads.items():
                key = layer.key + name
                if grads_out is None:
                    grads[key] = grad
                else:
                    grads[key] += grad
        return (grads, dZ) if input_grad else grads

    def loss_and_grads(self, X, y, rng=None, training=True):
        """Loss on (X, y), the output probabilities (N, 10) and the gradient of every parameter.

        A batch of more than ``CHUNK_ROWS`` rows (full-batch training) is processed in chunks:
        the forward and backward pass of each chunk run while its rows are still in the CPU cache,
        so the data is read from memory once per step instead of twice, and no (N, hidden)
        intermediate is ever allocated. The gradients add up to those of the whole batch; with
        dropout the masks are drawn chunk by chunk.

        With dropout and ``training=True``, ``rng`` (a np.random.Generator) draws the masks;
        ``training=False`` computes the loss without dropout and needs no rng.
        """
        self._check_dropout_rng(rng, training)
        y = np.asarray(y)
        X = self._as_input(X)
        N = X.shape[0]
        chunk = CONV_ROWS if self.config.layers else CHUNK_ROWS
        if N <= chunk:
            loss_sum, probs, grads = self._block(X, y, N, rng, training)
            return loss_sum / N, probs, grads
        grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        probs = np.empty((N, self.config.output_size), self.dtype)
        loss_sum = 0.0
        for start in range(0, N, chunk):
            stop = min(start + chunk, N)
            part, probs[start:stop], _ = self._block(X[start:stop], y[start:stop], N, rng, training,
                                                     grads_out=grads)
            loss_sum += part
        return loss_sum / N, probs, grads

    def loss_and_grads_compact(self, plan, rng=None, training=True):
        """``loss_and_grads(X, y)`` for the rows a ``CompactRows`` plan holds (probabilities in
        the original row order): the same numbers up to rounding, in about half the time.
        (Sharing the groups among 2 threads was measured: no faster, the parts are too small
        to outweigh the interpreter lock.) Only for an MLP: its first layer is dense."""
        if self.config.layers:
            raise ConfigError("The compact full-batch plan is for networks whose first layer is dense.")
        self._check_dropout_rng(rng, training)
        N = plan.n_rows
        grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        sorted_probs = np.empty((N, self.config.output_size), self.dtype)   # in plan order
        loss_sum = 0.0
        for start, stop, parts in plan.groups:
            part, sorted_probs[start:stop], _ = self._block(
                parts, plan.y[start:stop], N, rng, training, grads_out=grads)
            loss_sum += part
        probs = np.empty_like(sorted_probs)
        probs[plan.order] = sorted_probs                                      # original order
        return loss_sum / N, probs, grads

    def _check_dropout_rng(self, rng, training):
        if training and self.dropout is not None and not isinstance(rng, np.random.Generator):
            raise ConfigError(
                f"Dropout ({self.config.dropout}) needs a random generator: pass "
                f"rng=np.random.default_rng(seed), or training=False for the loss without dropout "
                f"(got rng={rng!r}).")

    def _block(self, X, y, denominator, rng, training, grads_out=None):
        """Forward and backward on one block of rows (or a CompactRows group's parts): (sum of
        its losses, its probabilities, grads) with dZ scaled by 1 / denominator. With
        ``grads_out`` the gradients are added into those arrays."""
        logits, caches = self.forward_train(X, rng, training)          # (n, 10)
        loss_sum, probs, dZ = self.loss_fn.loss_sum_and_delta(logits, y, denominator)
        return loss_sum, probs, self.backward(caches, dZ, training, grads_out)

    def predict_proba(self, X, batch_size=8192):
        """Class probabilities (N, 10) for X (N, 784) (or one image (784,) -> (1, 10))."""
        X = self._as_input(X)
        if self.config.layers:
            batch_size = min(batch_size, CONV_ROWS)    # a conv net's im2col columns grow per image
        out = np.empty((X.shape[0], self.config.output_size), self.dtype)
        for start in range(0, X.shape[0], batch_size):
            logits = self.forward(X[start:start + batch_size])
            out[start:start + batch_size] = self.output_activation.forward(logits)
        if self.config.output_activation == "sigmoid":
            # independent sigmoids: normalise so the 10 bars read as shares of one guess
            out /= np.maximum(out.sum(axis=1, keepdims=True), np.finfo(self.dtype).tiny)
        return out

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    def hidden_activations(self, X):
        """The activation of every hidden weight layer for X: a list of (N, H_i) arrays for dense
        layers, (N, C, H, W) feature maps for conv layers."""
        A = self._as_input(X)
        out = []
        for layer in self._inference[:-1]:
            A = layer.forward(A)
            if isinstance(layer, Activation):
                out.append(A)
        return out

    def evaluate(self, X, y, batch_size=8192):
        """Mean loss and accuracy on (X, y), without dropout. Returns (nan, nan) for no data."""
        X = self._as_input(X)
        y = np.asarray(y)
        if X.shape[0] == 0:
            return float("nan"), float("nan")
        if self.config.layers:
            batch_size = min(batch_size, CONV_ROWS)
        total_loss, correct = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            loss, probs, _ = self.loss_fn.loss_and_delta(self.forward(Xb), yb)
            total_loss += loss * Xb.shape[0]
            correct += int((probs.argmax(axis=1) == yb).sum())
        return total_loss / X.shape[0], correct / X.shape[0]
