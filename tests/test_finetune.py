"""core.finetune (teaching a trained model a new style) and the command line that does it:
``train --start-from MODEL --extra-data DIR --out OUT`` and ``eval --extra-data DIR``."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, TrainingDiverged
from core.finetune import TeachConfig, accuracy, compare, copy_model, split_drawings, teach
from core.handwriting import Drawings, write_dir
from core.model import MLP, ModelConfig
from core.modelio import load_model
from core.training import TrainConfig, fit
from tests.conftest import needs_model
from tests.helpers.splits import blobs

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "model" / "mnist" / "pretrained.npz"


def style(n_per_class, seed, prototypes):
    """Images of a new "style": each class is another random pattern (plus noise)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n_per_class)
    X = np.clip(prototypes[y] * 0.9 + rng.random((y.size, 784)) * 0.3, 0, 1).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def trained():
    """A small model that knows the blobs dataset (and nothing of the new style)."""
    splits = blobs(n=1800, seed=0)                  # its validation images are its test set
    model = MLP(ModelConfig(hidden_sizes=(32,)), np.random.default_rng(0))
    for _ in fit(model, splits, TrainConfig(learning_rate=0.01, optimizer="adam", epochs=3,
                                            batch_size=64, validation_size=0)):
        pass
    assert accuracy(model, splits.X_test, splits.y_test) > 0.95
    return model, splits


def test_split_drawings_holds_out_a_share_of_each_class():
    labels = np.array([0] * 8 + [1] * 4 + [2] * 3 + [3])
    taught, held = split_drawings(labels, 0.25, rng=0)
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 1, 0, 0]   # floor(0.25 n)
    assert np.intersect1d(taught, held).size == 0 and taught.size + held.size == labels.size
    again = split_drawings(labels, 0.25, rng=0)
    assert np.array_equal(again[1], held)
    assert split_drawings(labels, 0.0)[1].size == 0
    with pytest.raises(ConfigError, match="held-out share"):
        split_drawings(labels, 1.0)


def test_teaching_a_tiny_synthetic_style_raises_held_out_accuracy(trained):
    model, splits = trained
    prototypes = np.random.default_rng(7).random((10, 784)) < 0.15
    X_taught, y_taught = style(5, 1, prototypes)                  # 50 drawings
    X_held, y_held = style(30, 2, prototypes)                     # 300 never taught
    config = TeachConfig(steps=150, learning_rate=0.003, augment=False, augment_dataset=False,
                         report_every=25)
    taught_model = copy_model(model)
    records = list(teach(taught_model, splits, X_taught, y_taught, config,
                         held_out=(X_held, y_held)))
    outcome = compare(model, taught_model, splits.X_test, splits.y_test, (X_taught, y_taught),
                      (X_held, y_held), steps=150)
    assert outcome.held_out_before < 0.5, outcome
    assert outcome.held_out_after > 0.9, outcome
    assert outcome.held_out_after - outcome.held_out_before > 0.4
    assert outcome.test_after > outcome.test_before - 0.03, "it forgot the dataset"
    # Random shapes are beyond the first layer's features: the second reader (150 steps) did not
    # learn them, so it went and the whole network was taught (150 more).
    assert [r.step for r in records] == list(range(0, 301, 25))
    assert taught_model.config == model.config
    assert records[0].held_out_accuracy == pytest.approx(outcome.held_out_before)
    assert records[-1].held_out_accuracy == pytest.approx(outcome.held_out_after)
    assert accuracy(model, X_held, y_held) == outcome.held_out_before      # the original is untouched


def test_each_batch_mixes_the_drawings_in_and_without_them_it_just_goes_on(trained):
    model, splits = trained
    assert TeachConfig().extra_per_batch(200, 55_000) == 32
    assert TeachConfig().extra_per_batch(7, 55_000) == 7, "a handful: each once per batch"
    assert TeachConfig().extra_per_batch(0, 55_000) == 0
    assert TeachConfig().extra_per_batch(20, 0) == 128                     # only drawings
    records = list(teach(copy_model(model), splits, np.zeros((0, 784), np.float32),
                         np.zeros(0, np.int64), TeachConfig(steps=10, report_every=5)))
    assert [r.step for r in records] == [0, 5, 10]
    assert np.isnan(records[-1].taught_accuracy) and np.isnan(records[-1].held_out_accuracy)


