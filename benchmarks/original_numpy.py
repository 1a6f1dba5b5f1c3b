"""A faithful re-implementation of the original project's arithmetic, kept as the baseline.

The project we grew from trained 784-10-10 ReLU/softmax by full-batch gradient descent in float64
with samples as *columns*: ``X`` is (784, m), ``W1`` is (10, 784), ``Z1 = W1.dot(X) + b1``; the
labels become a one-hot (10, m) matrix; the backward pass uses the transposes ``A1.T`` and ``X.T``.
This module repeats exactly that arithmetic (same operations, same layout, float64) so the benchmark
can time it next to ``core``. One deliberate difference: the original's bias gradients were
``np.sum(dZ)`` over the whole matrix (a scalar, a bug); here they are summed per unit, as the maths
says and as ``core`` does, so that the two runs train the same model and their accuracies compare.
Initialisation is the original's U[-0.5, 0.5) for weights and biases.
"""
import numpy as np


def init_params(rng, hidden=10, inputs=784, classes=10):
    W1 = rng.random((hidden, inputs)) - 0.5
    b1 = rng.random((hidden, 1)) - 0.5
    W2 = rng.random((classes, hidden)) - 0.5
    b2 = rng.random((classes, 1)) - 0.5
    return W1, b1, W2, b2


def relu(Z):
    return np.maximum(Z, 0)


def softmax(Z):
    A = np.exp(Z) / sum(np.exp(Z))          # the original's softmax: column-wise, no max shift
    return A


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1                     # (10, 784) . (784, m)
    A1 = relu(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = softmax(Z2)
    return Z1, A1, Z2, A2


def relu_deriv(Z):
    return Z > 0


def one_hot(Y):
    one_hot_Y = np.zeros((Y.size, Y.max() + 1))
    one_hot_Y[np.arange(Y.size), Y] = 1
    return one_hot_Y.T                      # (10, m)


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
    m = Y.size
    one_hot_Y = one_hot(Y)
    dZ2 = A2 - one_hot_Y
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T.dot(dZ2) * relu_deriv(Z1)
    dW1 = 1 / m * dZ1.dot(X.T)              # (10, m) . (m, 784)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    return W1, b1, W2, b2


def get_accuracy(A2, Y):
    return float(np.mean(np.argmax(A2, 0) == Y))


def iteration(params, X, Y, alpha):
    """One full-batch step; returns (new params, A2)."""
    W1, b1, W2, b2 = params
    Z1, A1, Z2, A2 = forward_prop(W1, b1, W2, b2, X)
    grads = backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y)
    return update_params(W1, b1, W2, b2, *grads, alpha), A2


def as_original_layout(images_uint8):
    """(N, 784) uint8 -> the original's (784, N) float64 in [0, 1] (a transposed copy)."""
    return images_uint8.T / 255.


def accuracy(params, X, Y):
    return get_accuracy(forward_prop(*params, X)[3], Y)
