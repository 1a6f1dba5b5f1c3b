"""A conv net's feature maps, as pictures and as one clickable Vega-Lite chart (no st.* calls).

As CNN Explainer and ConvNetJS show them: for one drawing, each conv layer's maps (after its
activation) and each pool layer's, one band per stage, then the dense layers' units and the
outputs; a click on a map chooses it (the view then shows the arithmetic that made it).

    map_thumbnails(stages) -> [[data URI]]           every map as a small PNG, one scale per stage
    feature_maps_chart(stages, dense, probs, names, selected) -> (spec, keys)
    map_key(s, channel) / parse_map_key(key, stages)  "s:c", stage s (0-based), channel c
    heat_picture(values, limit, scale) / filter_pictures(W) / patch_picture(...)   RGB uint8
"""
import base64
import io

import numpy as np

from app.render.images import border, diverging_rgb, scale_up
from app.render.network_charts import only, pixel_axes
from app.render.palette import COLORS

COLUMNS = 8                   # maps per row of a band: 8 x 40 px fits a phone's 390 px
THUMB = 34                    # px of one map's picture
GAP = 6
TITLE = 22                    # px above a band for its title
UNITS_PER_ROW = 32            # a dense layer's units, as small squares
UNIT_CELL = 10
WIDTH = COLUMNS * (THUMB + GAP)


def map_key(s, channel):
    return f"{int(s)}:{int(channel)}"


def parse_map_key(key, stages):
    """(stage index, channel) of a key "s:c" naming a map of ``stages``, else None."""
    try:
        s, c = (int(part) for part in str(key).split(":"))
    except (TypeError, ValueError):
        return None
    if 0 <= s < len(stages) and 0 <= c < stages[s].maps.shape[0]:
        return s, c
    return None


def heat_levels(maps, limit=None):
    """Map values -> 0-255 levels, black (0 or less) to white (``limit``: default the stage's
    largest value), so maps of one stage compare at a glance."""
    limit = float(np.max(maps)) if limit is None else float(limit)
    t = np.clip(np.asarray(maps, np.float32) / limit, 0, 1) if limit > 0 else np.zeros(np.shape(maps))
    return (t * 255 + 0.5).astype(np.uint8)


def _png_uri(levels):
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def map_thumbnails(stages):
    """[[PNG data URI of each map] for each stage], white = strongly active."""
    return [[_png_uri(levels) for levels in heat_levels(stage.maps)] for stage in stages]


