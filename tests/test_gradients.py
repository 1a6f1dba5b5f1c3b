"""Central-difference gradient checks (float64, relative error < 1e-6) and closed-form checks."""
import numpy as np
import pytest

from core.activations import HIDDEN_ACTIVATIONS, Sigmoid, Softmax, softmax
from core.layers import Dense
from core.losses import MeanSquaredError, SoftmaxCrossEntropy
from core.model import MLP, ModelConfig

EPS = 1e-6


def numeric_grad(f, x):
    """dF/dx by central differences; f() reads x, which is perturbed in place."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + EPS
        plus = f()
        x[i] = old - EPS
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * EPS)
    return grad


def rel_error(mine, reference):
    return np.abs(mine - reference).max() / max(1e-12, np.abs(mine).max() + np.abs(reference).max())


def check(name, mine, reference, tol=1e-6):
    err = rel_error(mine, reference)
    assert err < tol, f"{name}: analytic vs numeric relative error {err:.2e} (tolerance {tol:.0e})"


@pytest.mark.parametrize("name", sorted(HIDDEN_ACTIVATIONS))
def test_activation_gradients(name):
    rng = np.random.default_rng(1)
    act = HIDDEN_ACTIVATIONS[name]()
    Z = rng.standard_normal((4, 5))
    Z[np.abs(Z) < 1e-3] = 0.5                     # keep away from ReLU's kink
    weights = rng.standard_normal(Z.shape)         # L = sum(weights * act(Z))
    A = act.forward(Z)
    mine = act.backward(Z, A, weights)
    check(name, mine, numeric_grad(lambda: float((weights * act.forward(Z)).sum()), Z))


def test_softmax_backward():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((3, 4))
    weights = rng.standard_normal(Z.shape)
    sm = Softmax()
    mine = sm.backward(Z, sm.forward(Z), weights)
    check("softmax", mine, numeric_grad(lambda: float((weights * softmax(Z.copy())).sum()), Z))


def test_cross_entropy_gradient_is_p_minus_y_over_n():
    rng = np.random.default_rng(3)
    Z, y = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    loss, P, dZ = SoftmaxCrossEntropy().loss_and_delta(Z, y)
    Y = np.eye(10)[y]
    np.testing.assert_allclose(dZ, (P - Y) / 6, atol=1e-15)
    np.testing.assert_allclose(loss, -np.log(P[np.arange(6), y]).mean())
    check("cross-entropy", dZ, numeric_grad(lambda: SoftmaxCrossEntropy().loss_and_delta(Z, y)[0], Z))


@pytest.mark.parametrize("output", [Sigmoid, Softmax])
def test_mse_gradient_through_the_output_activation(output):
    rng = np.random.default_rng(4)
    Z, y = rng.standard_normal((5, 10)), rng.integers(0, 10, 5)
    mse = MeanSquaredError(output())
    loss, A, dZ = mse.loss_and_delta(Z, y)
    Y = np.eye(10)[y]
    np.testing.assert_allclose(A, output().forward(Z))
    np.testing.assert_allclose(loss, ((A - Y) ** 2).sum() / 5)
    check("mse", dZ, numeric_grad(lambda: mse.loss_and_delta(Z, y)[0], Z))


def test_every_loss_returns_loss_probabilities_and_logit_gradient():
    rng = np.random.default_rng(6)
    Z, y = rng.standard_normal((4, 10)), rng.integers(0, 10, 4)
    for loss_fn in (SoftmaxCrossEntropy(), MeanSquaredError(Softmax()), MeanSquaredError(Sigmoid())):
        loss, P, dZ = loss_fn.loss_and_delta(Z, y)
        assert np.isscalar(loss) and P.shape == Z.shape and dZ.shape == Z.shape, loss_fn


def test_softmax_is_finite_for_huge_logits():
    Z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], np.float32)
    P = softmax(Z.copy())
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-6)
    loss, _, dZ = SoftmaxCrossEntropy().loss_and_delta(Z, np.array([2, 0]))
    assert np.isfinite(loss) and np.isfinite(dZ).all()


def test_dense_layer_gradients():
    rng = np.random.default_rng(5)
    X, W, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal(3)
    weights = rng.standard_normal((4, 3))
    layer = Dense(W, b)
    dX, grads = layer.backward(X, weights)
    dW, db = grads["W"], grads["b"]
    f = lambda: float((weights * layer.forward(X)).sum())
    check("dense dX", dX, numeric_grad(f, X))
    check("dense dW", dW, numeric_grad(f, W))
    check("dense db", db, numeric_grad(f, b))


CASES = [(act, out, loss) for act in sorted(HIDDEN_ACTIVATIONS)
         for out, loss in [("softmax", "cross_entropy"), ("softmax", "mse"), ("sigmoid", "mse")]]


@pytest.mark.parametrize("activation,output,loss", CASES)
def test_whole_network_gradients(activation, output, loss):
    rng = np.random.default_rng(6)
    config = ModelConfig(input_size=7, hidden_sizes=(5, 4), output_size=3, activation=activation,
                         output_activation=output, loss=loss, dtype="float64")
    model = MLP(config, rng)
    X, y = rng.standard_normal((6, 7)), rng.integers(0, 3, 6)
    _, _, grads = model.loss_and_grads(X, y, training=False)
    for name, param in model.params.items():
        numeric = numeric_grad(lambda: model.loss_and_grads(X, y, training=False)[0], param)
        check(f"{config.describe()} {name}", grads[name], numeric)


def test_dropout_gradients_with_fixed_mask():
    config = ModelConfig(input_size=5, hidden_sizes=(6,), output_size=3, dropout=0.5, dtype="float64")
    model = MLP(config, np.random.default_rng(7))
    X, y = np.random.default_rng(8).standard_normal((4, 5)), np.array([0, 1, 2, 1])
    loss_at = lambda: model.loss_and_grads(X, y, rng=np.random.default_rng(9))[0]
    _, _, grads = model.loss_and_grads(X, y, rng=np.random.default_rng(9))
    for name, param in model.params.items():
        check(f"dropout {name}", grads[name], numeric_grad(loss_at, param))


def test_no_hidden_layer_network():
    config = ModelConfig(input_size=4, hidden_sizes=(), output_size=3, dtype="float64")
    model = MLP(config, np.random.default_rng(10))
    X, y = np.random.default_rng(11).standard_normal((5, 4)), np.array([0, 1, 2, 0, 1])
    _, _, grads = model.loss_and_grads(X, y)
    for name, param in model.params.items():
        check(name, grads[name], numeric_grad(lambda: model.loss_and_grads(X, y)[0], param))
