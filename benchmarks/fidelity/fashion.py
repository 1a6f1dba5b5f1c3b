"""Fashion-MNIST pictures through the Draw page's preprocessing: which steps fit this dataset?

    python -m benchmarks.fidelity.fashion --n 2000          # full data when NN_DATA_DIR is set

Fashion-MNIST's pictures were not made like MNIST's digits: each product photo was trimmed, its
longest side scaled to all 28 pixels and the picture centred by its box. So the test pictures are
enlarged 6-9x and placed at random on a black 280x280 canvas (a picture uploaded or drawn big and
anywhere), go through core.drawing with each candidate set of steps, and into the shipped
Fashion-MNIST model. Prints a Markdown table next to the model's accuracy on the originals.
"""
import argparse
import os
from dataclasses import replace

import numpy as np

from core.datasets import load_dataset
from core.drawing import PreprocessOptions, options_for, preprocess_image
from core.modelio import load_model

CANVAS = 280
MNIST = PreprocessOptions()
VARIANTS = [
    ("MNIST's steps (20-px box, centre of mass, even strokes)", MNIST),
    ("28-px box, centre of mass", replace(MNIST, box_size=28)),
    ("28-px box, box centre", replace(MNIST, box_size=28, center_of_mass=False)),
    ("28-px box, box centre, strokes as drawn (the Fashion default)", options_for("fashion-mnist")),
    ("24-px box, box centre, strokes as drawn",
     replace(options_for("fashion-mnist"), box_size=24)),
]


def enlarged(images, rng):
    """(N, 784) uint8 pictures -> N (280, 280) canvases, each 6-9x bigger at a random place."""
    canvases = []
    for image in images:
        scale = int(rng.integers(6, 10))
        big = np.kron(image.reshape(28, 28), np.ones((scale, scale), np.uint8))
        canvas = np.zeros((CANVAS, CANVAS), np.uint8)
        y, x = rng.integers(0, CANVAS - big.shape[0] + 1, 2)
        canvas[y:y + big.shape[0], x:x + big.shape[1]] = big
        canvases.append(canvas)
    return canvases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="model/fashion-mnist/pretrained.npz")
    parser.add_argument("--n", type=int, default=2000, help="test pictures (the first n)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    raw = load_dataset("fashion-mnist", os.environ.get("NN_DATA_DIR"), download=False)
    saved = load_model(args.model, expected_dataset="fashion-mnist")
    images, labels = raw.test_images[:args.n], raw.test_labels[:args.n]
    canvases = enlarged(images, np.random.default_rng(args.seed))

    def accuracy(rows):
        X = np.stack(rows).astype(np.float32).reshape(len(rows), -1)
        if saved.scaling == "symmetric":
            X = X * 2 - 1
        return float((saved.model.predict(X) == labels).mean())

    print(f"{raw.describe()}; model {args.model}\n")
    print("| preprocessing | accuracy |\n|---|---|")
    print(f"| the {len(labels):,} test pictures as they are | {accuracy(images / 255.0):.2%} |")
    for name, options in VARIANTS:
        pixels = [preprocess_image(c, options).pixels for c in canvases]
        print(f"| enlarged on the canvas, {name} | {accuracy(pixels):.2%} |")


if __name__ == "__main__":
    main()
