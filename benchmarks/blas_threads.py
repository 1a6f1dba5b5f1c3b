"""What pinning the BLAS to 1 thread during training costs everyone else's inference.

    python -m benchmarks.blas_threads [--repeats 15] [--no-busy]

core/blas.py pins OpenBLAS to 1 thread process-wide while any ``fit`` runs, so another session's
Draw or Inspect inference in the same server process then also runs on 1 thread. This times
``MLP.predict_proba`` of a 784-256-128-10 float32 network on the 10,000 MNIST test images (Inspect's
batch; the bundled sample's 2,000 test images tiled to 10,000 when full MNIST is absent) and on
one image (a Draw stroke), with the BLAS at 1 and at 2 threads: alternating, median (min-max) of
the repeats. "idle": nothing else runs; "busy": a training loop in another process keeps one core
busy, as a training run does while the pin is in force.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from core import blas
from core.model import MLP, ModelConfig

ROOT = Path(__file__).resolve().parents[1]
FULL_TEST_IMAGES = Path("/work/shared/datasets/mnist/t10k-images-idx3-ubyte.gz")
SINGLE_CALLS = 200            # one-image predictions per timing (one call takes tens of µs)

# A stand-in for a training run on the other core: mini-batch steps of 784-128-10, 1 BLAS thread.
BUSY_SCRIPT = """
import numpy as np
from core import blas
from core.model import MLP, ModelConfig
from core.optimizers import SGD
blas.set_threads(1)
rng = np.random.default_rng(0)
model, sgd = MLP(ModelConfig(hidden_sizes=(128,)), rng), SGD(0.01)
X, y = rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
while True:
    sgd.step(model.params, model.loss_and_grads(X, y)[2])
"""


def test_images():
    """(10000, 784) float32 in [0, 1]: MNIST's test images, or the bundled sample's tiled."""
    if FULL_TEST_IMAGES.exists():
        from core.idx import read_idx
        images, source = read_idx(FULL_TEST_IMAGES, expect="images"), "MNIST test set"
    else:
        with np.load(ROOT / "core" / "data" / "mnist.npz", allow_pickle=False) as sample:
            images, source = sample["test_images"], "bundled sample, tiled"
    images = images.reshape(len(images), 784)
    images = np.resize(images, (10_000, 784))
    return images.astype(np.float32) / 255, source


def time_once(model, X, one):
    t0 = time.perf_counter()
    model.predict_proba(X)
    batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(SINGLE_CALLS):
        model.predict_proba(one)
    return batch, (time.perf_counter() - t0) / SINGLE_CALLS


def measure(model, X, repeats):
    """{threads: (batch seconds list, single seconds list)}, 1 and 2 threads alternating."""
    times = {1: ([], []), 2: ([], [])}
    for repeat in range(repeats):
        for threads in ((1, 2) if repeat % 2 == 0 else (2, 1)):
            blas.set_threads(threads)
            model.predict_proba(X[:256])                      # let the thread pool settle
            batch, single = time_once(model, X, X[repeat])
            times[threads][0].append(batch)
            times[threads][1].append(single)
    return times


def spread(values, scale):
    v = np.asarray(values) * scale
    return f"{np.median(v):.1f} ({v.min():.1f}-{v.max():.1f})"


def report(label, times):
    print(f"\n{label}: median (min-max)")
    print("| BLAS threads | 10,000 images (ms) | one image (µs) |")
    print("|---|---|---|")
    for threads, (batch, single) in times.items():
        print(f"| {threads} | {spread(batch, 1e3)} | {spread(single, 1e6)} |")
    b1, b2 = np.median(times[1][0]), np.median(times[2][0])
    s1, s2 = np.median(times[1][1]), np.median(times[2][1])
    print(f"1 thread / 2 threads: 10,000 images {b1 / b2:.2f}x the time, one image {s1 / s2:.2f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-busy", action="store_true", help="skip the run with a busy core")
    args = parser.parse_args(argv)
    if not blas.available():
        sys.exit("No OpenBLAS to control in this process: nothing to measure.")
    X, source = test_images()
    model = MLP(ModelConfig(hidden_sizes=(256, 128)), np.random.default_rng(0))
    print(f"{model}, float32; images: {source}; {args.repeats} repeats, 1 and 2 threads alternating; "
          f"load average before: {os.getloadavg()[0]:.2f} (other work on this 2-core machine skews it)")
    before = blas.get_threads()
    try:
        report("idle (nothing else running)", measure(model, X, args.repeats))
        if not args.no_busy:
            busy = subprocess.Popen([sys.executable, "-c", BUSY_SCRIPT], cwd=ROOT)
            try:
                time.sleep(1.0)                               # past its start-up
                report("busy (a training loop on the other core)", measure(model, X, args.repeats))
            finally:
                busy.kill()
                busy.wait()
    finally:
        blas.set_threads(before)


if __name__ == "__main__":
    main()
