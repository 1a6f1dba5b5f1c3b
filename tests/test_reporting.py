"""The reporting plan of fit: when records come, what step 0 holds, layer health in every record,
where a diverging run blew up, and records that survive JSON and model files."""
import dataclasses
import json
import math

import numpy as np
import pytest

from core.errors import ConfigError, TrainingDiverged
from core.health import dead_share
from core.model import MLP, ModelConfig
from core.modelio import HISTORY_FIELDS, SavedModel, load_model, save_model
from core.training import (EARLY_REPORTS, PROBE_IMAGES, REGULAR_REPORTS, STEP0_TRAIN_IMAGES,
                           TrainConfig, fit, plan, report_steps)
from tests.helpers.splits import blobs


SMALL = ModelConfig(hidden_sizes=(16, 8))


def new_model(config=SMALL, seed=0):
    return MLP(config, np.random.default_rng(seed))


# -- the plan -------------------------------------------------------------------------------------
@pytest.mark.parametrize("total,size", [(1, 2), (5, 6), (99, 100), (100, 101), (1000, 110),
                                        (1_000_000, 111)])
def test_report_steps_plan(total, size):
    steps = report_steps(total)
    assert isinstance(steps, tuple) and all(type(s) is int for s in steps)
    assert list(steps) == sorted(set(steps))
    assert steps[0] == 0 and steps[-1] == total and len(steps) == size
    assert set(range(1, min(EARLY_REPORTS, total) + 1)) <= set(steps)       # the early shape
    if total < REGULAR_REPORTS:
        assert steps == tuple(range(total + 1))                              # every step
    else:
        assert len(steps) - 1 >= REGULAR_REPORTS                             # >= 100 after step 0
        gaps = np.diff(steps[EARLY_REPORTS:])
        assert gaps.max() == total // REGULAR_REPORTS                        # evenly spread


def test_report_every_sets_the_spacing():
    assert report_steps(30, report_every=10) == (0, 10, 20, 30)
    assert report_steps(25, report_every=10) == (0, 10, 20, 25)              # and the last step
    assert report_steps(3, report_every=1) == (0, 1, 2, 3)
    with pytest.raises(ConfigError, match="report_every"):
        report_steps(10, report_every=0)


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf"), "0.3"])
def test_bad_report_seconds_are_refused(seconds):
    with pytest.raises(ConfigError, match="report_seconds"):
        TrainConfig(report_seconds=seconds)


def test_old_train_configs_still_load():
    old = TrainConfig().to_dict()
    del old["report_seconds"]
    assert TrainConfig.from_dict(old).report_seconds is None


# -- records from fit -----------------------------------------------------------------------------
def test_fit_follows_the_plan_and_step_0_is_the_untrained_network():
    data = blobs(n=1500)                                         # 1,250 training images
    model = new_model()
    expected_train = model.evaluate(data.X_train[:STEP0_TRAIN_IMAGES], data.y_train[:STEP0_TRAIN_IMAGES])
    expected_val = model.evaluate(data.X_val, data.y_val)
    config = TrainConfig(learning_rate=0.05, epochs=12, batch_size=100, lr_schedule="cosine")
    _, steps_per_epoch, total = plan(config, data.X_train.shape[0])
    assert total == 156
    records = list(fit(model, data, config))
    assert tuple(r.step for r in records) == report_steps(total)
    first = records[0]
    assert (first.train_loss, first.train_accuracy) == expected_train
    assert (first.val_loss, first.val_accuracy) == expected_val
    assert first.epoch == 0.0 and first.elapsed == 0.0 and first.samples_per_second == 0.0
    assert first.learning_rate == pytest.approx(0.05)           # the rate of step 1
    assert records[1].learning_rate == first.learning_rate
    assert records[-1].train_loss < first.train_loss * 0.5
    for r in records[1:]:
        assert r.epoch == pytest.approx(r.step / steps_per_epoch) and r.elapsed > 0


def test_report_seconds_adds_records_between_planned_steps():
    data = blobs()
    config = TrainConfig(learning_rate=0.1, iterations=300, batch_size=50, report_seconds=1e-9)
    records = list(fit(new_model(), data, config))
    assert [r.step for r in records] == list(range(301))         # a record after every step
    planned = list(fit(new_model(), data, TrainConfig(learning_rate=0.1, iterations=300, batch_size=50)))
    assert len(planned) == len(report_steps(300)) < len(records)
    # extra records change nothing about the run itself
    assert records[-1].val_loss == planned[-1].val_loss


