"""Our Adam (core/optimizers.py) beside ``torch.optim.Adam`` on the same gradients:

    python -m benchmarks.adam_torch [--steps 1000] [--torch-python /work/torchvenv/bin/python]

A 784-16-10 MLP's parameters (our initialisation) take N steps of both optimisers with defaults
(lr 0.001, betas (0.9, 0.999), eps 1e-8) and with L2 1e-4 (torch: ``weight_decay`` in a parameter
group of the weights only, as ours decays weights and not biases). The gradients are a fixed
sequence, the same for both, drawn from ``np.random.default_rng([seed, step])``: sizes spread from
1e-10 to 1 with random signs ("tiny to large"; eps matters for the small ones) or N(0, 1e-3^2)
("typical"). Prints the largest |ours - torch| over all parameters after step 1 and after step N,
and the same for the form we had before issue 26 (eps added to sqrt(v) before the bias
correction), in float64 and float32. PyTorch runs in its own interpreter (--torch-python, else
$TORCH_PYTHON, else /work/torchvenv/bin/python); it is never a requirement of the app.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = (784, 16, 10)
LR, L2 = 0.001, 1e-4
GRADIENTS = ("tiny to large", "typical")


def shapes():
    return {f"layers.{i}.{k}": shape for i, (a, b) in enumerate(zip(SIZES, SIZES[1:]))
            for k, shape in (("W", (a, b)), ("b", (b,)))}


def gradients(kind, step, seed=0):
    """The same float64 gradients on both sides: {name: array} for ``step`` (1, 2, ...)."""
    rng = np.random.default_rng([seed, step, GRADIENTS.index(kind)])
    out = {}
    for name, shape in shapes().items():
        if kind == "tiny to large":
            out[name] = rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-10, 0, shape)
        else:
            out[name] = rng.normal(0.0, 1e-3, shape)
    return out


def start_params(dtype, seed=0):
    from core.model import MLP, ModelConfig
    config = ModelConfig(input_size=SIZES[0], hidden_sizes=SIZES[1:-1], output_size=SIZES[-1],
                         dtype=dtype)
    return MLP(config, np.random.default_rng(seed)).copy_params()


class PreviousAdam:
    """The form before issue 26: eps added to sqrt(v), the bias correction folded into the step."""

    def __init__(self, lr, weight_decay, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.weight_decay, self.b1, self.b2, self.eps = lr, weight_decay, b1, b2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        step_size = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for name, p in params.items():
            dt = p.dtype.type
            g = grads[name] + dt(self.weight_decay) * p if name.endswith(".W") else grads[name]
            m = self.m[name] = dt(self.b1) * self.m.get(name, 0) + dt(1 - self.b1) * g
            v = self.v[name] = dt(self.b2) * self.v.get(name, 0) + dt(1 - self.b2) * g * g
            p -= dt(step_size) * m / (np.sqrt(v) + dt(self.eps))


def run_numpy(optimizer, dtype, kind, steps):
    """Params after step 1 and after step ``steps``."""
    params = start_params(dtype)
    after_one = None
    for step in range(1, steps + 1):
        optimizer.step(params, {k: g.astype(dtype) for k, g in gradients(kind, step).items()})
        if step == 1:
            after_one = {k: p.copy() for k, p in params.items()}
    return after_one, params


TORCH_SIDE = r"""
import sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
from benchmarks.adam_torch import gradients, start_params, LR, GRADIENTS
torch.set_num_threads(1)
steps, out = int(sys.argv[2]), sys.argv[3]
results = {}
for dtype in ("float64", "float32"):
    for weight_decay in (0.0, 1e-4):
        for kind in GRADIENTS:
            start = start_params(dtype)
            params = {k: torch.tensor(p, requires_grad=True) for k, p in start.items()}
            groups = [{"params": [p for k, p in params.items() if k.endswith(".W")],
                       "weight_decay": weight_decay},
                      {"params": [p for k, p in params.items() if not k.endswith(".W")],
                       "weight_decay": 0.0}]
            adam = torch.optim.Adam(groups, lr=LR)      # betas, eps: the defaults
            for step in range(1, steps + 1):
                for k, g in gradients(kind, step).items():
                    params[k].grad = torch.tensor(g.astype(dtype))
                adam.step()
                if step in (1, steps):
                    for k, p in params.items():
                        results[f"{dtype}|{weight_decay}|{kind}|{step}|{k}"] = p.detach().numpy().copy()
np.savez(out, **results)
print(torch.__version__)
"""


def torch_python(given):
    for candidate in (given, os.environ.get("TORCH_PYTHON"), "/work/torchvenv/bin/python"):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("No Python with PyTorch: pass --torch-python PATH (see the module docstring).")


def largest(a, b):
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) for k in a)


def main(argv=None):
    from core.optimizers import Adam
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--torch-python")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "torch.npz")
        version = subprocess.run([torch_python(args.torch_python), "-c", TORCH_SIDE, str(ROOT),
                                  str(args.steps), out], capture_output=True, text=True,
                                 check=True).stdout.strip()
        with np.load(out, allow_pickle=False) as npz:
            torch_results = {key: npz[key] for key in npz.files}
    print(f"torch {version}; {'-'.join(map(str, SIZES))} MLP, lr {LR}, {args.steps} steps, "
          f"the same gradients on both sides\n")
    print(f"| dtype | L2 | gradients | ours vs torch, step 1 | ours vs torch, step {args.steps} "
          f"| before issue 26 vs torch, step 1 | before, step {args.steps} |")
    print("|---|---|---|---|---|---|---|")
    for dtype in ("float64", "float32"):
        for weight_decay in (0.0, L2):
            for kind in GRADIENTS:
                theirs = {step: {k: torch_results[f"{dtype}|{weight_decay}|{kind}|{step}|{k}"]
                                 for k in shapes()} for step in (1, args.steps)}
                ours = run_numpy(Adam(LR, weight_decay=weight_decay), dtype, kind, args.steps)
                before = run_numpy(PreviousAdam(LR, weight_decay), dtype, kind, args.steps)
                cells = [largest(ours[0], theirs[1]), largest(ours[1], theirs[args.steps]),
                         largest(before[0], theirs[1]), largest(before[1], theirs[args.steps])]
                print(f"| {dtype} | {weight_decay:g} | {kind} | "
                      + " | ".join(f"{c:.2e}" for c in cells) + " |")


if __name__ == "__main__":
    main()
