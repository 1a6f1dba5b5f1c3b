"""Training: loss goes down, runs are reproducible, bad settings are refused, divergence is caught."""

import dataclasses

import numpy as np
import pytest

from core.errors import ConfigError, TrainingDiverged
from core.model import MLP, ModelConfig
from core.optimizers import SGD, Adam, Momentum
from core.training import PRESETS, TrainConfig, fit, get_preset, plan, train
from tests.helpers.splits import blobs

SMALL = ModelConfig(hidden_sizes=(16,))


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("momentum", 0.1), ("adam", 0.01)])
def test_loss_goes_down(optimizer, lr):
    data = blobs()
    config = TrainConfig(learning_rate=lr, epochs=8, batch_size=32, optimizer=optimizer, seed=1)
    _, records = train(SMALL, data, config)
    assert records[-1].train_loss < records[0].train_loss * 0.5
    assert records[-1].val_accuracy > 0.9


def test_full_batch_original_preset_learns():
    preset = get_preset("original")
    data = blobs()
    config = TrainConfig(**{**preset.train.to_dict(), "iterations": 100})
    _, records = train(preset.model, data, config)
    assert records[-1].step == 100 and records[-1].total_steps == 100
    assert records[-1].val_accuracy > 0.8


def test_same_seed_same_run_bit_for_bit():
    data = blobs()
    config = TrainConfig(learning_rate=0.1, epochs=2, batch_size=50, optimizer="momentum", seed=3)
    cfg = ModelConfig(hidden_sizes=(12,), dropout=0.2)
    a, ra = train(cfg, data, config)
    b, rb = train(cfg, data, config)
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    assert [r.train_loss for r in ra] == [r.train_loss for r in rb]
    c, _ = train(cfg, data, TrainConfig(**{**config.to_dict(), "seed": 4}))
    assert not np.array_equal(a.params["layers.0.W"], c.params["layers.0.W"])


def test_records_describe_the_run():
    data = blobs()
    config = TrainConfig(learning_rate=0.5, iterations=30, batch_size=100, report_every=10)
    _, records = train(SMALL, data, config)
    assert [r.step for r in records] == [0, 10, 20, 30]      # step 0: before any update
    last = records[-1]
    assert last.progress == 1.0 and last.eta == 0.0
    assert 0 <= last.train_accuracy <= 1 and 0 <= last.val_accuracy <= 1
    assert last.elapsed > 0 and last.samples_per_second > 0
    assert abs(last.epoch - 30 / 5) < 1e-9                 # 500 images, batches of 100


def test_stopping_is_stopping_iteration():
    data = blobs()
    model = MLP(SMALL, np.random.default_rng(0))
    run = fit(model, data, TrainConfig(learning_rate=0.5, iterations=1000, batch_size=10, report_every=5))
    assert next(run).step == 0                              # before any update
    first = next(run)
    run.close()
    assert first.step == 5 and model.params_finite()


def test_divergence_stops_with_a_clear_message_and_keeps_good_weights():
    data = blobs()
    model = MLP(ModelConfig(hidden_sizes=(32,)), np.random.default_rng(0))
    config = TrainConfig(learning_rate=100.0, iterations=200, batch_size=None, report_every=1)
    with pytest.raises(TrainingDiverged, match="learning rate"):
        for _ in fit(model, data, config):
            pass
    assert model.params_finite()


def test_cosine_schedule_decays_to_near_zero():
    data = blobs()
    config = TrainConfig(learning_rate=0.1, iterations=20, batch_size=100, lr_schedule="cosine", report_every=1)
    _, records = train(SMALL, data, config)
    assert records[0].learning_rate == pytest.approx(0.1)
    assert records[-1].learning_rate < 0.01


@pytest.mark.parametrize("kwargs,message", [
    ({"learning_rate": 0.0}, "Learning rate"),
    ({"learning_rate": 1000.0}, "Learning rate"),
    ({"learning_rate": float("nan")}, "Learning rate"),
    ({"iterations": 0}, "iterations"),
    ({"iterations": 2_000_000}, "iterations"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "Batch size"),
    ({"optimizer": "rmsprop"}, "optimiser"),
    ({"scaling": "zscore"}, "scaling"),
    ({"weight_decay": -1.0}, "weight decay"),
])
def test_bad_training_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"hidden_sizes": (0,)}, "units"),
    ({"hidden_sizes": (10**6,)}, "units"),
    ({"activation": "swish"}, "activation"),
    ({"loss": "cross_entropy", "output_activation": "sigmoid"}, "softmax"),
    ({"dropout": 1.0}, "Dropout"),
])
def test_bad_architectures_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_extreme_but_valid_settings_run():
    data = blobs(n=120)
    # a batch larger than the data is one full batch; the smallest learning rate barely moves
    batch, steps_per_epoch, _ = plan(TrainConfig(batch_size=10_000, epochs=1), 100)
    assert (batch, steps_per_epoch) == (100, 1)
    _, records = train(ModelConfig(hidden_sizes=(1,)), data,
                       TrainConfig(learning_rate=1e-6, epochs=1, batch_size=10_000))
    assert np.isfinite(records[-1].train_loss)


def test_no_training_data_is_refused():
    data = blobs(n=12)
    data = dataclasses.replace(data, X_train=data.X_train[:0], y_train=data.y_train[:0])
    with pytest.raises(ConfigError, match="no training images"):
        train(SMALL, data, TrainConfig())


def test_no_validation_data_gives_nan_validation():
    data = blobs(n=120)
    data = dataclasses.replace(data, X_val=data.X_val[:0], y_val=data.y_val[:0])
    _, records = train(SMALL, data, TrainConfig(epochs=1, batch_size=50))
    assert np.isnan(records[-1].val_accuracy)


def test_optimizer_steps_match_their_formulas():
    p = {"layers.0.W": np.array([1.0, 2.0]), "layers.0.b": np.array([0.5])}
    g = lambda: {"layers.0.W": np.array([0.1, -0.2]), "layers.0.b": np.array([1.0])}
    SGD(0.5, weight_decay=0.1).step(p, g())
    np.testing.assert_allclose(p["layers.0.W"], [1 - 0.5 * (0.1 + 0.1), 2 - 0.5 * (-0.2 + 0.2)])
    np.testing.assert_allclose(p["layers.0.b"], [0.0])            # no decay on biases
    q = {"layers.0.W": np.array([1.0])}
    m = Momentum(0.1, momentum=0.9)
    m.step(q, {"layers.0.W": np.array([1.0])})
    m.step(q, {"layers.0.W": np.array([1.0])})
    np.testing.assert_allclose(q["layers.0.W"], [1 - 0.1 - (0.09 + 0.1)])
    r = {"layers.0.W": np.array([1.0])}
    Adam(0.01).step(r, {"layers.0.W": np.array([5.0])})
    np.testing.assert_allclose(r["layers.0.W"], [0.99], rtol=1e-6)   # first Adam step = lr * sign


def test_presets_are_what_they_say():
    assert PRESETS["original"].model.layer_sizes == (784, 10, 10)
    assert PRESETS["original"].train.batch_size is None and PRESETS["original"].train.iterations == 1000
    assert PRESETS["textbook"].model.layer_sizes == (784, 50, 10)
    assert PRESETS["textbook"].model.loss == "mse" and PRESETS["textbook"].train.scaling == "symmetric"
    assert get_preset("recommended", "fashion-mnist").train.dataset == "fashion-mnist"
    with pytest.raises(ConfigError):
        get_preset("nope")
