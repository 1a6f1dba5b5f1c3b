"""core.explain_conv: a conv net's feature maps for one drawing, the arithmetic of one value of a
map checked against the map itself, and the map's input gradient against central differences
(float64); core.explain's trace, saliency and input gradient on a conv net."""
import numpy as np
import pytest

from core.explain import input_gradient, saliency, trace
from core.explain_conv import feature_stages, map_arithmetic, map_input_gradient, strongest
from core.model import MLP, ModelConfig


def conv_model(dtype="float64", layers="conv 3x5, pool 2, conv 4x3 same, pool 2, dense 8", seed=0):
    return MLP(ModelConfig(layers=layers, dtype=dtype), np.random.default_rng(seed))


def drawing(seed=1):
    return np.random.default_rng(seed).random(784)


def test_stages_are_every_conv_and_pool_with_their_shapes():
    model = conv_model()
    stages = feature_stages(model, drawing())
    assert [(s.kind, s.number, s.maps.shape) for s in stages] == [
        ("conv", 1, (3, 24, 24)), ("pool", 1, (3, 12, 12)),
        ("conv", 2, (4, 12, 12)), ("pool", 2, (4, 6, 6))]
    hidden = model.hidden_activations(drawing()[None])
    np.testing.assert_allclose(stages[0].maps, hidden[0][0])
    np.testing.assert_allclose(stages[2].maps, hidden[1][0])
    assert feature_stages(MLP(ModelConfig(hidden_sizes=(8,)), np.random.default_rng(0)),
                          drawing()) == []


@pytest.mark.parametrize("s", [0, 1, 2, 3])
def test_a_values_arithmetic_adds_up_to_the_map(s):
    model = conv_model()
    stages = feature_stages(model, drawing())
    for channel in range(stages[s].maps.shape[0]):
        row, col = strongest(stages[s], channel)
        sums = map_arithmetic(stages, s, channel, row, col)
        assert sums.a == pytest.approx(stages[s].maps[channel, row, col])
        if sums.kind == "conv":
            assert sums.bias + float((sums.patch * sums.weights).sum()) == pytest.approx(sums.z)
            assert sums.a == pytest.approx(max(sums.z, 0.0))                     # relu
        else:
            assert sums.a == pytest.approx(sums.patch.max())


@pytest.mark.parametrize("scaling", ["unit", "symmetric"])
def test_map_input_gradient_matches_central_differences(scaling):
    model = conv_model()
    x = drawing()
    stage_index, channel = 2, 1
    grad = map_input_gradient(model, x, feature_stages(model, x, scaling)[stage_index], channel,
                              scaling)
    assert grad.shape == (784,)

    def total(p):
        return feature_stages(model, p, scaling)[stage_index].maps[channel].sum()
    eps = 1e-6
    for i in np.random.default_rng(2).choice(784, 25, replace=False):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric = (total(up) - total(down)) / (2 * eps)
        assert abs(numeric - grad[i]) <= 1e-6 * max(1.0, abs(numeric)), (i, numeric, grad[i])


def test_trace_saliency_and_input_gradient_work_for_a_conv_net():
    model = conv_model()
    x = drawing()
    tr = trace(model, x)
    np.testing.assert_allclose(tr.logits, model.forward(x[None]))
    assert tr.inputs[0].shape == (1, 1, 28, 28) and tr.pre[0].shape == (1, 3, 24, 24)
    scores, grads = input_gradient(model, x, 3)
    eps = 1e-6
    for i in (100, 300, 400, 500):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric = (model.forward(up[None])[0, 3] - model.forward(down[None])[0, 3]) / (2 * eps)
        assert abs(numeric - grads[0, i]) <= 1e-6 * max(1.0, abs(numeric))
    assert saliency(model, x, 3).shape == (784,)
