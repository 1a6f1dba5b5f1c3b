"""Conv2D, MaxPool2D and Flatten: the im2col fast path against loop-form references
(core.reference_conv) and against central differences, in float64; whole conv nets too."""
import numpy as np
import pytest

from core.conv import Conv2D, MaxPool2D
from core.layers import Flatten
from core.model import MLP, ModelConfig
from core.reference_conv import conv_backward, conv_forward, maxpool_backward, maxpool_forward
from tests.test_gradients import check, numeric_grad
from tests.test_reference import agree

CONV_CASES = [(k, padding, c_in, c_out, side) for k, padding, c_in, c_out, side in [
    (1, "valid", 2, 3, 5), (3, "valid", 1, 4, 6), (3, "same", 3, 2, 5), (2, "same", 2, 3, 6),
    (5, "valid", 2, 2, 7), (5, "same", 1, 3, 6), (4, "valid", 3, 1, 4)]]


def random_conv(seed, k, padding, c_in, c_out, side, n=3):
    rng = np.random.default_rng(seed)
    layer = Conv2D(rng.standard_normal((c_out, c_in, k, k)), rng.standard_normal(c_out), padding)
    X = rng.standard_normal((n, c_in, side, side))
    return layer, X, rng


@pytest.mark.parametrize("k,padding,c_in,c_out,side", CONV_CASES)
def test_conv_matches_the_loop_reference(k, padding, c_in, c_out, side):
    layer, X, rng = random_conv(1, k, padding, c_in, c_out, side)
    Y, cache = layer.forward_train(X)
    label = repr(layer)
    agree(f"{label} forward", Y, conv_forward(X, layer.W, layer.b, padding))
    assert Y.shape[1:] == layer.output_shape(X.shape[1:])
    dY = rng.standard_normal(Y.shape)
    dX, grads = layer.backward(cache, dY.copy())
    ref_dX, ref_dW, ref_db = conv_backward(X, layer.W, dY, padding)
    agree(f"{label} dX", dX, ref_dX)
    agree(f"{label} dW", grads["W"], ref_dW)
    agree(f"{label} db", grads["b"], ref_db)


@pytest.mark.parametrize("k,padding,c_in,c_out,side", CONV_CASES[:4])
def test_conv_gradients_by_central_differences(k, padding, c_in, c_out, side):
    layer, X, rng = random_conv(2, k, padding, c_in, c_out, side, n=2)
    weights = rng.standard_normal(layer.forward(X).shape)        # L = sum(weights * Y)
    f = lambda: float((weights * layer.forward(X)).sum())
    dX, grads = layer.backward(layer.forward_train(X)[1], weights.copy())
    check("conv dX", dX, numeric_grad(f, X))
    check("conv dW", grads["W"], numeric_grad(f, layer.params["W"]))
    check("conv db", grads["b"], numeric_grad(f, layer.params["b"]))


def test_the_loop_reference_itself_by_central_differences():
    rng = np.random.default_rng(3)
    X, W, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    weights = rng.standard_normal((2, 2, 5, 5))
    f = lambda: float((weights * conv_forward(X, W, b, "same")).sum())
    dX, dW, db = conv_backward(X, W, weights, "same")
    check("reference dX", dX, numeric_grad(f, X))
    check("reference dW", dW, numeric_grad(f, W))
    check("reference db", db, numeric_grad(f, b))


@pytest.mark.parametrize("side", [4, 5, 7])
def test_maxpool_matches_the_reference_and_central_differences(side):
    rng = np.random.default_rng(side)
    X = rng.standard_normal((2, 3, side, side))
    pool = MaxPool2D()
    Y, cache = pool.forward_train(X)
    agree("pool forward", Y, maxpool_forward(X))
    dY = rng.standard_normal(Y.shape)
    dX, grads = pool.backward(cache, dY.copy())
    assert grads == {}
    agree("pool dX", dX, maxpool_backward(X, dY))
    check("pool dX numeric", dX, numeric_grad(lambda: float((dY * pool.forward(X)).sum()), X))


def test_maxpool_sends_a_tied_block_s_gradient_to_its_first_largest_entry_only():
    X = np.zeros((1, 1, 2, 2))
    X[0, 0, 0, 1] = X[0, 0, 1, 0] = 1.0                          # two equal largest
    dX, _ = MaxPool2D().backward(MaxPool2D().forward_train(X)[1], np.ones((1, 1, 1, 1)))
    agree("tie", dX, maxpool_backward(X, np.ones((1, 1, 1, 1))))
    assert dX.sum() == 1.0 and dX[0, 0, 0, 1] == 1.0


