"""The convnet preset's speed and memory, for benchmarks/speed.py (``--conv``) or on its own:

    NN_DATA_DIR=/work/shared/datasets python -m benchmarks.speed_conv [--blocks 5] [--steps 40]
        [--torch-python /work/torchvenv/bin/python] [--model model/mnist/convnet.npz]

1. training throughput at batch 128, one thread, Adam: core against PyTorch CPU (the very same
   layers: the nn.Sequential that core.safetensors.torch_code writes for the preset), alternated
   block by block in one run; images/s of both and their ratio, by wall time and by CPU time
   (process time: on a shared, loaded machine the wall time counts the other jobs' turns too);
   seconds per epoch of 55,000 images that this throughput means;
2. peak memory (VmHWM) of a full-MNIST conv run in a fresh process (200 steps, records and the
   final validation included);
3. one drawing (a 280 x 280 canvas) -> probabilities with the convnet: median of 300 calls.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core import blas
from core.datasets import load_dataset, make_splits
from core.optimizers import make_optimizer
from core.safetensors import torch_code
from core.training import get_preset, new_run

ROOT = Path(__file__).resolve().parent
BATCH = 128


def core_block(model, optimizer, X, y, steps, rng):
    """(wall seconds, CPU seconds) of ``steps`` training steps."""
    order = rng.permutation(len(X))
    start, cpu_start = time.perf_counter(), time.process_time()
    with blas.threads(1):
        for s in range(steps):
            idx = order[s * BATCH:(s + 1) * BATCH]
            _, _, grads = model.loss_and_grads(X[idx], y[idx])
            optimizer.step(model.params, grads)
    return time.perf_counter() - start, time.process_time() - cpu_start


def throughput(splits, torch_python, blocks, steps, notes):
    preset = get_preset("convnet")
    model, rng = new_run(preset.model, preset.train)
    optimizer = make_optimizer("adam", preset.train.learning_rate, 0.9, 0.0)
    X, y = splits.X_train, splits.y_train
    torch_proc = None
    if torch_python:
        tmp = Path(tempfile.mkdtemp())
        np.save(tmp / "X.npy", X)
        np.save(tmp / "y.npy", y)
        torch_proc = subprocess.Popen([torch_python, str(ROOT / "torch_runner.py"), str(tmp / "X.npy"),
                                       str(tmp / "y.npy"), "1"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        info = json.loads(torch_proc.stdout.readline())
        notes.append(f"PyTorch {info['torch']} with {info['threads']} thread.")
    else:
        notes.append("PyTorch skipped: pass --torch-python (a venv with torch==2.13.0).")
    spec = {"code": torch_code(preset.model), "lr": preset.train.learning_rate, "batch": BATCH,
            "steps": steps}
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    core_block(model, optimizer, X, y, 3, rng)                              # warm up
    if torch_proc:
        torch_proc.stdin.write("steps " + json.dumps({**spec, "steps": 3}) + "\n")
        torch_proc.stdin.flush()
        torch_proc.stdout.readline()
    for _ in range(blocks):
        wall, cpu = core_block(model, optimizer, X, y, steps, rng)
        ours.append(steps * BATCH / wall)
        ours_cpu.append(steps * BATCH / cpu)
        if torch_proc:
            torch_proc.stdin.write("steps " + json.dumps(spec) + "\n")
            torch_proc.stdin.flush()
            answer = json.loads(torch_proc.stdout.readline())
            theirs.append(answer["images"] / answer["seconds"])
            theirs_cpu.append(answer["images"] / answer["cpu_seconds"])
    if torch_proc:
        torch_proc.stdin.write("quit\n")
        torch_proc.stdin.flush()
        torch_proc.wait(timeout=60)
    out = {"layers": preset.model.layers, "torch_code": spec["code"], "blocks": blocks,
           "steps_per_block": steps, "core_images_per_s": ours, "torch_images_per_s": theirs,
           "core_images_per_cpu_s": ours_cpu, "torch_images_per_cpu_s": theirs_cpu}
    out["core_median"] = float(np.median(ours))
    out["core_cpu_median"] = float(np.median(ours_cpu))
    out["epoch_seconds"] = len(X) / out["core_median"]
    out["epoch_cpu_seconds"] = len(X) / out["core_cpu_median"]
    if theirs:
        out["torch_median"] = float(np.median(theirs))
        out["ratio"] = out["core_median"] / out["torch_median"]
        out["torch_cpu_median"] = float(np.median(theirs_cpu))
        out["cpu_ratio"] = out["core_cpu_median"] / out["torch_cpu_median"]
    return out


MEMORY_SCRIPT = r"""
import json, sys
import numpy as np
from core.datasets import load_dataset, make_splits
from core.training import TrainConfig, fit, get_preset, new_run

