"""How fast the "why" views are on the shipped MNIST model (issue 12), and how fragile it is.

    python -m benchmarks.explain [--digits 50] [--repeats 5]

On model/mnist/nn_parameters.npz and the first ``--digits`` test digits (the bundled sample's; the
same images the tests use), one process, times as the app runs them (float32, the BLAS as
core.counterfactual and core.dreams pin it); median (min-max) over the digits (for the saliency
and the diagram, each digit's figure is itself the median of repeated calls):

    saliency           core.explain.saliency of the guess (gradient x input), one drawing
    counterfactual     core.counterfactual.counterfactual, each digit towards another class
    nudge              core.counterfactual.nudge, "linf" (budget 0.1) and "pixels" (budget 20),
                       on the digits the model is at least 90% sure of: time and share flipped
    10 class dreams    core.dreams.class_dreams, all ten classes
    diagram            app.why.network_diagram + its Arrow table + a unit's details: the
                       Python side of one Draw stroke with the diagram open (Streamlit's own
                       work comes on top: the browser test records the page's server time)

It prints a Markdown table with the issue's targets. The machine has 2 cores shared with other
work: figures vary by 2x between runs; run it twice before believing a miss.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(function, repeats):
    """Seconds per call of ``function()``: a list of ``repeats`` timings."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def spread(seconds, unit="ms"):
    factor = 1000.0 if unit == "ms" else 1.0
    values = [s * factor for s in seconds]
    digits = 2 if unit == "ms" else 3
    return (f"{statistics.median(values):.{digits}f} {unit} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=50, help="test digits (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the dreams (5)")
    args = parser.parse_args(argv)

    from app.why import as_table, network_diagram, unit_details
    from core.counterfactual import LINF_BUDGET, PIXEL_BUDGET, counterfactual, nudge
    from core.datasets import CLASS_NAMES, load_dataset
    from core.dreams import class_dreams
    from core.explain import saliency, trace
    from core.modelio import load_model

    saved = load_model(ROOT / "model" / "mnist" / "nn_parameters.npz")
    model, scaling = saved.model, saved.scaling
    raw = load_dataset("mnist", data_dir=None, download=False)            # the bundled sample
    X = raw.test_images[:args.digits].astype(np.float32) / 255.0
    guesses = model.predict(X)
    names = CLASS_NAMES["mnist"]
    rows = []

    saliency(model, X[0], int(guesses[0]), scaling=scaling)                # first-call set-up
    per_digit = [statistics.median(timed(lambda: saliency(model, x, int(g), scaling=scaling), 20))
                 for x, g in zip(X, guesses)]
    rows.append(("saliency of the guess, one drawing", spread(per_digit), "< 5 ms"))

    times, reached, steps = [], [], []
    for i, (x, g) in enumerate(zip(X, guesses)):
        target = (int(g) + 1 + i % 9) % 10
        start = time.perf_counter()
        result = counterfactual(model, x, target, scaling=scaling)
        times.append(time.perf_counter() - start)
        reached.append(result.probabilities[-1, target] >= 0.5)
        steps.append(result.steps)
    rows.append((f"counterfactual towards another class ({len(X)} digits; median "
                 f"{statistics.median(steps):.0f} steps, target above 50% for "
                 f"{np.mean(reached):.0%})", spread(times), "<= 0.5 s"))

    confident = np.flatnonzero(model.predict_proba(X).max(axis=1) >= 0.9)
    for kind, budget in (("linf", LINF_BUDGET), ("pixels", PIXEL_BUDGET)):
        times, flipped = [], []
        for i in confident:
            start = time.perf_counter()
            result = nudge(model, X[i], kind, budget, scaling=scaling)
            times.append(time.perf_counter() - start)
            flipped.append(result.flipped)
        what = "every pixel by at most 0.1" if kind == "linf" else f"at most {budget} pixels"
        rows.append((f"nudge, {what}: flips {np.mean(flipped):.0%} of {len(confident)} "
                     "confident guesses", spread(times), ""))

    class_dreams(model, np.random.default_rng(0), scaling=scaling, steps=5)
    dream_times = timed(lambda: class_dreams(model, np.random.default_rng(0), scaling=scaling),
                        args.repeats)
    rows.append(("10 class dreams (300 steps each, together)", spread(dream_times, "s"), "<= 2 s"))

    def stroke(x):
        tr = trace(model, x, scaling)
        diagram = network_diagram(model, x, scaling, names, tr=tr)
        as_table(diagram.rows)
        unit_details(model, tr, diagram.default, names, scaling)

    stroke(X[0])
    per_digit = [statistics.median(timed(lambda: stroke(x), 5)) for x in X]
    rows.append(("network diagram + unit details, one stroke (Python side)", spread(per_digit),
                 "(page: < 60 ms)"))

    print(f"Shipped MNIST model {model.config.describe()}, {len(X)} test digits of "
          f"{raw.describe()}\n")
    print("| figure | median (min-max) | target |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
