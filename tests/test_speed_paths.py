"""The optimised paths give the same numbers as the straightforward ones (float64, to 1e-10).

Chunked full batches, the compact full-batch plan, in-place activations, the fused Adam update and
the BLAS thread pinning are all there for speed only: each is checked here against the plain
textbook computation.
"""
import numpy as np
import pytest

import core.model as model_module
from core import blas
from core.activations import HIDDEN_ACTIVATIONS
from core.compact import CompactRows
from core.model import MLP, ModelConfig
from core.optimizers import Adam
from core.training import TrainConfig, fit

TOL = 1e-10


def close(name, mine, reference, tol=TOL):
    err = np.abs(mine - reference).max() / max(1e-300, np.abs(reference).max())
    assert err < tol, f"{name}: optimised vs straightforward relative difference {err:.1e} (> {tol:.0e})"


def straightforward(model, X, y):
    """The textbook forward and backward pass with the public layer/activation/loss methods,
    on the whole batch at once and without any in-place trick."""
    A, cache = X, []
    for layer in model.layers[:-1]:
        Z = layer.forward(A)
        H = model.activation.forward(Z)
        cache.append((A, Z, H))
        A = H
    logits = model.layers[-1].forward(A)
    loss, probs, dZ = model.loss_fn.loss_and_delta(logits, y)
    grads = {}
    n = len(model.layers) - 1

    def backward(i, A_in, dZ):
        dA, g = model.layers[i].backward(A_in, dZ)
        grads[f"layers.{i}.W"], grads[f"layers.{i}.b"] = g["W"], g["b"]
        return dA

    dA = backward(n, A, dZ)
    for i in range(n - 1, -1, -1):
        A_in, Z, H = cache[i]
        dA = backward(i, A_in, model.activation.backward(Z, H, dA))
    return loss, probs, grads


