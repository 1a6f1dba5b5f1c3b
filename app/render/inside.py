"""The inside of a network while it learns: what its units look for, which guesses flip, how its
hidden space sorts the classes, and whether its layers are healthy. For the Train page's live view
(and its replay slider); the pictures and rows here are plain arrays and dicts, testable without
a running app.

    weight_grid(W, count)                    first-layer weights as one red/blue picture grid
    guess_panel(images, labels, predicted, names)   fixed validation images, guess under each
    panel_indices(labels, per_class)         which validation images the panel shows (fixed)
    hidden_points(model, X, previous)        2-D PCA map of the last hidden layer (core.pca); of a
                                             conv net, its last dense layer
    health_rows(history, names)              per-layer health of every record, for the charts
    HEALTH                                   what each health figure means, and what healthy is
"""
import math
from dataclasses import dataclass

import numpy as np

from app.render.conv_inside import hidden_layer
from app.render.images import weight_images
from app.render.palette import RIGHT, WRONG
from core.pca import fit_pca

UNITS_SHOWN = 36                   # weight pictures: as many as fit a 6 x 6 grid
PANEL_PER_CLASS = 2                # guesses panel: 2 validation images of each class = 20
MAP_POINTS = 600                   # hidden-space map: validation images projected (each point
                                   # is a row sent to the browser at every refresh)
CONV_MAP_POINTS = 300              # a conv net's: each image goes through every conv layer (600
                                   # took most of a refresh: benchmarks/live_views_conv.py)


def weight_grid(W, count=UNITS_SHOWN, columns=6, scale=2):
    """The incoming weights of the first ``count`` units of W (784, H) as one RGB uint8 picture:
    a grid of 28x28 tiles, red where ink pushes the unit up, blue where it pushes it down (each
    tile on its own colour scale, as on Inspect)."""
    tiles = weight_images(W, 0, count, scale=scale)
    if not tiles:
        return np.full((8, 8, 3), 255, np.uint8)
    columns = min(columns, len(tiles))
    blank = np.full_like(tiles[0], 255)
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    rows[-1] = rows[-1] + [blank] * (columns - len(rows[-1]))
    return np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)


def panel_indices(labels, images=None, per_class=PANEL_PER_CLASS):
    """``per_class`` images of each class in ``labels``, class by class: the same images for the
    whole run, so each guess can be seen to change. With ``images`` (N, 784), the ones a little
    unusual for their class (about 80% of the class lies closer to its mean image): typical
    images are right after a few steps and then never flip again, the most unusual are often
    mislabelled. Without, the first of each class."""
    labels = np.asarray(labels)
    picks = []
    for k in range(int(labels.max(initial=-1)) + 1):
        members = np.flatnonzero(labels == k)
        if images is not None and members.size > per_class:
            X = np.asarray(images[members], np.float32)                       # (n_k, 784)
            distance = np.linalg.norm(X - X.mean(axis=0), axis=1)             # (n_k,)
            order = members[np.argsort(distance, kind="stable")]
            start = min(int(0.8 * members.size), members.size - per_class)
            picks.append(np.sort(order[start:start + per_class]))
        else:
            picks.append(members[:per_class])
    return np.concatenate(picks).astype(int) if picks else np.zeros(0, int)