def test_flatten_round_trip():
    X = np.arange(2 * 3 * 3 * 2, dtype=float).reshape(2, 2, 3, 3)
    flat = Flatten((2, 3, 3))
    Y, cache = flat.forward_train(X)
    assert Y.shape == (2, 18)
    dX, _ = flat.backward(cache, Y * 2)
    agree("flatten", dX, X * 2)


CONV_NETS = [("conv 3x3 same, pool 2, conv 4x3, dense 5", "relu", "softmax", "cross_entropy"),
             ("conv 2x3, conv 3x2 same, pool", "tanh", "sigmoid", "mse"),
             ("conv 2x5 same, pool 2, dense 4, dense 3", "sigmoid", "softmax", "mse"),
             ("pool 2, conv 2x3", "leaky_relu", "softmax", "cross_entropy")]


@pytest.mark.parametrize("layers,activation,output,loss", CONV_NETS)
def test_whole_conv_net_gradients_by_central_differences(layers, activation, output, loss):
    rng = np.random.default_rng(4)
    config = ModelConfig(input_size=64, layers=layers, output_size=3, activation=activation,
                         output_activation=output, loss=loss, dtype="float64")
    model = MLP(config, rng)
    X, y = rng.random((4, 64)), rng.integers(0, 3, 4)
    _, _, grads = model.loss_and_grads(X, y, training=False)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        numeric = numeric_grad(lambda: model.loss_and_grads(X, y, training=False)[0], param)
        check(f"{layers} {name}", grads[name], numeric)


def test_conv_net_with_dropout_gradients_with_fixed_masks():
    config = ModelConfig(input_size=36, layers="conv 2x3, pool, dense 6", output_size=3,
                         dropout=0.5, dtype="float64")
    model = MLP(config, np.random.default_rng(5))
    X, y = np.random.default_rng(6).random((4, 36)), np.array([0, 1, 2, 1])
    loss_at = lambda: model.loss_and_grads(X, y, rng=np.random.default_rng(9))[0]
    _, _, grads = model.loss_and_grads(X, y, rng=np.random.default_rng(9))
    for name, param in model.params.items():
        check(f"dropout {name}", grads[name], numeric_grad(loss_at, param))


def test_float32_conv_net_agrees_with_float64():
    config = ModelConfig(layers="conv 4x5, pool 2, conv 8x5, pool 2, dense 16")
    m32 = MLP(config, np.random.default_rng(7))
    m64 = MLP(ModelConfig(**{**config.to_dict(), "dtype": "float64"}),
              params={k: v.astype(np.float64) for k, v in m32.params.items()})
    X, y = np.random.default_rng(8).random((20, 784)), np.arange(20) % 10
    l32, p32, g32 = m32.loss_and_grads(X, y)
    l64, p64, g64 = m64.loss_and_grads(X, y)
    agree("loss", l32, l64, tol=1e-5)
    for name in g64:
        agree(name, g32[name], g64[name], tol=1e-3)


def test_training_pools_before_the_relu_with_the_same_numbers_and_gradients():
    """forward_train and backward walk the layers with each ReLU after the pool that follows it;
    walked in the order the model shows (conv, ReLU, pool) they give the same logits and
    gradients, ties in a block (zeros after the ReLU, equal maxima) included."""
    config = ModelConfig(input_size=64, layers="conv 3x3 same, pool 2, conv 4x3, pool 2, dense 5",
                         output_size=3, dtype="float64")
    model = MLP(config, np.random.default_rng(10))
    X = np.random.default_rng(11).random((6, 64))
    X[:3, :32] = 0.5                                             # flat patches: tied blocks
    y = np.array([0, 1, 2, 0, 1, 2])
    assert [type(layer).__name__ for layer in model.sequence[1:4]] == ["Conv2D", "Activation", "MaxPool2D"]
    _, _, grads = model.loss_and_grads(X, y)
    A, caches = X, []
    for layer in model.sequence:                                 # the shown order, by hand
        A, cache = layer.forward_train(A)
        caches.append(cache)
    agree("logits", A, model.forward(X))
    agree("logits of training", A, model.forward_train(X)[0])
    _, _, dZ = model.loss_fn.loss_sum_and_delta(A, y, len(y))
    for layer, cache in zip(model.sequence[::-1], caches[::-1]):
        dZ, layer_grads = layer.backward(cache, dZ)
        for name, grad in layer_grads.items():
            agree(layer.key + name, grads[layer.key + name], grad)
