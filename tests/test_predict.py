"""``python -m core predict``: pictures of any size and either polarity, one line per file in
order, a bad file reported while the others still run; MLPs and conv nets alike."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")

from core.datasets import read_sample  # noqa: E402
from core.model import MLP, ModelConfig  # noqa: E402
from core.modelio import SavedModel, save_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    env = {**os.environ, "NN_OFFLINE": "1", "NN_DATA_DIR": "", "NN_CACHE_DIR": "/nonexistent-cache"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def write_digit(path, image28, size, dark_on_light, fmt):
    """A test digit enlarged to size x size, white on black or black on white."""
    big = np.kron(image28.reshape(28, 28), np.ones((size // 28, size // 28))).astype(np.uint8)
    if dark_on_light:
        big = 255 - big
    PIL.fromarray(big).convert("RGB").save(path, fmt)
    return path


def test_predicts_each_picture_in_order_and_reports_a_bad_one(tmp_path):
    sample = read_sample("mnist")
    model = ROOT / "model" / "mnist" / "pretrained.npz"
    picks = list(range(6))
    files = []
    for i in picks:        # each digit twice: white on black PNG, black on white JPEG, other sizes
        files.append(write_digit(tmp_path / f"{i}.png", sample.test_images[i], 280, False, "PNG"))
        files.append(write_digit(tmp_path / f"{i}.jpg", sample.test_images[i], 112, True, "JPEG"))
    bad = [tmp_path / "missing.png", tmp_path / "text.png"]
    bad[1].write_text("not a picture")
    files[2:2] = bad
    result = run("predict", "-dataset", "mnist", "--model", str(model), *map(str, files))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(files) and result.returncode == 1, result.stdout + result.stderr
    assert lines[2] == f"{bad[0]}: error: no such file"
    assert lines[3].startswith(f"{bad[1]}: error: not a picture")
    del lines[2:4], files[2:4]
    guesses = []
    for line, path in zip(lines, files):
        name, _, rest = line.partition(": ")
        assert name == str(path) and rest.endswith("%)"), line
        guesses.append(int(rest.split()[0]))
    assert guesses[0::2] == guesses[1::2], "either polarity, any size: the same guess"
    right = sum(g == sample.test_labels[i] for g, i in zip(guesses[0::2], picks))
    assert right >= 5, f"{right} of 6 test digits read right: {guesses[0::2]}"


def test_predict_works_for_a_conv_net(tmp_path):
    model = MLP(ModelConfig(layers="conv 4x5, pool 2, dense 16"), np.random.default_rng(0))
    path = save_model(tmp_path / "conv.npz", SavedModel(model=model, dataset="mnist", scaling="unit",
                                                        train_config={}, history=[], metrics={}))
    picture = write_digit(tmp_path / "d.png", read_sample("mnist").test_images[0], 84, False, "PNG")
    result = run("predict", "--model", str(path), str(picture))
    assert result.returncode == 0, result.stderr
    guess = result.stdout.strip()
    assert guess.startswith(f"{picture}: ") and guess.endswith("%)")
