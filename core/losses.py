"""Losses on a batch of outputs.

``SoftmaxCrossEntropy`` is fused with the softmax: given the logits Z (N, K) and integer labels
y (N,), the loss is ``mean(-log softmax(Z)[i, y_i])`` and its gradient with respect to Z is the
closed form ``(P - Y) / N`` where P = softmax(Z) and Y is one-hot. No one-hot matrix is built:
the label entries are subtracted by index.

``MeanSquaredError`` works on the output activation A = g(Z) (softmax or sigmoid probabilities,
the ``output_activation`` it is made with): squared error summed over the 10 classes and averaged
over the N samples, ``sum((A - Y)**2) / N``, gradient ``2 (A - Y) / N`` with respect to A (the
gradient the textbook MLP actually applies), taken back through g to the logits.

Every loss has one return shape: ``loss_and_delta(Z, y) -> (loss, P, dZ)`` from the logits Z
(N, K): the mean loss, the output probabilities P (N, K) and dloss/dZ (N, K); the hot path's
``loss_sum_and_delta(Z, y, denominator) -> (sum of the losses, P, dZ)``.
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

    def __init__(self, output_activation=None):
        """The output activation is always the softmax, fused here; the argument is accepted so
        that every loss is made the same way."""

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

    def soft_loss_sum_and_delta(self, Z, T, denominator):
        """Cross-entropy against soft targets T (N, K), rows summing to 1 (a teacher's
        probabilities mixed with one-hot labels): overwrites Z with P and returns
        (sum of -sum_k T log P over the N rows, P, dZ) with dZ = (P - T) / denominator, the same
        closed form as with labels (a one-hot T gives ``loss_sum_and_delta``'s numbers)."""
        Z -= _row_max(Z)
        sums = np.exp(Z) @ np.ones(Z.shape[1], Z.dtype)            # (N,)
        log_p = Z - np.log(sums)[:, None]                          # (N, K), exact log-softmax
        loss_sum = float(-(T * log_p).sum())
        P = np.exp(log_p, out=Z)
        dZ = (P - T) * P.dtype.type(1.0 / denominator)
        return loss_sum, P, dZ

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class MeanSquaredError:
    name = "mse"
    fused_with_softmax = False

    def __init__(self, output_activation=None):
        """``output_activation``: g, a core.activations output class instance (default sigmoid)."""
        if output_activation is None:
            from .activations import Sigmoid
            output_activation = Sigmoid()
        self.output_activation = output_activation

    def loss_and_delta(self, Z, y):
        """Return (loss, A, dZ) for logits Z (N, K) and labels y (N,), A = g(Z)."""
        N = Z.shape[0]
        loss_sum, A, dZ = self.loss_sum_and_delta(Z, y, N)
        return loss_sum / N, A, dZ

    def loss_sum_and_delta(self, Z, y, denominator):
        """(sum of the N losses, A = g(Z), dZ) with dA = 2 (A - Y) / denominator taken back
        through g; Z is not modified."""
        A = self.output_activation.forward(Z)
        diff = A.copy()
        diff[np.arange(A.shape[0]), y] -= 1              # A - Y without building Y
        loss_sum = float(np.einsum("ij,ij->", diff, diff))
        diff *= diff.dtype.type(2.0 / denominator)
        return loss_sum, A, self.output_activation.backward(Z, A, diff)

    def __repr__(self):
        return f"MeanSquaredError({self.output_activation!r})"


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
