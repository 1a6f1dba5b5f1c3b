"""Export a model as a .safetensors file: the weights of a PyTorch ``nn.Sequential``, no pickles.

The format (huggingface/safetensors): an 8-byte little-endian unsigned length N, N bytes of JSON
(padded with spaces to a multiple of 8), then the tensors' raw little-endian bytes, back to back::

    {"0.weight": {"dtype": "F32", "shape": [256, 784], "data_offsets": [0, 802816]}, ...,
     "__metadata__": {"format": "nn-playground-mlp", ...}}     # offsets within the data part

Tensor names: those of ``nn.Sequential(Linear, act, Linear, act, ..., Linear)``'s state_dict; for
a conv net, of ``nn.Sequential(Conv2d, act, MaxPool2d, ..., Flatten, Linear, act, ..., Linear)``
(``torch_modules``): each weighted module's index in the Sequential, ``"{index}.weight"``, a conv
weight in PyTorch's own layout (C_out, C_in, k, k), the input images (N, 1, 28, 28).
The Linear layers sit at the even indices 0, 2, 4, ... and the hidden activation modules (which
have no weights) at the odd ones between them:

    ours               shape          safetensors     shape          PyTorch module
    layers.i.W         (D_in, D_out)  "{2i}.weight"   (D_out, D_in)  nn.Linear(D_in, D_out)
    layers.i.b         (D_out,)       "{2i}.bias"     (D_out,)       its bias

Our W is (in, out) (``Z = X @ W + b``), PyTorch's is (out, in) (``Z = X @ weight.T + bias``), so
W is written transposed. Dropout is left out (it does nothing at inference) and so is the output
nonlinearity: the Sequential gives logits; apply ``output_activation`` to get the probabilities
``MLP.predict_proba`` gives: softmax over dim 1, or (sigmoid) the 10 sigmoids divided by their
sum. Tensors keep the model's dtype (F32, or F64 for a float64 model).

``__metadata__`` (strings only, as the format requires) says how to rebuild and feed the network:
format, format_version, dataset, layer_sizes ("784,256,128,10"), activation (relu | leaky_relu |
sigmoid | tanh; leaky_relu_slope 0.01, PyTorch's default), output_activation (softmax | sigmoid),
output (that rule in words), scaling (the input: "unit" = pixels / 255 in [0, 1], "symmetric" =
pixels / 127.5 - 1 in [-1, 1]; rows of 784 pixels, row-major 28x28, white ink on black), input
(the same in words), pytorch (the Sequential as code), class_names (JSON) and model_config (JSON
of core.model.ModelConfig).
"""
import json
import struct
from pathlib import Path

import numpy as np

from .datasets import CLASS_NAMES
from .idx import write_bytes_atomic

FORMAT = "nn-playground-mlp"
FORMAT_VERSION = 1
_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}
# The PyTorch module of each hidden activation (core.activations), as code.
TORCH_ACTIVATIONS = {"relu": "nn.ReLU()", "leaky_relu": "nn.LeakyReLU(0.01)",
                     "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()"}
OUTPUT_TEXT = {"softmax": "probabilities = softmax(logits, dim=1)",
               "sigmoid": "probabilities = sigmoid(logits), divided by their sum over dim 1"}
SCALING_TEXT = {"unit": "pixels / 255, in [0, 1]", "symmetric": "pixels / 127.5 - 1, in [-1, 1]"}


