"""Optimisers leave the caller's gradients alone, and their state can be saved and put back so that
a resumed run is bit-for-bit the run that never stopped."""
import numpy as np
import pytest

from core.errors import ConfigError
from core.model import MLP, ModelConfig
from core.optimizers import OPTIMIZERS, SGD, Adam, Momentum, make_optimizer

CONFIG = ModelConfig(input_size=12, hidden_sizes=(7, 5), output_size=4)


def batches(count, seed):
    rng = np.random.default_rng(seed)
    return [(rng.random((16, 12), dtype=np.float32), rng.integers(0, 4, 16)) for _ in range(count)]


def train(model, optimizer, data):
    for X, y in data:
        _, _, grads = model.loss_and_grads(X, y)
        optimizer.step(model.params, grads)


def random_grads(params, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(p.shape).astype(p.dtype) for k, p in params.items()}


# -- gradients are read, never written ---------------------------------------------------------------
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_leaves_the_callers_gradients_alone(name, weight_decay):
    model = MLP(CONFIG, np.random.default_rng(0))
    optimizer = make_optimizer(name, 0.1, weight_decay=weight_decay)
    before = model.copy_params()
    for seed in range(3):
        grads = random_grads(model.params, seed)
        kept = {k: g.copy() for k, g in grads.items()}
        optimizer.step(model.params, grads)
        for k in grads:
            assert np.array_equal(grads[k], kept[k]), f"{name} step {seed} wrote to the gradient of {k}"
    assert not np.array_equal(model.params["layers.0.W"], before["layers.0.W"])


def test_sgd_update_is_still_lr_times_g_in_the_params_dtype():
    # the same float32 rounding as before the work buffers: runs train to the same numbers
    p = {"layers.0.W": np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)}
    g = random_grads(p, 2)
    expected = p["layers.0.W"] - g["layers.0.W"] * np.float32(0.3)
    SGD(0.3).step(p, g)
    assert np.array_equal(p["layers.0.W"], expected)


def test_the_same_gradients_applied_twice_give_the_same_update():
    # with the old in-place scaling the second step applied lr^2 g
    p = {"layers.0.W": np.zeros(3)}
    g = {"layers.0.W": np.array([1.0, -2.0, 4.0])}
    sgd = SGD(0.5)
    sgd.step(p, g)
    sgd.step(p, g)
    np.testing.assert_allclose(p["layers.0.W"], [-1.0, 2.0, -4.0])


# -- state: save, restore, resume ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_restored_state_resumes_bit_for_bit(tmp_path, name):
    model = MLP(CONFIG, np.random.default_rng(3))
    optimizer = make_optimizer(name, 0.05, weight_decay=0.001)
    train(model, optimizer, batches(5, seed=4))                       # N steps
    np.savez(tmp_path / "state.npz", **optimizer.state_dict())
    saved_params = model.copy_params()
    later = batches(4, seed=5)
    train(model, optimizer, later)                                    # K more steps

    with np.load(tmp_path / "state.npz", allow_pickle=False) as npz:
        state = {key: npz[key] for key in npz.files}
    resumed = MLP(CONFIG, params={k: v.copy() for k, v in saved_params.items()})
    fresh = make_optimizer(name, 0.05, weight_decay=0.001)
    fresh.load_state_dict(state)
    train(resumed, fresh, later)                                      # the same K steps
    for k in model.params:
        assert np.array_equal(resumed.params[k], model.params[k]), f"{name}: {k} differs after resuming"


def test_state_dict_keys_are_dotted_and_flat():
    model = MLP(CONFIG, np.random.default_rng(6))
    names = set(model.params)
    assert SGD(0.1).state_dict() == {}
    momentum, adam = Momentum(0.1), Adam(0.01)
    train(model, momentum, batches(1, seed=7))
    train(model, adam, batches(2, seed=7))
    assert set(momentum.state_dict()) == {f"velocity.{n}" for n in names}
    state = adam.state_dict()
    assert set(state) == {f"m.{n}" for n in names} | {f"v.{n}" for n in names} | {"t"}
    assert state["t"] == 2 and state["m.layers.0.W"].shape == (12, 7)


def test_state_dict_is_a_snapshot():
    model = MLP(CONFIG, np.random.default_rng(8))
    adam = Adam(0.01)
    train(model, adam, batches(1, seed=9))
    state = adam.state_dict()
    m0 = state["m.layers.0.W"].copy()
    train(model, adam, batches(1, seed=10))
    assert np.array_equal(state["m.layers.0.W"], m0) and state["t"] == 1


def test_a_state_saved_before_any_step_loads():
    fresh = Adam(0.01)
    fresh.load_state_dict(Adam(0.01).state_dict())
    model = MLP(CONFIG, np.random.default_rng(11))
    train(model, fresh, batches(1, seed=12))
    assert fresh.t == 1


# -- state: refusals ---------------------------------------------------------------------------------------
def trained_state(optimizer_class, hidden, seed=13):
    model = MLP(ModelConfig(input_size=12, hidden_sizes=hidden, output_size=4), np.random.default_rng(seed))
    optimizer = optimizer_class(0.01)
    train(model, optimizer, batches(2, seed))
    return optimizer.state_dict()


@pytest.mark.parametrize("optimizer_class", [Momentum, Adam])
def test_a_state_of_another_shape_is_refused_on_load(optimizer_class):
    model = MLP(CONFIG, np.random.default_rng(14))
    optimizer = optimizer_class(0.01)
    train(model, optimizer, batches(1, seed=15))
    with pytest.raises(ConfigError, match=r"shape \(12, 9\).*\(12, 7\) was expected"):
        optimizer.load_state_dict(trained_state(optimizer_class, (9, 5)))


