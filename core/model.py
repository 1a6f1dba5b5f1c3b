"""The multilayer perceptron: a config dataclass and the network it describes.

    X (N, 784) -> [Dense -> activation -> dropout] * len(hidden_sizes) -> Dense -> output (N, 10)

Parameters live in one dict with dotted keys, ``layers.0.W`` (784, H0), ``layers.0.b`` (H0,), ...,
the last layer being the output layer.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .compact import CompactRows  # also re-exported: core.training imports it from here
from .errors import ConfigError
from .initializers import INITIALIZERS
from .layers import Dense, Dropout
from .losses import LOSSES

MAX_UNITS = 4096          # per hidden layer: beyond this, a 2-core machine can't train it live
MAX_HIDDEN_LAYERS = 6
MAX_DROPOUT = 0.9         # inclusive; at higher rates too few units survive a step to learn from
# Batches larger than this are processed in chunks of this many rows (2 MB of float32 pixels:
# a chunk's forward and backward pass run while it is still in the CPU cache).
CHUNK_ROWS = 1024


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
        if not 0.0 <= self.dropout <= MAX_DROPOUT:
            raise ConfigError(f"Dropout {self.dropout} is out of range: use a rate from 0 to "
                              f"{MAX_DROPOUT}.")

    @property
    def layer_sizes(self):
        return (self.input_size, *self.hidden_sizes, self.output_size)

    @property
    def num_parameters(self):
        """Weights and biases of every layer: sum of (fan_in + 1) * fan_out."""
        sizes = self.layer_sizes
        return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))

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


def _column_sums(M):
    """M.sum(axis=0) for a (n, k) array, as a matrix-vector product: NumPy's reduction over the
    rows of a narrow array is several times slower than the BLAS."""
    return np.ones(M.shape[0], M.dtype) @ M


def _require_generator(rng, purpose):
    """Refuse anything but a np.random.Generator: a None would mean an unseeded, unrepeatable run
    (or an AttributeError deep inside a draw), and an int seed is too easily shared by mistake."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{purpose} needs a random generator: pass rng=np.random.default_rng(seed) "
                        f"(got {type(rng).__name__}).")