def images(n, seed):
    """Sparse 28x28 'images' (most pixels exactly zero, ink in a random box), like MNIST."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 28, 28))
    for i in range(n):
        top, left = rng.integers(0, 14, 2)
        h, w = rng.integers(4, 14, 2)
        X[i, top:top + h, left:left + w] = rng.random((h, w)) * (rng.random((h, w)) < 0.6)
    return X.reshape(n, 784), rng.integers(0, 10, n)


def compare(name, got, ref):
    close(f"{name} loss", np.array(got[0]), np.array(ref[0]))
    close(f"{name} probabilities", got[1], ref[1])
    for key in ref[2]:
        close(f"{name} {key}", got[2][key], ref[2][key])


CASES = [(act, out, loss) for act in sorted(HIDDEN_ACTIVATIONS)
         for out, loss in [("softmax", "cross_entropy"), ("sigmoid", "mse")]]


@pytest.mark.parametrize("activation,output,loss", CASES)
def test_small_batch_path_matches_straightforward(activation, output, loss):
    config = ModelConfig(hidden_sizes=(12, 7), activation=activation, output_activation=output,
                         loss=loss, dtype="float64")
    model = MLP(config, np.random.default_rng(0))
    X, y = images(50, 1)
    compare(config.describe(), model.loss_and_grads(X, y), straightforward(model, X, y))


@pytest.mark.parametrize("activation,output,loss", CASES)
def test_chunked_full_batch_matches_straightforward(monkeypatch, activation, output, loss):
    monkeypatch.setattr(model_module, "CHUNK_ROWS", 64)       # 300 rows -> 5 chunks, the last short
    config = ModelConfig(hidden_sizes=(9,), activation=activation, output_activation=output,
                         loss=loss, dtype="float64")
    model = MLP(config, np.random.default_rng(2))
    X, y = images(300, 3)
    compare(config.describe(), model.loss_and_grads(X, y), straightforward(model, X, y))


@pytest.mark.parametrize("hidden", [(), (10,), (16, 8)])
def test_compact_plan_matches_straightforward(hidden):
    config = ModelConfig(hidden_sizes=hidden, init="small_uniform", dtype="float64")
    model = MLP(config, np.random.default_rng(4))
    X, y = images(700, 5)
    plan = CompactRows(X, y, part_rows=32, group_rows=200)
    assert plan.density < 0.8                                # it really skips zero columns
    assert sorted(plan.order) == list(range(700))
    compare(f"compact {hidden}", model.loss_and_grads_compact(plan), straightforward(model, X, y))


def test_dense_data_is_not_compacted():
    X = np.random.default_rng(6).random((600, 784)) + 0.1
    assert CompactRows.worth_it(X, np.zeros(600, int)) is None


def test_chunked_dropout_draws_the_same_masks_with_one_hidden_layer(monkeypatch):
    config = ModelConfig(hidden_sizes=(8,), dropout=0.3, dtype="float64")
    model = MLP(config, np.random.default_rng(7))
    X, y = images(200, 8)
    whole = model.loss_and_grads(X, y, rng=np.random.default_rng(9))
    monkeypatch.setattr(model_module, "CHUNK_ROWS", 48)
    compare("dropout chunked", model.loss_and_grads(X, y, rng=np.random.default_rng(9)), whole)


@pytest.mark.parametrize("name", sorted(HIDDEN_ACTIVATIONS))
def test_inplace_activations_match(name):
    act = HIDDEN_ACTIVATIONS[name]()
    rng = np.random.default_rng(10)
    Z, dA = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    Z[0, 0] = 0.0
    A = act.forward(Z)
    close(f"{name} forward", act.forward_inplace(Z.copy()), A)
    close(f"{name} backward", act.backward_inplace(A, dA.copy()), act.backward(Z, A, dA))


def test_fused_adam_is_the_formula():
    rng = np.random.default_rng(11)
    p = {"layers.0.W": rng.standard_normal((4, 3)), "layers.0.b": rng.standard_normal(3)}
    ref = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    adam = Adam(0.01)
    for t in range(1, 6):
        g = {k: rng.standard_normal(x.shape) for k, x in p.items()}
        adam.step(p, {k: x.copy() for k, x in g.items()})
        for k in ref:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - 0.9 ** t), v[k] / (1 - 0.999 ** t)
            ref[k] = ref[k] - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)     # torch.optim.Adam's form
    for k in ref:
        close(f"adam {k}", p[k], ref[k])


def test_full_batch_fit_uses_the_plan_and_learns_the_same(monkeypatch):
    X, y = images(2400, 12)
    data = type("S", (), dict(X_train=X[:2000], y_train=y[:2000], X_val=X[2000:], y_val=y[2000:]))
    config = TrainConfig(learning_rate=0.1, iterations=5, batch_size=None, report_every=5)
    mcfg = ModelConfig(hidden_sizes=(10,), init="small_uniform", dtype="float64")
    planned = MLP(mcfg, np.random.default_rng(13))
    plain = MLP(mcfg, np.random.default_rng(13))
    rec = list(fit(planned, data, config))[-1]
    monkeypatch.setattr(CompactRows, "worth_it", classmethod(lambda cls, X, y: None))
    ref = list(fit(plain, data, config))[-1]
    for k in plain.params:
        close(f"fit {k}", planned.params[k], plain.params[k])
    close("train loss", np.array(rec.train_loss), np.array(ref.train_loss))


@pytest.mark.skipif(not blas.available(), reason="no OpenBLAS to control")
def test_training_pins_blas_threads_and_restores_them():
    before = blas.get_threads()
    X, y = images(300, 14)
    data = type("S", (), dict(X_train=X, y_train=y, X_val=X[:0], y_val=y[:0]))
    run = fit(MLP(ModelConfig(hidden_sizes=(4,)), np.random.default_rng(0)), data,
              TrainConfig(iterations=4, batch_size=50, report_every=1))
    next(run)
    assert blas.get_threads() == blas.training_threads()
    run.close()
    assert blas.get_threads() == before

