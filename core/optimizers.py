"""Optimisers: ``step(params, grads)`` updates the params dict in place.

State (velocities, moments) is keyed by the parameter's name, like tinygrad's optimizers.
L2 weight decay is added to the gradient of weights (not biases) before the update.
"""
import numpy as np


def _is_weight(name):
    return name.endswith(".W")


class SGD:
    """Plain gradient descent: full-batch or mini-batch depends only on what the trainer feeds."""

    def __init__(self, learning_rate, weight_decay=0.0):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay

    def _grad(self, name, param, grad):
        if self.weight_decay and _is_weight(name):
            return grad + param.dtype.type(self.weight_decay) * param
        return grad

    def step(self, params, grads):
        lr = self.learning_rate
        for name, param in params.items():
            g = self._grad(name, param, grads[name])
            if g is grads[name]:
                g *= param.dtype.type(lr)               # the grads buffer is ours to scale
                param -= g
            else:
                param -= param.dtype.type(lr) * g

    def state_dict(self):
        return {}

    def __repr__(self):
        return f"SGD(learning_rate={self.learning_rate}, weight_decay={self.weight_decay})"


class Momentum(SGD):
    """Heavy-ball momentum: v = mu v - lr g; p += v."""

    def __init__(self, learning_rate, momentum=0.9, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.momentum = momentum
        self.velocity = {}

    def step(self, params, grads):
        for name, param in params.items():
            g = self._grad(name, param, grads[name])
            v = self.velocity.get(name)
            if v is None:
                v = self.velocity[name] = np.zeros_like(param)
            v *= param.dtype.type(self.momentum)
            v -= param.dtype.type(self.learning_rate) * g
            param += v

    def __repr__(self):
        return (f"Momentum(learning_rate={self.learning_rate}, momentum={self.momentum}, "
                f"weight_decay={self.weight_decay})")


class Adam(SGD):
    """Kingma & Ba 2015, with bias correction folded into the step size."""

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0
        self._scratch = {}                      # name -> two work buffers, not state

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.learning_rate * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for name, param in params.items():
            g = self._grad(name, param, grads[name])
            dt = param.dtype.type
            if name not in self.m:
                self.m[name] = np.zeros_like(param)
                self.v[name] = np.zeros_like(param)
                self._scratch[name] = (np.empty_like(param), np.empty_like(param))
            m, v = self.m[name], self.v[name]
            tmp, update = self._scratch[name]
            # the same operations, in the same order, as
            #   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
            #   param -= step_size * m / (sqrt(v) + eps)
            # but into two preallocated buffers instead of six temporary arrays per step
            m *= dt(b1)
            m += np.multiply(g, dt(1 - b1), out=tmp)
            v *= dt(b2)
            np.multiply(g, g, out=tmp)
            tmp *= dt(1 - b2)
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += dt(self.eps)
            np.multiply(m, dt(step_size), out=update)
            update /= tmp
            param -= update

    def __repr__(self):
        return f"Adam(learning_rate={self.learning_rate}, betas=({self.beta1}, {self.beta2}))"


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, learning_rate, momentum=0.9, weight_decay=0.0):
    if name == "momentum":
        return Momentum(learning_rate, momentum=momentum, weight_decay=weight_decay)
    return OPTIMIZERS[name](learning_rate, weight_decay=weight_decay)
