"""Handwriting styles for teaching benchmarks and tests: one person's consistent way of drawing
digits, as mouse strokes on the Draw page's 280 x 280 canvas, preprocessed as Draw does.

    X, y = make_style_set("curly", per_class=10, seed=0)     # (100, 784) float32 in [0, 1], (100,)
    canvases = style_canvases("curly", per_class=1, seed=0)  # [(label, (280, 280, 4) uint8), ...]

A style is a set of glyphs (the shapes of 0-9 as strokes in a box 1 wide and 1 tall, y down) and
a hand (how those shapes are put on the canvas: width, lean, rotation, size, place, brush), each
with the small variation of one hand writing the same digit again. STYLES names them:

    seven-segment   angular boxy digits, slashed 0, crossed 7, backward lean, thin pen (issue 13)
    thick-small     round digits, very small and drawn with a very thick brush (blobby loops)
    slant-narrow    round digits, narrow, leaning well forward
    curly           loops and serifs: flagged 1 with a base, looped 2, flat-topped 3, open 4, ...
    rotated         round digits turned 35 degrees clockwise, drawn small in a corner
    mnist-*         real digits (skeletons of MNIST test digits, benchmarks/styles.py) in one hand:
                    thick-small; rotated (30 degrees anticlockwise, small, in a corner);
                    slant-narrow (VALIDATION ONLY: narrow, leaning forward, very thick brush)
    backhand-wide   VALIDATION ONLY: a mix of curly and round glyphs, wide, leaning back, thick
                    pen.
The VALIDATION styles were not used while the teaching method was chosen (issue 25).

Plain NumPy (the canvas renderer included), so that tests, benchmarks and the app can all use it.
"""
from dataclasses import dataclass

import numpy as np

CANVAS = 280
ARC_POINTS_PER_TURN = 48


# --------------------------------------------------------------------------- stroke shapes

def line(*points):
    """A polyline through ``points`` ((x, y) in the unit box)."""
    return np.asarray(points, float)


