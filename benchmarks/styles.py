"""The handwriting styles of tests/helpers/styles.py as teaching sets, including the styles that
draw real digits: skeletons of MNIST test digits (tests/helpers/strokes.py, which needs
Pillow and scikit-image) redrawn by one hand.

    taught, held_out = style_sets("curly", taught_per_class=10, held_out_per_class=70, seed=0)
    X, y = taught                                   # (100, 784) float32 in [0, 1], (100,) int64
"""
import numpy as np

from tests.helpers.styles import STYLES, make_style_set

# Real digits used per class: the taught ones first, then the held-out ones (never the same).
_skeletons = {}


def mnist_glyphs(count, seed):
    """{label: [strokes, ...]}: ``count`` MNIST test digits of each label as skeleton strokes in
    a box 1 tall (y down), picked in a seeded random order."""
    key = (count, seed)
    if key not in _skeletons:
        from tests.helpers.strokes import load_mnist_test, mnist_strokes
        images, labels = load_mnist_test()
        order = np.random.default_rng(seed).permutation(len(labels))
        glyphs = {k: [] for k in range(10)}
        for i in order:
            k = int(labels[i])
            if len(glyphs[k]) >= count:
                continue
            lines = mnist_strokes(images[i])
            if lines:
                top, bottom = min(l[:, 1].min() for l in lines), max(l[:, 1].max() for l in lines)
                glyphs[k].append([(l - [0, top]) / max(bottom - top, 1.0) for l in lines])
            if all(len(g) >= count for g in glyphs.values()):
                break
        _skeletons[key] = glyphs
    return _skeletons[key]


def style_sets(name, taught_per_class, held_out_per_class, seed):
    """((X, y) taught, (X, y) held out) of style ``name``: different drawings (other random draws
    of the hand; for skeleton styles, other real digits too)."""
    if STYLES[name].glyphs is not None:
        return (make_style_set(name, taught_per_class, seed),
                make_style_set(name, held_out_per_class, seed + 1000))
    glyphs = mnist_glyphs(taught_per_class + held_out_per_class, seed)
    taught = {k: g[:taught_per_class] for k, g in glyphs.items()}
    held = {k: g[taught_per_class:] for k, g in glyphs.items()}
    return (make_style_set(name, taught_per_class, seed, glyphs=taught),
            make_style_set(name, held_out_per_class, seed + 1000, glyphs=held))
