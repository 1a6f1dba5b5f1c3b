"""Optimisers: ``step(params, grads)`` updates the params dict in place.

State (velocities, moments) is keyed by the parameter's name, like tinygrad's optimizers.
L2 weight decay is added to the gradient of weights (not biases) before the update.
``step`` never writes to the caller's ``grads``: its arithmetic goes into work buffers that each
optimiser allocates once per parameter, on its first step.

``state_dict()`` is a snapshot of the state as a flat dict of arrays with dotted keys
(``velocity.layers.0.W``; Adam: ``m.layers.0.W``, ``v.layers.0.W``, ``t``), ready for ``np.savez``;
``load_state_dict(state)`` puts such a snapshot back, so that a run can be resumed exactly. The
hyperparameters (learning rate, momentum, betas) are not state: they come with the constructor.
"""
import numpy as np

from .errors import ConfigError


def _is_weight(name):
    return name.endswith(".W")


class SGD:
    """Plain gradient descent: full-batch or mini-batch depends only on what the trainer feeds."""

    SLOTS = ()          # per-parameter state: names of attributes holding {param name: array}
    COUNTERS = ()       # whole-optimiser state: names of int attributes

    def __init__(self, learning_rate, weight_decay=0.0):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self._scratch = {}              # name -> work buffers, not state
        self._unchecked = False         # state was loaded and not yet compared with the params

    def _buffers(self, name, param, count):
        buffers = self._scratch.get(name)
        if buffers is None:
            buffers = self._scratch[name] = tuple(np.empty_like(param) for _ in range(count))
        return buffers

    def _decayed(self, name, param, grad, out):
        """grad + weight_decay * param written into ``out`` for a decayed weight; otherwise
        ``grad`` itself (to be read, never written)."""
        if not (self.weight_decay and _is_weight(name)):
            return grad
        np.multiply(param, param.dtype.type(self.weight_decay), out=out)
        out += grad
        return out

    def step(self, params, grads):
        self._check_loaded_state(params)
        for name, param in params.items():
            (update,) = self._buffers(name, param, 1)
            g = self._decayed(name, param, grads[name], out=update)
            np.multiply(g, param.dtype.type(self.learning_rate), out=update)
            param -= update

    # -- state --------------------------------------------------------------------------------------
    def state_dict(self):
        """A copy of the state: {"slot.param name": array, ..., "counter": 0-d array}."""
        state = {f"{slot}.{name}": array.copy()
                 for slot in self.SLOTS for name, array in getattr(self, slot).items()}
        state.update({counter: np.array(getattr(self, counter)) for counter in self.COUNTERS})
        return state

    def load_state_dict(self, state):
        """Replace the state with a copy of ``state`` (a ``state_dict()``, or the arrays of an .npz
        holding one). Keys of another optimiser, a missing counter, or shapes that differ from the
        state this optimiser already holds are refused with a ConfigError; the next ``step``
        also refuses state whose names or shapes do not match its params."""
        slots = {slot: {} for slot in self.SLOTS}
        counters = {}
        for key, value in state.items():
            slot, _, name = key.partition(".")
            if slot in slots and name:
                slots[slot][name] = np.array(value)                 # a copy: the state is ours
            elif key in self.COUNTERS:
                counters[key] = _counter(key, value)
            else:
                raise ConfigError(f"{type(self).__name__} has no state {key!r}: this optimiser state "
                                  f"was saved by another optimiser. Expected {self._expected_keys()}.")
        missing = [counter for counter in self.COUNTERS if counter not in counters]
        if missing:
            raise ConfigError(f"The {type(self).__name__} state has no {', '.join(missing)}: it is "
                              f"incomplete. Expected {self._expected_keys()}.")
        _same_parameters(slots)
        for slot, arrays in slots.items():                      # against state we already hold
            for name, array in arrays.items():
                held = getattr(self, slot).get(name)
                if held is not None and held.shape != array.shape:
                    raise ConfigError(_shape_message(f"{slot}.{name}", array.shape, held.shape))
        for slot, arrays in slots.items():
            setattr(self, slot, arrays)
        for counter, value in counters.items():
            setattr(self, counter, value)
        self._unchecked = bool(self.SLOTS)

    def _expected_keys(self):
        keys = [f"{slot}.<parameter name>" for slot in self.SLOTS] + list(self.COUNTERS)
        return ", ".join(keys) if keys else "no state at all"

    def _check_loaded_state(self, params):
        """On the first step after a load: the loaded state must be for exactly these params."""
        if not self._unchecked:
            return
        for slot in self.SLOTS:
            arrays = getattr(self, slot)
            if not arrays:                                  # saved before any step: nothing to match
                continue
            if set(arrays) != set(params):
                raise ConfigError(
                    f"The loaded {type(self).__name__} state is for the parameters "
                    f"{sorted(arrays)}, but this network has {sorted(params)}: it was saved "
                    f"while training another network.")
            for name, param in params.items():
                if arrays[name].shape != param.shape:
                    raise ConfigError(_shape_message(f"{slot}.{name}", arrays[name].shape, param.shape))
                arrays[name] = arrays[name].astype(param.dtype, copy=False)
        self._unchecked = False

    def __repr__(self):
        return f"SGD(learning_rate={self.learning_rate}, weight_decay={self.weight_decay})"