def arc(cx, cy, rx, ry, start, stop):
    """An elliptical arc from angle ``start`` to ``stop`` in degrees (0 = right, 90 = down)."""
    n = max(4, int(abs(stop - start) / 360 * ARC_POINTS_PER_TURN) + 1)
    t = np.deg2rad(np.linspace(start, stop, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def join(*parts):
    """One stroke made of several pieces drawn without lifting the pen."""
    return np.concatenate([np.asarray(p, float) for p in parts])


# Round digits, roughly as MNIST's writers drew them.
ROUND = {
    0: [arc(0.5, 0.5, 0.36, 0.5, -80, 290)],
    1: [line((0.55, 0.0), (0.45, 1.0))],
    2: [join(arc(0.5, 0.28, 0.34, 0.28, 190, 380), line((0.8, 0.45), (0.12, 1.0), (0.9, 1.0)))],
    3: [join(arc(0.48, 0.26, 0.3, 0.26, 200, 450), arc(0.48, 0.74, 0.34, 0.26, 270, 510))],
    4: [line((0.6, 0.0), (0.08, 0.66), (0.95, 0.66)), line((0.68, 0.3), (0.68, 1.0))],
    5: [join(line((0.85, 0.0), (0.25, 0.0), (0.18, 0.45)), arc(0.5, 0.7, 0.36, 0.3, 220, 500))],
    6: [join(line((0.78, 0.0), (0.35, 0.3)), arc(0.5, 0.72, 0.34, 0.28, 200, 560))],
    7: [line((0.05, 0.0), (0.95, 0.0), (0.4, 1.0))],
    8: [join(arc(0.5, 0.25, 0.27, 0.25, 90, -270), arc(0.5, 0.73, 0.33, 0.27, -90, 270))],
    9: [join(arc(0.48, 0.3, 0.32, 0.3, 0, -360)), line((0.8, 0.3), (0.7, 1.0))],
}

# Loops and serifs.
CURLY = {
    0: [join(arc(0.5, 0.5, 0.36, 0.5, -60, 300), line((0.72, 0.05), (0.85, -0.05)))],
    1: [line((0.2, 0.25), (0.55, 0.0), (0.55, 1.0)), line((0.25, 1.0), (0.85, 1.0))],
    2: [join(arc(0.5, 0.28, 0.34, 0.28, 190, 380), line((0.8, 0.45), (0.2, 0.92)),
             arc(0.25, 0.86, 0.12, 0.1, 120, 440), line((0.25, 0.96), (0.95, 1.0)))],
    3: [join(line((0.1, 0.0), (0.85, 0.0), (0.4, 0.4)), arc(0.48, 0.7, 0.36, 0.3, 270, 500))],
    4: [line((0.3, 0.0), (0.1, 0.62), (0.95, 0.62)), line((0.7, 0.2), (0.7, 1.0)),
        line((0.5, 1.0), (0.9, 1.0))],
    5: [join(line((0.95, 0.08), (0.85, 0.0), (0.25, 0.0), (0.18, 0.45)),
             arc(0.5, 0.7, 0.36, 0.3, 220, 500))],
    6: [join(arc(0.72, 0.12, 0.1, 0.1, 0, -270), line((0.62, 0.12), (0.2, 0.55)),
             arc(0.5, 0.72, 0.32, 0.28, 200, 560))],
    7: [line((0.05, 0.18), (0.05, 0.0), (0.95, 0.0), (0.35, 1.0)), line((0.3, 0.5), (0.85, 0.5))],
    8: [join(arc(0.5, 0.25, 0.27, 0.25, 90, -270), arc(0.5, 0.73, 0.33, 0.27, -90, 270),
             line((0.5, 0.5), (0.75, 0.05)))],
    9: [join(arc(0.48, 0.3, 0.32, 0.3, 0, -360)), line((0.8, 0.3), (0.72, 0.95)),
        arc(0.52, 0.9, 0.2, 0.12, 0, 180)],
}

# Angular, "seven-segment" shapes with sharp corners (the style of issue 13), in a box 0.6 wide.
SEVEN_SEGMENT = {
    0: [line((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0), (0.0, 0.0)),
        line((0.7, -0.08), (-0.1, 1.08))],
    1: [line((0.04, 0.3), (0.32, 0.0), (0.32, 1.0)), line((0.06, 1.0), (0.58, 1.0))],
    2: [line((0.0, 0.0), (0.6, 0.0), (0.6, 0.5), (0.0, 0.5), (0.0, 1.0), (0.6, 1.0))],
    3: [line((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0)), line((0.1, 0.5), (0.6, 0.5))],
    4: [line((0.0, 0.0), (0.0, 0.5), (0.6, 0.5)), line((0.6, 0.0), (0.6, 1.0))],
    5: [line((0.6, 0.0), (0.0, 0.0), (0.0, 0.5), (0.6, 0.5), (0.6, 1.0), (0.0, 1.0))],
    6: [line((0.6, 0.0), (0.0, 0.0), (0.0, 1.0), (0.6, 1.0), (0.6, 0.5), (0.0, 0.5))],
    7: [line((0.0, 0.16), (0.0, 0.0), (0.6, 0.0), (0.6, 1.0)), line((0.3, 0.5), (0.9, 0.5))],
    8: [line((0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0), (0.0, 0.0)),
        line((0.0, 0.5), (0.6, 0.5))],
    9: [line((0.6, 0.5), (0.0, 0.5), (0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0))],
}

# The validation style's glyphs: curly ones for some digits, round ones for the rest.
MIXED = {k: (CURLY if k in (1, 4, 7, 9) else ROUND)[k] for k in range(10)}


@dataclass(frozen=True)
class Hand:
    """How one person puts glyphs on the canvas. Ranges are (low, high), drawn per drawing."""
    glyphs: dict                        # label -> strokes; None: the caller gives each glyph
    width: float = 0.7                  # glyph width relative to its height
    lean: float = 0.0                   # x += lean * (0.5 - y): positive tops lean right
    rotate: float = 0.0                 # degrees, clockwise on screen
    height: tuple = (160.0, 230.0)      # canvas pixels
    brush: tuple = (12.0, 16.0)         # canvas pixels
    place: str = "anywhere"             # or "corner": drawn in the top-left quarter
    jitter_degrees: float = 7.0
    jitter_lean: float = 0.12
    jitter_width: float = 0.15
    wobble: float = 0.03                # the pen's small smooth deviation along a stroke
    bend: float = 0.06                  # a smooth warp of the whole glyph (box units)


REAL_DIGITS = dict(jitter_degrees=3.0, jitter_lean=0.05, jitter_width=0.05, wobble=0.0, bend=0.0)
STYLES = {
    "seven-segment": Hand(SEVEN_SEGMENT, width=1.0, lean=-0.35, height=(150.0, 230.0),
                          brush=(7.0, 10.0)),
    "thick-small": Hand(ROUND, width=0.7, height=(50.0, 80.0), brush=(24.0, 32.0)),
    "slant-narrow": Hand(ROUND, width=0.35, lean=0.6, height=(170.0, 240.0), brush=(16.0, 22.0)),
    "curly": Hand(CURLY, width=0.65, height=(160.0, 230.0), brush=(8.0, 12.0)),
    "rotated": Hand(ROUND, width=0.75, rotate=35.0, height=(90.0, 130.0), brush=(10.0, 14.0),
                    place="corner"),
    # For skeletons of real digits (benchmarks/styles.py): width scales their own proportions,
    # and they vary enough as they are (no warp, little jitter).
    "mnist-thick-small": Hand(None, width=1.0, height=(55.0, 85.0), brush=(16.0, 22.0),
                              **REAL_DIGITS),
    "mnist-rotated": Hand(None, width=1.0, rotate=-30.0, height=(90.0, 130.0), brush=(10.0, 14.0),
                          place="corner", **REAL_DIGITS),
    "mnist-slant-narrow": Hand(None, width=0.5, lean=0.5, height=(170.0, 240.0),
                               brush=(22.0, 30.0), **REAL_DIGITS),
    "backhand-wide": Hand(MIXED, width=1.05, lean=-0.3, height=(140.0, 200.0), brush=(20.0, 26.0)),
}
DEVELOPED = ("seven-segment", "thick-small", "slant-narrow", "curly", "rotated",
             "mnist-thick-small", "mnist-rotated")
VALIDATION = ("backhand-wide", "mnist-slant-narrow")
SKELETON_STYLES = tuple(name for name, hand in STYLES.items() if hand.glyphs is None)


def _wobble(stroke, rng, amount):
    """A pen's small smooth deviation along a stroke: a low-frequency random offset."""
    t = np.linspace(0, 1, len(stroke))[:, None]
    phase = rng.uniform(0, 2 * np.pi, (1, 2))
    return stroke + amount * np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5) + phase)


