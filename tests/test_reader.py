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
