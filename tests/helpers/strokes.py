"""Digits as mouse strokes on the 280 x 280 canvas, and a renderer that draws them like the canvas.

Two sets, both as plain data a browser test can replay with mouse moves:

    stroke_digits(n, seed)   -> [(label, strokes, brush_width), ...]  MNIST test digits, skeletonised
    designed_digits(n, seed) -> [(label, strokes, brush_width), ...]  hand-designed digits 0-9

``strokes`` is a list of (k, 2) float arrays of (x, y) points in canvas pixels (x right, y down);
each array is one press-move-release of the mouse. ``render(strokes, brush_width)`` draws them like
streamlit-drawable-canvas does: white, round caps and joins, anti-aliased, on black, as
(280, 280, 4) uint8 RGBA with alpha 255 everywhere.

Uses Pillow (rendering) and scikit-image (skeletons); never imported by the product.
"""
import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280
SUPERSAMPLE = 4
MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "mnist"


# --------------------------------------------------------------------------- rendering

def render(strokes, brush_width, size=CANVAS):
    """Strokes -> (size, size, 4) uint8 RGBA: white round-capped, round-joined polylines of
    ``brush_width`` pixels on black, drawn at 4x and box-downsampled (anti-aliasing)."""
    s = SUPERSAMPLE
    big = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(big)
    r = brush_width * s / 2
    # Canvas pixel i covers [i, i + 1); Pillow's pixel i is centred on i and its shapes include
    # both ends (a line of width w over x covers w + 1 pixels). Shifting by half a pixel and
    # ending ellipses one pixel early gives exactly the canvas's coverage (checked in Chromium:
    # benchmarks/fidelity/replay.py compares the two images).
    for stroke in strokes:
        pts = [(float(x) * s - 0.5, float(y) * s - 0.5)
               for x, y in np.asarray(stroke, float).reshape(-1, 2)]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=max(1, int(round(brush_width * s))))
        for x, y in pts:                                   # round caps and joins
            draw.ellipse([x - r + 0.5, y - r + 0.5, x + r - 0.5, y + r - 0.5], fill=255)
    gray = np.asarray(big.resize((size, size), Image.BOX))
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    return rgba


# --------------------------------------------------------------------------- MNIST -> strokes

