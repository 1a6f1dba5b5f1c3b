"""Why did it say that? The data and pictures of the "why" views, with no st.* calls (testable
without an app): the network diagram that lights up as you draw, a unit's arithmetic, saliency
overlays, and the pictures of a counterfactual or a nudge. The Vega-Lite specs are in app.render.network_charts
(network_spec, pushes_spec, path_spec); the gradients in core.explain.

    network_diagram(model, pixels, scaling, names, selected) -> Diagram
        rows for app.render.network_charts.network_spec: the input as a small heat map, each hidden layer as a
        column of circles (at most MAX_UNITS_SHOWN, the most active for this input), the outputs
        with their probabilities, the strongest contributions (weight x activation) as edges
    unit_details(model, tr, key, names, scaling) -> UnitDetails      a unit's weighted input
    arithmetic_markdown(details) -> str                               ... written out as a table
    attribution_picture(pixels, attribution) -> RGB uint8             red/blue over the drawing
    change_picture(change, limit) / grey_picture(pixels)              RGB uint8, enlarged

A unit is named by a key "c:u": column c (1..L the hidden layers, L+1 the outputs), unit u.
"""
import math
from dataclasses import dataclass

import numpy as np

from app.render.images import border, diverging_rgb, scale_up
from app.render.palette import NEGATIVE, POSITIVE, rgb
from core.explain import output_sensitivity, probabilities, trace, unit_input_gradient

MAX_UNITS_SHOWN = 32          # circles per layer: beyond this, the most active for this input
EDGES_PER_UNIT = 4            # the strongest incoming contributions drawn into each unit
PIXEL_EDGES_PER_UNIT = 3      # ... from the input heat map (pixels) into each unit
TERMS_SHOWN = 8               # a unit's weighted input: the largest contributions written out
INK = 0.02                    # heat-map pixels fainter than this are left to the black square

# The diagram's geometry, in pixels of the chart (x and y scales map one to one).
CELL = 6                      # one input pixel
TOP = 40                      # room for the column titles
UNIT_SPAN = 32 * 13           # the height the circles of a full column spread over
HEIGHT = TOP + UNIT_SPAN + 16
INPUT_LEFT = 4
LABEL_ROOM = 120              # right of the output circles: "7 · 93%", "Ankle boot · 93%"
MAX_WIDTH = 880                # the Draw page's expander is about 900 px wide


def as_table(rows):
    """``rows`` (dicts, not all with the same keys: a missing key is null) as a pyarrow Table,
    for a spec's data.values. Streamlit sends a Table as it is, where it would first turn the
    diagram's ~500 dicts into a DataFrame: 2.4 ms per stroke, against 0.7 ms for this (measured)."""
    import pyarrow as pa
    return pa.Table.from_struct_array(pa.array(rows))


def unit_key(column, unit):
    return f"{int(column)}:{int(unit)}"


def parse_key(key, layer_sizes):
    """(column, unit) for a key "c:u" that exists in a network of ``layer_sizes`` (input,
    hidden..., output), else None."""
    try:
        column, unit = (int(part) for part in str(key).split(":"))
    except (TypeError, ValueError):
        return None
    if 1 <= column < len(layer_sizes) and 0 <= unit < layer_sizes[column]:
        return column, unit
    return None


def _hex(rgb):
    return "#{:02x}{:02x}{:02x}".format(*(int(round(c)) for c in rgb))


def _diverging(t):
    """t in [-1, 1] -> a colour from blue through white to red."""
    return _hex(diverging_rgb(float(t), 1.0))


def _heat(t):
    """t in [0, 1] -> white to the guess's red (an output's probability)."""
    t = max(0.0, min(1.0, float(t)))
    return _hex([255 + t * (c - 255) for c in rgb("guess")])


@dataclass(frozen=True)
class Diagram:
    rows: list               # the chart's rows (dicts with a "kind"), see app.render.network_charts.network_spec
    columns: list            # per column after the input: {"title", "size", "shown", "note"}
    width: int
    height: int
    units: dict              # key -> label, every unit drawn, in column order (for a selectbox)
    default: str             # the key to show first: layer 1's most active unit (or the guess)
    probabilities: np.ndarray
    guess: int

    @property
    def note(self):
        """A sentence naming the layers that show only their most active units, or ""."""
        cut = [c for c in self.columns if c["shown"] < c["size"]]
        if not cut:
            return ""
        parts = [f"{c['title'].lower()}: the {c['shown']} most active of {c['size']:,}"
                 for c in cut]
        return "Showing " + "; ".join(parts) + " units for this input."