def _bend(rng, amount):
    """A smooth random warp of the unit box, (k, 2) -> (k, 2): each coordinate moves by a
    low-frequency wave of the other, so no two drawings of a digit have the same proportions."""
    k = rng.uniform(1.0, 2.0, 2) * np.pi
    phase = rng.uniform(0, 2 * np.pi, 2)
    size = rng.uniform(-amount, amount, 2)

    def warp(points):
        x, y = points[:, 0], points[:, 1]
        return np.stack([x + size[0] * np.sin(k[0] * y + phase[0]),
                         y + size[1] * np.sin(k[1] * x + phase[1])], axis=1)
    return warp


def style_strokes(hand, label, rng, glyph=None):
    """One drawing of ``label`` by ``hand``: (strokes in canvas pixels (k, 2) each, brush).
    ``glyph``: the strokes to draw (in a box about 1 tall, y down) instead of the hand's own
    glyph for ``label`` (e.g. a real digit's skeleton, so each drawing is shaped differently)."""
    angle = np.deg2rad(hand.rotate + rng.uniform(-1, 1) * hand.jitter_degrees)
    lean = hand.lean + rng.uniform(-1, 1) * hand.jitter_lean
    width = hand.width * (1 + rng.uniform(-1, 1) * hand.jitter_width)
    c, s = np.cos(angle), np.sin(angle)
    # y is down, so this turns clockwise on screen; the lean shears x by the height above middle
    matrix = np.array([[c, -s], [s, c]]) @ np.array([[width, -lean], [0.0, 1.0]])
    bend = _bend(rng, hand.bend)
    lines = [(bend(_wobble(stroke, rng, hand.wobble)) - 0.5) @ matrix.T
             for stroke in (hand.glyphs[label] if glyph is None else glyph)]
    brush = float(rng.uniform(*hand.brush))
    height = float(rng.uniform(*hand.height))
    points = np.vstack(lines)
    lo, hi = points.min(0), points.max(0)
    room = CANVAS - 2 * brush
    scale = min(height / max(hi[1] - lo[1], 1e-6), room / max(hi[0] - lo[0], 1e-6))
    extent = (hi - lo) * scale
    area = CANVAS / 2 if hand.place == "corner" else CANVAS
    corner = np.array([rng.uniform(brush, max(brush, area - brush - extent[0])),
                       rng.uniform(brush, max(brush, area - brush - extent[1]))])
    return [(stroke - lo) * scale + corner for stroke in lines], brush


