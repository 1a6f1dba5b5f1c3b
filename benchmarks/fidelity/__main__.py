"""Drawing fidelity: does a model that reads MNIST also read digits drawn on the canvas?

    python -m benchmarks.fidelity --model model/mnist/pretrained.npz --n 1000

Prints a Markdown table: accuracy on the original MNIST test images, on the same digits turned into
canvas strokes (skeleton -> polylines -> rendered like the canvas -> core.drawing), and on
hand-designed stroke digits; then the same two stroke sets with each preprocessing step switched
off (or changed), so the value of every step is a number. Needs Pillow and scikit-image.
"""
import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.drawing import PreprocessOptions, preprocess_canvas

from tests.helpers.replay import load_predictor
from tests.helpers.strokes import designed_digits, load_mnist_test, render, stroke_digits

ROOT = Path(__file__).resolve().parents[2]

DEFAULTS = PreprocessOptions()
VARIANTS = [
    ("defaults", DEFAULTS),
    ("no crop (whole canvas fitted)", replace(DEFAULTS, crop=False)),
    ("no 20 px box (stretched to 28 x 28)", replace(DEFAULTS, fit_box=False)),
    ("box centre instead of centre of mass", replace(DEFAULTS, center_of_mass=False)),
    ("no stroke-width normalisation", replace(DEFAULTS, normalize_stroke=False)),
    ("stroke width 2.0 px", replace(DEFAULTS, stroke_width=2.0)),
    ("stroke width 3.0 px", replace(DEFAULTS, stroke_width=3.0)),
    ("sub-pixel centring", replace(DEFAULTS, subpixel=not DEFAULTS.subpixel)),
    ("blur sigma 0.5", replace(DEFAULTS, blur=0.5)),
    ("no contrast stretch", replace(DEFAULTS, stretch_contrast=False)),
]


def accuracy(predict, canvases, labels, options):
    X = np.stack([preprocess_canvas(c, options).pixels for c in canvases])   # (N, 784)
    return float((predict(X) == labels).mean())


def per_class(predict, canvases, labels, options):
    X = np.stack([preprocess_canvas(c, options).pixels for c in canvases])
    guess = predict(X)
    return {d: float((guess[labels == d] == d).mean()) for d in range(10) if (labels == d).any()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "model" / "mnist" / "pretrained.npz"))
    parser.add_argument("--n", type=int, default=1000, help="MNIST test digits to turn into strokes")
    parser.add_argument("--designed", type=int, default=500, help="hand-designed digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="defaults only, no per-step table")
    args = parser.parse_args(argv)

    predict, description = load_predictor(args.model)
    images, labels = load_mnist_test()
    start = time.perf_counter()
    strokes = stroke_digits(args.n, args.seed)
    designed = designed_digits(args.designed, args.seed)
    stroke_canvases = [render(s, b) for _, s, b in strokes]
    stroke_labels = np.array([label for label, _, _ in strokes])
    designed_canvases = [render(s, b) for _, s, b in designed]
    designed_labels = np.array([label for label, _, _ in designed])
    print(f"Rendered {len(strokes)} + {len(designed)} digits in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)

    original = float((predict(images[:args.n].astype(np.float32) / 255) == labels[:args.n]).mean())
    times = []
    for canvas in stroke_canvases[:200]:
        t = time.perf_counter()
        preprocess_canvas(canvas)
        times.append(time.perf_counter() - t)

    print(f"Model: {description} ({args.model})\n")
    print("| set | accuracy |\n|---|---|")
    print(f"| MNIST test images (first {args.n}) | {original:.2%} |")
    s = accuracy(predict, stroke_canvases, stroke_labels, DEFAULTS)
    d = accuracy(predict, designed_canvases, designed_labels, DEFAULTS)
    print(f"| the same digits as canvas strokes | {s:.2%} ({(s - original) * 100:+.1f} points) |")
    print(f"| hand-designed stroke digits ({len(designed)}) | {d:.2%} |")
    print(f"\npreprocess_canvas median {np.median(times) * 1e3:.2f} ms, "
          f"95th percentile {np.percentile(times, 95) * 1e3:.2f} ms (280 x 280 RGBA)\n")
    worst = per_class(predict, designed_canvases, designed_labels, DEFAULTS)
    print("Hand-designed, per digit: " + ", ".join(f"{k}: {v:.0%}" for k, v in worst.items()))
    worst = per_class(predict, stroke_canvases, stroke_labels, DEFAULTS)
    print("MNIST strokes, per digit: " + ", ".join(f"{k}: {v:.0%}" for k, v in worst.items()) + "\n")
    if args.quick:
        return 0
    print("| preprocessing | MNIST strokes | hand-designed |\n|---|---|---|")
    for name, options in VARIANTS:
        s = accuracy(predict, stroke_canvases, stroke_labels, options)
        d = accuracy(predict, designed_canvases, designed_labels, options)
        print(f"| {name} | {s:.2%} | {d:.2%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