def _layer_title(column, n_hidden):
    return "Output" if column == n_hidden + 1 else f"Hidden layer {column}"


def _positions(count, span=UNIT_SPAN):
    """y of ``count`` circles, evenly spread over ``span`` (closer when there are many)."""
    gap = min(40.0, span / max(count, 1))
    top = TOP + (span - gap * (count - 1)) / 2
    return [top + gap * i for i in range(count)]


def _shown_units(activations, limit, selected=None):
    """Indices (ascending) of the units to draw: all, or the ``limit`` with the largest |a|
    (plus ``selected``, so the unit being looked at never disappears)."""
    count = activations.size
    if count <= limit:
        return np.arange(count)
    strongest = np.argpartition(-np.abs(activations), limit - 1)[:limit]
    if selected is not None and selected not in strongest:
        strongest[np.argmin(np.abs(activations[strongest]))] = selected
    return np.sort(strongest)


def _top_edges(contributions, per_unit):
    """For a (n_in, n_out) matrix of contributions, the ``per_unit`` largest |contribution| into
    each column j: (i, j, value) arrays, zeros left out."""
    n_in, n_out = contributions.shape
    k = min(per_unit, n_in)
    top = np.argpartition(-np.abs(contributions), k - 1, axis=0)[:k]      # (k, n_out)
    columns = np.broadcast_to(np.arange(n_out), top.shape)
    values = contributions[top, columns]
    keep = values != 0
    return top[keep], columns[keep], values[keep].astype(np.float64)


_GREYS = ["#{0:02x}{0:02x}{0:02x}".format(level) for level in range(256)]
_PIXEL_NAMES = {}


def _pixel_names(side):
    """'pixel (row r, column c)' for every pixel of a side x side picture (made once)."""
    if side not in _PIXEL_NAMES:
        _PIXEL_NAMES[side] = [f"pixel (row {r}, column {c})" for r in range(side)
                              for c in range(side)]
    return _PIXEL_NAMES[side]


