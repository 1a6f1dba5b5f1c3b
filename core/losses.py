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
        P = softmax(Z)                                   # (N, K)
        rows = np.arange(N)
        picked = P[rows, y]
        # log of the softmax computed from the shifted logits would be exact; clipping at the
        # smallest float keeps the loss finite when a probability underflows to 0.
        loss = float(-np.log(np.maximum(picked, np.finfo(P.dtype).tiny)).mean())
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
