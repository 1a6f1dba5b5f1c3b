"""Layer health (core.health): dead units, update ratios and gradient norms with known answers."""
import warnings

import numpy as np
import pytest

from core.health import (
    SATURATED_SHARE,
    SIGMOID_SATURATED,
    TANH_SATURATED,
    dead_share,
    layer_stats,
    update_ratio,
)
from core.model import MLP, ModelConfig
from core.optimizers import SGD


def hand_built(W0, b0, activation="relu"):
    """A 2-input network with one hidden layer (W0 (2, H), b0 (H,)) and 2 outputs, in float64."""
    W0 = np.array(W0, np.float64)                                     # (2, H)
    H = W0.shape[1]
    config = ModelConfig(input_size=2, hidden_sizes=(H,), output_size=2, activation=activation,
                         dtype="float64")
    params = {"layers.0.W": W0, "layers.0.b": np.array(b0, np.float64),
              "layers.1.W": np.arange(2.0 * H).reshape(H, 2) / 10 - 0.3,
              "layers.1.b": np.array([0.1, -0.1])}
    return MLP(config, params=params)


def test_a_relu_unit_with_negative_weights_on_positive_inputs_is_dead():
    # unit 0: positive weights, alive on every positive input; unit 1: all weights negative and
    # no bias, so its input is negative for every non-negative image: 0 forever
    model = hand_built(W0=[[1.0, -1.0], [0.5, -2.0]], b0=[0.0, 0.0])
    probe = np.random.default_rng(0).random((50, 2)) + 0.01          # (50, 2), all > 0
    stats = layer_stats(model, None, None, probe)
    assert stats[0]["dead_share"] == 0.5
    assert np.isnan(stats[1]["dead_share"])                          # the output layer
    # the same network with a bias that lifts unit 1 above 0 has no dead unit
    alive = hand_built(W0=[[1.0, -1.0], [0.5, -2.0]], b0=[0.0, 10.0])
    assert layer_stats(alive, None, None, probe)[0]["dead_share"] == 0.0


def test_relu_and_leaky_relu_dead_units_from_hand_made_activations():
    A = np.array([[0.0, 0.0, 0.3, 0.0],
                  [0.0, 2.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0]])                               # (3 images, 4 units)
    assert dead_share(A, "relu") == 0.5                               # units 0 and 3
    leaky = np.array([[-0.01, -0.02, 0.5],
                      [-0.03, 0.0, -0.01],
                      [0.0, -0.01, -0.02]])                           # all <= 0 in units 0 and 1
    assert dead_share(leaky, "leaky_relu") == pytest.approx(2 / 3)
    assert dead_share(np.ones((5, 3)), "relu") == 0.0


def test_sigmoid_saturation_needs_95_percent_of_images_at_a_rail():
    assert SATURATED_SHARE == 0.95
    A = np.full((20, 5), 0.5)
    A[:, 0] = 0.01                                # always below 0.02: dead
    A[:, 1] = 0.99                                # always above 0.98: dead
    A[:19, 2] = 0.001                             # 19 of 20 = 95% saturated: dead
    A[:18, 3] = 0.999                             # 18 of 20 = 90%: alive
    A[:, 4] = SIGMOID_SATURATED                   # exactly on the threshold: not saturated
    assert dead_share(A, "sigmoid") == pytest.approx(3 / 5)


def test_tanh_saturation():
    A = np.zeros((20, 4))
    A[:, 0] = -0.99                               # dead
    A[::2, 1], A[1::2, 1] = 0.97, -0.97           # saturated on both rails: dead
    A[:, 2] = TANH_SATURATED                      # on the threshold: alive
    A[:17, 3] = 0.999                             # 85%: alive
    assert dead_share(A, "tanh") == pytest.approx(2 / 4)


def test_dead_share_edge_cases():
    assert np.isnan(dead_share(np.zeros((0, 3)), "relu"))
    with pytest.raises(ValueError, match="activation"):
        dead_share(np.zeros((2, 3)), "swish")
    with pytest.raises(ValueError, match="N, H"):
        dead_share(np.zeros(3), "relu")


def test_update_ratio_arithmetic():
    before = np.array([[3.0, 4.0]])                                    # norm 5
    assert update_ratio(before, before + np.array([[0.3, 0.4]])) == pytest.approx(0.1, rel=1e-12)
    assert update_ratio(before, before) == 0.0
    assert update_ratio(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    assert update_ratio(np.zeros((2, 2)), np.ones((2, 2))) == np.inf
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    assert update_ratio(a, b) == pytest.approx(np.linalg.norm(b - a) / np.linalg.norm(a), rel=1e-12)


def test_update_ratio_is_inf_safe():
    big = np.full((4, 4), 1e30, np.float32)                            # its float32 square overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert update_ratio(big, 2 * big) == pytest.approx(1.0)
        inf_after = big.copy()
        inf_after[0, 0] = np.inf
        assert update_ratio(big, inf_after) == np.inf
        inf_before = big.copy()
        inf_before[0, 0] = np.inf
        assert np.isnan(update_ratio(inf_before, inf_before))          # inf - inf: unknown


@pytest.mark.parametrize("hidden_sizes", [(), (6,), (5, 4, 3)])
def test_layer_stats_after_a_step_match_numpy(hidden_sizes):
    rng = np.random.default_rng(2)
    model = MLP(ModelConfig(input_size=8, hidden_sizes=hidden_sizes, output_size=3, dtype="float64"),
                rng)
    X, y = rng.random((30, 8)), rng.integers(0, 3, 30)
    _, _, grads = model.loss_and_grads(X, y)
    before = {name: model.params[name].copy() for name in model.params if name.endswith(".W")}
    SGD(0.5).step(model.params, grads)
    stats = layer_stats(model, grads, before, X[:10])
    assert len(stats) == len(hidden_sizes) + 1                         # one per weight layer
    assert [s["layer"] for s in stats] == list(range(len(hidden_sizes) + 1))
    for i, s in enumerate(stats):
        name = f"layers.{i}.W"
        assert set(s) == {"layer", "dead_share", "update_ratio", "grad_norm"}
        assert s["grad_norm"] == pytest.approx(np.linalg.norm(grads[name]), rel=1e-12)
        expected = np.linalg.norm(model.params[name] - before[name]) / np.linalg.norm(before[name])
        assert s["update_ratio"] == pytest.approx(expected, rel=1e-12)
        assert all(type(v) in (int, float) for v in s.values())
    hidden = model.hidden_activations(X[:10])
    for i, A in enumerate(hidden):
        assert stats[i]["dead_share"] == dead_share(A, "relu")
    assert np.isnan(stats[-1]["dead_share"])


def test_layer_stats_before_any_step():
    model = MLP(ModelConfig(input_size=8, hidden_sizes=(4,), output_size=3), np.random.default_rng(0))
    stats = layer_stats(model, None, None, np.random.default_rng(1).random((16, 8)))
    assert [s["update_ratio"] for s in stats] == [0.0, 0.0]
    assert all(np.isnan(s["grad_norm"]) for s in stats)
    assert 0.0 <= stats[0]["dead_share"] <= 1.0
