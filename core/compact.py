"""A fixed training set rearranged once so that full-batch steps skip its zero pixels.

Used by ``MLP.loss_and_grads_compact``; ``CompactRows.worth_it`` decides whether a data set is
sparse enough to bother (MNIST is: 81% of its pixels are exactly zero).
"""
import numpy as np


class CompactRows:
    """A fixed training set rearranged once for full-batch training, where every step reads all of
    it: rows sorted by the bounding box of their ink (the gradient is a sum over rows, so the order
    does not matter), cut into parts of ``part_rows`` rows, each stored with only the pixel columns
    that are not zero in at least one of its rows. MNIST is 81% zeros; sorted parts of 128 rows use
    under half of the 784 columns, so the first layer's two products per step do less than half
    the arithmetic and read less than half the bytes, exactly: the skipped terms are products
    with exact zeros. Parts are processed in groups of ``group_rows`` rows: the first layer's
    forward product runs part by part, the rest of the network on the whole group at once, then
    the first layer's backward product part by part while the group is still in the CPU cache.

    ``order`` maps position in the plan to row of the original X; ``y`` is in plan order.
    """

    def __init__(self, X, y, part_rows=128, group_rows=1024):
        X = np.asarray(X)
        N, D = X.shape
        ink = X != 0
        side = int(round(D ** 0.5))
        if side * side == D:                               # images: sort by bounding box
            img = ink.reshape(N, side, side)
            cols, rows = img.any(axis=1), img.any(axis=2)
            keys = (rows[:, ::-1].argmax(1), rows.argmax(1), cols[:, ::-1].argmax(1), cols.argmax(1))
            self.order = np.lexsort(keys)
        else:
            self.order = np.arange(N)
        self.y = np.asarray(y)[self.order]
        self.n_rows, self.n_inputs = N, D
        self.groups = []                  # (start, stop, [(offset, rows, columns, block), ...])
        used = 0
        group_rows = max(part_rows, group_rows // part_rows * part_rows)
        for start in range(0, N, group_rows):
            stop = min(start + group_rows, N)
            parts = []
            for offset in range(0, stop - start, part_rows):
                idx = self.order[start + offset:min(start + offset + part_rows, stop)]
                columns = np.flatnonzero(ink[idx].any(axis=0))
                block = np.ascontiguousarray(X[np.ix_(idx, columns)])     # (rows, k)
                parts.append((offset, len(idx), columns, block))
                used += len(idx) * len(columns)
            self.groups.append((start, stop, parts))
        self.density = used / max(1, N * D)                # share of the X entries kept

    @classmethod
    def worth_it(cls, X, y, max_density=0.8):
        """A plan for X when it saves at least a fifth of the work, else None."""
        plan = cls(X, y)
        return plan if plan.density <= max_density else None

    @staticmethod
    def forward(parts, W, out):
        """out (n, D_out) = the group's rows @ W, part by part on their columns."""
        for offset, rows, columns, block in parts:
            np.matmul(block, W[columns], out=out[offset:offset + rows])
        return out

    @staticmethod
    def backward(parts, dZ, dW):
        """dW (D_in, D_out) += the group's rows.T @ dZ, part by part on their columns."""
        for offset, rows, columns, block in parts:
            dW[columns] += (dZ[offset:offset + rows].T @ block).T    # (D_out, n) @ (n, k)