def test_a_learning_rate_far_too_large_is_reported_and_the_weights_stay_finite(trained):
    model, splits = trained
    taught_model = copy_model(model)
    X, y = style(5, 1, np.random.default_rng(7).random((10, 784)) < 0.15)
    with pytest.raises(TrainingDiverged, match="smaller learning rate"):
        for _ in teach(taught_model, splits, X, y, TeachConfig(steps=200, learning_rate=100.0,
                                                               optimizer="sgd", augment=False,
                                                               augment_dataset=False)):
            pass
    assert taught_model.params_finite()


@pytest.mark.parametrize("settings,message", [
    ({"steps": 0}, "steps"), ({"batch_size": 1}, "Batch size"), ({"extra_share": 1.5}, "share"),
    ({"learning_rate": 0.0}, "Learning rate"), ({"optimizer": "lbfgs"}, "optimiser"),
    ({"seed": -1}, "Seed"), ({"styled_share": -0.1}, "redrawn in your hand"),
    ({"pull_back": 1.0}, "pull back"), ({"distill": 1.5}, "distill"),
])
def test_impossible_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        TeachConfig(**settings)


@needs_model
@pytest.mark.parametrize("name", ["seven-segment", "slant-narrow"])
def test_the_shipped_model_learns_a_benchmark_style(name):
    """benchmarks/handwriting.py, small: 10 drawings of each class taught, 10 others held out,
    the bundled sample for the dataset."""
    from core.datasets import make_splits, read_sample
    from tests.helpers.styles import make_style_set

    saved = load_model(SHIPPED)
    splits = make_splits(read_sample("mnist"), 1000, "unit", rng=0)
    X_taught, y_taught = make_style_set(name, 10, seed=0)
    X_held, y_held = make_style_set(name, 10, seed=1)
    model = copy_model(saved.model)
    # the default method, shorter (a busy machine runs the default 800 steps for minutes)
    for _ in teach(model, splits, X_taught, y_taught, TeachConfig(steps=300)):
        pass
    outcome = compare(saved.model, model, splits.X_test, splits.y_test, (X_taught, y_taught),
                      (X_held, y_held))
    assert outcome.held_out_before <= 0.85, outcome                 # a style it misreads
    assert outcome.held_out_after >= 0.9 and outcome.held_out_after - outcome.held_out_before >= 0.1, outcome
    assert outcome.test_after >= outcome.test_before - 0.01, outcome


# -- the visitor's hand ---------------------------------------------------------------------------
def warped(X, matrix):
    from core.augment import warp
    inverse = np.tile(np.linalg.inv(matrix), (len(X), 1, 1))
    return warp(X, inverse, np.zeros((len(X), 2)), 0.0)


@pytest.mark.parametrize("matrix", [np.array([[0.6, 0.0], [0.0, 1.0]]),          # narrow
                                    np.array([[1.0, -0.3], [0.0, 1.0]])])        # leaning right
def test_the_hand_is_measured_from_the_drawings_and_redraws_dataset_images_in_it(matrix):
    """Drawings that are dataset digits squeezed or slanted: the measured map of a round digit
    is that squeeze, and redrawn dataset images have the drawings' spread of ink."""
    from core.datasets import read_sample
    from core.handstyle import HandStyle, ink_covariances

    raw = read_sample("mnist")
    X = raw.train_images.reshape(-1, 784)[:3000].astype(np.float32) / 255
    y = raw.train_labels[:3000].astype(np.int64)
    drawn = warped(X[:500], matrix)                                 # the visitor's "drawings"
    hand = HandStyle.measure(drawn, y[:500], X[500:], y[500:], rng=np.random.default_rng(0))
    if matrix[0, 1] == 0:         # a squeeze is found as it is (a slant may come out as a
        for k in (0, 2, 3, 8):    # slight turn and stretch of the same spread)
            assert np.allclose(hand.maps[k], matrix, atol=0.12), (k, hand.maps[k], matrix)
    redrawn = hand.redraw(X[500:], y[500:])
    for k in range(10):
        rows = y[500:] == k
        target = ink_covariances(drawn[y[:500] == k]).mean(0)
        before = np.abs(ink_covariances(X[500:][rows]).mean(0) - target).max()
        after = np.abs(ink_covariances(redrawn[rows]).mean(0) - target).max()
        assert after < before / 2 + 0.5, (k, before, after)


def test_the_dataset_in_its_own_hand_is_left_as_it_is():
    from core.datasets import read_sample
    from core.handstyle import HandStyle

    raw = read_sample("mnist")
    X = raw.train_images.reshape(-1, 784)[:2000].astype(np.float32) / 255
    y = raw.train_labels[:2000].astype(np.int64)
    hand = HandStyle.measure(X[:1000], y[:1000], X[1000:], y[1000:], rng=np.random.default_rng(0))
    assert np.allclose(hand.maps, np.eye(2), atol=0.1), hand.maps
    hand = HandStyle.measure(X[:0], y[:0], X, y)                      # no drawings: identity
    assert np.array_equal(hand.maps, np.tile(np.eye(2), (10, 1, 1)))


