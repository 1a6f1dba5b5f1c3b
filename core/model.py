"""The multilayer perceptron: a config dataclass and the network it describes.

    X (N, 784) -> [Dense -> activation -> dropout] * len(hidden_sizes) -> Dense -> output (N, 10)

Parameters live in one dict with dotted keys, ``layers.0.W`` (784, H0), ``layers.0.b`` (H0,), ...,
the last layer being the output layer.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .errors import ConfigError
from .initializers import INITIALIZERS
from .layers import Dense, Dropout
from .losses import LOSSES

MAX_UNITS = 4096          # per hidden layer: beyond this, a 2-core machine can't train it live
MAX_HIDDEN_LAYERS = 6


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

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        self.validate()

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
        if not 0.0 <= self.dropout < 0.95:
            raise ConfigError(f"Dropout {self.dropout} is out of range: use a rate from 0 to 0.9.")

    @property
    def layer_sizes(self):
        return (self.input_size, *self.hidden_sizes, self.output_size)

    def describe(self):
        """e.g. '784-128-10 relu / softmax, cross_entropy'."""
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


class MLP:
    """A fully connected network. ``params`` maps ``layers.i.W`` / ``layers.i.b`` to arrays."""

    def __init__(self, config, rng=None, params=None):
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.activation = HIDDEN_ACTIVATIONS[config.activation]()
        self.output_activation = OUTPUT_ACTIVATIONS[config.output_activation]()
        self.loss_fn = LOSSES[config.loss]()
        self.dropout = Dropout(config.dropout) if config.dropout > 0 else None
        if params is None:
            rng = rng if rng is not None else np.random.default_rng()
            init = INITIALIZERS[config.init]
            params = {}
            sizes = config.layer_sizes
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                params[f"layers.{i}.W"], params[f"layers.{i}.b"] = init(fan_in, fan_out, rng, self.dtype)
        self.params = params
        self._build_layers()

    def _build_layers(self):
        n = len(self.config.layer_sizes) - 1
        self.layers = [Dense(self.params[f"layers.{i}.W"], self.params[f"layers.{i}.b"]) for i in range(n)]

    @property
    def num_parameters(self):
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        return f"MLP({self.config.describe()}, {self.num_parameters:,} parameters)"

    # -- parameters -------------------------------------------------------------------------
    def param_names(self):
        return list(self.params)

    def copy_params(self):
        return {k: v.copy() for k, v in self.params.items()}

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

    def forward(self, X, training=False, rng=None):
        """Run the network on X (N, 784). Returns (output, cache) where output is the (N, 10)
        probabilities and cache keeps what backward needs (inputs, pre-activations, masks)."""
        A = self._as_input(X)
        cache = []          # per hidden layer: (layer input, Z, activation before dropout, mask)
        for layer in self.layers[:-1]:
            Z = layer.forward(A)
            H = self.activation.forward(Z)
            mask = None
            if training and self.dropout is not None:
                mask = self.dropout.mask(H.shape, rng, self.dtype)
            cache.append((A, Z, H, mask))
            A = H if mask is None else H * mask
        logits = self.layers[-1].forward(A)                 # (N, 10)
        return logits, (cache, A)

    def loss_and_grads(self, X, y, rng=None, training=True):
        """Loss on (X, y), the output probabilities (N, 10) and the gradient of every parameter."""
        y = np.asarray(y)
        logits, (cache, last_input) = self.forward(X, training=training, rng=rng)
        if self.loss_fn.fused_with_softmax:
            loss, probs, dZ = self.loss_fn.loss_and_delta(logits, y)
        else:
            probs = self.output_activation.forward(logits)
            loss, dA = self.loss_fn.loss_and_delta(probs, y)
            dZ = self.output_activation.backward(logits, probs, dA)
        grads = {}
        n_hidden = len(self.layers) - 1
        dA, grads[f"layers.{n_hidden}.W"], grads[f"layers.{n_hidden}.b"] = \
            self.layers[-1].backward(last_input, dZ, need_input_grad=n_hidden > 0)
        for i in range(n_hidden - 1, -1, -1):
            A_in, Z, H, mask = cache[i]
            if mask is not None:
                dA = dA * mask
            dZ = self.activation.backward(Z, H, dA)
            dA, grads[f"layers.{i}.W"], grads[f"layers.{i}.b"] = \
                self.layers[i].backward(A_in, dZ, need_input_grad=i > 0)
        return loss, probs, grads

    def predict_proba(self, X, batch_size=8192):
        """Class probabilities (N, 10) for X (N, 784) (or one image (784,) -> (1, 10))."""
        X = self._as_input(X)
        out = np.empty((X.shape[0], self.config.output_size), self.dtype)
        for start in range(0, X.shape[0], batch_size):
            logits, _ = self.forward(X[start:start + batch_size])
            out[start:start + batch_size] = self.output_activation.forward(logits)
        if self.config.output_activation == "sigmoid":
            # independent sigmoids: normalise so the 10 bars read as shares of one guess
            out /= np.maximum(out.sum(axis=1, keepdims=True), np.finfo(self.dtype).tiny)
        return out

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    def hidden_activations(self, X):
        """The activation of every hidden layer for X: a list of (N, H_i) arrays."""
        A = self._as_input(X)
        out = []
        for layer in self.layers[:-1]:
            A = self.activation.forward(layer.forward(A))
            out.append(A)
        return out

    def evaluate(self, X, y, batch_size=8192):
        """Mean loss and accuracy on (X, y), without dropout. Returns (nan, nan) for no data."""
        X = self._as_input(X)
        y = np.asarray(y)
        if X.shape[0] == 0:
            return float("nan"), float("nan")
        total_loss, correct = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            logits, _ = self.forward(Xb)
            if self.loss_fn.fused_with_softmax:
                loss, probs, _ = self.loss_fn.loss_and_delta(logits, yb)
            else:
                probs = self.output_activation.forward(logits)
                loss, _ = self.loss_fn.loss_and_delta(probs, yb)
            total_loss += loss * Xb.shape[0]
            correct += int((probs.argmax(axis=1) == yb).sum())
        return total_loss / X.shape[0], correct / X.shape[0]
