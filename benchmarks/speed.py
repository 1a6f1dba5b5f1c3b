"""Speed benchmark: python -m benchmarks.speed [--quick] [--torch-python PATH] [--conv | --conv-only]

Runs every measurement of issue 4 in one process on full MNIST and writes
benchmarks/results/speed.md (a Markdown table, also printed) and speed.json:

1. mini-batch training throughput of core (784-128-10 SGD and 784-256-128-10 Adam, batch 128,
   float32) against PyTorch on the CPU (same model, batches, dtype and threads; run by the torch
   venv's interpreter in a subprocess, when there is one), a plain naive float64 NumPy step, and
   the bare matrix products of the same shapes; plus the BLAS at 1 and 2 threads per shape;
2. the `original` preset (784-10-10, full batch, lr 0.1, 1000 iterations) in core against a faithful
   re-implementation of the original float64 arithmetic (benchmarks/original_numpy.py), with the
   test accuracies of both;
3. inference: one canvas drawing through preprocessing and the shipped model (median, p99 of 1,000
   calls) and throughput over the 10,000 test images;
4. the machine's limits: float32 matmul GFLOP/s and memory bandwidth, FLOPs and bytes per epoch,
   and the fraction of the binding limit core reaches;
5. peak memory (VmHWM, the peak resident set) of full-MNIST training runs, each in a fresh
   subprocess.

The machine is shared and noisy: contenders alternate epoch by epoch (block by block for the
full-batch run) and every figure is a median with its spread (min-max) over the repeats.

Data: NN_DATA_DIR (default /work/shared/datasets when it exists). PyTorch: --torch-python, else
$TORCH_PYTHON, else /work/torch-venv/bin/python when present; skipped with a note otherwise.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from core import blas
from core.datasets import load_dataset, make_splits
from core.model import MLP, ModelConfig
from core.training import TrainConfig, fit, get_preset

from . import original_numpy

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFAULT_DATA = "/work/shared/datasets"
DEFAULT_TORCH = "/work/torch-venv/bin/python"
OTHER_TORCH = "/work/torchvenv/bin/python"          # where issue 22 asked for the venv
BATCH = 128
SHAPES = [  # name, hidden sizes, optimizer, learning rate
    ("784-128-10 SGD", (128,), "sgd", 0.1),
    ("784-256-128-10 Adam", (256, 128), "adam", 0.001),
]


def stats(values):
    v = np.asarray(values, float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "n": int(v.size)}


def spread(s, scale=1.0, fmt="{:.3f}"):
    return f"{fmt.format(s['median'] * scale)} ({fmt.format(s['min'] * scale)}-{fmt.format(s['max'] * scale)})"


# -- contenders for one mini-batch epoch ---------------------------------------------------------
class NaiveNumpy:
    """The plain textbook step in float64: one-hot targets, new arrays everywhere, W.T products."""

    def __init__(self, sizes, optimizer, lr, rng):
        self.W = [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b) for b in sizes[1:]]
        self.optimizer, self.lr, self.t = optimizer, lr, 0
        self.m = [np.zeros_like(p) for p in self.W + self.b]
        self.v = [np.zeros_like(p) for p in self.W + self.b]

    def step(self, X, y):
        X = X.astype(np.float64)
        acts, A = [X], X
        for W, b in zip(self.W[:-1], self.b[:-1]):
            A = np.maximum(A.dot(W) + b, 0)
            acts.append(A)
        Z = A.dot(self.W[-1]) + self.b[-1]
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P = P / P.sum(axis=1, keepdims=True)
        Y = np.zeros_like(P)
        Y[np.arange(len(y)), y] = 1
        dZ = (P - Y) / len(y)
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in range(len(self.W) - 1, -1, -1):
            gW[i] = acts[i].T.dot(dZ)
            gb[i] = dZ.sum(axis=0)
            if i:
                dZ = dZ.dot(self.W[i].T) * (acts[i] > 0)
        params, grads = self.W + self.b, gW + gb
        if self.optimizer == "sgd":
            for p, g in zip(params, grads):
                p -= self.lr * g
        else:
            self.t += 1
            for p, g, m, v in zip(params, grads, self.m, self.v):
                m[...] = 0.9 * m + 0.1 * g
                v[...] = 0.999 * v + 0.001 * g * g
                p -= self.lr * (m / (1 - 0.9 ** self.t)) / (np.sqrt(v / (1 - 0.999 ** self.t)) + 1e-8)

    def epoch(self, X, y, rng, fraction=1.0):
        """Seconds for one epoch; with fraction < 1, that share of the epoch's steps is timed and
        the time scaled up to a whole epoch."""
        order = rng.permutation(len(X))
        steps = -(-len(X) // BATCH)
        timed = max(1, int(steps * fraction))
        start = time.perf_counter()
        for s in range(0, timed * BATCH, BATCH):
            idx = order[s:s + BATCH]
            self.step(X[idx], y[idx])
        return (time.perf_counter() - start) * steps / timed


class BareGemms:
    """Only the matrix products of one training epoch, same shapes, into preallocated outputs:
    forward X W for every layer, backward A.T dZ for every layer and dZ W.T for all but the first."""

    def __init__(self, sizes, rng):
        dims = list(zip(sizes[:-1], sizes[1:]))
        self.W = [rng.standard_normal((a, b)).astype(np.float32) for a, b in dims]
        self.A = [np.ones((BATCH, a), np.float32) for a, _ in dims]
        self.dZ = [np.ones((BATCH, b), np.float32) for _, b in dims]
        self.Z = [np.empty((BATCH, b), np.float32) for _, b in dims]
        self.dW = [np.empty((a, b), np.float32) for a, b in dims]
        self.dA = [np.empty((BATCH, a), np.float32) for a, _ in dims]
        self.flops_per_step = sum(2 * BATCH * a * b * (3 if i else 2) for i, (a, b) in enumerate(dims))

    def epoch(self, X, steps):
        A0 = np.ascontiguousarray(X[:BATCH])
        start = time.perf_counter()
        for _ in range(steps):
            for i, W in enumerate(self.W):
                np.matmul(A0 if i == 0 else self.A[i], W, out=self.Z[i])
            for i in range(len(self.W) - 1, -1, -1):
                np.matmul((A0 if i == 0 else self.A[i]).T, self.dZ[i], out=self.dW[i])
                if i:
                    np.matmul(self.dZ[i], self.W[i].T, out=self.dA[i])
        return time.perf_counter() - start


class TorchProcess:
    def __init__(self, python, X, y, threads, tmp):
        np.save(tmp / "X.npy", X)
        np.save(tmp / "y.npy", y)
        self.proc = subprocess.Popen([python, str(ROOT / "torch_runner.py"), str(tmp / "X.npy"),
                                      str(tmp / "y.npy"), str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())

    def epoch(self, sizes, optimizer, lr):
        arch = "-".join(str(s) for s in sizes)
        self.proc.stdin.write(f"epoch {arch} {optimizer} {lr} {BATCH}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["seconds"]

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


def find_torch(arg):
    for candidate in (arg, os.environ.get("TORCH_PYTHON"), DEFAULT_TORCH, OTHER_TORCH):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def minibatch(splits, epochs, torch_python, threads, tmp, notes):
    X, y = splits.X_train, splits.y_train
    n = len(X)
    steps = -(-n // BATCH)
    torch_proc = None
    if torch_python:
        try:
            torch_proc = TorchProcess(torch_python, X, y, threads, tmp)
        except Exception as exc:  # a broken venv is a note, not a crash
            notes.append(f"PyTorch skipped: {torch_python} failed ({exc}).")
    else:
        notes.append("PyTorch skipped: no torch interpreter (set TORCH_PYTHON or create "
                     "/work/torch-venv with torch==2.13.0).")
    results = {}
    default_threads = os.cpu_count()
    empty = type("Splits", (), dict(X_train=X, y_train=y, X_val=X[:0], y_val=y[:0]))
    for name, hidden, optimizer, lr in SHAPES:
        sizes = (784, *hidden, 10)
        rng = np.random.default_rng(0)
        model = MLP(ModelConfig(hidden_sizes=hidden), rng)
        steps_per_epoch = -(-empty.X_train.shape[0] // BATCH)
        run = fit(model, empty, TrainConfig(learning_rate=lr, epochs=epochs + 1, batch_size=BATCH,
                                            optimizer=optimizer, validation_size=0, seed=0,
                                            report_every=steps_per_epoch))
        next(run)                            # the step-0 record (the untrained network)
        naive = NaiveNumpy(sizes, optimizer, lr, np.random.default_rng(0))
        naive_default = NaiveNumpy(sizes, optimizer, lr, np.random.default_rng(0))
        gemms = BareGemms(sizes, np.random.default_rng(0))
        times = {"core": [], "numpy_float64_naive": [], "numpy_float64_naive_default_threads": [],
                 "bare_gemms": [], "pytorch": []}
        for e in range(epochs + 1):          # epoch 0 is the warm-up, not counted
            contenders = [("core", lambda: _timed_next(run)),
                          ("numpy_float64_naive", lambda: naive.epoch(X, y, rng)),
                          ("bare_gemms", lambda: gemms.epoch(X, steps))]
            if torch_proc is not None:
                contenders.append(("pytorch", lambda: torch_proc.epoch(sizes, optimizer, lr)))
            if e % 2:
                contenders.reverse()         # alternate the order too
            with threadpool_limits(threads):
                for key, f in contenders:
                    seconds = f()
                    if e:
                        times[key].append(seconds)
            # naive code does not choose its BLAS threads: it gets the library's default (all
            # cores), which can be 10x slower here, so only a quarter epoch is timed and scaled
            with threadpool_limits(default_threads):
                seconds = naive_default.epoch(X, y, rng, fraction=0.25)
            if e:
                times["numpy_float64_naive_default_threads"].append(seconds)
        run.close()
        entry = {"samples": n, "steps": steps, "flops_per_epoch": gemms.flops_per_step * steps}
        for key, values in times.items():
            if values:
                entry[key] = {"seconds": stats(values), "samples_per_second": stats([n / t for t in values])}
        # the ratios, epoch by epoch (each pair ran back to back), then their median
        core = np.array(times["core"])
        entry["ratios"] = {}
        for key, label in (("pytorch", "core_vs_pytorch"), ("numpy_float64_naive", "core_vs_naive"),
                           ("numpy_float64_naive_default_threads", "core_vs_naive_default_threads"),
                           ("bare_gemms", "core_over_bare_gemms")):
            if times[key]:
                other = np.array(times[key])
                r = core / other if key == "bare_gemms" else other / core
                entry["ratios"][label] = stats(r)
        results[name] = entry
    if torch_proc is not None:
        notes.append(f"PyTorch {torch_proc.info['torch']} with {torch_proc.info['threads']} thread(s), "
                     f"run by {torch_python}.")
        torch_proc.close()
    return results


def _timed_next(run):
    start = time.perf_counter()
    next(run)
    return time.perf_counter() - start


def thread_choice(splits, repeats):
    """Per shape: the bare products of 50 training steps at 1 and at 2 BLAS threads, alternated."""
    X = splits.X_train
    out = {}
    for name, hidden, _, _ in SHAPES:
        gemms = BareGemms((784, *hidden, 10), np.random.default_rng(0))
        t = {1: [], 2: []}
        for r in range(repeats):
            for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
                with threadpool_limits(threads):
                    t[threads].append(gemms.epoch(X, 50) / 50)
        out[name] = {f"{k}_thread": stats(v) for k, v in t.items()}
    # the full-batch shape: 784-10 products over 1024-row chunks of the whole training set
    W = np.random.default_rng(0).random((784, 10), np.float32)
    t = {1: [], 2: []}
    for r in range(repeats):
        for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
            with threadpool_limits(threads):
                start = time.perf_counter()
                for s in range(0, len(X), 1024):
                    Z = X[s:s + 1024] @ W
                    X[s:s + 1024].T @ Z
                t[threads].append(time.perf_counter() - start)
    out["784-10 full batch (chunks of 1024)"] = {f"{k}_thread": stats(v) for k, v in t.items()}
    return out


# -- the original preset -------------------------------------------------------------------------
def original_run(splits, iterations, blocks, threads):
    preset = get_preset("original")
    config = TrainConfig(**{**preset.train.to_dict(), "iterations": iterations,
                            "report_every": iterations // blocks})
    model = MLP(preset.model, np.random.default_rng(config.seed))
    # the re-implementation starts from exactly the same weights, in its own layout
    p = model.params
    params = (p["layers.0.W"].T.astype(np.float64), p["layers.0.b"].astype(np.float64)[:, None],
              p["layers.1.W"].T.astype(np.float64), p["layers.1.b"].astype(np.float64)[:, None])
    train_u8 = np.rint(splits.X_train * 255).astype(np.uint8)
    X_orig = original_numpy.as_original_layout(train_u8)            # (784, N) float64
    y = splits.y_train
    core_times, orig_times = [], []
    start = time.perf_counter()
    run = fit(model, splits, config, np.random.default_rng(config.seed))
    next(run)                                 # the step-0 record (the untrained network)
    next_record = lambda: next(run)                                   # noqa: E731
    setup_and_first = None
    for b in range(blocks):
        order = ("core", "orig") if b % 2 == 0 else ("orig", "core")
        for who in order:
            with threadpool_limits(threads):
                t0 = time.perf_counter()
                if who == "core":
                    next_record()
                    dt = time.perf_counter() - t0
                    if setup_and_first is None:
                        setup_and_first = time.perf_counter() - start
                    core_times.append(dt)
                else:
                    for _ in range(iterations // blocks):
                        params, _ = original_numpy.iteration(params, X_orig, y, 0.1)
                    orig_times.append(time.perf_counter() - t0)
    run.close()
    per_block = iterations // blocks
    core_acc = float((model.predict(splits.X_test) == splits.y_test).mean())
    X_test_orig = original_numpy.as_original_layout(np.rint(splits.X_test * 255).astype(np.uint8))
    orig_acc = original_numpy.accuracy(params, X_test_orig, splits.y_test)
    ratios = np.array(orig_times) / np.array(core_times)
    return {"iterations": iterations, "blocks": blocks,
            "core_seconds_per_iteration": stats(np.array(core_times) / per_block),
            "original_seconds_per_iteration": stats(np.array(orig_times) / per_block),
            "core_total_seconds": float(sum(core_times)),
            "original_total_seconds": float(sum(orig_times)),
            "speedup": stats(ratios),
            "core_test_accuracy": core_acc, "original_test_accuracy": orig_acc,
            "note": "core's time includes fit()'s one-off CompactRows plan and its validation "
                    "evaluations every 5 iterations"}


# -- inference -----------------------------------------------------------------------------------
def canvas_from_digit(image_784, size=280):
    """An MNIST test digit drawn as the canvas would hand it over: (size, size, 4) uint8, white
    strokes on black, alpha 255."""
    img = image_784.reshape(28, 28)
    big = np.kron(img, np.ones((size // 28, size // 28)))
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = (big * 255).astype(np.uint8)[..., None]
    rgba[..., 3] = 255
    return rgba


def inference(splits, calls, notes):
    from core.drawing import preprocess_canvas
    shipped = ROOT.parent / "model" / "mnist" / "pretrained.npz"
    if shipped.exists():
        from core.modelio import load_model
        model = load_model(shipped).model
        which = f"shipped model {shipped.relative_to(ROOT.parent)} ({model.config.describe()})"
    else:
        model = MLP(ModelConfig(hidden_sizes=(256, 128)), np.random.default_rng(0))
        which = "a freshly initialised 784-256-128-10 (no shipped model/mnist/pretrained.npz yet)"
        notes.append("Inference used " + which + ".")
    canvases = [canvas_from_digit(splits.X_test[i]) for i in range(10)]
    latencies, pre, net = [], [], []
    for i in range(calls + 20):
        rgba = canvases[i % 10]
        t0 = time.perf_counter()
        pixels = preprocess_canvas(rgba).pixels
        t1 = time.perf_counter()
        model.predict_proba(pixels)
        t2 = time.perf_counter()
        if i >= 20:
            latencies.append(t2 - t0)
            pre.append(t1 - t0)
            net.append(t2 - t1)
    lat = np.array(latencies)
    through = []
    for _ in range(5):
        t0 = time.perf_counter()
        model.predict_proba(splits.X_test)
        through.append(len(splits.X_test) / (time.perf_counter() - t0))
    return {"model": which, "calls": calls,
            "latency_ms": {"median": float(np.median(lat) * 1e3), "p99": float(np.percentile(lat, 99) * 1e3),
                           "max": float(lat.max() * 1e3)},
            "preprocess_ms_median": float(np.median(pre) * 1e3),
            "network_ms_median": float(np.median(net) * 1e3),
            "test_images_per_second": stats(through)}


# -- the machine's limits ------------------------------------------------------------------------
def machine(repeats):
    rng = np.random.default_rng(0)
    out = {}
    A = rng.random((1024, 1024), np.float32)
    B = rng.random((1024, 1024), np.float32)
    C = np.empty_like(A)
    for threads in (1, 2):
        with threadpool_limits(threads):
            np.matmul(A, B, out=C)
            t = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                np.matmul(A, B, out=C)
                t.append(time.perf_counter() - t0)
        out[f"matmul_gflops_{threads}_thread"] = stats([2 * 1024 ** 3 / s / 1e9 for s in t])
    big = np.ones(64 * 2 ** 20, np.float32)                    # 256 MiB, far beyond the caches
    dst = np.empty_like(big)
    reads, copies = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        big.sum()
        reads.append(big.nbytes / (time.perf_counter() - t0) / 1e9)
        t0 = time.perf_counter()
        np.copyto(dst, big)
        copies.append(2 * big.nbytes / (time.perf_counter() - t0) / 1e9)
    out["read_gb_per_s"] = stats(reads)
    out["copy_gb_per_s"] = stats(copies)
    return out


# -- peak memory ---------------------------------------------------------------------------------
MEMORY_SCRIPT = r"""
import json, os, resource, sys