def torch_modules(model):
    """[(PyTorch module as code, our weight layer index or None)] of the model's inference
    sequence: the nn.Sequential's modules in order (dropout and our row-to-image reshape left out:
    a conv net's Sequential takes images (N, 1, 28, 28))."""
    from .conv import Conv2D, MaxPool2D
    from .layers import Activation, Dense, Flatten
    config, modules = model.config, []
    for layer in model.sequence:
        if isinstance(layer, Dense):
            fan_in, fan_out = layer.W.shape
            modules.append((f"nn.Linear({fan_in}, {fan_out})", model.layers.index(layer)))
        elif isinstance(layer, Conv2D):
            C_out, C_in, k, _ = layer.W.shape
            pad = ", padding='same'" if layer.padding == "same" else ""
            modules.append((f"nn.Conv2d({C_in}, {C_out}, {k}{pad})", model.layers.index(layer)))
        elif isinstance(layer, Activation):
            modules.append((TORCH_ACTIVATIONS[config.activation], None))
        elif isinstance(layer, MaxPool2D):
            modules.append(("nn.MaxPool2d(2)", None))
        elif isinstance(layer, Flatten):
            modules.append(("nn.Flatten()", None))
    return modules


def state_dict(model):
    """{"0.weight": (D_out, D_in), "0.bias": (D_out,), "2.weight": ...} of the model, C-contiguous
    copies in the model's dtype: what ``nn.Sequential.load_state_dict`` takes. A conv layer's
    weight (C_out, C_in, k, k) is PyTorch's layout already; a dense layer's W is transposed."""
    tensors = {}
    for index, (_, layer) in enumerate(torch_modules(model)):
        if layer is None:
            continue
        W, b = model.params[f"layers.{layer}.W"], model.params[f"layers.{layer}.b"]
        tensors[f"{index}.weight"] = np.ascontiguousarray(W.T if W.ndim == 2 else W)
        tensors[f"{index}.bias"] = np.ascontiguousarray(b)
    return tensors


def torch_code(config):
    """The nn.Sequential of ``config`` as code, e.g. "nn.Sequential(nn.Linear(784, 128), nn.ReLU(),
    nn.Linear(128, 10))"."""
    from .model import MLP
    model = MLP(config, params={f"layers.{i}.{k}": np.zeros(shape, np.float32)
                                for i, shapes in enumerate(config.weight_shapes())
                                for k, shape in zip("Wb", shapes)})
    return f"nn.Sequential({', '.join(code for code, _ in torch_modules(model))})"


def metadata(saved):
    """The ``__metadata__`` strings of a SavedModel (see the module docstring)."""
    config = saved.model.config
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "dataset": saved.dataset,
        "layer_sizes": ",".join(str(size) for size in config.layer_sizes),
        "layers": config.layers,
        "activation": config.activation,
        "output_activation": config.output_activation,
        "output": OUTPUT_TEXT[config.output_activation],
        "scaling": saved.scaling,
        "input": (f"rows of {config.input_size} pixels (28x28, row-major, white ink on black), "
                  f"scaled as {SCALING_TEXT.get(saved.scaling, saved.scaling)}"
                  + (", reshaped to images (N, 1, 28, 28)" if config.layers else "")),
        "pytorch": torch_code(config),
        "model_config": json.dumps(config.to_dict()),
    }
    if config.activation == "leaky_relu":
        meta["leaky_relu_slope"] = "0.01"
    if saved.dataset in CLASS_NAMES:
        meta["class_names"] = json.dumps(list(CLASS_NAMES[saved.dataset]))
    return meta


def encode(tensors, meta=None):
    """The bytes of a safetensors file holding ``tensors`` ({name: float array}) in that order,
    with ``meta`` ({str: str}) as ``__metadata__``."""
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        array = np.asarray(array)
        if array.dtype not in _DTYPES:
            raise ValueError(f"{name}: {array.dtype} cannot be written (float32 or float64 only).")
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if meta:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise ValueError("safetensors metadata holds strings only.")
        header["__metadata__"] = dict(meta)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)              # the tensors start 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def export_bytes(saved):
    """The .safetensors file of a SavedModel, as bytes."""
    return encode(state_dict(saved.model), metadata(saved))


def save_safetensors(path, saved):
    """Write ``saved`` to ``path`` as safetensors, atomically (a temporary file in the same folder,
    then a rename: a crash never leaves half a file). Returns the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, export_bytes(saved))