def test_every_record_reports_layer_health():
    data = blobs()
    model = new_model()
    probe = data.X_val[:PROBE_IMAGES]
    step0_dead = [dead_share(A, "relu") for A in model.hidden_activations(probe)]
    records = list(fit(model, data, TrainConfig(learning_rate=0.1, iterations=20, batch_size=50)))
    for r in records:
        assert [layer["layer"] for layer in r.layers] == [0, 1, 2]   # 2 hidden + the output layer
        assert math.isnan(r.layers[-1]["dead_share"])
    first = records[0]
    assert [layer["update_ratio"] for layer in first.layers] == [0.0, 0.0, 0.0]
    assert all(math.isnan(layer["grad_norm"]) for layer in first.layers)
    assert [layer["dead_share"] for layer in first.layers[:2]] == step0_dead
    for r in records[1:]:
        for layer in r.layers:
            assert 0 < layer["grad_norm"] < math.inf and 0 < layer["update_ratio"] < 1
        assert all(0 <= layer["dead_share"] <= 1 for layer in r.layers[:2])
    last_dead = [dead_share(A, "relu") for A in model.hidden_activations(probe)]
    assert [layer["dead_share"] for layer in records[-1].layers[:2]] == last_dead


def test_without_validation_the_probe_is_training_images():
    data = blobs()
    data = dataclasses.replace(data, X_val=data.X_val[:0], y_val=data.y_val[:0])
    model = new_model(ModelConfig(hidden_sizes=(16,), activation="sigmoid"))
    expected = dead_share(model.hidden_activations(data.X_train[:PROBE_IMAGES])[0], "sigmoid")
    first = next(fit(model, data, TrainConfig(iterations=3, batch_size=50)))
    assert first.layers[0]["dead_share"] == expected and math.isnan(first.val_loss)


def test_a_network_without_hidden_layers_has_one_layer_record():
    records = list(fit(new_model(ModelConfig(hidden_sizes=())), blobs(),
                       TrainConfig(learning_rate=0.1, iterations=3, batch_size=50)))
    assert all(len(r.layers) == 1 for r in records)


@pytest.mark.parametrize("batch_size", [None, 20])   # thrown off (window average), loss exploded
def test_a_diverging_run_says_where_it_blew_up(batch_size):
    data = blobs(n=120)
    model = new_model(ModelConfig(hidden_sizes=(32,)))
    config = TrainConfig(learning_rate=100.0, iterations=200, batch_size=batch_size, optimizer="sgd")
    _, steps_per_epoch, _ = plan(config, data.X_train.shape[0])
    records, weights = [], []
    with pytest.raises(TrainingDiverged, match="learning rate") as caught:
        for record in fit(model, data, config):
            records.append(record)
            weights.append(model.copy_params())
    error = caught.value
    assert type(error.step) is int and 1 <= error.step <= 200
    assert type(error.epoch) is float and error.epoch == error.step / steps_per_epoch
    assert type(error.loss) is float
    assert math.isnan(error.loss) or error.loss > 10 * math.log(10)     # inf, nan or huge
    assert records and records[0].step == 0
    assert all(r.step < error.step for r in records)
    assert all(math.isfinite(r.train_loss) and math.isfinite(r.val_loss) for r in records)
    for name, value in weights[-1].items():                    # the last record's weights are kept
        np.testing.assert_array_equal(model.params[name], value)
    if "weights from step" in str(error):
        assert f"weights from step {records[-1].step:,} were kept" in str(error)


def test_training_diverged_still_takes_just_a_message():
    error = TrainingDiverged("too large")
    assert str(error) == "too large"
    assert (error.step, error.epoch, error.loss) == (None, None, None)


# -- records as data ------------------------------------------------------------------------------
def test_records_to_dict_are_plain_json():
    records = list(fit(new_model(), blobs(), TrainConfig(learning_rate=0.1, iterations=12, batch_size=50)))
    for r in records:
        d = r.to_dict()
        text = json.dumps(d)                                     # NaN is allowed (grad_norm at step 0)
        back = json.loads(text)
        assert back["step"] == r.step and isinstance(back["layers"], list)
        assert all(isinstance(layer, dict) for layer in back["layers"])
        for key, value in d.items():
            assert type(value) in (int, float, list), (key, type(value))
        for layer in d["layers"]:
            assert all(type(v) in (int, float) for v in layer.values())


def test_model_files_take_histories_with_and_without_layers(tmp_path):
    data = blobs()
    model = new_model()
    history = [r.to_dict() for r in fit(model, data, TrainConfig(learning_rate=0.1, iterations=12,
                                                                 batch_size=50))]
    path = save_model(tmp_path / "new.npz", SavedModel(model=model, dataset="mnist", history=history))
    loaded = load_model(path, expected_dataset="mnist")
    assert len(loaded.history) == len(history)
    for saved, original in zip(loaded.history, history):
        for name in HISTORY_FIELDS:
            assert saved[name] == pytest.approx(original[name], nan_ok=True), name
    # a history written before records had layers
    old = [{k: v for k, v in r.items() if k != "layers"} for r in history]
    path = save_model(tmp_path / "old.npz", SavedModel(model=model, dataset="mnist", history=old))
    assert len(load_model(path).history) == len(old)