def render(strokes, brush, size=CANVAS):
    """Strokes -> (size, size, 4) uint8 RGBA like the canvas: white, round caps and joins,
    anti-aliased (coverage from the distance to the pen's path), on black, alpha 255."""
    ink = np.zeros((size, size), np.float32)
    radius = brush / 2
    for stroke in strokes:
        points = np.asarray(stroke, float).reshape(-1, 2)
        segments = zip(points[:-1], points[1:]) if len(points) > 1 else [(points[0], points[0])]
        for a, b in segments:
            x0, y0 = np.floor(np.minimum(a, b) - radius - 1).astype(int).clip(0, size)
            x1, y1 = np.ceil(np.maximum(a, b) + radius + 1).astype(int).clip(0, size)
            if x0 >= x1 or y0 >= y1:
                continue
            px = np.arange(x0, x1) + 0.5                      # pixel centres
            py = (np.arange(y0, y1) + 0.5)[:, None]
            d = b - a
            length2 = float(d @ d)
            t = 0.0 if length2 == 0 else np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1])
                                                 / length2, 0, 1)
            distance = np.hypot(px - (a[0] + t * d[0]), py - (a[1] + t * d[1]))
            cover = np.clip(radius + 0.5 - distance, 0, 1)
            np.maximum(ink[y0:y1, x0:x1], cover, out=ink[y0:y1, x0:x1])
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = (ink * 255 + 0.5).astype(np.uint8)[..., None]
    rgba[..., 3] = 255
    return rgba


def style_canvases(name, per_class, seed, glyphs=None):
    """[(label, canvas (280, 280, 4) uint8), ...]: ``per_class`` drawings of every class in
    turn (0, 1, ..., 9, 0, 1, ...) in style ``name``, from a Generator seeded with ``seed``.
    ``glyphs`` (for a skeleton style): {label: [strokes of one drawing, ...]}, at least
    ``per_class`` drawings per label, used in order."""
    hand = STYLES[name]
    if hand.glyphs is None and glyphs is None:
        raise ValueError(f"{name} draws real digits' skeletons: pass glyphs (benchmarks/styles.py)")
    rng = np.random.default_rng(seed)
    return [(label, render(*style_strokes(hand, label, rng,
                                          None if glyphs is None else glyphs[label][i])))
            for i in range(per_class) for label in range(10)]


def make_style_set(name, per_class, seed, dataset="mnist", glyphs=None):
    """(pixels (N, 784) float32 in [0, 1] as the Draw page makes them, labels (N,) int64)."""
    from core.drawing import options_for, preprocess_canvas
    options = options_for(dataset)
    pairs = style_canvases(name, per_class, seed, glyphs)
    pixels = np.stack([preprocess_canvas(canvas, options).pixels for _, canvas in pairs])
    return pixels.astype(np.float32), np.array([label for label, _ in pairs], np.int64)
