"""Every chart of the app, as a plain Vega-Lite dict, in one colour scheme (app.render.palette).

Building a dict costs about a millisecond and ``st.vega_lite_chart`` draws it in 1-3 ms, where
``st.line_chart`` / ``st.bar_chart`` cost ~100 ms per redraw. No st.* calls here, so every spec
can be tested without a running app. NaN never reaches the browser (JSON has no NaN). The why
views' specs are in app.render.network_charts.

    curves_spec(metric, current, earlier)     loss or accuracy against epochs (Train, Inspect)
    probabilities_spec(probabilities, names)  the 10 output probabilities, the guess highlighted
    compare_spec(rows, names)                 two models' probabilities, class by class (Draw)
    confusion_spec(confusion, names)          true class down, predicted class across
    per_class_spec(per_class, names, overall) accuracy of each class as bars
    activation_spec(values, title)            one hidden layer's activations for one image
    map_spec(coordinates, labels, names)      the hidden-space map, the drawing as a star
    health_spec(rows, metric, title)          one layer-health figure against epochs
    teach_curve_spec(records)                 accuracy while a model is taught your handwriting
    thin(history)                             at most MAX_POINTS records, evenly
"""
import numpy as np

# re-exported: Inspect, the benchmarks and the tests import them from here
from app.render.curves import (  # noqa: F401
    MAX_POINTS,
    PERCENT,
    curve_rows,
    curves_spec,
    health_spec,
    thin,
)
from app.render.palette import COLORS


def confusion_spec(confusion, class_names, cell=34):
    """A heat map of counts: true class down, predicted class across, counts written in the cells."""
    confusion = np.asarray(confusion)
    totals = confusion.sum(axis=1)
    values = []
    for t, true_name in enumerate(class_names):
        for p, predicted_name in enumerate(class_names):
            count = int(confusion[t, p])
            share = count / totals[t] if totals[t] else 0.0
            values.append({"true": str(true_name), "predicted": str(predicted_name), "t": t, "p": p,
                           "count": count, "share": share, "correct": t == p,
                           "label": str(count) if count else ""})
    axis = {"labelAngle": 0, "labelLimit": 90}
    long_names = len(max(class_names, key=len)) > 2
    x = {"field": "predicted", "type": "ordinal", "sort": {"field": "p"}, "title": "predicted",
         "axis": {**axis, "orient": "top", "labelAngle": -45 if long_names else 0,
                  "labelOverlap": False}}
    y = {"field": "true", "type": "ordinal", "sort": {"field": "t"}, "title": "true", "axis": axis}
    # Colour the mistakes by their share of the true class (so a rare class's mistakes show as well
    # as a common one's), on a square-root scale so that a single mistake is visible; the diagonal
    # is a flat green and empty cells are white, so the eye goes to the mistakes.
    return {
        "data": {"values": values},
        # sizes per cell ("step"): a fixed total size would be squeezed to fit the legend and titles
        "width": {"step": cell}, "height": {"step": cell},
        "encoding": {"x": x, "y": y},
        "layer": [
            {"mark": {"type": "rect", "stroke": "white", "strokeWidth": 1},
             "encoding": {
                 "color": {"condition": [{"test": "datum.correct", "value": COLORS["correct"]},
                                         {"test": "datum.count == 0", "value": "#ffffff"}],
                           "field": "share", "type": "quantitative", "title": "share of true class",
                           "scale": {"type": "sqrt", "domain": [0, 0.1], "clamp": True,
                                     "range": [COLORS["mistake_few"], COLORS["mistake_many"]]},
                           "legend": {"format": "%", "values": [0.005, 0.02, 0.05, 0.1]}},
                 "tooltip": [{"field": "true", "title": "true"},
                             {"field": "predicted", "title": "predicted"},
                             {"field": "count", "title": "images"},
                             {"field": "share", "title": "share of true class", "format": ".1%"}]}},
            {"mark": {"type": "text", "fontSize": 11},
             "encoding": {"text": {"field": "label"},
                          "color": {"condition": {"test": "!datum.correct && datum.share > 0.06",
                                                  "value": "white"}, "value": "#222"}}},
        ],
    }