def network_diagram(model, pixels, scaling, names, selected=None, limit=MAX_UNITS_SHOWN,
                    tr=None):
    """The diagram of ``model`` (a core.model.MLP) reading ``pixels`` (784,) in [0, 1].

    ``selected``: a unit key; that unit is always drawn (and ringed). ``tr``: the forward pass if
    already computed (core.explain.trace). Works for 0 to 6 hidden layers of any size."""
    pixels = np.asarray(pixels, dtype=np.float32).reshape(-1)
    tr = trace(model, pixels, scaling) if tr is None else tr
    sizes = model.config.layer_sizes
    n_hidden = len(sizes) - 2
    chosen = parse_key(selected, sizes)
    probabilities = _softmax_like(model, tr)
    guess = int(np.argmax(probabilities))

    side = int(round(math.sqrt(sizes[0])))
    input_size = side * CELL
    input_top = TOP + (UNIT_SPAN - input_size) / 2
    first_x = INPUT_LEFT + input_size + 90
    spacing = min(190.0, (MAX_WIDTH - first_x - LABEL_ROOM) / max(n_hidden, 1))
    xs = [first_x + spacing * c for c in range(n_hidden + 1)]               # hidden..., output
    width = int(xs[-1] + LABEL_ROOM)

    rows = [{"kind": "frame", "x": INPUT_LEFT, "x2": INPUT_LEFT + input_size, "y": input_top,
             "y2": input_top + input_size}]
    # the input, as the network reads it: the inked pixels on a black square
    inked = np.flatnonzero(pixels > INK)
    pixel_names = _pixel_names(side)
    r, c = np.divmod(inked, side)
    pixel_x = (INPUT_LEFT + (c + 0.5) * CELL).tolist()
    pixel_y = (input_top + (r + 0.5) * CELL).tolist()
    levels = (np.clip(pixels[inked], 0, 1) * 255 + 0.5).astype(int).tolist()
    inks = np.round(pixels[inked].astype(np.float64), 3).tolist()
    rows += [{"kind": "pixel", "x": x, "y": y, "fill": _GREYS[level], "name": pixel_names[i],
              "value": ink}
             for i, x, y, level, ink in zip(inked.tolist(), pixel_x, pixel_y, levels, inks)]
    rows.append({"kind": "title", "x": INPUT_LEFT + input_size / 2, "y": 12,
                 "text": f"Input {side}x{side}"})

    columns, units = [], {}
    previous = None                                  # (indices, x, ys) of the column to the left
    for column in range(1, n_hidden + 2):
        is_output = column == n_hidden + 1
        values = tr.logits[0] if is_output else tr.inputs[column][0]
        shown = (np.arange(values.size) if is_output else
                 _shown_units(values, limit, chosen[1] if chosen and chosen[0] == column else None))
        x = xs[column - 1]
        ys = _positions(shown.size)
        title = _layer_title(column, n_hidden)
        columns.append({"title": title, "size": int(values.size), "shown": int(shown.size)})
        cut = shown.size < values.size
        if spacing >= 150:                               # room for "Hidden layer 1: 32 of 256"
            header = f"{title}: {shown.size} of {values.size:,}" if cut else title
            subtitle = "the most active" if cut else ""
        else:                                            # narrow columns: two short lines
            header = title.replace("Hidden layer", "Hidden")
            subtitle = f"{shown.size} of {values.size:,}" if cut else ""
        rows.append({"kind": "title", "x": x, "y": 12, "text": header})
        if subtitle:
            rows.append({"kind": "subtitle", "x": x, "y": 26, "text": subtitle})

        # edges: the strongest weight x activation contributions into each shown unit
        W = model.layers[column - 1].W
        if previous is None:                                       # from the pixels
            inputs = tr.inputs[0][0][inked]
            contributions = inputs[:, None] * W[inked[:, None], shown]     # (n_inked, n_shown)
            source_x, source_y = pixel_x, pixel_y
            source_names = [pixel_names[i] for i in inked.tolist()]
            per_unit = PIXEL_EDGES_PER_UNIT
        else:
            indices, prev_x, prev_ys = previous
            inputs = tr.inputs[column - 1][0][indices]
            contributions = inputs[:, None] * W[indices[:, None], shown]   # (n_prev, n_shown)
            source_x, source_y = [prev_x] * len(prev_ys), prev_ys
            source_names = [f"unit {i}" for i in indices.tolist()]
            per_unit = EDGES_PER_UNIT
        if contributions.size:
            sources, targets, pushes = _top_edges(contributions, per_unit)
            strongest = float(np.abs(pushes).max(initial=0.0))
            strength = np.abs(pushes) / strongest if strongest > 0 else np.zeros_like(pushes)
            target_names = ([f"output {names[u]}" for u in shown.tolist()] if is_output
                            else [f"unit {u}" for u in shown.tolist()])
            rows += [{"kind": "edge", "x": source_x[i], "y": source_y[i], "x2": x, "y2": ys[j],
                      "sign": "+" if value >= 0 else "-", "opacity": opacity, "stroke": stroke,
                      "name": f"{source_names[i]} → {target_names[j]}", "value": value}
                     for i, j, value, opacity, stroke in zip(
                         sources.tolist(), targets.tolist(), np.round(pushes, 4).tolist(),
                         np.round(0.12 + 0.78 * strength, 3).tolist(),
                         np.round(0.6 + 2.2 * strength, 2).tolist())]

        # the units themselves
        scale = float(np.abs(values).max()) if values.size else 0.0
        for j, unit in enumerate(shown):
            key = unit_key(column, unit)
            value = float(values[unit])
            if is_output:
                p = float(probabilities[unit])
                label = f"{names[unit]} · {p:.0%}" if p >= 0.005 else f"{names[unit]}"
                row = {"kind": "output", "fill": _heat(p), "size": 260,
                       "name": f"output {names[unit]}", "value": round(p, 4),
                       "text": label, "guess": int(unit) == guess}
                units[key] = f"Output {names[unit]} (probability {p:.1%})"
            else:
                row = {"kind": "unit", "fill": _diverging(value / scale if scale > 0 else 0.0),
                       "size": 110 if shown.size > 16 else 200,
                       "name": f"{title.lower()}, unit {int(unit)}", "value": round(value, 4)}
                units[key] = f"{title}, unit {int(unit)} (activation {value:.2f})"
            row.update({"x": x, "y": ys[j], "key": key,
                        "selected": chosen is not None and key == unit_key(*chosen)})
            rows.append(row)
        previous = (shown, x, ys)

    default = _default_unit(tr, n_hidden, guess)
    return Diagram(rows, columns, width, HEIGHT, units, default, probabilities, guess)


