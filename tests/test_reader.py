"""core.reader: Teach it's second reader, a copy of the network that reads through the visitor's
hand. The un-warp folded into the first layer must be exactly the warp it stands for, the grown
network must start as the original plus that reader, and teaching a turned hand must read it."""
from dataclasses import replace

import numpy as np
import pytest

from core.augment import warp
from core.datasets import make_splits, read_sample
from core.finetune import READER_STEPS, TeachConfig, accuracy, copy_model, teach
from core.handstyle import HandStyle
from core.model import MLP, ModelConfig
from core.modelio import load_model
from core.reader import can_grow, grown, head_of, unwarp_matrix, with_reader
from tests.conftest import needs_model
from tests.test_finetune import SHIPPED

TURN = np.array([[np.cos(0.5), -np.sin(0.5)], [np.sin(0.5), np.cos(0.5)]]) * 0.9   # ~29 degrees


def _model(hidden=(24, 12), seed=0):
    return MLP(ModelConfig(hidden_sizes=hidden, dropout=0.1), np.random.default_rng(seed))


@pytest.mark.parametrize("paper", [0.0, -1.0])
def test_the_folded_unwarp_is_the_warp_it_stands_for(paper):
    rng = np.random.default_rng(1)
    X = (rng.random((5, 784)) * (1 - paper) + paper).astype(np.float32)       # in [paper, 1]
    M, u = unwarp_matrix(TURN, paper)
    direct = warp(X, np.tile(TURN, (5, 1, 1)), np.zeros((5, 2)), paper)
    assert np.allclose(X @ M + paper * u, direct, atol=1e-5)


@pytest.mark.parametrize("paper", [0.0, -1.0])
def test_the_grown_network_is_the_original_plus_a_reader_through_the_hand(paper):
    model = _model()
    rng = np.random.default_rng(2)
    X = (rng.random((7, 784)) * (1 - paper) + paper).astype(np.float32)
    silent = with_reader(model, TURN, paper, weight=0.0)
    assert silent.config == grown(model.config) and silent.config.hidden_sizes == (48, 24)
    assert np.allclose(silent.forward(X), model.forward(X), atol=1e-4)
    # the second reader alone (the first's share of the logits taken out): the original network
    # on the images un-warped by the hand
    both = with_reader(model, TURN, paper, weight=1.0)
    second = MLP(both.config, params={k: v.copy() for k, v in both.params.items()})
    second.params["layers.2.W"][:12] = 0
    unwarped = warp(X, np.tile(TURN, (7, 1, 1)), np.zeros((7, 2)), paper)
    assert np.allclose(second.forward(X), model.forward(unwarped), atol=1e-4)
    assert np.allclose(both.forward(X), model.forward(X) + model.forward(unwarped)
                       - model.params["layers.2.b"], atol=1e-4)
    assert model.config.hidden_sizes == (24, 12)                    # the original is untouched


def test_the_head_shares_the_models_weights():
    model = with_reader(_model(), TURN)
    head, first_layer = head_of(model)
    X = np.random.default_rng(3).random((6, 784)).astype(np.float32)
    assert np.allclose(head.forward(first_layer(X)), model.forward(X), atol=1e-5)
    head.params["layers.0.b"] += 1.0                                 # training the head ...
    assert np.allclose(model.params["layers.1.b"], head.params["layers.0.b"])   # ... is the model's


def test_only_a_dense_network_with_room_grows_a_reader():
    assert can_grow(ModelConfig(hidden_sizes=(256, 128)))
    assert not can_grow(ModelConfig(hidden_sizes=()))
    assert not can_grow(ModelConfig(hidden_sizes=(4096,)))              # 8,192 units: over the limit
    assert not can_grow(ModelConfig(layers="conv 8x5, pool 2, dense 32"))
    config = TeachConfig()
    assert config.uses_reader(ModelConfig(hidden_sizes=(32,)), n_extra=20)
    assert not config.uses_reader(ModelConfig(hidden_sizes=(32,)), n_extra=0)
    assert not replace(config, second_reader=False).uses_reader(ModelConfig(hidden_sizes=(32,)), 20)
    assert not config.uses_reader(ModelConfig(hidden_sizes=(32,), loss="mse",
                                              output_activation="sigmoid"), 20)
    assert config.steps_for(ModelConfig(hidden_sizes=(32,)), 20) == READER_STEPS
    assert TeachConfig(steps=50).steps_for(ModelConfig(hidden_sizes=(32,)), 20) == 50