@pytest.mark.parametrize("optimizer_class", [Momentum, Adam])
def test_a_state_of_another_network_is_refused_at_the_first_step(optimizer_class):
    optimizer = optimizer_class(0.01)
    optimizer.load_state_dict(trained_state(optimizer_class, (9, 5)))
    model = MLP(CONFIG, np.random.default_rng(16))
    with pytest.raises(ConfigError, match="another shape"):
        train(model, optimizer, batches(1, seed=17))
    other = optimizer_class(0.01)
    other.load_state_dict(trained_state(optimizer_class, (7,)))
    with pytest.raises(ConfigError, match="another network"):
        train(model, other, batches(1, seed=17))


def test_keys_of_another_optimiser_or_a_partial_state_are_refused():
    momentum_state = trained_state(Momentum, (7, 5))
    adam_state = trained_state(Adam, (7, 5))
    with pytest.raises(ConfigError, match="another optimiser"):
        Adam(0.01).load_state_dict(momentum_state)
    with pytest.raises(ConfigError, match="no state at all"):
        SGD(0.1).load_state_dict(adam_state)
    with pytest.raises(ConfigError, match="has no t"):
        Adam(0.01).load_state_dict({k: v for k, v in adam_state.items() if k != "t"})
    with pytest.raises(ConfigError, match="name different parameters"):
        Adam(0.01).load_state_dict({k: v for k, v in adam_state.items() if k != "v.layers.1.b"})
    with pytest.raises(ConfigError, match="whole number"):
        Adam(0.01).load_state_dict({**adam_state, "t": np.array(1.5)})


# -- Adam takes torch.optim.Adam's steps -------------------------------------------------------------------
def adam_by_the_formula(params, gradient_steps, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam's update written out in float64: eps is added to sqrt(v_hat), after the bias
    correction. L2 is ours: added to the gradient of weights (".W") only."""
    p = {k: x.astype(np.float64) for k, x in params.items()}
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, grads in enumerate(gradient_steps, start=1):
        for k in p:
            g = grads[k].astype(np.float64)
            if k.endswith(".W"):
                g = g + weight_decay * p[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            m_hat = m[k] / (1 - b1 ** t)
            v_hat = v[k] / (1 - b2 ** t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def gradients_tiny_to_large(params, seed):
    """Gradients whose sizes span 1e-10 to 10, with random signs: eps (1e-8) matters for some."""
    rng = np.random.default_rng(seed)
    return {k: (rng.choice([-1.0, 1.0], p.shape) * 10.0 ** rng.uniform(-10, 1, p.shape)).astype(p.dtype)
            for k, p in params.items()}


def compare(name, mine, reference, rtol):
    for k in reference:
        worst = np.max(np.abs(mine[k] - reference[k]) / (np.abs(reference[k]) + 1e-300))
        assert worst <= rtol, (f"{name} {k}: mine {mine[k].ravel()[:4]} vs the formula "
                               f"{reference[k].ravel()[:4]}: relative difference {worst:.3g}")


def test_one_adam_step_of_a_weight_with_a_tiny_gradient_is_torchs():
    # What a user comparing with PyTorch sees: the first step of a weight with gradient 1.6e-7 is
    # lr * g / (|g| + eps) = 0.94 lr. Adding eps to sqrt(v) before the bias correction gave 0.34 lr.
    p = {"layers.0.W": np.array([0.0, 0.0, 0.0])}
    g = {"layers.0.W": np.array([1.6e-7, -1e-8, 5.0])}
    Adam(0.01).step(p, g)
    expected = -0.01 * g["layers.0.W"] / (np.abs(g["layers.0.W"]) + 1e-8)
    np.testing.assert_allclose(p["layers.0.W"], expected, rtol=1e-12)
    assert p["layers.0.W"][0] == pytest.approx(-0.01 * 16 / 17)


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_in_float64_is_the_formula(steps, weight_decay):
    model = MLP(ModelConfig(input_size=12, hidden_sizes=(7, 5), output_size=4, dtype="float64"),
                np.random.default_rng(21))
    start = model.copy_params()
    gradient_steps = [gradients_tiny_to_large(start, seed) for seed in range(steps)]
    adam = Adam(0.01, weight_decay=weight_decay)
    for grads in gradient_steps:
        adam.step(model.params, grads)
    reference = adam_by_the_formula(start, gradient_steps, weight_decay=weight_decay)
    compare(f"Adam, {steps} steps, L2 {weight_decay}", model.params, reference, rtol=1e-12)


def test_adam_in_float32_is_the_formula_to_float32_rounding():
    model = MLP(CONFIG, np.random.default_rng(22))                    # float32, the default
    start = model.copy_params()
    gradient_steps = [gradients_tiny_to_large(start, seed) for seed in range(5)]
    adam = Adam(0.001)
    for grads in gradient_steps:
        adam.step(model.params, grads)
    reference = adam_by_the_formula(start, gradient_steps, lr=0.001)
    mine = {k: x.astype(np.float64) for k, x in model.params.items()}
    for k in reference:         # each step moves a weight by at most about lr: compare the moves,
        moved, expected = mine[k] - start[k], reference[k] - start[k]     # to a few float32 ulps
        ulp = np.spacing(np.abs(start[k]).max().astype(np.float32))
        np.testing.assert_allclose(moved, expected, rtol=1e-4, atol=8 * ulp, err_msg=f"Adam {k}")
