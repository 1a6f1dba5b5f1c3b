"""Vega-Lite specs for the training curves, redrawn from the history on every poll.

Plain dict specs for ``st.vega_lite_chart``: building one costs about a millisecond, where
``st.line_chart`` costs ~120 ms per redraw. NaN never reaches the browser (JSON has no NaN).
"""
import math

SPLIT_COLORS = {"train": "#4c78a8", "validation": "#f58518"}


def _finite(x):
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def curve_rows(history, metric, run_label, current=True):
    """Long-format rows {epoch, step, value, split, run, current} for ``metric`` ("loss" or
    "accuracy") from a list of TrainRecord dicts."""
    rows = []
    for record in history:
        for split, key in (("train", f"train_{metric}"), ("validation", f"val_{metric}")):
            value = record.get(key)
            if _finite(value):
                rows.append({"epoch": round(float(record["epoch"]), 4), "step": int(record["step"]),
                             "value": float(value), "split": split, "run": run_label,
                             "current": "this run" if current else "earlier"})
    return rows


def curves_spec(metric, current=None, earlier=(), height=260):
    """A line chart of ``metric`` ("loss" | "accuracy") against epochs.

    current: (label, history) of the run being watched, or None.
    earlier: [(label, history), ...] of earlier runs, drawn thinner, dashed and faded.
    """
    rows = []
    for label, history in earlier:
        rows += curve_rows(history, metric, label, current=False)
    if current is not None:
        rows += curve_rows(current[1], metric, current[0], current=True)
    title = "Loss (lower is better)" if metric == "loss" else "Accuracy (higher is better)"
    y = {"field": "value", "type": "quantitative", "title": metric,
         "scale": {"zero": False}}
    if metric == "accuracy":
        y["axis"] = {"format": ".0%"}
    else:
        y["scale"]["type"] = "symlog"   # early losses are large; keep the tail readable
    tooltip = [{"field": "run", "type": "nominal"}, {"field": "split", "type": "nominal"},
               {"field": "epoch", "type": "quantitative", "format": ".2f"},
               {"field": "step", "type": "quantitative", "format": ","},
               {"field": "value", "type": "quantitative",
                "format": ".2%" if metric == "accuracy" else ".4f"}]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "height": height,
        "data": {"values": rows},
        "mark": {"type": "line", "point": len(rows) < 60, "interpolate": "monotone"},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative", "title": "epoch"},
            "y": y,
            "color": {"field": "split", "type": "nominal", "title": None,
                      "scale": {"domain": list(SPLIT_COLORS), "range": list(SPLIT_COLORS.values())},
                      "legend": {"orient": "bottom"}},
            "detail": {"field": "run", "type": "nominal"},
            "strokeDash": {"field": "current", "type": "nominal", "legend": None,
                           "scale": {"domain": ["this run", "earlier"], "range": [[1, 0], [4, 3]]}},
            "opacity": {"field": "current", "type": "nominal", "legend": None,
                        "scale": {"domain": ["this run", "earlier"], "range": [1.0, 0.45]}},
            "strokeWidth": {"field": "current", "type": "nominal", "legend": None,
                            "scale": {"domain": ["this run", "earlier"], "range": [2.2, 1.2]}},
            "tooltip": tooltip,
        },
    }


def probabilities_spec(probabilities, class_names, height=180):
    """A horizontal bar chart of 10 class probabilities, the most likely one highlighted."""
    best = max(range(len(probabilities)), key=lambda k: probabilities[k])
    rows = [{"class": f"{k} {name}" if name != str(k) else name, "p": float(p), "best": "yes" if k == best else "no",
             "order": k} for k, (name, p) in enumerate(zip(class_names, probabilities))]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "height": height,
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "class", "type": "nominal", "sort": {"field": "order"}, "title": None},
            "x": {"field": "p", "type": "quantitative", "title": "probability",
                  "scale": {"domain": [0, 1]}, "axis": {"format": ".0%"}},
            "color": {"field": "best", "type": "nominal", "legend": None,
                      "scale": {"domain": ["yes", "no"], "range": ["#f58518", "#9ecae9"]}},
            "tooltip": [{"field": "class"}, {"field": "p", "format": ".1%"}],
        },
    }
