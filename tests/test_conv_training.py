"""Every training feature with conv layers, on a few hundred bundled images: optimisers, L2,
dropout, augmentation, schedules, layer health, divergence, fine-tuning, model files."""
import dataclasses

import numpy as np
import pytest

from core.datasets import make_splits, read_sample
from core.errors import TrainingDiverged
from core.finetune import TeachConfig, teach
from core.model import MLP, ModelConfig
from core.modelio import SavedModel, load_model, save_model
from core.training import TrainConfig, fit, get_preset, new_run

LAYERS = "conv 4x5, pool 2, conv 8x3 same, pool 2, dense 16"


@pytest.fixture(scope="module")
def splits():
    raw = read_sample("mnist")
    full = make_splits(raw, 200, rng=0)
    return dataclasses.replace(full, X_train=full.X_train[:600], y_train=full.y_train[:600])


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("momentum", 0.03), ("adam", 0.003)])
def test_a_conv_net_learns_with_every_optimiser_and_feature(splits, optimizer, lr):
    model_config = ModelConfig(layers=LAYERS, dropout=0.2)
    config = TrainConfig(optimizer=optimizer, learning_rate=lr, epochs=4, batch_size=32,
                         weight_decay=1e-4, lr_schedule="cosine", augment=True, seed=1)
    model, rng = new_run(model_config, config)
    records = list(fit(model, splits, config, rng))
    first, last = records[0], records[-1]
    assert last.train_loss < first.train_loss and last.val_accuracy > first.val_accuracy + 0.1
    assert len(last.layers) == 4                                   # conv, conv, dense, output
    assert all(0 <= layer["dead_share"] <= 1 for layer in last.layers[:3])
    assert all(layer["grad_norm"] > 0 and layer["update_ratio"] > 0 for layer in last.layers)


def test_a_far_too_large_learning_rate_is_caught_and_the_good_weights_kept(splits):
    config = TrainConfig(optimizer="sgd", learning_rate=50.0, epochs=2, batch_size=32)
    model, rng = new_run(ModelConfig(layers=LAYERS), config)
    with pytest.raises(TrainingDiverged):
        list(fit(model, splits, config, rng))
    assert model.params_finite()


def test_fine_tuning_a_conv_net_and_its_model_file(splits, tmp_path):
    model, rng = new_run(ModelConfig(layers=LAYERS), TrainConfig())
    X_extra, y_extra = splits.X_val[:20], splits.y_val[:20]
    records = list(teach(model, splits, X_extra, y_extra, TeachConfig(steps=5, batch_size=32)))
    # an untrained conv net's dense layers cannot learn the drawings in 5 steps on the pools of
    # its convolutions' output: then the whole network is taught 5 steps more
    assert [r.step for r in records][-1] == records[-1].total_steps == 10
    saved = SavedModel(model=model, dataset="mnist", scaling="unit", train_config={}, history=[],
                       metrics={})
    loaded = load_model(save_model(tmp_path / "conv.npz", saved)).model
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict_proba(splits.X_val[:50]),
                                  model.predict_proba(splits.X_val[:50]))


def test_a_file_whose_conv_weights_do_not_fit_its_description_is_refused(tmp_path):
    from core.errors import ModelFileError
    model = MLP(ModelConfig(layers=LAYERS), np.random.default_rng(0))
    path = save_model(tmp_path / "conv.npz", SavedModel(model=model, dataset="mnist",
                                                        scaling="unit", train_config={},
                                                        history=[], metrics={}))
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    arrays["layers.1.W"] = arrays["layers.1.W"][:, :2]                 # 2 input channels, not 4
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"layers.1.W has shape \(8, 2, 3, 3\)"):
        load_model(tmp_path / "bad.npz")


def test_the_convnet_preset_is_offered():
    from core import options
    preset = get_preset("convnet", "fashion-mnist")
    assert "convnet" in options.PRESETS and preset.model.layers.startswith("conv")
    assert preset.train.dataset == "fashion-mnist"


def test_a_model_whose_outputs_overflow_is_refused_on_load(tmp_path):
    """Issue 26, item 4: weights of 1e30 are finite, the products are not; Draw would show nan%."""
    from core.errors import ModelFileError
    model = MLP(ModelConfig(hidden_sizes=(16,)), np.random.default_rng(0))
    path = save_model(tmp_path / "ok.npz", SavedModel(model=model, dataset="mnist", scaling="unit",
                                                      train_config={}, history=[], metrics={}))
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    for key in arrays:
        if key.startswith("layers."):
            arrays[key] = np.full_like(arrays[key], 1e30)
    np.savez(tmp_path / "huge.npz", **arrays)
    with pytest.raises(ModelFileError, match="outputs on the bundled sample images are not finite"):
        load_model(tmp_path / "huge.npz")


def test_the_convnet_preset_trains_longer_with_dropout_on_fashion_mnist():
    """One preset name, a variant per dataset: the CLI (get_preset) and the Train form
    (preset_settings) both read it."""
    from app.inputs.form import preset_settings
    mnist, fashion = get_preset("convnet", "mnist"), get_preset("convnet", "fashion-mnist")
    assert (mnist.train.epochs, mnist.model.dropout) == (6, 0.0)
    assert (fashion.train.epochs, fashion.model.dropout) == (14, 0.25)
    assert fashion.model.layers == mnist.model.layers and fashion.train.dataset == "fashion-mnist"
    form = preset_settings("convnet", 60_000, "fashion-mnist")
    assert (form["epochs"], form["dropout"]) == (14, 0.25)
    assert preset_settings("convnet", 60_000, "mnist")["epochs"] == 6