def peak_mib():
    # VmHWM: this process's own peak. ru_maxrss would carry over the parent's peak across exec.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


import numpy as np
from core.datasets import load_dataset, make_splits
from core.model import MLP
from core.training import TrainConfig, fit, get_preset
preset = get_preset(sys.argv[1])
splits = make_splits(load_dataset("mnist", os.environ.get("NN_DATA_DIR"), download=False),
                     preset.train.validation_size)
loaded = peak_mib()
cfg = TrainConfig(**{**preset.train.to_dict(), **json.loads(sys.argv[2])})
model = MLP(preset.model, np.random.default_rng(cfg.seed))
for record in fit(model, splits, cfg):
    pass
print(json.dumps({"maxrss_mib": peak_mib(),
                  "after_loading_mib": loaded,
                  "val_accuracy": record.val_accuracy, "steps": record.step}))
"""


def peak_memory(quick):
    runs = {"original (full batch, 784-10-10)": ("original", {"iterations": 20 if quick else 100}),
            "recommended (784-256-128-10, Adam, batch 128)": ("recommended", {"epochs": 1, "iterations": None})}
    out = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    for label, (preset, overrides) in runs.items():
        proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, preset, json.dumps(overrides)],
                              capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode:
            out[label] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            out[label]["overrides"] = overrides
    return out


# -- report --------------------------------------------------------------------------------------
def limits_table(results):
    """FLOPs, bytes and the fraction of the binding limit for the mini-batch and full-batch runs."""
    m = results["machine"]
    peak1 = m["matmul_gflops_1_thread"]["median"]
    bw = m["read_gb_per_s"]["median"]
    rows = []
    for name, entry in results["minibatch"].items():
        flops = entry["flops_per_epoch"]
        secs = entry["core"]["seconds"]["median"]
        # bytes from memory: the batch gather reads and writes the images once; weights stay in cache
        nbytes = 2 * entry["samples"] * 784 * 4
        rows.append((f"mini-batch {name}, per epoch", flops, nbytes, secs, peak1, bw))
    o = results["original"]
    n = results["data"]["train"]
    d = results["original_plan_density"]
    secs = o["core_seconds_per_iteration"]["median"]
    flops = 2 * 2 * n * 784 * 10 * d + 3 * 2 * n * 10 * 10
    nbytes = n * 784 * 4 * d
    rows.append((f"original, per full-batch iteration (plan keeps {d:.0%} of X)", flops, nbytes, secs, peak1, bw))
    return rows


def render(results):
    L = []
    add = L.append
    mach = results["machine"]
    add(f"# Speed benchmark ({'quick' if results['quick'] else 'full'} run)\n")
    add(f"Machine: {results['platform']}. BLAS threads used for every contender: "
        f"{results['threads']} (see the thread table). Every figure is the median (min-max) of the "
        "repeats; contenders alternate epoch by epoch, and ratios are taken pair by pair.\n")
    add("## 1. Mini-batch training, batch 128, float32 (samples/s; a 55,000-image epoch)\n")
    add("| model | core | PyTorch CPU | naive NumPy float64, same threads | naive NumPy float64, default threads | bare GEMMs | core / PyTorch | core / naive (same threads) | core / naive (default threads) | core time / bare GEMMs |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for name, e in results["minibatch"].items():
        def sps(key):
            return spread(e[key]["samples_per_second"], fmt="{:,.0f}") if key in e else "n/a"
        r = e["ratios"]
        def rr(k):
            return spread(r[k], fmt="{:.2f}") if k in r else "n/a"
        add(f"| {name} | {sps('core')} | {sps('pytorch')} | {sps('numpy_float64_naive')} | "
            f"{sps('numpy_float64_naive_default_threads')} | "
            f"{sps('bare_gemms')} | {rr('core_vs_pytorch')}x | {rr('core_vs_naive')}x | "
            f"{rr('core_vs_naive_default_threads')}x | {rr('core_over_bare_gemms')}x |")
    add("\nSeconds per epoch (median): " + "; ".join(
        f"{name}: core {e['core']['seconds']['median']:.3f}, "
        + (f"PyTorch {e['pytorch']['seconds']['median']:.3f}, " if 'pytorch' in e else "")
        + f"naive {e['numpy_float64_naive']['seconds']['median']:.3f}, "
          f"bare GEMMs {e['bare_gemms']['seconds']['median']:.3f}"
        for name, e in results["minibatch"].items()) + "\n")
    add("### BLAS threads: the matrix products of one step (ms), 1 vs 2 threads\n")
    add("| shape | 1 thread | 2 threads |")
    add("|---|---|---|")
    for name, t in results["threads_table"].items():
        add(f"| {name} | {spread(t['1_thread'], 1e3, '{:.2f}')} | {spread(t['2_thread'], 1e3, '{:.2f}')} |")
    o = results["original"]
    add(f"\n## 2. The `original` preset: 784-10-10, full batch of {results['data']['train']:,}, "
        f"{o['iterations']} iterations\n")
    add("| | seconds per iteration | total seconds | test accuracy |")
    add("|---|---|---|---|")
    add(f"| core (float32, compact chunks) | {spread(o['core_seconds_per_iteration'], 1, '{:.4f}')} | "
        f"{o['core_total_seconds']:.1f} | {o['core_test_accuracy']:.2%} |")
    add(f"| original arithmetic (float64, one-hot, transposes) | "
        f"{spread(o['original_seconds_per_iteration'], 1, '{:.4f}')} | {o['original_total_seconds']:.1f} | "
        f"{o['original_test_accuracy']:.2%} |")
    add(f"\nSpeed-up: {spread(o['speedup'], fmt='{:.2f}')}x (block by block); accuracy difference "
        f"{abs(o['core_test_accuracy'] - o['original_test_accuracy']) * 100:.2f} points. {o['note']}.\n")
    i = results["inference"]
    add("## 3. Inference\n")
    add(f"Model: {i['model']}.\n")
    add("| one drawing (canvas 280x280 RGBA -> 10 probabilities) | median | p99 | max |")
    add("|---|---|---|---|")
    lat = i["latency_ms"]
    add(f"| {i['calls']:,} calls | {lat['median']:.2f} ms | {lat['p99']:.2f} ms | {lat['max']:.2f} ms |")
    add(f"\nOf the median: preprocessing {i['preprocess_ms_median']:.2f} ms, network "
        f"{i['network_ms_median']:.3f} ms. Throughput over the 10,000 test images: "
        f"{spread(i['test_images_per_second'], fmt='{:,.0f}')} images/s.\n")
    add("## 4. The machine's limits\n")
    add(f"float32 matmul 1024^3: {spread(mach['matmul_gflops_1_thread'], fmt='{:.1f}')} GFLOP/s on 1 thread, "
        f"{spread(mach['matmul_gflops_2_thread'], fmt='{:.1f}')} on 2. Memory: read "
        f"{spread(mach['read_gb_per_s'], fmt='{:.1f}')} GB/s, copy (read+write) "
        f"{spread(mach['copy_gb_per_s'], fmt='{:.1f}')} GB/s.\n")
    add("| work | GFLOP | GB from memory | core seconds | GFLOP/s reached | share of 1-thread matmul peak | GB/s reached | share of read bandwidth |")
    add("|---|---|---|---|---|---|---|---|")
    for label, flops, nbytes, secs, peak, bw in limits_table(results):
        add(f"| {label} | {flops / 1e9:.2f} | {nbytes / 1e9:.3f} | {secs:.4f} | {flops / secs / 1e9:.1f} | "
            f"{flops / secs / 1e9 / peak:.0%} | {nbytes / secs / 1e9:.1f} | {nbytes / secs / 1e9 / bw:.0%} |")
    add("")
    add("## 5. Peak memory of full-MNIST training (fresh process, peak resident set VmHWM)\n")
    add("| run | peak RSS | peak RSS before training (data loaded and split) | steps | validation accuracy |")
    add("|---|---|---|---|---|")
    for label, r in results["memory"].items():
        if "error" in r:
            add(f"| {label} | failed: {r['error']} | | | |")
        else:
            add(f"| {label} | {r['maxrss_mib']:.0f} MiB | {r['after_loading_mib']:.0f} MiB | {r['steps']} | "
                f"{r['val_accuracy']:.2%} |")
    add("\n## Targets\n")
    add("| target | result | met |")
    add("|---|---|---|")
    for t in results["targets"]:
        add(f"| {t['target']} | {t['result']} | {'yes' if t['met'] else 'NO'} |")
    if results["notes"]:
        add("\n## Notes\n")
        for n in results["notes"]:
            add(f"- {n}")
    return "\n".join(L) + "\n"


def targets(results):
    out = []
    for name, e in results["minibatch"].items():
        r = e["ratios"]
        if "core_vs_pytorch" in r:
            v = r["core_vs_pytorch"]["median"]
            out.append({"target": f"{name}: core >= 1.3x PyTorch", "result": f"{v:.2f}x", "met": v >= 1.3})
        v, w = r["core_vs_naive_default_threads"]["median"], r["core_vs_naive"]["median"]
        out.append({"target": f"{name}: core >= 3x naive float64 NumPy",
                    "result": f"{v:.2f}x against naive code as written (default BLAS threads); "
                              f"{w:.2f}x with the naive code also pinned to {results['threads']} thread",
                    "met": v >= 3})
        v = r["core_over_bare_gemms"]["median"]
        out.append({"target": f"{name}: core within 1.5x of the bare GEMMs", "result": f"{v:.2f}x", "met": v <= 1.5})
    o = results["original"]
    v = o["speedup"]["median"]
    out.append({"target": "original preset >= 5x the original arithmetic", "result": f"{v:.2f}x", "met": v >= 5})
    d = abs(o["core_test_accuracy"] - o["original_test_accuracy"]) * 100
    out.append({"target": "original preset accuracy within 0.5 points", "result": f"{d:.2f} points", "met": d <= 0.5})
    lat = results["inference"]["latency_ms"]["median"]
    out.append({"target": "one drawing < 5 ms median", "result": f"{lat:.2f} ms", "met": lat < 5})
    peaks = [r["maxrss_mib"] for r in results["memory"].values() if "maxrss_mib" in r]
    if peaks:
        out.append({"target": "peak memory < 1 GiB", "result": f"{max(peaks):.0f} MiB", "met": max(peaks) < 1024})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and iterations (~1-2 min)")
    parser.add_argument("--torch-python", help="python interpreter that has torch")
    parser.add_argument("--threads", type=int, default=blas.training_threads(),
                        help="BLAS threads for every contender (default: what core trains with)")
    parser.add_argument("--conv", action="store_true",
                        help="also the convnet preset's workload against PyTorch "
                             "(benchmarks/speed_conv.py; its own results file speed_conv.md)")
    parser.add_argument("--conv-only", action="store_true", help="only the convnet workload")
    args = parser.parse_args(argv)
    if args.conv or args.conv_only:
        from . import speed_conv
        conv_args = ["--blocks", "3" if args.quick else "5"]
        torch_python = find_torch(args.torch_python)
        if torch_python:
            conv_args += ["--torch-python", torch_python]
        if "NN_DATA_DIR" not in os.environ and Path(DEFAULT_DATA).exists():
            os.environ["NN_DATA_DIR"] = DEFAULT_DATA
        speed_conv.main(conv_args)
        if args.conv_only:
            return
    if "NN_DATA_DIR" not in os.environ and Path(DEFAULT_DATA).exists():
        os.environ["NN_DATA_DIR"] = DEFAULT_DATA
    quick = args.quick
    notes = []
    raw = load_dataset("mnist", os.environ.get("NN_DATA_DIR"), download=False)
    if raw.source == "sample":
        notes.append("Full MNIST was not found (set NN_DATA_DIR): these figures are on the bundled sample.")
    splits = make_splits(raw, 5000)
    from core.compact import CompactRows
    results = {"quick": quick, "threads": args.threads, "notes": notes,
               "platform": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                           f"Python {platform.python_version()}, NumPy {np.__version__}",
               "data": {"source": raw.describe(), "train": int(len(splits.X_train)),
                        "test": int(len(splits.X_test))}}
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        results["platform"] = f"{cpu}, " + results["platform"]
    except (OSError, StopIteration):
        pass
    t0 = time.perf_counter()
    results["machine"] = machine(5 if quick else 10)
    results["threads_table"] = thread_choice(splits, 4 if quick else 8)
    with tempfile.TemporaryDirectory() as tmp:
        results["minibatch"] = minibatch(splits, 2 if quick else 5, find_torch(args.torch_python),
                                         args.threads, Path(tmp), notes)
    results["original_plan_density"] = CompactRows(splits.X_train, splits.y_train).density
    results["original"] = original_run(splits, 100 if quick else 1000, 4 if quick else 10, args.threads)
    results["inference"] = inference(splits, 1000, notes)
    results["memory"] = peak_memory(quick)
    results["targets"] = targets(results)
    results["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    name = "speed-quick" if quick else "speed"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    text = render(results)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    print(f"({results['seconds']:.0f} s; written to {RESULTS / name}.md and .json)")


if __name__ == "__main__":
    main()