def per_class_spec(per_class, class_names, overall=None):
    """Accuracy of each true class as bars, with the overall accuracy as a rule."""
    values = [{"class": str(n), "order": i, "accuracy": None if np.isnan(a) else float(a)}
              for i, (n, a) in enumerate(zip(class_names, np.asarray(per_class, dtype=float)))]
    low = min((v["accuracy"] for v in values if v["accuracy"] is not None), default=0.0)
    start = max(0.0, np.floor(low * 10) / 10 - 0.1)
    # the bar of a class with every image right ends on the 100% gridline, not past the frame
    ticks = [round(t, 2) for t in np.arange(start, 1.0001, 0.1 if start >= 0.5 else 0.2)]
    layers = [{"mark": {"type": "bar", "color": COLORS["bars"], "clip": True},
               "encoding": {
                   "x": {"field": "accuracy", "type": "quantitative", "title": "accuracy",
                         "scale": {"domain": [start, PERCENT["scale"]["domain"][1]],
                                   "nice": False},
                         "axis": {"format": ".0%", "values": ticks}},
                   "y": {"field": "class", "type": "nominal", "sort": {"field": "order"}, "title": None},
                   "tooltip": [{"field": "class"}, {"field": "accuracy", "format": ".2%"}]}}]
    if overall is not None:
        layers.append({"data": {"values": [{"overall": float(overall)}]},
                       "mark": {"type": "rule", "color": COLORS["guess"], "strokeDash": [4, 3]},
                       "encoding": {"x": {"field": "overall", "type": "quantitative"}}})
    return {"data": {"values": values}, "height": {"step": 24}, "layer": layers}


def activation_spec(activations, layer_title):
    """One hidden layer's activations for one image: a bar per unit (unit number across)."""
    activations = np.asarray(activations, dtype=np.float64).ravel()
    values = [{"unit": i, "activation": float(a)} for i, a in enumerate(activations)]
    return {
        "data": {"values": values},
        "title": {"text": layer_title, "anchor": "start", "fontSize": 13},
        "height": 190,                  # the whole chart (Streamlit fits title and axes inside)
        "mark": {"type": "bar", "width": {"band": 0.9} if len(values) <= 256 else 1},
        "encoding": {
            "x": {"field": "unit", "type": "quantitative" if len(values) > 256 else "ordinal",
                  "title": "unit", "axis": {"labels": len(values) <= 64, "ticks": len(values) <= 64}},
            "y": {"field": "activation", "type": "quantitative", "title": "activation"},
            "color": {"field": "activation", "type": "quantitative", "legend": None,
                      "scale": {"scheme": "redblue", "reverse": True, "domainMid": 0}},
            "tooltip": [{"field": "unit"}, {"field": "activation", "format": ".3f"}],
        },
    }




