"""The app's colours: one meaning, one colour, on every page and in every picture.

Charts take the hex strings (``COLORS``); pictures made with NumPy take the same colours as RGB
tuples (``rgb``). The Train page's curves and Inspect's are the same; the guess is the same red on
Draw, Train and Inspect; right is one green and wrong one red everywhere; a weight or a push is
red when positive and blue when negative, in pictures and in diagrams alike.
"""

COLORS = {
    "training": "#4c78a8",       # training curves
    "validation": "#f58518",     # validation curves (the theme's primary colour)
    "guess": "#e4572e",          # the network's guess; the overall-accuracy rule
    "other": "#9aa5b1",          # the other classes' probabilities
    "bars": "#4c78a8",           # plain bars (per-class accuracy)
    "correct": "#cfe8d5",        # the confusion matrix's diagonal
    "mistake_few": "#fdd9b5",    # confusion cells, from a few mistakes...
    "mistake_many": "#a63603",   # ...to many
    "right": "#2ca02c",          # a right guess; a healthy level
    "wrong": "#d62728",          # a wrong guess
    "positive": "#b2182b",       # a positive weight, a push up
    "negative": "#2166ac",       # a negative weight, a push down
    "drawings": "#6a3d9a",       # the visitor's own drawings
}

SIGNS = {"+": COLORS["positive"], "-": COLORS["negative"]}     # pushes up / down


def rgb(name):
    """``COLORS[name]`` as an (r, g, b) tuple of 0-255 ints, for pictures made with NumPy."""
    code = COLORS[name].lstrip("#")
    return tuple(int(code[i:i + 2], 16) for i in (0, 2, 4))


RIGHT, WRONG = rgb("right"), rgb("wrong")
POSITIVE, NEGATIVE = rgb("positive"), rgb("negative")