def test_every_style_draws_every_digit_as_the_draw_page_would():
    from tests.helpers.styles import STYLES, make_style_set, style_canvases

    for name, hand in STYLES.items():
        if hand.glyphs is None:
            with pytest.raises(ValueError, match="skeletons"):
                style_canvases(name, 1, 0)
            continue
        X, y = make_style_set(name, 1, seed=0)
        assert X.shape == (10, 784) and y.tolist() == list(range(10))
        assert (X.max(axis=1) == 1.0).all() and X.dtype == np.float32, name   # ink, stretched
        again, _ = make_style_set(name, 1, seed=0)
        assert np.array_equal(X, again)                                     # seeded


# -- the command line ---------------------------------------------------------------------------
def run(*args):
    env = {**os.environ, "NN_OFFLINE": "1", "NN_DATA_DIR": "", "NN_CACHE_DIR": "/nonexistent-cache"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def drawings_dir(tmp_path_factory):
    """A folder of 30 drawings: bundled-sample test digits, mirrored (a style it does not know)."""
    from core.datasets import read_sample
    raw = read_sample("mnist")
    images = raw.test_images[:30].reshape(-1, 28, 28)[:, :, ::-1].reshape(-1, 784)
    labels = raw.test_labels[:30]
    sketches = np.repeat(np.repeat(images.reshape(-1, 28, 28), 2, 1), 2, 2)
    folder = tmp_path_factory.mktemp("drawings")
    write_dir(Drawings(images.copy(), labels.copy(), sketches), folder)
    return folder


@needs_model
def test_cli_fine_tunes_a_model_on_the_drawings_and_eval_measures_them(tmp_path, drawings_dir):
    out = tmp_path / "taught.npz"
    r = run("train", "-dataset", "mnist", "--start-from", str(SHIPPED), "--extra-data",
            str(drawings_dir), "--out", str(out), "-i", "60")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Started from {SHIPPED}: 784-256-128-10")
    assert f"Extra data: 30 drawings from {drawings_dir}" in r.stdout
    assert f"Training: fine-tuning, adam, lr {TeachConfig().learning_rate:g} (cosine), batches of 128 " \
           "(30 of them drawings, " \
           "distorted), 60 steps" in r.stdout
    assert any(line.startswith(f"Accuracy on {drawings_dir}: ") for line in lines)
    assert next(line for line in lines if line.startswith("Test accuracy: ")).endswith("before)")
    assert f"Saved parameters to {out}" in r.stdout
    saved = load_model(out, expected_dataset="mnist")
    assert saved.train_config["fine_tuned_from"] == str(SHIPPED) and saved.train_config["steps"] == 60
    assert saved.metrics["extra_drawings"] == 30 and len(saved.history) > 2

    r = run("eval", "-dataset", "mnist", "--model", str(out), "--extra-data", str(drawings_dir))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Accuracy: "))
    assert lines[at].endswith("%") and 0 <= float(lines[at][10:-1]) <= 100
    prefix = f"Accuracy on {drawings_dir}: "
    assert lines[at + 1].startswith(prefix) and lines[at + 1].endswith("%")
    after = float(lines[at + 1][len(prefix):-1])
    assert after >= saved.metrics["extra_accuracy"] * 100 - 0.01        # the same number, 2 decimals
    assert "Per-class accuracy:" in r.stdout


@needs_model
@pytest.mark.parametrize("args,message", [
    (["train", "--extra-data", "DIR"], "add --start-from MODEL"),
    (["train", "--start-from", str(SHIPPED), "--extra-data", "DIR"], "needs --out FILE"),
    (["train", "--start-from", str(SHIPPED), "--out", "x.npz", "--hidden", "32"],
     "--hidden cannot change a model you start from"),
    (["train", "--start-from", str(SHIPPED), "--out", "x.npz", "--scaling", "symmetric"],
     "reads pixels in the unit scaling"),
    (["train", "--start-from", str(SHIPPED), "--out", "x.npz", "--batch-size", "full"],
     "not 'full'"),
    (["train", "--start-from", str(SHIPPED), "--out", "x.npz", "--extra-data", "/nonexistent"],
     "/nonexistent does not exist"),
    (["train", "-dataset", "fashion-mnist", "--start-from", str(SHIPPED), "--out", "x.npz"],
     "is a mnist model; add -dataset mnist"),
    (["eval", "--extra-data", str(ROOT / "core")], "has no images and no labels file"),
])
def test_cli_mistakes_print_one_clear_line_and_exit_2(args, message, tmp_path):
    r = run(*[a.replace("DIR", str(tmp_path)) for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (ROOT / "x.npz").exists()


# -- distillation: soft targets through the layers ---------------------------------------------
def test_soft_targets_give_the_label_loss_for_one_hot_and_a_central_difference_gradient():
    from core.losses import SoftmaxCrossEntropy

    rng = np.random.default_rng(3)
    loss = SoftmaxCrossEntropy()
    Z = rng.normal(size=(6, 10))
    y = rng.integers(0, 10, 6)
    one_hot = np.eye(10)[y]
    hard = loss.loss_sum_and_delta(Z.copy(), y, 6)
    soft = loss.soft_loss_sum_and_delta(Z.copy(), one_hot, 6)
    assert soft[0] == pytest.approx(hard[0], rel=1e-12)
    assert np.allclose(soft[2], hard[2], atol=1e-12)            # (P - Y) / N
    T = rng.dirichlet(np.ones(10), 6)                             # rows summing to 1
    _, _, dZ = loss.soft_loss_sum_and_delta(Z.copy(), T, 6)
    numeric = np.zeros_like(Z)
    for i in np.ndindex(Z.shape):
        e = np.zeros_like(Z)
        e[i] = 1e-6
        numeric[i] = (loss.soft_loss_sum_and_delta(Z + e, T, 6)[0]
                      - loss.soft_loss_sum_and_delta(Z - e, T, 6)[0]) / 6 / 2e-6
    assert np.abs(dZ - numeric).max() / np.abs(numeric).max() < 1e-6


def test_a_soft_update_with_one_hot_targets_is_the_label_update(trained):
    from core.finetune import soft_update
    from core.optimizers import make_optimizer

    model, splits = trained
    X, y = splits.X_train[:40], splits.y_train[:40]
    one, two = copy_model(model), copy_model(model)
    checked = dict(step=1, epoch=0.0)
    from core.training import checked_update
    checked_update(one, make_optimizer("sgd", 0.1), X, y, None, one.copy_params(), **checked)
    soft_update(two, make_optimizer("sgd", 0.1), X, np.eye(10, dtype=np.float32)[y], None,
                two.copy_params(), **checked)
    for name in one.params:
        assert np.allclose(one.params[name], two.params[name], atol=1e-6), name


def test_distillation_keeps_the_dataset_better_than_labels_alone(trained):
    """The same run with and without soft targets from the original model: the distilled one
    moves the model's answers on the dataset less."""
    model, splits = trained
    prototypes = np.random.default_rng(7).random((10, 784)) < 0.15
    X_taught, y_taught = style(5, 1, prototypes)
    moved = {}
    for distill in (0.0, 1.0):
        taught = copy_model(model)
        for _ in teach(taught, splits, X_taught, y_taught,
                       TeachConfig(steps=60, learning_rate=0.003, distill=distill,
                                   styled_share=0.0, augment=False, augment_dataset=False)):
            pass
        moved[distill] = np.abs(taught.predict_proba(splits.X_test)
                                - model.predict_proba(splits.X_test)).mean()
    assert moved[1.0] < moved[0.0], moved


def test_the_hand_is_one_map_for_every_digit_even_a_turn_of_round_ones():
    """A hand turned 30 degrees: measured from all the classes at once, every class gets the
    turn (one at a time, a 0 or an 8 cannot tell a turn from a squeeze)."""
    from core.datasets import read_sample
    from core.handstyle import HandStyle

    raw = read_sample("mnist")
    X = raw.train_images.reshape(-1, 784)[:3000].astype(np.float32) / 255
    y = raw.train_labels[:3000].astype(np.int64)
    c, s = np.cos(np.deg2rad(30)), np.sin(np.deg2rad(30))
    turn = np.array([[c, -s], [s, c]])
    hand = HandStyle.measure(warped(X[:500], turn), y[:500], X[500:], y[500:],
                             rng=np.random.default_rng(0))
    for k in range(10):
        assert np.allclose(hand.maps[k], turn, atol=0.12), (k, hand.maps[k])


def test_teach_it_offers_the_default_steps_and_starts_there():
    from app.session import KEYS
    from app.views.my_drawings import STEP_CHOICES

    assert TeachConfig().steps in STEP_CHOICES
    assert KEYS["my_teach_steps"].default == TeachConfig().steps