def probabilities_spec(probabilities, class_names, height=None, title=None, axis_title="probability",
                       label_size=13):
    """A horizontal Vega-Lite bar chart of the 10 probabilities, the guess highlighted. Every
    class is labelled, however short the rows (``height``: e.g. {"step": 16})."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    best = int(np.argmax(probabilities))
    values = [{"class": str(name), "order": i, "probability": float(p), "guess": i == best,
               "text": f"{p:.0%}" if p >= 0.005 else ""}
              for i, (name, p) in enumerate(zip(class_names, probabilities))]
    y = {"field": "class", "type": "nominal", "sort": {"field": "order"}, "title": None,
         "axis": {"labelFontSize": label_size, "labelOverlap": False,
                  "labelBound": False, "labelFlush": False}}
    spec = {
        "data": {"values": values},
        "height": {"step": 22} if height is None else height,
        "encoding": {"y": y},
        "layer": [
            {"mark": {"type": "bar", "cornerRadiusEnd": 2},
             "encoding": {
                 "x": {"field": "probability", "type": "quantitative",
                       **PERCENT,
                       "title": axis_title},
                 "color": {"condition": {"test": "datum.guess", "value": COLORS["guess"]},
                           "value": COLORS["other"]},
                 "tooltip": [{"field": "class", "type": "nominal"},
                             {"field": "probability", "type": "quantitative", "format": ".1%"}]}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12},
             "encoding": {"x": {"field": "probability", "type": "quantitative"},
                          "text": {"field": "text"}}},
        ],
    }
    if title:
        spec["title"] = title
    return spec


def compare_spec(rows, class_names, step=10):
    """Two (or more) models' probabilities for one input, side by side in each class's row.

    ``rows``: [(label, probabilities (K,), in_use)]; the model in use is drawn in the guess
    colour, the others in grey, each labelled with its probability where it is at least 1%."""
    values = []
    for label, probabilities, in_use in rows:
        for i, (name, p) in enumerate(zip(class_names, np.asarray(probabilities, np.float64))):
            values.append({"class": str(name), "order": i, "model": label,
                           "probability": float(p), "text": f"{p:.0%}" if p >= 0.01 else ""})
    labels = [label for label, _, _ in rows]
    colors = [COLORS["guess"] if in_use else COLORS["other"] for _, _, in_use in rows]
    offset = {"field": "model", "type": "nominal", "sort": labels}
    x = {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]},
         "axis": {"format": "%", "tickCount": 5}, "title": None}
    return {
        "data": {"values": values},
        "height": {"step": step},         # per bar: a class's row is len(rows) steps and a gap
        "encoding": {"y": {"field": "class", "type": "nominal", "sort": {"field": "order"},
                           "title": None, "axis": {"labelFontSize": 13, "labelOverlap": False,
                                                            "labelFlush": False}},
                     "yOffset": offset},
        "layer": [
            {"mark": {"type": "bar", "cornerRadiusEnd": 2},
             "encoding": {
                 "x": x,
                 "color": {"field": "model", "type": "nominal", "title": None,
                           "scale": {"domain": labels, "range": colors},
                           "legend": {"orient": "top", "direction": "vertical",
                                      "labelLimit": 320, "labelFontSize": 12}},
                 "tooltip": [{"field": "model", "type": "nominal"},
                             {"field": "class", "type": "nominal"},
                             {"field": "probability", "type": "quantitative", "format": ".1%"}]}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
             "encoding": {"x": {"field": "probability", "type": "quantitative"},
                          "text": {"field": "text"}}},
        ],
    }


# A five-pointed star (Vega's shapes have none): the visitor's drawing on the hidden-space map.
STAR = ("M0,-1L0.24,-0.33L0.95,-0.31L0.38,0.12L0.59,0.81L0,0.4L-0.59,0.81L-0.38,0.12L-0.95,-0.31"
        "L-0.24,-0.33Z")


def map_spec(coordinates, labels, class_names, star=None, title=None, height=340):
    """Points (N, 2) coloured by class (``labels`` (N,) indices into ``class_names``), the
    visitor's drawing as a black star; the class colours are Vega's category10 in class order."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    finite = np.isfinite(coordinates).all(axis=1)
    values = [{"x": round(float(x), 4), "y": round(float(y), 4), "class": str(class_names[int(k)]),
               "order": int(k)}
              for (x, y), k, ok in zip(coordinates, labels, finite) if ok]
    names = [str(n) for n in class_names]
    axis = {"title": None, "labels": False, "ticks": False, "grid": False}
    layers = [{"mark": {"type": "point", "filled": True, "size": 22, "opacity": 0.7},
               "encoding": {
                   "x": {"field": "x", "type": "quantitative", "axis": axis},
                   "y": {"field": "y", "type": "quantitative", "axis": axis},
                   "color": {"field": "class", "type": "nominal", "title": None,
                             "scale": {"domain": names, "scheme": "category10"},
                             "legend": {"orient": "right", "symbolSize": 80}},
                   "tooltip": [{"field": "class"}]}}]
    if star is not None and np.isfinite(star).all():
        layers.append({"data": {"values": [{"x": float(star[0]), "y": float(star[1]),
                                            "what": "your drawing"}]},
                       "mark": {"type": "point", "shape": STAR, "size": 420, "filled": True,
                                "color": "black", "stroke": "white", "strokeWidth": 1.5},
                       "encoding": {"x": {"field": "x", "type": "quantitative"},
                                    "y": {"field": "y", "type": "quantitative"},
                                    "tooltip": [{"field": "what", "title": "the star"}]}})
    spec = {"data": {"values": values}, "height": height, "layer": layers}
    if title:
        spec["title"] = {"text": title, "anchor": "start", "fontSize": 13}
    return spec


def teach_curve_spec(records):
    """Vega-Lite: accuracy on the held-out drawings, the taught ones and the validation images
    against the teaching step."""
    series = (("held_out_accuracy", "your held-out drawings"),
              ("taught_accuracy", "your taught drawings"), ("val_accuracy", "validation images"))
    values = [{"step": r["step"], "accuracy": float(r[field]), "on": name}
              for r in records for field, name in series
              if isinstance(r.get(field), float) and r[field] == r[field]]
    return {
        "data": {"values": values}, "height": 300,      # the whole chart: title, legend and axes included
        "title": {"text": "Accuracy while it is taught", "anchor": "start", "fontSize": 13},
        "mark": {"type": "line", "point": True, "tooltip": True},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step"},
            "y": {"field": "accuracy", "type": "quantitative", "axis": {"format": ".0%"},
                  "scale": {"zero": False, "padding": 8}, "title": None},
            "color": {"field": "on", "type": "nominal", "title": None,
                      "scale": {"domain": [name for _, name in series],
                                "range": [COLORS["guess"], COLORS["training"], COLORS["other"]]},
                      "legend": {"orient": "top"}}},
    }
