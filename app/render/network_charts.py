"""The why views' Vega-Lite specs: the network diagram that lights up, a unit's pushes on the outputs,
and the path of a counterfactual. Rows and geometry come from app.render.why.

    network_spec(rows, width, height)    circles, edges and the input heat map, clickable units
    pushes_spec(pushes, names)           how much a unit pushes each output up or down
    path_spec(probabilities, names, target, guess)   the probabilities along a counterfactual
"""
import math

import numpy as np

from app.render.curves import PERCENT
from app.render.palette import COLORS, SIGNS


def only(*kinds):
    """A Vega-Lite transform keeping the rows of these kinds."""
    return [{"filter": " || ".join(f"datum.kind === '{k}'" for k in kinds)}]


def pixel_axes(width, height):
    """x and y encodings in chart pixels (no axes, no padding): a drawing, not a plot."""
    def axis(field, size):
        return {"field": field, "type": "quantitative", "axis": None,
                "scale": {"domain": [0, size], "range": [0, size], "nice": False, "zero": False}}
    return axis("x", width), axis("y", height)


def network_spec(rows, width, height, selection="unit"):
    """The network lighting up: the input as a small heat map on the left, each hidden layer as
    a column of circles coloured by activation (red > 0, blue < 0, white 0; each layer on its own
    scale), the outputs coloured by probability and labelled, and the strongest weight x
    activation contributions as lines (red pushes up, blue pushes down; the stronger, the darker).

    ``rows`` and the geometry come from app.render.why.network_diagram (x and y in chart pixels, so the
    heat map stays square); colours are computed there (``fill``), so one spec serves every
    architecture. ``selection``: the name of a point selection on the circles (by unit key), for
    st.vega_lite_chart(on_select=...)."""
    x, y = pixel_axes(width, height)
    tooltip = [{"field": "name", "type": "nominal", "title": "what"},
               {"field": "value", "type": "quantitative", "title": "value", "format": ".3f"}]
    units = {
        "transform": only("unit", "output"),
        "mark": {"type": "point", "filled": True, "opacity": 1, "cursor": "pointer"},
        "encoding": {
            "x": x, "y": y,
            "size": {"field": "size", "type": "quantitative", "scale": None},
            "color": {"field": "fill", "type": "nominal", "scale": None},
            "stroke": {"condition": {"test": "datum.selected", "value": "#111"},
                       "value": "#777"},
            "strokeWidth": {"condition": {"test": "datum.selected || datum.guess", "value": 2.6},
                            "value": 0.8},
            "tooltip": tooltip}}
    if selection:
        units["params"] = [{"name": selection,
                            "select": {"type": "point", "fields": ["key"], "on": "click",
                                       "clear": False, "toggle": False}}]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": width, "height": height, "padding": 0, "autosize": {"type": "none"},
        "view": {"stroke": None},
        # SVG whatever the number of rows (Streamlit switches to canvas above 2,000): crisp
        # lines, and each circle is an element a browser test can find and click
        "usermeta": {"embedOptions": {"renderer": "svg"}},
        "data": {"values": rows},
        "layer": [
            {"transform": only("edge"),
             "mark": {"type": "rule", "strokeCap": "round"},
             "encoding": {"x": x, "y": y, "x2": {"field": "x2"}, "y2": {"field": "y2"},
                          "color": {"field": "sign", "type": "nominal", "legend": None,
                                    "scale": {"domain": list(SIGNS),
                                              "range": list(SIGNS.values())}},
                          "opacity": {"field": "opacity", "type": "quantitative", "scale": None},
                          "strokeWidth": {"field": "stroke", "type": "quantitative",
                                          "scale": None},
                          "tooltip": [{"field": "name", "type": "nominal", "title": "from → to"},
                                      {"field": "value", "type": "quantitative",
                                       "title": "activation × weight", "format": "+.3f"}]}},
            # the input square over the lines' ends: they seem to leave its edge, aimed
            # at their pixel, and the picture stays clear
            {"transform": only("frame"),
             "mark": {"type": "rect", "color": "#000"},
             "encoding": {"x": x, "y": y, "x2": {"field": "x2"}, "y2": {"field": "y2"}}},
            {"transform": only("pixel"),
             "mark": {"type": "square", "filled": True, "size": 36, "opacity": 1},
             "encoding": {"x": x, "y": y,
                          "color": {"field": "fill", "type": "nominal", "scale": None},
                          "tooltip": tooltip}},
            units,
            {"transform": only("output"),
             "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 14,
                      "fontSize": 13},
             "encoding": {"x": x, "y": y, "text": {"field": "text"},
                          "fontWeight": {"condition": {"test": "datum.guess", "value": "bold"},
                                         "value": "normal"},
                          "color": {"condition": {"test": "datum.guess",
                                                  "value": COLORS["guess"]}, "value": "#333"}}},
            {"transform": only("title"),
             "mark": {"type": "text", "baseline": "middle", "fontSize": 12, "fontWeight": "bold",
                      "color": "#333"},
             "encoding": {"x": x, "y": y, "text": {"field": "text"}}},
            {"transform": only("subtitle"),
             "mark": {"type": "text", "baseline": "middle", "fontSize": 11, "color": "#777"},
             "encoding": {"x": x, "y": y, "text": {"field": "text"}}},
        ],
    }