def load_mnist_test(folder=MNIST_DIR):
    """(images (N, 784) uint8, labels (N,) uint8) from the official gz files in ``folder``; with
    ``folder`` None, or without them there (a fresh clone with no ../shared, with a note), the
    2,000 test images of the bundled sample."""
    if folder is None or not (Path(folder) / "t10k-images-idx3-ubyte.gz").exists():
        from core.datasets import read_sample
        if folder is not None:
            print(f"note: no MNIST test set in {folder}; using the bundled sample's test images",
                  file=sys.stderr)
        raw = read_sample("mnist")
        return raw.test_images.reshape(-1, 784), raw.test_labels
    with gzip.open(Path(folder) / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(Path(folder) / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def skeleton_polylines(skeleton):
    """Walk a one-pixel-wide skeleton (2-D bool) into polylines of (row, col) points.

    Nodes are end points and junctions (not exactly two neighbours); each edge is traced from a
    node along two-neighbour pixels to the next node. Loops without nodes (an 'O') are traced
    from any pixel back to itself."""
    pixels = set(zip(*np.nonzero(skeleton)))

    def neighbours(p):
        return [(p[0] + dy, p[1] + dx) for dy, dx in _NEIGHBOURS if (p[0] + dy, p[1] + dx) in pixels]

    degree = {p: len(neighbours(p)) for p in pixels}
    used = set()
    lines = []

    def trace(start, first):
        path = [start, first]
        used.add(frozenset((start, first)))
        prev, cur = start, first
        while degree[cur] == 2 and cur != start:
            nxt = [q for q in neighbours(cur) if q != prev and frozenset((cur, q)) not in used]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            used.add(frozenset((prev, cur)))
            path.append(cur)
        return path

    for p in sorted(pixels):
        if degree[p] != 2:
            if degree[p] == 0:
                lines.append([p])
            for q in neighbours(p):
                if frozenset((p, q)) not in used:
                    lines.append(trace(p, q))
    for p in sorted(pixels):                                  # loops with no node
        for q in neighbours(p):
            if frozenset((p, q)) not in used:
                lines.append(trace(p, q))
    return [np.array(line, float) for line in lines]


def _smooth(line, passes=2):
    if len(line) < 4:
        return line
    for _ in range(passes):
        inner = (line[:-2] + 2 * line[1:-1] + line[2:]) / 4
        line = np.vstack([line[:1], inner, line[-1:]])
    return line


def mnist_strokes(image28):
    """A (784,) uint8 MNIST digit -> polylines of (x, y) points in the unit of one 28-px pixel."""
    from skimage.morphology import skeletonize

    up = 4
    img = Image.fromarray(image28.reshape(28, 28)).resize((28 * up, 28 * up), Image.BILINEAR)
    mask = np.asarray(img) > 100
    lines = []
    for line in skeleton_polylines(skeletonize(mask)):
        line = _smooth(line)[::2] if len(line) > 3 else line
        lines.append((line[:, ::-1] + 0.5) / up)              # (row, col) -> (x, y)
    return lines


def _place(lines, rng, height_range=(120, 250), brush_range=(10, 30)):
    """Scale polylines to a random digit height and put them at a random place on the canvas."""
    pts = np.vstack(lines)
    lo, hi = pts.min(0), pts.max(0)
    size = np.maximum(hi - lo, 1e-6)
    brush = float(rng.uniform(*brush_range))
    height = float(rng.uniform(*height_range))
    scale = height / size[1] if size[1] > 0.2 * size[0] else height / size[0]
    room = CANVAS - brush - 4                                  # the ink must fit on the canvas
    scale = min(scale, room / size[0], room / size[1])
    extent = size * scale
    low = brush / 2 + 2
    high = np.maximum(low, CANVAS - brush / 2 - 2 - extent)          # (x, y)
    corner = np.array([rng.uniform(low, high[0]), rng.uniform(low, high[1])])
    return [(line - lo) * scale + corner for line in lines], brush


def stroke_digits(n, seed=0, folder=MNIST_DIR):
    """The first ``n`` MNIST test digits as strokes: [(label, strokes, brush_width), ...].
    Digit heights 120-250 px, brush widths 10-30 px, random positions (seeded)."""
    images, labels = load_mnist_test(folder)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lines = mnist_strokes(images[i])
        if not lines:
            continue
        strokes, brush = _place(lines, rng)
        out.append((int(labels[i]), strokes, brush))
    return out


# --------------------------------------------------------------------------- designed digits

def _curve(points, per_segment=10):
    """Catmull-Rom spline through ``points`` ((x, y) in the design box)."""
    p = np.asarray(points, float)
    p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(p[-2][None])
    return np.vstack(out)


def _ellipse(cx, cy, rx, ry, start=90, turn=360, n=40):
    a = np.deg2rad(start + np.linspace(0, turn, n))
    return np.stack([cx + rx * np.cos(a), cy - ry * np.sin(a)], 1)


def _line(*points):
    return np.asarray(points, float)


# Each digit: named variants, each a list of strokes in a box about 0.6 wide and 1 tall (y down).
DESIGNS = {
    0: {"oval": [_ellipse(0.3, 0.5, 0.28, 0.48, 100, 370)],
        "round": [_ellipse(0.32, 0.5, 0.32, 0.46, 80, -365)]},
    1: {"bar": [_line((0.3, 0.0), (0.3, 1.0))],
        "flag": [_line((0.12, 0.22), (0.32, 0.0), (0.32, 1.0))],
        "flag and base": [_line((0.12, 0.22), (0.32, 0.0), (0.32, 1.0)), _line((0.1, 1.0), (0.54, 1.0))],
        "slanted": [_line((0.45, 0.0), (0.2, 1.0))]},
    2: {"curved": [np.vstack([_curve([(0.04, 0.22), (0.3, 0.0), (0.56, 0.18), (0.48, 0.45)]),
                              _line((0.48, 0.45), (0.02, 1.0), (0.6, 1.0))])],
        "swan": [_curve([(0.05, 0.2), (0.3, 0.0), (0.55, 0.2), (0.45, 0.5), (0.1, 0.9), (0.02, 1.0),
                         (0.3, 0.95), (0.62, 1.0)])],
        "loop": [_curve([(0.04, 0.2), (0.3, 0.0), (0.56, 0.2), (0.4, 0.55), (0.08, 0.95), (0.14, 0.82),
                         (0.24, 0.98), (0.62, 0.98)])]},
    3: {"round": [_curve([(0.05, 0.1), (0.3, 0.0), (0.53, 0.12), (0.5, 0.32), (0.24, 0.47),
                          (0.55, 0.62), (0.55, 0.86), (0.3, 1.0), (0.02, 0.9)])],
        "flat top": [_line((0.04, 0.0), (0.56, 0.0), (0.26, 0.42)),
                     _curve([(0.26, 0.42), (0.52, 0.55), (0.56, 0.82), (0.3, 1.0), (0.02, 0.9)])]},
    4: {"closed": [_line((0.46, 1.0), (0.46, 0.0), (0.0, 0.66), (0.62, 0.66))],
        "open": [_line((0.08, 0.0), (0.04, 0.6), (0.62, 0.6)), _line((0.48, 0.1), (0.48, 1.0))],
        "open two strokes": [_line((0.3, 0.0), (0.0, 0.62), (0.6, 0.62)), _line((0.44, 0.3), (0.44, 1.0))]},
    5: {"one stroke": [np.vstack([_line((0.56, 0.0), (0.12, 0.0), (0.08, 0.45)),
                                  _curve([(0.08, 0.45), (0.35, 0.38), (0.56, 0.56), (0.54, 0.86),
                                          (0.3, 1.0), (0.02, 0.9)])])],
        "two strokes": [_curve([(0.1, 0.0), (0.08, 0.45), (0.35, 0.38), (0.56, 0.56), (0.54, 0.86),
                                (0.3, 1.0), (0.02, 0.9)]), _line((0.1, 0.0), (0.58, 0.0))]},
    6: {"loop": [_curve([(0.5, 0.0), (0.25, 0.15), (0.08, 0.5), (0.12, 0.86), (0.32, 1.0),
                         (0.52, 0.86), (0.52, 0.64), (0.3, 0.53), (0.1, 0.66)])],
        "straight back": [_curve([(0.45, 0.0), (0.1, 0.55), (0.12, 0.88), (0.32, 1.0), (0.54, 0.85),
                                  (0.5, 0.62), (0.3, 0.55), (0.12, 0.7)])]},
    7: {"plain": [_line((0.0, 0.0), (0.6, 0.0), (0.2, 1.0))],
        "bar": [_line((0.0, 0.0), (0.6, 0.0), (0.2, 1.0)), _line((0.14, 0.52), (0.52, 0.52))],
        "hook": [_line((0.02, 0.14), (0.0, 0.0), (0.6, 0.0), (0.28, 1.0))]},
    8: {"figure": [_curve([(0.5, 0.1), (0.3, 0.0), (0.08, 0.12), (0.15, 0.36), (0.45, 0.6),
                           (0.55, 0.84), (0.3, 1.0), (0.05, 0.84), (0.15, 0.6), (0.45, 0.36),
                           (0.52, 0.15), (0.5, 0.1)])],
        "two rings": [_ellipse(0.3, 0.24, 0.2, 0.23, 270, 360), _ellipse(0.3, 0.73, 0.27, 0.26, 90, 360)]},
    9: {"straight tail": [_ellipse(0.3, 0.27, 0.26, 0.26, 0, 360), _line((0.56, 0.27), (0.52, 1.0))],
        "curved tail": [np.vstack([_ellipse(0.3, 0.27, 0.26, 0.26, 0, 360),
                                   _curve([(0.56, 0.27), (0.56, 0.7), (0.38, 1.0), (0.1, 0.92)])])],
        "one stroke": [np.vstack([_ellipse(0.3, 0.27, 0.26, 0.26, -5, 355),
                                  _line((0.56, 0.25), (0.5, 1.0))])]},
}


def designed_digits(n, seed=0):
    """``n`` hand-designed digits, labels cycling 0-9, a random style variant each, with random
    rotation (+-12 deg), shear (+-0.25), width (0.8-1.25x), height (120-250 px), position and brush
    width (10-30 px): [(label, strokes, brush_width), ...]."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % 10
        variants = DESIGNS[label]
        name = sorted(variants)[rng.integers(len(variants))]
        angle = np.deg2rad(rng.uniform(-12, 12))
        shear = rng.uniform(-0.25, 0.25)
        widen = rng.uniform(0.8, 1.25)
        c, s = np.cos(angle), np.sin(angle)
        matrix = np.array([[c, -s], [s, c]]) @ np.array([[widen, shear], [0, 1]])
        lines = [(np.asarray(stroke) - 0.5) @ matrix.T for stroke in variants[name]]
        strokes, brush = _place(lines, rng)
        out.append((label, strokes, brush))
    return out