def guess_panel(images, labels, predicted, names, columns=10, scale=3):
    """One RGB picture: each image (28x28 floats in [0, 1]) in a green frame when ``predicted``
    matches its label, red when not, with the guess written under it."""
    from PIL import Image, ImageDraw, ImageFont
    side, frame, caption = 28 * scale, 3, 30
    cell_w, cell_h = side + 2 * frame + 6, side + 2 * frame + caption
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    canvas = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=22)
    for i, (image, label, guess) in enumerate(zip(images, labels, predicted)):
        x, y = (i % columns) * cell_w + 3, (i // columns) * cell_h
        colour = RIGHT if int(guess) == int(label) else WRONG
        draw.rectangle([x, y, x + side + 2 * frame - 1, y + side + 2 * frame - 1], fill=colour)
        grey = (np.clip(np.asarray(image, np.float32).reshape(28, 28), 0, 1) * 255).astype(np.uint8)
        tile = Image.fromarray(grey).resize((side, side), Image.NEAREST)
        canvas.paste(tile, (x + frame, y + frame))
        text = str(names[int(guess)])
        text = text if len(text) <= 7 else text[:6] + "…"
        draw.text((x + side / 2 + frame, y + side + 2 * frame + 2), text, fill=colour, font=font,
                  anchor="ma")
    return np.asarray(canvas)


@dataclass(frozen=True)
class HiddenMap:
    coordinates: np.ndarray       # (N, 2)
    projection: object            # core.pca.Projection, to keep the next map's orientation
    layer: str                    # what was projected, in words


def hidden_points(model, X, previous=None, drawing=None):
    """The last hidden layer's activations for X (N, 784), projected on their first two principal
    components; with no hidden layer, the output scores. ``previous``: the last HiddenMap of the
    same run, so the axes keep their orientation. ``drawing``: one more row (784,) to place on the
    map with the same projection; returns (HiddenMap, drawing's (2,) or None)."""
    hidden = model.hidden_activations(X)
    conv = model.config.is_convolutional
    if conv:
        values, layer = hidden_layer(hidden)                # the last dense layer
    elif hidden:
        values, layer = hidden[-1], f"hidden layer {len(hidden)}"
    else:
        values, layer = model.forward(X), "the output scores (this network has no hidden layer)"
    values = np.asarray(values, np.float64)                              # (N, H)
    same_width = previous is not None and previous.projection.mean.shape[0] == values.shape[1]
    projection = fit_pca(values, 2, previous.projection if same_width else None)
    star = None
    if drawing is not None:
        row = np.asarray(drawing, np.float32).reshape(1, -1)
        extra = model.hidden_activations(row)
        extra = (hidden_layer(extra)[0] if conv else extra[-1] if extra
                 else model.forward(row))
        star = projection.transform(np.asarray(extra, np.float64))[0]
    return HiddenMap(projection.transform(values), projection, layer), star


HEALTH = {
    "dead_share": ("Dead units", "Share of units that never fire on 256 fixed images.",
                   "Healthy: near 0%. A dead ReLU unit outputs 0 for every image and no longer "
                   "learns; sigmoid/tanh units count as dead when saturated (stuck at their "
                   "limits). Many dead units: the learning rate is too high or the start was bad."),
    "update_ratio": ("Update / weight size", "How much one step changes each layer's weights; "
                     "the dashed line is 0.001, a healthy size.",
                     "Healthy: around 0.001 (0.1% per step). Far below 1e-4: learning crawls; "
                     "above 1e-2: steps are so big that the weights are being thrown around."),
    "grad_norm": ("Gradient size", "Length of the gradient of each layer's weights.",
                  "It shrinks as the loss flattens. A gradient that grows step after step "
                  "announces divergence; one near 0 from the start means the layer is stuck."),
}


def health_rows(history, names=None):
    """Long-format rows {epoch, step, layer, metric, value} from records with "layers" stats;
    non-finite values (the output layer's dead share, a first record's gradient) are left out.
    ``names``: each weight layer's name (app.render.conv_inside.layer_names); "layer 1", ... by
    default."""
    rows = []
    for record in history:
        for stats in record.get("layers") or ():
            i = stats["layer"]
            name = names[i] if names is not None and i < len(names) else f"layer {i + 1}"
            for metric in HEALTH:
                value = stats.get(metric)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    rows.append({"epoch": float(record["epoch"]), "step": int(record["step"]),
                                 "layer": name, "metric": metric, "value": float(value)})
    return rows


def health_verdict(metric, value):
    """One line on what the current ``value`` of a health figure means."""
    if value is None or not math.isfinite(value):
        return "No value yet."
    if metric == "dead_share":
        if value < 0.05:
            return f"{value:.0%} dead: healthy."
        if value < 0.3:
            return f"{value:.0%} dead: some units have stopped learning."
        return f"{value:.0%} dead: many units have stopped learning; try a smaller learning rate."
    if metric == "update_ratio":
        if value < 1e-4:
            return f"{value:.1e}: tiny steps, learning is slow (or finishing, with a schedule)."
        if value <= 1e-2:
            return f"{value:.1e}: steps of a healthy size."
        return f"{value:.1e}: very big steps; the loss may jump around or explode."
    return f"{value:.3g} now."
