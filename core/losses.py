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


def _row_max(Z):
    """Z.max(axis=1, keepdims=True); for the usual 10 classes, column by column, which is about
    ten times faster than NumPy's reduction along short rows."""
    if Z.shape[1] > 16 or Z.shape[1] == 0:
        return Z.max(axis=1, keepdims=True)
    m = Z[:, 0].copy()
    for j in range(1, Z.shape[1]):
        np.maximum(m, Z[:, j], out=m)
    return m[:, None]


class SoftmaxCrossEntropy:
    name = "cross_entropy"
    fused_with_softmax = True

    def loss_and_delta(self, Z, y):
        """Return (loss, P, dZ) for logits Z (N, K) and labels y (N,)."""
        N = Z.shape[0]
        loss_sum, P, dZ = self.loss_sum_and_delta(Z.copy(), y, N)
        return loss_sum / N, P, dZ

    def loss_sum_and_delta(self, Z, y, denominator):
        """The hot-path form: overwrites the logits Z (N, K) with the probabilities P and returns
        (sum of the N losses, P, dZ) with dZ = (P - Y) / denominator. With chunks of a larger batch
        the denominator is the whole batch's size, so the chunks' gradients add up."""
        rows = np.arange(Z.shape[0])
        Z -= _row_max(Z)                                 # (N, K), max entry 0 per row
        picked = Z[rows, y]                              # shifted logit of the true class
        P = np.exp(Z, out=Z)
        sums = (P @ np.ones(P.shape[1], P.dtype))[:, None]   # (N, 1), >= 1 (BLAS: faster than sum)
        # exact log-softmax: log p_y = shifted_y - log(sum exp(shifted)); never log(0)
        loss_sum = float((np.log(sums[:, 0]) - picked).sum())
        P /= sums
        dZ = P * P.dtype.type(1.0 / denominator)
        dZ[rows, y] -= P.dtype.type(1.0 / denominator)
        return loss_sum, P, dZ

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class MeanSquaredError:
    name = "mse"
    fused_with_softmax = False

    def loss_and_delta(self, A, y):
        """Return (loss, dA) for outputs A (N, K) and labels y (N,)."""
        N = A.shape[0]
        loss_sum, dA = self.loss_sum_and_delta(A, y, N)
        return loss_sum / N, dA

    def loss_sum_and_delta(self, A, y, denominator):
        """(sum of the N losses, dA = 2 (A - Y) / denominator); A is not modified."""
        diff = A.copy()
        diff[np.arange(A.shape[0]), y] -= 1              # A - Y without building Y
        loss_sum = float(np.einsum("ij,ij->", diff, diff))
        diff *= diff.dtype.type(2.0 / denominator)
        return loss_sum, diff

    def __repr__(self):
        return "MeanSquaredError()"


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
