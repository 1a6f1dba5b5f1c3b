"""Losses on a batch of outputs.

``SoftmaxCrossEntropy`` is fused with the softmax: given the logits Z (N, K) and integer labels
y (N,), the loss is ``mean(-log softmax(Z)[i, y_i])`` and its gradient with respect to Z is the
closed form ``(P - Y) / N`` where P = softmax(Z) and Y is one-hot. No one-hot matrix is built:
the label entries are subtracted by index.

``MeanSquaredError`` works on the output activation A (softmax or sigmoid probabilities):
squared error summed over the 10 classes and averaged over the N samples, ``sum((A - Y)**2) / N``,
gradient ``2 (A - Y) / N`` with respect to A: the gradient the textbook MLP actually applies.
"""
import numpy as np

from .activations import softmax


class SoftmaxCrossEntropy:
    name = "cross_entropy"
    fused_with_softmax = True

    def loss_and_delta(self, Z, y):
        """Return (loss, P, dZ) for logits Z (N, K) and labels y (N,)."""
        N = Z.shape[0]
        rows = np.arange(N)
        shifted = Z - Z.max(axis=1, keepdims=True)       # (N, K), max entry 0 per row
        P = np.exp(shifted)
        sums = P.sum(axis=1, keepdims=True)               # (N, 1), >= 1
        P /= sums
        # exact log-softmax: log p_y = shifted_y - log(sum exp(shifted)); never log(0)
        loss = float((np.log(sums[:, 0]) - shifted[rows, y]).mean())
        dZ = P.copy()
        dZ[rows, y] -= 1
        dZ /= N
        return loss, P, dZ

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class MeanSquaredError:
    name = "mse"
    fused_with_softmax = False

    def loss_and_delta(self, A, y):
        """Return (loss, dA) for outputs A (N, K) and labels y (N,)."""
        N = A.shape[0]
        diff = A.copy()
        diff[np.arange(N), y] -= 1                       # A - Y without building Y
        loss = float(np.einsum("ij,ij->", diff, diff) / N)
        diff *= diff.dtype.type(2.0 / N)
        return loss, diff

    def __repr__(self):
        return "MeanSquaredError()"


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
