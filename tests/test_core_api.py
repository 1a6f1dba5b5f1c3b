"""The model's public surface says what it does: forward's return value, the errors a caller can
act on, the dropout limit, explicit randomness, the parameter count, where CompactRows lives."""
import numpy as np
import pytest

from core.activations import softmax
from core.errors import ConfigError
from core.model import MAX_DROPOUT, MLP, ModelConfig


def small_model(**config):
    return MLP(ModelConfig(input_size=6, hidden_sizes=(5,), output_size=4, dtype="float64", **config),
               np.random.default_rng(0))


# -- forward --------------------------------------------------------------------------------------
def test_forward_returns_the_logits_alone():
    model = small_model()
    X = np.random.default_rng(1).standard_normal((3, 6))
    logits = model.forward(X)
    assert isinstance(logits, np.ndarray) and logits.shape == (3, 4)
    # logits, not probabilities: rows need not sum to 1, and their softmax is predict_proba
    np.testing.assert_allclose(softmax(logits.copy()), model.predict_proba(X), rtol=1e-12)
    W0, b0, W1, b1 = (model.params[k] for k in ("layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"))
    np.testing.assert_allclose(logits, np.maximum(X @ W0 + b0, 0) @ W1 + b1, rtol=1e-12)


def test_forward_ignores_dropout():
    model = small_model(dropout=0.5)
    X = np.random.default_rng(2).standard_normal((4, 6))
    np.testing.assert_array_equal(model.forward(X), model.forward(X))


# -- dropout needs a generator ----------------------------------------------------------------------
@pytest.mark.parametrize("rng", [None, 7])
def test_dropout_without_a_generator_is_a_clear_config_error(rng):
    model = small_model(dropout=0.3)
    X, y = np.ones((2, 6)), np.array([0, 3])
    with pytest.raises(ConfigError, match=r"(?i)dropout .*needs a random generator: pass "
                                          r"rng=np\.random\.default_rng\(seed\)"):
        model.loss_and_grads(X, y, rng=rng)


def test_dropout_without_a_generator_is_refused_on_the_compact_path_too():
    from core.compact import CompactRows
    model = small_model(dropout=0.3)
    plan = CompactRows(np.eye(6)[[0, 1, 2, 3]], np.array([0, 1, 2, 3]))
    with pytest.raises(ConfigError, match="random generator"):
        model.loss_and_grads_compact(plan)


def test_no_generator_is_needed_without_dropout_or_training():
    X, y = np.ones((2, 6)), np.array([0, 3])
    loss, _, _ = small_model().loss_and_grads(X, y)
    with_dropout = small_model(dropout=0.3)
    loss_eval, _, _ = with_dropout.loss_and_grads(X, y, training=False)
    assert np.isfinite(loss) and loss_eval == with_dropout.evaluate(X, y)[0]


# -- the dropout limit -------------------------------------------------------------------------------
def test_dropout_limit_is_inclusive_and_named_in_the_message():
    assert MAX_DROPOUT == 0.9
    assert ModelConfig(dropout=0.9).dropout == 0.9
    with pytest.raises(ConfigError, match=r"from 0 to 0\.9\b"):
        ModelConfig(dropout=0.91)
    with pytest.raises(ConfigError, match="Dropout"):
        ModelConfig(dropout=float("nan"))


# -- explicit randomness -------------------------------------------------------------------------------
@pytest.mark.parametrize("rng", [None, 0])
def test_new_weights_need_an_explicit_generator(rng):
    with pytest.raises(TypeError, match=r"random generator: pass rng=np\.random\.default_rng\(seed\)"):
        MLP(ModelConfig(hidden_sizes=(3,)), rng)


def test_existing_weights_need_no_generator():
    model = small_model()
    copy = MLP(model.config, params=model.copy_params())
    X = np.random.default_rng(3).standard_normal((2, 6))
    np.testing.assert_array_equal(copy.forward(X), model.forward(X))


def test_same_generator_seed_same_weights():
    a = MLP(ModelConfig(hidden_sizes=(3,)), np.random.default_rng(5))
    b = MLP(ModelConfig(hidden_sizes=(3,)), np.random.default_rng(5))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


# -- parameter count -----------------------------------------------------------------------------------
@pytest.mark.parametrize("hidden,count", [((256, 128), 235_146), ((128,), 101_770), ((10,), 7_960),
                                          ((), 7_850)])
def test_parameter_count_from_the_config_and_the_model_agree(hidden, count):
    config = ModelConfig(hidden_sizes=hidden)
    assert config.num_parameters == count
    assert MLP(config, np.random.default_rng(0)).num_parameters == count


# -- module layout -------------------------------------------------------------------------------------
def test_compact_rows_lives_in_its_own_module_and_core_model_still_exports_it():
    import core.compact
    import core.model
    assert core.model.CompactRows is core.compact.CompactRows
