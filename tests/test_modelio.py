"""Model files: round trip, atomic saves, and refusal of every malformed or dangerous file."""
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, ModelFileError
from core.model import MLP, ModelConfig
from core.modelio import (
    MAX_FILE_BYTES,
    SavedModel,
    check_model_name,
    list_models,
    load_model,
    model_path,
    save_model,
)


def make_saved(hidden=(8,), dataset="mnist"):
    model = MLP(ModelConfig(hidden_sizes=hidden), np.random.default_rng(0))
    history = [{"step": 1, "epoch": 1.0, "train_loss": 2.0, "train_accuracy": 0.5,
                "val_loss": 2.1, "val_accuracy": 0.4, "learning_rate": 0.1, "elapsed": 0.5,
                "samples_per_second": 100.0}]
    return SavedModel(model=model, dataset=dataset, scaling="unit", train_config={"learning_rate": 0.1},
                      history=history, metrics={"test_accuracy": 0.9})


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_round_trip(tmp_path):
    saved = make_saved(hidden=(16, 8))
    path = save_model(tmp_path / "mnist" / "m.npz", saved)
    loaded = load_model(path, expected_dataset="mnist")
    for k, v in saved.model.params.items():
        assert np.array_equal(loaded.model.params[k], v)
    assert loaded.model.config == saved.model.config
    assert loaded.history == saved.history
    assert loaded.metrics == saved.metrics and loaded.scaling == "unit"
    X = np.random.default_rng(1).random((3, 784), dtype=np.float32)
    np.testing.assert_array_equal(loaded.model.predict_proba(X), saved.model.predict_proba(X))
    # the archive holds only plain arrays
    with np.load(path, allow_pickle=False) as npz:
        assert "meta" in npz.files and "layers.0.W" in npz.files and "history.val_accuracy" in npz.files
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_load_from_bytes_and_wrong_dataset(tmp_path):
    path = save_model(tmp_path / "m.npz", make_saved(dataset="fashion-mnist"))
    data = path.read_bytes()
    assert load_model(data).dataset == "fashion-mnist"
    with pytest.raises(ModelFileError, match="for fashion-mnist, not mnist"):
        load_model(data, expected_dataset="mnist")


def _rewrite(tmp_path, mutate):
    """Save a good model, let ``mutate`` edit its arrays dict, and return the new file's bytes."""
    path = save_model(tmp_path / "m.npz", make_saved())
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    mutate(arrays)
    return npz_bytes(**arrays)


def _meta_edit(change):
    def mutate(arrays):
        meta = json.loads(str(arrays["meta"][()]))
        change(meta)
        arrays["meta"] = np.array(json.dumps(meta))
    return mutate


@pytest.mark.parametrize("mutate,message", [
    (lambda a: a.pop("layers.1.W"), "layers.1.W are missing"),
    (lambda a: a.__setitem__("layers.0.W", np.zeros((784, 9), np.float32)), "has shape"),
    (lambda a: a.__setitem__("layers.0.b", np.full(8, np.nan, np.float32)), "NaN"),
    (lambda a: a.__setitem__("layers.0.b", np.zeros(8, np.int32)), "not floating-point"),
    (lambda a: a.__setitem__("extra", np.zeros(1)), "unexpected entries"),
    (lambda a: a.pop("meta"), "no 'meta'"),
    (lambda a: a.__setitem__("meta", np.array("{not json")), "not valid JSON"),
    (_meta_edit(lambda m: m.update(dataset="cifar")), "dataset"),
    (_meta_edit(lambda m: m.update(format_version=99)), "format version"),
    (_meta_edit(lambda m: m["model_config"].update(hidden_sizes=[0])), "architecture"),
    (_meta_edit(lambda m: m["model_config"].update(input_size=100)), "784"),
    (lambda a: a.__setitem__("history.step", np.zeros(5)), "history"),
    (lambda a: a.__setitem__("layers.0.b", np.array([{"evil": 1}], dtype=object)), "pickled"),
])
def test_malformed_files_are_refused(tmp_path, mutate, message):
    with pytest.raises(ModelFileError, match=message):
        load_model(_rewrite(tmp_path, mutate))


@pytest.mark.parametrize("data,message", [
    (b"", "not an .npz"),
    (b"hello, not a model", "not an .npz"),
    (b"PK\x03\x04garbage", "damaged"),
])
def test_not_npz_files_are_refused(data, message):
    with pytest.raises(ModelFileError, match=message):
        load_model(data)


def test_huge_file_is_refused(tmp_path):
    big = tmp_path / "big.npz"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ModelFileError, match="at most"):
        load_model(big)
    with pytest.raises(ModelFileError, match="larger than"):
        load_model(io.BytesIO(b"PK" + b"\0" * 100), max_bytes=50)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelFileError, match="train one first"):
        load_model(tmp_path / "nope.npz")


def test_nan_model_is_not_saved(tmp_path):
    saved = make_saved()
    saved.model.params["layers.0.W"][0, 0] = np.nan
    with pytest.raises(ModelFileError, match="NaN"):
        save_model(tmp_path / "m.npz", saved)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["../evil", "../../escaped", "mnist/../../x", "/etc/passwd",
                                  "/tmp/abs", "a/b", "a\\b", "..", "x\0y", "nul\x00.npz", "", "  ",
                                  "a" * 65, ".hidden", "con..", "tab\tname", "a\nb"])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(ConfigError):
        model_path(tmp_path, "mnist", name)


def test_safe_names_stay_inside_the_folder(tmp_path):
    path = model_path(tmp_path, "mnist", "my model-2.v1")
    assert path == (tmp_path / "mnist" / "my model-2.v1.npz").resolve()
    assert check_model_name("run.npz") == "run"
    save_model(path, make_saved())
    assert list_models(tmp_path, "mnist") == [path]


def test_kill_during_save_leaves_previous_file_intact(tmp_path):
    """A process killed in the middle of writing leaves the old model readable; its half-written
    temporary file is hidden and never listed as a model."""
    target = tmp_path / "mnist" / "m.npz"
    save_model(target, make_saved(hidden=(8,)))
    before = target.read_bytes()
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        import core.modelio as mio
        from tests.test_modelio import make_saved
        def dying(f, **arrays):
            f.write(b"PK partial write")
            f.flush()
            os._exit(9)          # the process dies mid-save
        mio.np.savez_compressed = dying
        mio.save_model({str(target)!r}, make_saved(hidden=(32,)))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == 9, result.stderr.decode()
    assert target.read_bytes() == before
    assert load_model(target).model.config.hidden_sizes == (8,)
    assert list_models(tmp_path, "mnist") == [target]
