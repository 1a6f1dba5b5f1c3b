"""core.safetensors: the file is read back by the `safetensors` package (a dev dependency), every
tensor compared with the model's weights, and the PyTorch-style forward pass on the tensors read
back gives the model's own probabilities."""
import json
import struct

import numpy as np
import pytest

from core import safetensors as export
from core.model import MLP, ModelConfig
from core.modelio import SavedModel, load_model
from tests.conftest import ROOT, needs_model

st_numpy = pytest.importorskip("safetensors.numpy")
safe_open = pytest.importorskip("safetensors").safe_open


def saved_model(hidden=(7, 5), activation="relu", output="softmax", dtype="float32",
                scaling="unit", seed=0, dataset="mnist"):
    loss = "cross_entropy" if output == "softmax" else "mse"
    config = ModelConfig(hidden_sizes=hidden, activation=activation, output_activation=output,
                         loss=loss, dtype=dtype)
    return SavedModel(MLP(config, np.random.default_rng(seed)), dataset, scaling=scaling)


def torch_like_proba(tensors, meta, X):
    """What the README's nn.Sequential computes, in NumPy, from the file alone: Linear layers at
    the even indices (x @ weight.T + bias), the metadata's activation between them, its output
    nonlinearity at the end."""
    hidden = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
              "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
              "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[meta["activation"]]
    n_linear = len(meta["layer_sizes"].split(",")) - 1
    A = X.astype(np.float64)
    for i in range(n_linear):
        A = A @ tensors[f"{2 * i}.weight"].T.astype(np.float64) + tensors[f"{2 * i}.bias"]
        if i < n_linear - 1:
            A = hidden(A)
    if meta["output_activation"] == "softmax":
        A = np.exp(A - A.max(axis=1, keepdims=True))
        return A / A.sum(axis=1, keepdims=True)
    A = 1 / (1 + np.exp(-A))
    return A / A.sum(axis=1, keepdims=True)           # the app shows them as shares of one guess


@pytest.mark.parametrize("hidden, activation, output, dtype", [
    ((7, 5), "relu", "softmax", "float32"),
    ((3,), "leaky_relu", "sigmoid", "float64"),
    ((), "tanh", "softmax", "float32"),                       # no hidden layer: one Linear
    ((4, 3, 2, 6), "sigmoid", "softmax", "float32"),
])
def test_every_tensor_reads_back_transposed_under_its_pytorch_name(tmp_path, hidden, activation,
                                                                   output, dtype):
    saved = saved_model(hidden, activation, output, dtype)
    path = export.save_safetensors(tmp_path / "net.safetensors", saved)
    tensors = st_numpy.load_file(str(path))
    n_layers = len(hidden) + 1
    assert sorted(tensors) == sorted(f"{2 * i}.{kind}" for i in range(n_layers)
                                     for kind in ("weight", "bias"))
    for i in range(n_layers):
        W, b = saved.model.params[f"layers.{i}.W"], saved.model.params[f"layers.{i}.b"]
        weight, bias = tensors[f"{2 * i}.weight"], tensors[f"{2 * i}.bias"]
        assert weight.dtype == W.dtype and bias.dtype == b.dtype
        assert weight.shape == W.shape[::-1], f"{2 * i}.weight is (out, in)"
        np.testing.assert_array_equal(weight, W.T, err_msg=f"{2 * i}.weight, mine vs ours")
        np.testing.assert_array_equal(bias, b, err_msg=f"{2 * i}.bias, mine vs ours")
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    assert meta["activation"] == activation and meta["output_activation"] == output
    assert meta["layer_sizes"] == ",".join(map(str, saved.model.config.layer_sizes))
    assert meta["scaling"] == "unit" and meta["dataset"] == "mnist"
    assert ModelConfig.from_dict(json.loads(meta["model_config"])) == saved.model.config
    X = np.random.default_rng(1).random((20, 784)).astype(np.float32)
    np.testing.assert_allclose(torch_like_proba(tensors, meta, X), saved.model.predict_proba(X),
                               atol=1e-5, err_msg="rebuilt from the file vs the model")


def test_the_header_follows_the_format():
    data = export.export_bytes(saved_model())
    (length,) = struct.unpack("<Q", data[:8])
    assert length % 8 == 0, "the tensors start 8-byte aligned"
    header = json.loads(data[8:8 + length])
    body = len(data) - 8 - length
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and spans[-1][1] == body, "the data part is covered exactly"
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), "back to back, no holes"
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    loaded = st_numpy.load(data)                      # bytes in memory read back too
    assert loaded["0.weight"].shape == (7, 784)


def test_the_write_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "net.safetensors"
    export.save_safetensors(path, saved_model(seed=1))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr("core.idx.os.fsync", crash)
    with pytest.raises(OSError):
        export.save_safetensors(path, saved_model(seed=2))
    assert path.read_bytes() == before, "the old file is untouched"
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]


def test_only_float_tensors_and_string_metadata_are_written():
    with pytest.raises(ValueError, match="float32 or float64"):
        export.encode({"x": np.arange(3)})
    with pytest.raises(ValueError, match="strings"):
        export.encode({"x": np.zeros(3, np.float32)}, {"n": 3})


def test_the_pytorch_code_in_the_metadata_names_the_layers():
    config = ModelConfig(hidden_sizes=(256, 128))
    assert export.torch_code(config) == ("nn.Sequential(nn.Linear(784, 256), nn.ReLU(), "
                                         "nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))")


@needs_model
def test_the_shipped_model_exports_with_the_same_predictions():
    saved = load_model(ROOT / "model" / "mnist" / "pretrained.npz")
    tensors = st_numpy.load(export.export_bytes(saved))
    meta = export.metadata(saved)
    from core.datasets import load_dataset, scale_pixels
    raw = load_dataset("mnist", download=False)
    X = scale_pixels(raw.test_images[:500], saved.scaling)
    np.testing.assert_allclose(torch_like_proba(tensors, meta, X), saved.model.predict_proba(X),
                               atol=1e-5)
