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
the claim is about the mean over seeds. ``--runs same_start`` adds a third run per seed: the
original arithmetic from the very weights our CLI starts from, so that a seed's two runs differ
only in the data (ours holds 5,000 images out for validation) and the number type (float32). Results go to benchmarks/results/original_seeds.{json,md},
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


def one_original(seed, iterations=1000, learning_rate=0.1, same_start=False):
    """Test accuracy (%) of the original arithmetic from seed ``seed`` (runs in this process);
    ``same_start``: from the very weights our CLI starts from with ``--seed seed`` (float32 draws,
    the same U[-0.5, 0.5)), so that a seed's two runs differ only in data and number type."""
    from threadpoolctl import threadpool_limits

    from core.datasets import load_dataset

    from . import original_numpy as orig
    raw = load_dataset("mnist", os.environ.get("NN_DATA_DIR"), download=False)
    if raw.source == "sample" or len(raw.train_labels) != 60_000:
        raise RuntimeError(f"the original arithmetic needs full MNIST; got {raw.describe()}")
    X = orig.as_original_layout(raw.train_images)                  # (784, 60000) float64
    y = raw.train_labels.astype(np.int64)
    if same_start:      # ours for this seed (new_run: MLP(config, default_rng(seed))), transposed
        from core.model import MLP
        from core.training import get_preset
        p = MLP(get_preset("original").model, np.random.default_rng(seed)).params
        params = (p["layers.0.W"].T.astype(np.float64), p["layers.0.b"].astype(np.float64)[:, None],
                  p["layers.1.W"].T.astype(np.float64), p["layers.1.b"].astype(np.float64)[:, None])
    else:
        params = orig.init_params(np.random.default_rng(seed))
    with threadpool_limits(1):                                      # as core trains: 1 BLAS thread
        for _ in range(iterations):
            params, _ = orig.iteration(params, X, y, learning_rate)
    X_test = orig.as_original_layout(raw.test_images)
    return 100 * orig.accuracy(params, X_test, raw.test_labels.astype(np.int64))


def run_original(seed, same_start=False):
    cmd = [sys.executable, "-m", "benchmarks.original_seeds", "--one-original", str(seed)]
    cmd += ["--same-start"] if same_start else []
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {"test": float(out.split()[-1]), "seconds": time.perf_counter() - t0}


RUNS = {        # name: (what the tables call it, how to run one seed)
    "ours": ("ours", run_ours),
    "original": ("original arithmetic", run_original),
    "same_start": ("original arithmetic from our start", lambda seed: run_original(seed, True)),
}


def summary(values):
    values = np.array(values, dtype=float)
    return {"mean": round(float(values.mean()), 2), "min": float(values.min()),
            "max": float(values.max()), "n": int(values.size)}


def read_results():
    """{run name: {seed: result}} from an earlier run's JSON, so runs can be added later."""
    path = RESULTS / "original_seeds.json"
    if not path.exists():
        return {name: {} for name in RUNS}
    doc = json.loads(path.read_text())
    return {name: {int(k): v for k, v in doc.get(name, {}).items()} for name in RUNS}


def write(results, seeds):
    RESULTS.mkdir(exist_ok=True)
    tests = {name: [results[name][s]["test"] for s in seeds if s in results[name]] for name in RUNS}
    doc = {"seeds": seeds, "ours_command": OURS_COMMAND, "original_command": ORIGINAL_COMMAND,
           "same_start_command": ORIGINAL_COMMAND + " --same-start",
           "data_dir": os.environ.get("NN_DATA_DIR")}
    for name in RUNS:
        doc[name] = {str(k): v for k, v in sorted(results[name].items())}
        doc[f"{name}_summary"] = summary(tests[name]) if tests[name] else None
    (RESULTS / "original_seeds.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [f"| seed | ours: test | ours: validation | {RUNS['original'][0]}: test | "
             f"{RUNS['same_start'][0]}: test |", "|---|---|---|---|---|"]
    for s in seeds:
        o, g, same = (results[name].get(s) for name in RUNS)
        cells = [f"{o['test']:.2f}%" if o else "-", f"{o['validation']:.2f}%" if o else "-",
                 f"{g['test']:.2f}%" if g else "-", f"{same['test']:.2f}%" if same else "-"]
        lines.append(f"| {s} | {' | '.join(cells)} |")
    for name, (label, _) in RUNS.items():
        if tests[name]:
            m = summary(tests[name])
            lines.append(f"\n{label}: mean {m['mean']:.2f}% (range {m['min']:.2f}-{m['max']:.2f}%) "
                         f"over {m['n']} seeds")
    for other in ("original", "same_start"):
        paired = [s for s in seeds if s in results["ours"] and s in results[other]]
        if paired:
            diff = [results["ours"][s]["test"] - results[other][s]["test"] for s in paired]
            lines.append(f"\nours - {RUNS[other][0]}, seed by seed: mean {np.mean(diff):+.2f} points "
                         f"(sd {np.std(diff, ddof=1) if len(diff) > 1 else 0:.2f}) over {len(diff)} seeds")
    (RESULTS / "original_seeds.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--runs", default="ours,original",
                        help=f"which runs, of {', '.join(RUNS)} (default: ours,original); results "
                             "of other runs already in the JSON are kept")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--one-original", type=int, metavar="SEED",
                        help="run the original arithmetic for one seed and print its test accuracy")
    parser.add_argument("--same-start", action="store_true",
                        help="with --one-original: start from our CLI's weights for that seed")
    args = parser.parse_args(argv)
    if args.one_original is not None:
        print(f"{one_original(args.one_original, same_start=args.same_start):.2f}")
        return
    if "-" in args.seeds:
        lo, hi = map(int, args.seeds.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
    runs = args.runs.split(",")
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}: choose from {', '.join(RUNS)}")
    results = read_results()
    for name in runs:
        results[name] = {}
    jobs = [(name, s) for s in seeds for name in runs]
    lock = threading.Lock()

    def run(job):
        name, seed = job
        result = RUNS[name][1](seed)
        with lock:
            results[name][seed] = result
            write(results, seeds)
        print(f"{name} seed {seed}: {result}", flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(run, jobs))
    print((RESULTS / "original_seeds.md").read_text())


if __name__ == "__main__":
    main()
