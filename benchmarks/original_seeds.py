"""The `original` preset over many seeds: ours (the CLI) beside the original project's arithmetic.

    NN_DATA_DIR=/work/shared/datasets python -m benchmarks.original_seeds [--seeds 0-9] [--jobs 2]

For each seed S:
- ours: ``python -m core train -dataset mnist -lr 0.1 -i 1000 --seed S`` (the command the README
  gives, written to a temporary --out so no model file is left behind): 784-10-10 in float32 on
  the 55,000 training images left after the 5,000-image validation split;
- the original arithmetic (benchmarks/original_numpy.py): all 60,000 training images, float64,
  weights and biases from U[-0.5, 0.5) drawn by ``np.random.default_rng(S)``, 1000 full-batch
  steps of lr 0.1.
Both report accuracy on the official 10,000 test images. The two do not start from the same
weights (each draws its own, as each program does), so seed by seed they differ by a point or so;
the claim is about the mean over seeds. Results go to benchmarks/results/original_seeds.{json,md},
rewritten after every run so a partial run still leaves its figures.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
OURS_COMMAND = "python -m core train -dataset mnist -lr 0.1 -i 1000 --seed {seed}"
ORIGINAL_COMMAND = "python -m benchmarks.original_seeds --one-original {seed}"


def run_ours(seed):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "core", "train", "-dataset", "mnist", "-lr", "0.1", "-i", "1000",
               "--seed", str(seed), "--offline", "--out", os.path.join(tmp, "m.npz")]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "bundled sample" in out or "60,000 training" not in out:
        raise RuntimeError(f"ours did not train on full MNIST:\n{out}")
    test = float(re.search(r"Test accuracy: ([\d.]+)%", out).group(1))
    val = float(re.search(r"Validation accuracy: ([\d.]+)%", out).group(1))
    return {"test": test, "validation": val, "seconds": time.perf_counter() - t0}


def one_original(seed, iterations=1000, learning_rate=0.1):
    """Test accuracy (%) of the original arithmetic from seed ``seed`` (runs in this process)."""
    from threadpoolctl import threadpool_limits

    from core.datasets import load_dataset

    from . import original_numpy as orig
    raw = load_dataset("mnist", os.environ.get("NN_DATA_DIR"), download=False)
    if raw.source == "sample" or len(raw.train_labels) != 60_000:
        raise RuntimeError(f"the original arithmetic needs full MNIST; got {raw.describe()}")
    X = orig.as_original_layout(raw.train_images)                  # (784, 60000) float64
    y = raw.train_labels.astype(np.int64)
    params = orig.init_params(np.random.default_rng(seed))
    with threadpool_limits(1):                                      # as core trains: 1 BLAS thread
        for _ in range(iterations):
            params, _ = orig.iteration(params, X, y, learning_rate)
    X_test = orig.as_original_layout(raw.test_images)
    return 100 * orig.accuracy(params, X_test, raw.test_labels.astype(np.int64))


def run_original(seed):
    cmd = [sys.executable, "-m", "benchmarks.original_seeds", "--one-original", str(seed)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {"test": float(out.split()[-1]), "seconds": time.perf_counter() - t0}


def summary(values):
    values = np.array(values, dtype=float)
    return {"mean": round(float(values.mean()), 2), "min": float(values.min()),
            "max": float(values.max()), "n": int(values.size)}


def write(results, seeds):
    RESULTS.mkdir(exist_ok=True)
    ours = [results["ours"][s]["test"] for s in seeds if s in results["ours"]]
    orig = [results["original"][s]["test"] for s in seeds if s in results["original"]]
    doc = {"seeds": seeds, "ours_command": OURS_COMMAND, "original_command": ORIGINAL_COMMAND,
           "data_dir": os.environ.get("NN_DATA_DIR"),
           "ours": {str(k): v for k, v in sorted(results["ours"].items())},
           "original": {str(k): v for k, v in sorted(results["original"].items())},
           "ours_summary": summary(ours) if ours else None,
           "original_summary": summary(orig) if orig else None}
    (RESULTS / "original_seeds.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = ["| seed | ours: test | ours: validation | original arithmetic: test |",
             "|---|---|---|---|"]
    for s in seeds:
        o, g = results["ours"].get(s), results["original"].get(s)
        cells = [f"{o['test']:.2f}%" if o else "-", f"{o['validation']:.2f}%" if o else "-",
                 f"{g['test']:.2f}%" if g else "-"]
        lines.append(f"| {s} | {' | '.join(cells)} |")
    for name, values in (("ours", ours), ("original arithmetic", orig)):
        if values:
            s = summary(values)
            lines.append(f"\n{name}: mean {s['mean']:.2f}% (range {s['min']:.2f}-{s['max']:.2f}%) "
                         f"over {s['n']} seeds")
    if ours and orig:
        lines.append(f"\nours - original: {np.mean(ours) - np.mean(orig):+.2f} points")
    (RESULTS / "original_seeds.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--one-original", type=int, metavar="SEED",
                        help="run the original arithmetic for one seed and print its test accuracy")
    args = parser.parse_args(argv)
    if args.one_original is not None:
        print(f"{one_original(args.one_original):.2f}")
        return
    if "-" in args.seeds:
        lo, hi = map(int, args.seeds.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
    results = {"ours": {}, "original": {}}
    jobs = [(who, s) for s in seeds for who in ("ours", "original")]
    lock = threading.Lock()

    def run(job):
        who, seed = job
        result = (run_ours if who == "ours" else run_original)(seed)
        with lock:
            results[who][seed] = result
            write(results, seeds)
        print(f"{who} seed {seed}: {result}", flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(run, jobs))
    print((RESULTS / "original_seeds.md").read_text())


if __name__ == "__main__":
    main()