def _softmax_like(model, tr):
    return probabilities(model, tr.logits)[0]


def _default_unit(tr, n_hidden, guess):
    if n_hidden == 0:
        return unit_key(1, guess)
    first = tr.inputs[1][0]
    return unit_key(1, int(np.argmax(np.abs(first))))


@dataclass(frozen=True)
class Term:
    label: str            # a pixel "(12, 14)" (row, column) or "unit 17" of the layer below
    value: float          # what the unit reads there (a pixel in the model's scaling, or an
                          # activation of the layer below)
    weight: float
    contribution: float   # value * weight


@dataclass(frozen=True)
class UnitDetails:
    key: str
    title: str                  # "Hidden layer 1, unit 17" or "Output 7"
    is_output: bool
    column: int
    unit: int
    terms: tuple                # the largest contributions, largest |contribution| first
    others: int                 # how many inputs the table leaves out ...
    others_sum: float           # ... and what they add up to
    total: float                # the weighted sum of every input
    bias: float
    z: float                    # total + bias, the pre-activation
    activation_name: str        # "relu", ... or the output's "softmax" / "sigmoid"
    activation: float           # f(z); for an output, its probability
    picture: np.ndarray         # (28, 28) the weights (first layer) or d z / d pixels (deeper)
    picture_is_weights: bool
    contribution_picture: np.ndarray | None   # (28, 28) pixel x weight, for first-layer units
    pushes: np.ndarray | None   # (K,) d logits / d activation (hidden units)


def unit_details(model, tr, key, names, scaling="unit", terms=TERMS_SHOWN):
    """What unit ``key`` computes for the drawing of ``tr`` (core.explain.trace of one image)."""
    sizes = model.config.layer_sizes
    column, unit = parse_key(key, sizes)
    n_hidden = len(sizes) - 2
    is_output = column == n_hidden + 1
    layer = column - 1                                     # weight layer feeding this unit
    inputs = tr.inputs[layer][0].astype(np.float64)        # (D_layer,)
    W = np.asarray(model.layers[layer].W[:, unit], np.float64)
    contributions = inputs * W
    order = np.argsort(-np.abs(contributions), kind="stable")[:terms]
    side = int(round(math.sqrt(sizes[0])))

    def label(i):
        if layer == 0:
            return "({}, {})".format(*divmod(int(i), side))
        return f"unit {int(i)}"

    shown = tuple(Term(label(i), float(inputs[i]), float(W[i]), float(contributions[i]))
                  for i in order if contributions[i] != 0)
    total = float(contributions.sum())
    bias = float(model.layers[layer].b[unit])
    z = float(tr.pre[layer][0, unit])
    if is_output:
        activation = float(_softmax_like(model, tr)[unit])
        name = model.config.output_activation
        title = f"Output {names[unit]}"
    else:
        activation = float(tr.inputs[column][0, unit])
        name = model.config.activation
        title = f"Hidden layer {column}, unit {unit}"
    pixels = tr.inputs[0][0]
    if scaling == "symmetric":
        pixels = (pixels + 1) / 2
    if layer == 0:
        picture = np.asarray(model.layers[0].W[:, unit], np.float64).reshape(side, side)
        weights_picture = True
        contribution_picture = contributions.reshape(side, side)
    else:
        picture = unit_input_gradient(model, pixels, layer, unit, scaling).reshape(side, side)
        weights_picture = False
        contribution_picture = None
    pushes = None if is_output else output_sensitivity(model, tr, column - 1, unit)
    return UnitDetails(key, title, is_output, column, unit, shown, int(contributions.size
                       - len(shown)), total - float(sum(t.contribution for t in shown)), total,
                       bias, z, name, activation, picture, weights_picture, contribution_picture,
                       None if pushes is None else np.asarray(pushes, np.float64))


def _signed(value, digits=3):
    return f"{value:+.{digits}f}".replace("-", "−")