def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

preset = get_preset("convnet")
splits = make_splits(load_dataset("mnist", sys.argv[1], download=False), preset.train.validation_size)
loaded = peak_mib()
config = TrainConfig(**{**preset.train.to_dict(), "iterations": 200})
model, rng = new_run(preset.model, config)
for record in fit(model, splits, config, rng):
    pass
print(json.dumps({"peak_mib": peak_mib(), "after_loading_mib": loaded, "steps": record.step,
                  "val_accuracy": record.val_accuracy}))
"""


def peak_memory(data_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, data_dir or ""], capture_output=True,
                          text=True, env=env, timeout=1800)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def drawing_latency(splits, model_path, calls=300):
    from benchmarks.speed import canvas_from_digit
    from core.drawing import preprocess_canvas
    from core.modelio import load_model
    model = load_model(model_path).model
    canvases = [canvas_from_digit(splits.X_test[i]) for i in range(10)]
    times = []
    with blas.threads(1):
        for i in range(calls + 20):
            t0 = time.perf_counter()
            model.predict_proba(preprocess_canvas(canvases[i % 10]).pixels)
            if i >= 20:
                times.append(time.perf_counter() - t0)
    return {"model": str(model_path), "median_ms": float(np.median(times) * 1e3),
            "p99_ms": float(np.percentile(times, 99) * 1e3)}


def run(data_dir, torch_python, blocks, steps, model_path):
    notes = []
    raw = load_dataset("mnist", data_dir, download=False)
    splits = make_splits(raw, 5000)
    results = {"data": raw.describe(), "notes": notes,
               "load_average": os.getloadavg()[0],
               "throughput": throughput(splits, torch_python, blocks, steps, notes),
               "memory": peak_memory(data_dir)}
    if model_path and Path(model_path).exists():
        results["drawing"] = drawing_latency(splits, model_path)
    return results


def render(r):
    t = r["throughput"]
    lines = [f"## Conv net ({t['layers']}), batch {BATCH}, one thread, Adam", "",
             f"Data: {r['data']}. Load average at the start: {r['load_average']:.1f} (2 cores, shared).", "",
             "| contender | images/s of wall time, median (min-max) over blocks | images/s of CPU "
             "time |", "|---|---|---|"]
    def cell(v):
        return f"{np.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})"
    lines.append(f"| core (NumPy, im2col) | {cell(t['core_images_per_s'])} | "
                 f"{cell(t['core_images_per_cpu_s'])} |")
    if t["torch_images_per_s"]:
        lines.append(f"| PyTorch CPU (`{t['torch_code']}`) | {cell(t['torch_images_per_s'])} | "
                     f"{cell(t['torch_images_per_cpu_s'])} |")
        lines.append(f"\nRatio core / PyTorch: **{t['ratio']:.2f}x** by wall time, "
                     f"**{t['cpu_ratio']:.2f}x** by CPU time.")
    lines.append(f"\nSeconds per epoch of 55,000 images at core's median: {t['epoch_seconds']:.0f} s "
                 f"wall, {t['epoch_cpu_seconds']:.0f} s CPU.")
    m = r["memory"]
    if "peak_mib" in m:
        lines.append(f"\nPeak memory (VmHWM) of a full-MNIST conv run ({m['steps']} steps, fresh "
                     f"process): {m['peak_mib']:.0f} MiB ({m['after_loading_mib']:.0f} MiB after "
                     f"loading the data).")
    else:
        lines.append(f"\nPeak memory: failed ({m['error']}).")
    if "drawing" in r:
        d = r["drawing"]
        lines.append(f"\nOne drawing -> probabilities with {d['model']}: median {d['median_ms']:.2f} ms "
                     f"(p99 {d['p99_ms']:.2f} ms).")
    lines += [f"\n- {note}" for note in r["notes"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="training steps per block")
    parser.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"))
    parser.add_argument("--model", default=str(ROOT.parent / "model" / "mnist" / "convnet.npz"))
    args = parser.parse_args(argv)
    data_dir = os.environ.get("NN_DATA_DIR")
    results = run(data_dir, args.torch_python, args.blocks, args.steps, args.model)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "speed_conv.json").write_text(json.dumps(results, indent=2))
    text = render(results)
    (ROOT / "results" / "speed_conv.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
