"""The command line end to end, on the bundled sample (offline)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import build_parser, configs_from_args
from core.modelio import load_model

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env_extra=None):
    env = {**os.environ, "NN_OFFLINE": "1", "NN_DATA_DIR": "", "NN_CACHE_DIR": "/nonexistent-cache"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_original_spellings_parse_to_the_original_preset():
    args = build_parser().parse_args(["train", "-dataset", "mnist", "-lr", "0.1", "-i", "1000"])
    model_config, train_config = configs_from_args(args)
    assert model_config.layer_sizes == (784, 10, 10) and model_config.init == "small_uniform"
    assert train_config.batch_size is None and train_config.iterations == 1000
    assert train_config.learning_rate == 0.1


def test_long_flags_override_the_preset():
    args = build_parser().parse_args(["train", "--dataset", "fashion-mnist", "--preset", "recommended",
                                      "--hidden", "32,16", "--batch-size", "full", "--epochs", "2",
                                      "--optimizer", "momentum", "--validation-size", "0.2"])
    model_config, train_config = configs_from_args(args)
    assert model_config.hidden_sizes == (32, 16)
    assert train_config.batch_size is None and train_config.epochs == 2 and train_config.iterations is None
    assert train_config.optimizer == "momentum" and train_config.validation_size == 0.2
    assert train_config.dataset == "fashion-mnist"


def test_train_eval_visualize_end_to_end(tmp_path):
    out = tmp_path / "m.npz"
    r = run("train", "-dataset", "mnist", "-lr", "0.5", "-i", "30", "--hidden", "16", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "bundled sample" in r.stdout and "Test accuracy" in r.stdout and str(out) in r.stdout
    saved = load_model(out, expected_dataset="mnist")
    assert saved.model.config.hidden_sizes == (16,) and len(saved.history) > 0
    assert saved.metrics["test_accuracy"] > 0.5

    r = run("eval", "-dataset", "mnist", "--model", str(out))
    assert r.returncode == 0, r.stderr
    assert f"Loaded parameters from {out}" in r.stdout
    assert "Accuracy: " in r.stdout and "Per-class accuracy" in r.stdout
    accuracy_line = next(line for line in r.stdout.splitlines() if line.startswith("Accuracy: "))
    assert accuracy_line.endswith("%") and 50 < float(accuracy_line[10:-1]) <= 100

    r = run("visualize", "-dataset", "mnist", "--model", str(out), "--out-dir", str(tmp_path / "fig"))
    assert r.returncode == 0, r.stderr
    pngs = sorted(p.name for p in (tmp_path / "fig").glob("*.png"))
    assert pngs == ["confusion_matrix.png", "first_layer_weights.png", "hidden_activations.png",
                    "misclassified.png", "training_curves.png"]
    for name in pngs:
        assert name in r.stdout and (tmp_path / "fig" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,message", [
    (["train", "-lr", "1000"], "Learning rate"),
    (["train", "--hidden", "0"], "units"),
    (["train", "-i", "0"], "iterations"),
    (["eval", "--model", "/nonexistent/model.npz"], "train one first"),
])
def test_user_mistakes_print_one_clear_line_and_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_divergence_is_reported_and_nothing_is_saved(tmp_path):
    out = tmp_path / "m.npz"
    r = run("train", "-lr", "100", "-i", "50", "--init", "he", "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "diverged" in r.stderr and "learning rate" in r.stderr
    assert not out.exists()


def test_corrupt_model_file_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model at all")
    r = run("eval", "--model", str(bad))
    assert r.returncode == 2 and "not an .npz" in r.stderr


@pytest.mark.parametrize("command", ["train", "eval", "visualize"])
def test_every_option_is_described_in_help(command):
    from core.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    undescribed = [a.option_strings for a in sub._actions if a.option_strings and not a.help]
    assert not undescribed, f"{command}: {undescribed}"


def test_eval_prints_a_readable_per_class_table():
    r = run("eval")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.split("Per-class accuracy:")[1].strip().splitlines()
    assert rows[0].split() == ["class", "accuracy", "test", "images"]
    assert [row.split()[0] for row in rows[1:]] == [str(d) for d in range(10)]
    assert not any(row.split()[1] == row.split()[0] for row in rows[1:]), "no '0 0' repeats"


def test_train_never_touches_the_shipped_model_and_eval_says_which_file_it_reads(tmp_path):
    from tests.helpers.models import copy_shipped_models
    # the shipped models alone: not a model the README's `python -m core train` left in model/
    models = copy_shipped_models(tmp_path / "model")
    shipped = (models / "mnist" / "pretrained.npz").read_bytes()
    env = {"NN_MODEL_DIR": str(models)}
    r = run("eval", env_extra=env)
    assert r.returncode == 0 and "pretrained.npz" in r.stdout, r.stdout + r.stderr
    r = run("train", "-dataset", "mnist", "-lr", "0.1", "-i", "5", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert (models / "mnist" / "nn_parameters.npz").is_file()
    assert (models / "mnist" / "pretrained.npz").read_bytes() == shipped, "the shipped model"
    r = run("eval", env_extra=env)
    assert "Loaded parameters from" in r.stdout and "nn_parameters.npz" in r.stdout