def arithmetic_markdown(details, scaling="unit"):
    """The unit's weighted input written out as a Markdown table: the largest contributions,
    the rest, the sum, the bias, z and the activation."""
    first = details.column == 1
    source = ("pixel (row, column)" if first else
              f"unit of hidden layer {details.column - 1}")
    reads = ("2 × pixel − 1" if scaling == "symmetric" and first
             else "pixel" if first else "activation")
    lines = [f"| {source} | {reads} | × weight | = |", "|---|---:|---:|---:|"]
    for term in details.terms:
        lines.append(f"| {term.label} | {term.value:.2f} | {_signed(term.weight)} | "
                     f"{_signed(term.contribution)} |")
    if details.others:
        lines.append(f"| the other {details.others:,} inputs | | | {_signed(details.others_sum)} |")
    lines.append(f"| **sum** | | | **{_signed(details.total)}** |")
    lines.append(f"| + bias | | | {_signed(details.bias)} |")
    lines.append(f"| **= z** | | | **{_signed(details.z)}** |")
    if details.is_output:
        lines.append(f"| {details.activation_name} of all 10 z's → probability | | | "
                     f"**{details.activation:.1%}** |")
    else:
        lines.append(f"| {details.activation_name}(z) = activation | | | "
                     f"**{details.activation:.3f}** |")
    return "\n".join(lines)


def pushes_sentence(details, names, count=2):
    """"Pushes up 7 (+0.84) and 9 (+0.31); pushes down 1 (−0.52) and 4 (−0.20)." or ""."""
    if details.pushes is None:
        return ""
    order = np.argsort(details.pushes)
    up = [i for i in order[::-1][:count] if details.pushes[i] > 0]
    down = [i for i in order[:count] if details.pushes[i] < 0]
    parts = []
    if up:
        parts.append("pushes up " + " and ".join(f"**{names[i]}** ({_signed(details.pushes[i], 2)})"
                                                 for i in up))
    if down:
        parts.append("pushes down " + " and ".join(
            f"**{names[i]}** ({_signed(details.pushes[i], 2)})" for i in down))
    if not parts:
        return "It moves no output score."
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


# -- pictures --------------------------------------------------------------------------------------
def _framed(rgb):
    """A 1-pixel grey frame, so a picture on white shows where its 28x28 square ends."""
    return border(rgb, 1, 200)


def grey_picture(pixels, scale=6):
    """784 pixels in [0, 1] -> an enlarged RGB picture, white ink on black (as the network sees
    it)."""
    image = np.asarray(pixels, np.float64).reshape(28, 28)
    level = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    return scale_up(np.repeat(level[..., None], 3, axis=2), scale)


def diverging_picture(values, limit=None, scale=6):
    """Values (any shape of 784) -> red (> 0) / white / blue (< 0), full colour at ``limit``
    (default: the largest |value|), enlarged."""
    values = np.asarray(values, np.float64).reshape(28, 28)
    return _framed(scale_up(diverging_rgb(values, limit), scale))


def attribution_picture(pixels, attribution, scale=6, limit=None):
    """The drawing in light grey on white with the attribution over it: red where a pixel pushed
    the score up, blue where it pushed it down, as strongly coloured as it pushed (full colour at
    ``limit``, default the largest |attribution|). Enlarged ``scale`` times."""
    pixels = np.clip(np.asarray(pixels, np.float64).reshape(28, 28), 0, 1)
    attribution = np.asarray(attribution, np.float64).reshape(28, 28)
    limit = float(np.abs(attribution).max()) if limit is None else float(limit)
    t = np.clip(attribution / limit, -1, 1) if limit > 0 else np.zeros_like(attribution)
    alpha = np.abs(t) ** 0.7                                # faint pushes still show
    base = 255 - 90 * pixels                               # ink as light grey on white
    rgb = np.empty((28, 28, 3))
    for channel in range(3):
        colour = np.where(t >= 0, POSITIVE[channel], NEGATIVE[channel])
        rgb[..., channel] = base * (1 - alpha) + colour * alpha
    return _framed(scale_up((rgb + 0.5).astype(np.uint8), scale))


def change_summary(change, threshold):
    """(pixels changed by more than ``threshold``, their mean |change|, the largest |change|)."""
    size = np.abs(np.asarray(change, np.float64))
    big = size[size > threshold]
    return int(big.size), float(big.mean()) if big.size else 0.0, float(size.max(initial=0.0))