def _fill(value, limit):
    """A unit's colour: white (0) to the positive red (``limit``), blue below 0."""
    rgb = diverging_rgb(np.array([value]), limit)[0]
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def feature_maps_chart(stages, dense, probs, names, selected=None):
    """(Vega-Lite spec, map keys): one band per stage of thumbnails (clickable: a point selection
    named "map" on the key), then each dense layer's units as squares (red = active), then the
    ten outputs with their probability, the guess in the guess colour. ``dense``: [(title,
    activations (H,))]; ``probs`` (10,)."""
    rows, y, keys = [], 0, []
    uris = map_thumbnails(stages)
    for s, (stage, stage_uris) in enumerate(zip(stages, uris)):
        rows.append({"kind": "title", "x": 0, "y": y + 14, "text": stage.title})
        y += TITLE
        for c, uri in enumerate(stage_uris):
            key = map_key(s, c)
            keys.append(key)
            row, col = divmod(c, COLUMNS)
            rows.append({"kind": "map", "key": key, "url": uri,
                         "x": col * (THUMB + GAP) + THUMB / 2, "y": y + row * (THUMB + GAP) + THUMB / 2,
                         "name": f"{stage.title.split(':')[0]}, map {c}",
                         "value": float(stage.maps[c].max()), "chosen": key == selected})
        y += -(-len(stage_uris) // COLUMNS) * (THUMB + GAP)
    for title, values in dense:
        rows.append({"kind": "title", "x": 0, "y": y + 14, "text": title})
        y += TITLE
        limit = float(np.abs(values).max()) or 1.0
        for u, value in enumerate(values):
            row, col = divmod(u, UNITS_PER_ROW)
            rows.append({"kind": "unit", "x": col * UNIT_CELL + UNIT_CELL / 2,
                         "y": y + row * UNIT_CELL + UNIT_CELL / 2, "fill": _fill(value, limit),
                         "name": f"unit {u}", "value": float(value)})
        y += -(-len(values) // UNITS_PER_ROW) * UNIT_CELL + 6
    rows.append({"kind": "title", "x": 0, "y": y + 14, "text": "Outputs: the probability of each class"})
    y += TITLE
    guess = int(np.argmax(probs))
    step = WIDTH / len(probs)
    for k, p in enumerate(probs):
        rows.append({"kind": "output", "x": k * step + step / 2, "y": y + 12, "name": str(names[k]),
                     "value": float(p), "guess": k == guess,
                     "text": f"{str(names[k])[:7]}", "pct": f"{p:.0%}"})
    height = y + 48
    x, yy = pixel_axes(WIDTH, height)
    tooltip = [{"field": "name", "type": "nominal", "title": "what"},
               {"field": "value", "type": "quantitative", "title": "largest value", "format": ".3f"}]

    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": WIDTH, "height": height, "autosize": {"type": "none"},
        "padding": {"left": 2, "right": 2, "top": 2, "bottom": 2},
        "config": {"view": {"stroke": None}},
        "data": {"values": rows},
        "layer": [
            {"transform": only("title"), "mark": {"type": "text", "align": "left", "fontSize": 12,
                                                  "fontWeight": "bold", "baseline": "middle"},
             "encoding": {"x": x, "y": yy, "text": {"field": "text"}}},
            {"transform": only("map"),
             "params": [{"name": "map", "select": {"type": "point", "fields": ["key"]}}],
             "mark": {"type": "image", "width": THUMB, "height": THUMB, "cursor": "pointer",
                      "aspect": False, "smooth": False},
             "encoding": {"x": x, "y": yy, "url": {"field": "url", "type": "nominal"},
                          "tooltip": tooltip}},
            {"transform": [{"filter": "datum.kind === 'map' && datum.chosen"}],
             "mark": {"type": "square", "size": (THUMB + 4) ** 2, "filled": False,
                      "stroke": COLORS["guess"], "strokeWidth": 3},
             "encoding": {"x": x, "y": yy}},
            {"transform": only("unit"),
             "mark": {"type": "square", "size": (UNIT_CELL - 1) ** 2, "filled": True,
                      "stroke": "#cccccc", "strokeWidth": 0.5},
             "encoding": {"x": x, "y": yy, "color": {"field": "fill", "type": "nominal",
                                                     "scale": None},
                          "tooltip": [{"field": "name", "type": "nominal", "title": "what"},
                                      {"field": "value", "type": "quantitative",
                                       "title": "activation", "format": ".3f"}]}},
            {"transform": only("output"),
             "mark": {"type": "text", "fontSize": 11, "baseline": "middle"},
             "encoding": {"x": x, "y": yy, "text": {"field": "text"},
                          "color": {"condition": {"test": "datum.guess", "value": COLORS["guess"]},
                                    "value": "#555555"}}},
            {"transform": only("output"),
             "mark": {"type": "text", "fontSize": 11, "baseline": "middle", "dy": 16},
             "encoding": {"x": x, "y": yy, "text": {"field": "pct"},
                          "color": {"condition": {"test": "datum.guess", "value": COLORS["guess"]},
                                    "value": "#555555"},
                          "tooltip": [{"field": "name", "type": "nominal", "title": "class"},
                                      {"field": "value", "type": "quantitative",
                                       "title": "probability", "format": ".1%"}]}},
        ],
    }
    return spec, keys


# -- pictures of one map's arithmetic ---------------------------------------------------------------
def heat_picture(values, limit=None, scale=6, mark=None, box=None):
    """A map (H, W) as black-to-white levels, enlarged, with an optional (row, col) ``mark`` and
    ``box`` (row, col, size) outlined in the guess colour, framed in grey."""
    levels = heat_levels(values, limit)
    rgb = scale_up(np.repeat(levels[..., None], 3, axis=2), scale)
    colour = np.array([int(COLORS["guess"][i:i + 2], 16) for i in (1, 3, 5)], np.uint8)
    for (r, c, size) in ([(*mark, 1)] if mark else []) + ([box] if box else []):
        top, left = r * scale, c * scale
        bottom, right = min(rgb.shape[0], (r + size) * scale) - 1, min(rgb.shape[1], (c + size) * scale) - 1
        top, left = max(0, top), max(0, left)
        rgb[top:bottom + 1, [left, right]] = colour
        rgb[[top, bottom], left:right + 1] = colour
    return border(rgb, 1, 200)


def signed_picture(values, limit=None, scale=12):
    """Weights (k, k) -> red (> 0) / white / blue (< 0), enlarged and framed."""
    return border(scale_up(diverging_rgb(np.asarray(values, np.float32), limit), scale), 1, 200)