def pushes_spec(pushes, class_names, title=None, height=None):
    """How each output's score moves when a hidden unit's activation rises by 1 (d logit / d a):
    a bar per class, red up, blue down."""
    values = [{"class": str(n), "order": i, "push": float(v), "sign": "+" if v >= 0 else "-"}
              for i, (n, v) in enumerate(zip(class_names, np.asarray(pushes, dtype=np.float64)))
              if math.isfinite(float(v))]
    spec = {
        "data": {"values": values},
        "height": {"step": 20} if height is None else height,
        "mark": {"type": "bar", "cornerRadiusEnd": 2},
        "encoding": {
            "y": {"field": "class", "type": "nominal", "sort": {"field": "order"}, "title": None,
                  "axis": {"labelOverlap": False, "labelLimit": 90}},
            "x": {"field": "push", "type": "quantitative", "title": "change of the output's score"},
            "color": {"field": "sign", "type": "nominal", "legend": None,
                      "scale": {"domain": list(SIGNS), "range": list(SIGNS.values())}},
            "tooltip": [{"field": "class"}, {"field": "push", "format": "+.3f",
                                             "title": "score change per unit of activation"}]},
    }
    if title:
        spec["title"] = {"text": title, "anchor": "start", "fontSize": 13}
    return spec


def path_spec(probabilities, class_names, target, guess, height=220):
    """A counterfactual's probability path: the target's probability (red) and the original
    guess's (grey) after each step, the other classes faint."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    values = []
    for step, row in enumerate(probabilities):
        for k, p in enumerate(row):
            role = "target" if k == target else "guess" if k == guess else "other"
            values.append({"step": step, "class": str(class_names[k]), "probability": float(p),
                           "role": role})
    roles = ["target", "guess", "other"]
    return {
        "data": {"values": values},
        "height": height,
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step",
                  "axis": {"tickMinStep": 1}},
            "y": {"field": "probability", "type": "quantitative", **PERCENT},
            "detail": {"field": "class", "type": "nominal"},
            "color": {"field": "role", "type": "nominal", "title": None,
                      "scale": {"domain": roles,
                                "range": [COLORS["guess"], "#555", "#d5d9de"]},
                      "legend": None},
            "strokeWidth": {"field": "role", "type": "nominal", "legend": None,
                            "scale": {"domain": roles, "range": [3, 2, 1]}},
            "tooltip": [{"field": "class"}, {"field": "step"},
                        {"field": "probability", "format": ".1%"}]},
    }