def _counter(key, value):
    value = np.asarray(value)
    if value.ndim != 0 or not np.issubdtype(value.dtype, np.integer) or value < 0:
        raise ConfigError(f"Optimiser state {key!r} must be a whole number >= 0; got {value!r}.")
    return int(value)


def _same_parameters(slots):
    """Every slot (Adam's m and v) must hold the same parameter names with the same shapes."""
    if not slots:
        return
    (first_slot, first), *others = slots.items()
    for slot, arrays in others:
        if set(arrays) != set(first):
            raise ConfigError(f"The optimiser state's {first_slot} and {slot} name different "
                              f"parameters: it is incomplete or mixed from two runs.")
        for name, array in arrays.items():
            if array.shape != first[name].shape:
                raise ConfigError(_shape_message(f"{slot}.{name}", array.shape, first[name].shape))


def _shape_message(key, got, expected):
    return (f"Optimiser state {key!r} has shape {got}, but {expected} was expected: the state was "
            f"saved while training a network of another shape.")


class Momentum(SGD):
    """Heavy-ball momentum: v = mu v - lr g; p += v."""

    SLOTS = ("velocity",)

    def __init__(self, learning_rate, momentum=0.9, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.momentum = momentum
        self.velocity = {}

    def step(self, params, grads):
        self._check_loaded_state(params)
        for name, param in params.items():
            dt = param.dtype.type
            v = self.velocity.get(name)
            if v is None:
                v = self.velocity[name] = np.zeros_like(param)
            (work,) = self._buffers(name, param, 1)
            g = self._decayed(name, param, grads[name], out=work)
            v *= dt(self.momentum)
            v -= np.multiply(g, dt(self.learning_rate), out=work)
            param += v

    def __repr__(self):
        return (f"Momentum(learning_rate={self.learning_rate}, momentum={self.momentum}, "
                f"weight_decay={self.weight_decay})")


class Adam(SGD):
    """Kingma & Ba 2015 in PyTorch's form, so a run here and with ``torch.optim.Adam`` (defaults,
    same gradients) take the same steps::

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t)
        param -= lr * m_hat / (sqrt(v_hat) + eps)

    eps is added to sqrt(v_hat), after the bias correction. (Adding it to sqrt(v) before the
    correction, the paper's "efficient" form, acts as an eps 1 / sqrt(1 - b2) = 32 times larger at
    the first step: a weight whose gradient is 1.6e-7 then moved 64% less than under PyTorch.)

    ``weight_decay`` is this module's L2 (see the top): added to the gradient of weights only,
    before the moments, as ``torch.optim.Adam(weight_decay=...)`` does for every parameter it is
    given, biases included; it is not AdamW's decoupled decay.
    """

    SLOTS = ("m", "v")
    COUNTERS = ("t",)

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self._check_loaded_state(params)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.learning_rate / (1 - b1 ** self.t)          # lr / (1 - b1^t), as torch
        sqrt_correction2 = np.sqrt(1 - b2 ** self.t)                 # sqrt(1 - b2^t)
        for name, param in params.items():
            dt = param.dtype.type
            if name not in self.m:
                self.m[name] = np.zeros_like(param)
                self.v[name] = np.zeros_like(param)
            m, v = self.m[name], self.v[name]
            tmp, update = self._buffers(name, param, 2)
            g = self._decayed(name, param, grads[name], out=update)   # update is free until the end
            # the operations of torch's single-tensor Adam, in its order,
            #   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
            #   denom = sqrt(v) / sqrt(1 - b2^t) + eps
            #   param -= step_size * (m / denom)
            # but into two preallocated buffers instead of six temporary arrays per step
            m *= dt(b1)
            m += np.multiply(g, dt(1 - b1), out=tmp)
            v *= dt(b2)
            np.multiply(g, g, out=tmp)
            tmp *= dt(1 - b2)
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= dt(sqrt_correction2)
            tmp += dt(self.eps)
            np.divide(m, tmp, out=update)
            update *= dt(step_size)
            param -= update

    def __repr__(self):
        return f"Adam(learning_rate={self.learning_rate}, betas=({self.beta1}, {self.beta2}))"


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, learning_rate, momentum=0.9, weight_decay=0.0):
    if name == "momentum":
        return Momentum(learning_rate, momentum=momentum, weight_decay=weight_decay)
    return OPTIMIZERS[name](learning_rate, weight_decay=weight_decay)