@needs_model
def test_teaching_a_turned_hand_grows_a_reader_that_reads_it():
    """The shipped model and the bundled sample: test digits turned ~29 degrees and shrunk are
    one visitor's hand; 10 of each digit taught, the other turned digits held out."""
    saved = load_model(SHIPPED, expected_dataset="mnist")
    raw = read_sample("mnist")
    splits = make_splits(raw, 1000, saved.scaling, rng=0)
    X = warp(splits.X_test, np.tile(np.linalg.inv(TURN), (len(splits.y_test), 1, 1)),
             np.zeros((len(splits.y_test), 2)), 0.0)           # each digit drawn turned
    y = splits.y_test
    taught = np.concatenate([np.flatnonzero(y == k)[:10] for k in range(10)])
    held = np.setdiff1d(np.arange(len(y)), taught)
    hand = HandStyle.measure(X[taught], y[taught], splits.X_train, splits.y_train,
                             rng=np.random.default_rng(0))
    assert np.allclose(hand.maps[0], TURN, atol=0.2)             # the hand is measured
    model = copy_model(saved.model)
    records = list(teach(model, splits, X[taught], y[taught], TeachConfig(steps=600),
                         held_out=(X[held], y[held])))
    assert model.config.hidden_sizes == (512, 256)                # it grew the reader
    before, after = accuracy(saved.model, X[held], y[held]), accuracy(model, X[held], y[held])
    assert after >= 0.9 and after > before + 0.1, (before, after)
    # the rest of the sample (its validation images: the test images are the style)
    drop = accuracy(saved.model, splits.X_val, splits.y_val) - accuracy(model, splits.X_val,
                                                                        splits.y_val)
    assert drop < 0.015, drop
    assert records[-1].step == 600 and records[-1].held_out_accuracy == pytest.approx(after)


@pytest.fixture(scope="module")
def turned_dir(tmp_path_factory):
    """A folder of 100 drawings: bundled-sample test digits, 10 of each, turned ~29 degrees."""
    from core.handwriting import Drawings, write_dir
    raw = read_sample("mnist")
    rows = np.concatenate([np.flatnonzero(raw.test_labels == k)[:10] for k in range(10)])
    X = raw.test_images[rows].reshape(-1, 784).astype(np.float32) / 255
    turned = warp(X, np.tile(np.linalg.inv(TURN), (len(rows), 1, 1)), np.zeros((len(rows), 2)), 0.0)
    images = (np.clip(turned, 0, 1) * 255 + 0.5).astype(np.uint8)
    sketches = np.repeat(np.repeat(images.reshape(-1, 28, 28), 2, 1), 2, 2)
    folder = tmp_path_factory.mktemp("turned")
    write_dir(Drawings(images, raw.test_labels[rows].copy(), sketches), folder)
    return folder


@needs_model
def test_the_command_line_grows_a_reader_once_and_can_keep_the_shape(tmp_path, turned_dir):
    from tests.test_finetune import run

    drawings_dir = turned_dir
    grown_file, again_file, kept_file = (tmp_path / f"{n}.npz" for n in ("grown", "again", "kept"))
    r = run("train", "-dataset", "mnist", "--start-from", str(SHIPPED), "--extra-data",
            str(drawings_dir), "--out", str(grown_file), "-i", "300")
    assert r.returncode == 0, r.stderr
    assert "Second reader: the network grew to 784-512-256-10" in r.stdout
    saved = load_model(grown_file, expected_dataset="mnist")
    assert saved.model.config.hidden_sizes == (512, 256)
    assert saved.train_config["grew_second_reader"] is True
    # taught again, it is not grown a second time
    r = run("train", "-dataset", "mnist", "--start-from", str(grown_file), "--extra-data",
            str(drawings_dir), "--out", str(again_file), "-i", "20")
    assert r.returncode == 0, r.stderr
    assert "Second reader" not in r.stdout
    again = load_model(again_file, expected_dataset="mnist")
    assert again.model.config.hidden_sizes == (512, 256)
    assert again.train_config["grew_second_reader"] is True
    # --no-second-reader keeps the architecture
    r = run("train", "-dataset", "mnist", "--start-from", str(SHIPPED), "--extra-data",
            str(drawings_dir), "--out", str(kept_file), "-i", "20", "--no-second-reader")
    assert r.returncode == 0, r.stderr
    assert load_model(kept_file).model.config.hidden_sizes == (256, 128)
    r = run("train", "-dataset", "mnist", "--second-reader", "-i", "5")
    assert r.returncode == 2 and "--second-reader goes with --start-from" in r.stderr


def test_a_conv_net_is_taught_after_its_convolutions_which_stay():
    """A small conv net that read the bundled sample, taught 60 turned digits: its dense layers
    learn them on pools of the convolutions' output; the convolutions stay as they were."""
    from core.training import TrainConfig, fit

    splits = make_splits(read_sample("mnist"), 1000, "unit", rng=0)
    model = MLP(ModelConfig(layers="conv 4x5, pool 2, dense 32"), np.random.default_rng(0))
    for _ in fit(model, splits, TrainConfig(learning_rate=0.003, optimizer="adam", epochs=1,
                                            batch_size=64, validation_size=1000)):
        pass
    inverse = np.tile(np.linalg.inv(TURN), (600, 1, 1))
    X = warp(splits.X_test[:600], inverse, np.zeros((600, 2)), 0.0)
    y = splits.y_test[:600]
    taught = copy_model(model)
    records = list(teach(taught, splits, X[:60], y[:60], TeachConfig(steps=400)))
    assert records[-1].step == 400 and records[-1].total_steps == 400      # no fall-back
    assert np.array_equal(taught.params["layers.0.W"], model.params["layers.0.W"])   # conv kept
    assert not np.array_equal(taught.params["layers.1.W"], model.params["layers.1.W"])
    assert taught.config == model.config                                # no second reader
    before, after = accuracy(model, X[60:], y[60:]), accuracy(taught, X[60:], y[60:])
    assert after > before + 0.05, (before, after)
