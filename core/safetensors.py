"""Export a model as a .safetensors file: the weights of a PyTorch ``nn.Sequential``, no pickles.

The format (huggingface/safetensors): an 8-byte little-endian unsigned length N, N bytes of JSON
(padded with spaces to a multiple of 8), then the tensors' raw little-endian bytes, back to back::

    {"0.weight": {"dtype": "F32", "shape": [256, 784], "data_offsets": [0, 802816]}, ...,
     "__metadata__": {"format": "nn-playground-mlp", ...}}     # offsets within the data part

Tensor names: those of ``nn.Sequential(Linear, act, Linear, act, ..., Linear)``'s state_dict.
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


def tensor_name(layer, kind):
    """The PyTorch name of our ``layers.{layer}.W`` (kind "W") or ``.b`` (kind "b")."""
    return f"{2 * layer}.{'weight' if kind == 'W' else 'bias'}"


def state_dict(model):
    """{"0.weight": (D_out, D_in), "0.bias": (D_out,), "2.weight": ...} of an MLP, C-contiguous
    copies in the model's dtype: what ``nn.Sequential.load_state_dict`` takes."""
    tensors = {}
    for i in range(len(model.config.layer_sizes) - 1):
        W, b = model.params[f"layers.{i}.W"], model.params[f"layers.{i}.b"]
        tensors[tensor_name(i, "W")] = np.ascontiguousarray(W.T)       # (D_out, D_in)
        tensors[tensor_name(i, "b")] = np.ascontiguousarray(b)
    return tensors


def torch_code(config):
    """The nn.Sequential of ``config`` as code, e.g. "nn.Sequential(nn.Linear(784, 128), nn.ReLU(),
    nn.Linear(128, 10))"."""
    sizes = config.layer_sizes
    modules = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            modules.append(TORCH_ACTIVATIONS[config.activation])
        modules.append(f"nn.Linear({fan_in}, {fan_out})")
    return f"nn.Sequential({', '.join(modules)})"


def metadata(saved):
    """The ``__metadata__`` strings of a SavedModel (see the module docstring)."""
    config = saved.model.config
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "dataset": saved.dataset,
        "layer_sizes": ",".join(str(size) for size in config.layer_sizes),
        "activation": config.activation,
        "output_activation": config.output_activation,
        "output": OUTPUT_TEXT[config.output_activation],
        "scaling": saved.scaling,
        "input": (f"rows of {config.input_size} pixels (28x28, row-major, white ink on black), "
                  f"scaled as {SCALING_TEXT.get(saved.scaling, saved.scaling)}"),
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
