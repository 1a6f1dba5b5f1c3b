"""Check a model's safetensors export in PyTorch with the README's own loader:

    NN_DATA_DIR=/work/shared/datasets python -m benchmarks.torch_export_check \\
        --torch-python /work/torchvenv/bin/python model/mnist/convnet.npz [MODEL ...]

For each model: our probabilities on the test images (MLP.predict_proba), the .safetensors export
(core.safetensors), then, in the torch venv, the README's ``load_exported`` and ``probabilities``
(the python block of README.md that defines them, run as written) on the same uint8 images.
Prints the largest probability difference and how many guesses differ; exit status 1 when a
difference reaches 1e-5.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5

RUNNER = r"""
import json, re, sys
import numpy as np
readme = open(sys.argv[1]).read()
block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def load_exported" in b)
code = block.split("net, meta = load_exported(")[0]          # the definitions, not the example
namespace = {}
exec(code, namespace)
net, meta = namespace["load_exported"](sys.argv[2])
pixels = np.load(sys.argv[3])
probs = namespace["probabilities"](net, meta, pixels).numpy()
np.save(sys.argv[4], probs)
print(json.dumps({"modules": str(net).count("\n")}))
"""


def check(model_path, torch_python, data_dir):
    from core.datasets import load_dataset, scale_pixels
    from core.modelio import load_model
    from core.safetensors import save_safetensors
    saved = load_model(model_path)
    raw = load_dataset(saved.dataset, data_dir, download=False)
    pixels = np.asarray(raw.test_images, np.uint8)                          # (N, 784)
    ours = saved.model.predict_proba(scale_pixels(pixels, saved.scaling, dtype=saved.model.dtype))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_safetensors(tmp / "model.safetensors", saved)
        np.save(tmp / "pixels.npy", pixels)
        subprocess.run([torch_python, "-c", RUNNER, str(ROOT / "README.md"),
                        str(tmp / "model.safetensors"), str(tmp / "pixels.npy"),
                        str(tmp / "theirs.npy")], check=True, capture_output=True, text=True)
        theirs = np.load(tmp / "theirs.npy")
    diff = float(np.abs(theirs.astype(np.float64) - ours).max())
    return {"model": str(model_path), "images": len(pixels), "data": raw.describe(),
            "max_probability_difference": diff,
            "guesses_differ": int((theirs.argmax(1) != ours.argmax(1)).sum())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON",
                                                                 "/work/torchvenv/bin/python"))
    args = parser.parse_args(argv)
    worst = 0.0
    for model in args.models:
        result = check(model, args.torch_python, os.environ.get("NN_DATA_DIR"))
        print(json.dumps(result))
        worst = max(worst, result["max_probability_difference"])
    return 0 if worst < TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