class MLP:
    """A fully connected network. ``params`` maps ``layers.i.W`` / ``layers.i.b`` to arrays.

    ``MLP(config, rng)`` draws new weights from ``rng`` (a np.random.Generator, required so that
    every run can be repeated); ``MLP(config, params=params)`` wraps existing weights.
    """

    def __init__(self, config, rng=None, params=None):
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.activation = HIDDEN_ACTIVATIONS[config.activation]()
        self.output_activation = OUTPUT_ACTIVATIONS[config.output_activation]()
        self.loss_fn = LOSSES[config.loss]()
        self.dropout = Dropout(config.dropout) if config.dropout > 0 else None
        if params is None:
            _require_generator(rng, "Initialising an MLP's weights")
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
        """The size of the arrays the model holds; the same as ``config.num_parameters``."""
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

    def forward(self, X):
        """The (N, 10) logits for X (N, 784): the output layer's pre-activations, before the
        softmax or sigmoid (``predict_proba`` applies it). Inference only: no dropout, nothing
        kept for a backward pass (training uses ``loss_and_grads``)."""
        A = self._as_input(X)
        for layer in self.layers[:-1]:
            A = self.activation.forward(layer.forward(A))   # (N, H_i)
        return self.layers[-1].forward(A)                   # (N, D_in) @ (D_in, 10)

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
        if N <= CHUNK_ROWS:
            loss_sum, probs, grads = self._block(X, y, N, rng, training)
            return loss_sum / N, probs, grads
        grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        probs = np.empty((N, self.config.output_size), self.dtype)
        loss_sum = 0.0
        for start in range(0, N, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, N)
            part, probs[start:stop], _ = self._block(X[start:stop], y[start:stop], N, rng, training,
                                                     grads_out=grads)
            loss_sum += part
        return loss_sum / N, probs, grads

    def loss_and_grads_compact(self, plan, rng=None, training=True):
        """``loss_and_grads(X, y)`` for the rows a ``CompactRows`` plan holds (probabilities in
        the original row order): the same numbers up to rounding, in about half the time.
        (Sharing the groups among 2 threads was measured: no faster, the parts are too small
        to outweigh the interpreter lock.)"""
        self._check_dropout_rng(rng, training)
        N = plan.n_rows
        grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        sorted_probs = np.empty((N, self.config.output_size), self.dtype)   # in plan order
        loss_sum = 0.0
        for start, stop, parts in plan.groups:
            part, sorted_probs[start:stop], _ = self._block(
                parts, plan.y[start:stop], N, rng, training, grads_out=grads, compact=True)
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

    def _block(self, X, y, denominator, rng, training, grads_out=None, compact=False):
        """Forward and backward on one block of rows: (sum of its losses, its probabilities,
        grads) with dZ scaled by 1 / denominator. With ``grads_out`` the gradients are added into
        those arrays. ``compact``: X is the list of parts of a CompactRows group, for the first
        layer's products."""
        n_hidden = len(self.layers) - 1
        dropout = self.dropout if training else None
        inputs = []                                          # per hidden layer: (input, A, mask)
        A = X
        for i, layer in enumerate(self.layers):
            if i == 0 and compact:
                Z = CompactRows.forward(X, layer.W, np.empty((len(y), layer.W.shape[1]), self.dtype))
            else:
                Z = A @ layer.W                              # (n, D_in) @ (D_in, D_out)
            Z += layer.b
            if i == n_hidden:
                break
            H = self.activation.forward_inplace(Z)           # Z is overwritten by the activation
            mask = dropout.mask(H.shape, rng, self.dtype) if dropout is not None else None
            inputs.append((A, H, mask))
            A = H if mask is None else H * mask
        logits = Z                                           # (n, 10)
        if self.loss_fn.fused_with_softmax:
            loss_sum, probs, dZ = self.loss_fn.loss_sum_and_delta(logits, y, denominator)
        else:
            probs = self.output_activation.forward(logits)
            loss_sum, dA = self.loss_fn.loss_sum_and_delta(probs, y, denominator)
            dZ = self.output_activation.backward(logits, probs, dA)
        grads = {} if grads_out is None else grads_out
        for i in range(n_hidden, -1, -1):
            layer = self.layers[i]
            A_in = A if i == n_hidden else inputs[i][0]
            W_name, b_name = f"layers.{i}.W", f"layers.{i}.b"
            db = _column_sums(dZ)
            dA = dZ @ layer.W.T if i > 0 else None           # (n, D_out) @ (D_out, D_in)
            if i == 0 and compact:
                CompactRows.backward(X, dZ, grads[W_name])
                grads[b_name] += db
                continue
            dW = A_in.T @ dZ                                 # (D_in, n) @ (n, D_out)
            if grads_out is None:
                grads[W_name], grads[b_name] = dW, db
            else:
                grads[W_name] += dW
                grads[b_name] += db
            if i > 0:
                _, H, mask = inputs[i - 1]
                if mask is not None:
                    dA *= mask
                dZ = self.activation.backward_inplace(H, dA)
        return loss_sum, probs, grads

    def predict_proba(self, X, batch_size=8192):
        """Class probabilities (N, 10) for X (N, 784) (or one image (784,) -> (1, 10))."""
        X = self._as_input(X)
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
            logits = self.forward(Xb)
            if self.loss_fn.fused_with_softmax:
                loss, probs, _ = self.loss_fn.loss_and_delta(logits, yb)
            else:
                probs = self.output_activation.forward(logits)
                loss, _ = self.loss_fn.loss_and_delta(probs, yb)
            total_loss += loss * Xb.shape[0]
            correct += int((probs.argmax(axis=1) == yb).sum())
        return total_loss / X.shape[0], correct / X.shape[0]
