"""A personal handwriting style nobody else draws like: angular "seven-segment" digits with a
backward lean, a slashed 0 and a crossed 7, thin pen. The shipped MNIST model reads it poorly, so
teaching it ("Teach it", core.finetune) has something to learn.

    make_style_set(per_class, seed) -> (pixels (N, 784) float32, labels (N,) int64, canvases)

Shared by benchmarks/handwriting.py and the teaching tests.
"""
import numpy as np

from core.drawing import options_for, preprocess_canvas
from tests.helpers.strokes import CANVAS, _line, render

# The style: strokes in a box about 0.6 wide and 1 tall (y down), before the lean. Angular,
# "seven-segment" shapes drawn in one go with sharp corners, a slashed 0 and a crossed 7.
STYLE = {
    0: [_line((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0), (0.0, 0.0)),
        _line((0.7, -0.08), (-0.1, 1.08))],                                              # slashed box
    1: [_line((0.04, 0.3), (0.32, 0.0), (0.32, 1.0)), _line((0.06, 1.0), (0.58, 1.0))],  # flag, base
    2: [_line((0.0, 0.0), (0.6, 0.0), (0.6, 0.5), (0.0, 0.5), (0.0, 1.0), (0.6, 1.0))],  # segments
    3: [_line((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0)), _line((0.1, 0.5), (0.6, 0.5))],
    4: [_line((0.0, 0.0), (0.0, 0.5), (0.6, 0.5)), _line((0.6, 0.0), (0.6, 1.0))],       # open
    5: [_line((0.6, 0.0), (0.0, 0.0), (0.0, 0.5), (0.6, 0.5), (0.6, 1.0), (0.0, 1.0))],
    6: [_line((0.6, 0.0), (0.0, 0.0), (0.0, 1.0), (0.6, 1.0), (0.6, 0.5), (0.0, 0.5))],
    7: [_line((0.0, 0.16), (0.0, 0.0), (0.6, 0.0), (0.6, 1.0)), _line((0.3, 0.5), (0.9, 0.5))],
    8: [_line((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0), (0.0, 0.0)), _line((0.0, 0.5), (0.6, 0.5))],
    9: [_line((0.6, 0.5), (0.0, 0.5), (0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0))],
}
LEAN = 0.35                       # x += LEAN * (y - 0.5): the tops lean left (a backward slant)
BRUSH = (7.0, 10.0)               # thin pen, in canvas pixels
HEIGHT = (150.0, 230.0)


def _wobble(stroke, rng, amount):
    """A pen's small smooth deviation along a stroke: a low-frequency random offset."""
    n = len(stroke)
    t = np.linspace(0, 1, n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (1, 2))
    return stroke + amount * np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5) + phase)


def style_strokes(label, rng):
    """One drawing of ``label`` in the style: (strokes in canvas pixels, brush width)."""
    angle = np.deg2rad(rng.uniform(-4, 4))
    lean = LEAN + rng.uniform(-0.06, 0.06)
    widen = rng.uniform(0.9, 1.1)
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.array([[c, -s], [s, c]]) @ np.array([[widen, lean], [0, 1]])
    lines = [(_wobble(np.asarray(stroke, float), rng, 0.015) - 0.5) @ matrix.T
             for stroke in STYLE[label]]
    brush = float(rng.uniform(*BRUSH))
    height = float(rng.uniform(*HEIGHT))
    pts = np.vstack(lines)
    lo, hi = pts.min(0), pts.max(0)
    scale = min(height / max(hi[1] - lo[1], 1e-6), (CANVAS - 2 * brush) / max(hi[0] - lo[0], 1e-6))
    extent = (hi - lo) * scale
    corner = np.array([rng.uniform(brush, max(brush, CANVAS - brush - extent[0])),
                       rng.uniform(brush, max(brush, CANVAS - brush - extent[1]))])
    return [(line - lo) * scale + corner for line in lines], brush


def make_style_set(per_class, seed, dataset="mnist"):
    """(pixels (N, 784) float32 in [0, 1] as the Draw page makes them, labels (N,) int64, and
    the canvases' raw RGBA), ``per_class`` drawings of every class in turn."""
    rng = np.random.default_rng(seed)
    options = options_for(dataset)
    pixels, labels, canvases = [], [], []
    for _ in range(per_class):
        for label in range(10):
            strokes, brush = style_strokes(label, rng)
            rgba = render(strokes, brush)
            pixels.append(preprocess_canvas(rgba, options).pixels)
            labels.append(label)
            canvases.append(rgba)
    return np.stack(pixels).astype(np.float32), np.array(labels, np.int64), canvases
