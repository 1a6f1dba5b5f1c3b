"""The charts of a run against epochs: the loss and accuracy curves and the layer-health figures.

Plain Vega-Lite dicts (no st.* calls), like app.render.charts, which re-exports them. Every axis is
finished here rather than left to Vega's defaults, which fail on the Train page's narrow, short
charts: percentages end at 100% with 100% drawn on its gridline (``PERCENT``); log axes are
labelled at powers of ten written as exponents ("1e-3", "1e8"), never as nine-digit numbers, and
the healthy 0.001 guide is always inside the range; a diverged run's blow-up is marked where it
happened, with the loss it blew up to.

    curves_spec(metric, current, earlier)   loss or accuracy against epochs (Train, Inspect)
    health_spec(rows, metric)               one layer-health figure against epochs, a line a layer
    log_axis(values)                        (scale, axis) of a log axis over ``values``
    runs_text(current, earlier)             which dash is which run, in words
    loss_words(value)                       a blown-up loss, as the axis writes it
    thin(history)                           at most MAX_POINTS records, evenly
"""
import math

import numpy as np

from app.render.palette import COLORS

SPLITS = ("training", "validation")
# Each refresh sends at most this many records per run (the current run; earlier runs half as
# many), whatever the length of the run: the chart looks the same and the page stays light.
MAX_POINTS = 300
# Dash patterns of the runs in the legend: the current run solid, earlier ones dashed.
DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3], [10, 2], [3, 2, 1, 2], [6, 2, 2, 2]]
# A share axis: 0 to 100%, the top a little above 100% so that a line or bar at 100% sits on the
# 100% gridline (a domain ending at exactly 1 puts half the line's width above the frame).
PERCENT = {"scale": {"domain": [0, 1.025], "nice": False, "zero": True},
           "axis": {"format": ".0%", "values": [0, 0.2, 0.4, 0.6, 0.8, 1.0]}}
HEALTHY_UPDATE = 1e-3            # the update / weight size guide line
# A legend inside the plot, in a corner the lines leave empty: the plot keeps the chart's height.
LEGEND_INSIDE = {"direction": "vertical", "labelFontSize": 12, "labelLimit": 0, "symbolSize": 80,
                 "fillColor": "rgba(255,255,255,0.85)", "padding": 4, "offset": 6}


def _finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def thin(history, max_points=MAX_POINTS):
    """At most ``max_points`` records of ``history``, evenly spread, the first and last kept."""
    n = len(history)
    if n <= max_points:
        return list(history)
    keep = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))
    return [history[i] for i in keep]


def curve_rows(history, metric, run_label, current=True):
    """Long-format rows {epoch, step, value, split, run, current} for ``metric`` ("loss" or
    "accuracy") from a list of TrainRecord dicts. Records without a finite epoch use their step."""
    rows = []
    for record in history:
        epoch = record.get("epoch")
        step = record.get("step")
        x = epoch if _finite(epoch) else step
        if not _finite(x):
            continue
        for split, key in zip(SPLITS, (f"train_{metric}", f"val_{metric}")):
            value = record.get(key)
            if _finite(value):
                rows.append({"epoch": round(float(x), 4),
                             "step": int(step) if _finite(step) else None,
                             "value": float(value), "split": split, "run": run_label,
                             "current": "this run" if current else "earlier"})
    return rows


def log_axis(values, include=()):
    """({scale}, {axis}) of a log axis spanning the positive finite ``values`` and ``include``:
    ticks at powers of ten (with 2 and 5 between them when the range is under two decades),
    labelled "0.01", "0.1", "1", "10" near 1 and "1e-4", "1e8" beyond."""
    positive = [float(v) for v in (*values, *include) if _finite(v) and v > 0]
    if not positive:
        return {"type": "log"}, {}
    lo, hi = min(positive), max(positive)
    if hi <= lo * 1.5:                                    # a flat line: show a decade around it
        lo, hi = lo / 3, hi * 3
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    multiples = (1,) if last - first > 2 else (1, 2, 5)
    ticks = [m * 10.0 ** k for k in range(first, last + 1) for m in multiples
             if lo / 1.001 <= m * 10.0 ** k <= hi * 1.001]
    if len(ticks) < 2:
        ticks = sorted({*ticks, *(float(f"{v:.1g}") for v in (lo, hi))})
    label = ("abs(datum.value) >= 0.001 && abs(datum.value) < 10000 ? format(datum.value, '~g') "
             ": replace(format(datum.value, '.0e'), '+', '')")
    scale = {"type": "log", "domain": [lo / 1.15, hi * 1.15], "nice": False}
    return scale, {"values": [float(f"{t:.3g}") for t in ticks], "labelExpr": label}


def _epoch_axis(epochs, title="epoch"):
    x = {"field": "epoch", "type": "quantitative", "title": title,
         "axis": {"labelFlush": True, "titlePadding": 2}}
    if epochs:
        x["scale"] = {"domain": [0, float(epochs)], "nice": False}
        if epochs >= 2:                      # whole epochs, written in full (never "1e+2")
            x["axis"].update(tickMinStep=1, format="d")
    return x


def curves_spec(metric, current=None, earlier=(), *, log_scale=False, epochs=None,
                blew_up=None, position=None, height=300, titled=True, legend_inside=False):
    """A line chart of ``metric`` ("loss" | "accuracy") against epochs, values on hover.

    current:   (label, history) of the run being watched (or the model inspected), or None.
    earlier:   [(label, history), ...] of earlier runs: named in the legend, dashed and faded.
    log_scale: the loss on a log axis (the tail of a loss curve is unreadable on a linear one).
               A diverged run's loss is always on one: its blow-up would flatten the rest.
    epochs:    the run's planned length: the x axis spans it from the start, so the curve grows
               into a fixed frame instead of the frame rescaling at every refresh.
    blew_up:   {"epoch", "step", "loss"} where a diverged run blew up: a red cross there, at the
               loss it blew up to, with the words.
    position:  an epoch to mark with a vertical rule (the replay slider's moment).
    height:    the whole chart's, title, legend and axes included.
    titled:    the title inside the chart (False: the page names it, and the plot gets the room).
    legend_inside: training / validation named in a corner of the plot the curves leave empty
               (loss: top right, accuracy: bottom right), not in a row above it.
    """
    rows = []
    for label, history in earlier:
        rows += curve_rows(thin(history, MAX_POINTS // 2), metric, label, current=False)
    if current is not None:
        rows += curve_rows(thin(current[1]), metric, current[0], current=True)
    runs = list(dict.fromkeys([*([current[0]] if current else []), *(lbl for lbl, _ in earlier)]))
    title = "Loss (lower is better)" if metric == "loss" else "Accuracy (higher is better)"
    marker = _blow_up_marker(rows, blew_up) if blew_up is not None and current else None
    y = {"field": "value", "type": "quantitative", "title": None}
    if metric == "accuracy":
        y.update(PERCENT)
    elif log_scale or marker is not None:
        y["scale"], y["axis"] = log_axis([r["value"] for r in rows],
                                         [marker["value"]] if marker else ())
        title = "Loss, log scale (lower is better)"
    else:
        y["scale"] = {"zero": True}
    x = _epoch_axis(epochs)
    value_format = ".2%" if metric == "accuracy" else ".4g"
    hover = {"param": "hover", "empty": False}
    series = {"y": y, "detail": {"field": "run", "type": "nominal"},
              "color": {"field": "split", "type": "nominal", "title": None,
                        "scale": {"domain": list(SPLITS), "range": [COLORS[s] for s in SPLITS]},
                        "legend": {"orient": "top", "direction": "horizontal", "labelFontSize": 12,
                                   "labelLimit": 0}}}
    if legend_inside:
        # in the corner the lines leave empty: a falling loss's top right, a rising accuracy's
        # bottom right, and a loss that blew up (its cross at the top right) the bottom right
        series["color"]["legend"] = {**LEGEND_INSIDE,
                                     "orient": "top-right" if metric == "loss" and marker is None
                                     else "bottom-right"}
    layers = [
        {"mark": {"type": "line", "interpolate": "monotone", "clip": True},
         "encoding": {
             **series,
             "strokeDash": {"field": "run", "type": "nominal", "title": None,
                            "scale": {"domain": runs, "range": DASHES[:len(runs)] or [[1, 0]]},
                            # the runs are named only when there is more than one to tell apart
                            # (with the legend inside, by the page: runs_text)
                            "legend": {"orient": "bottom", "direction": "vertical",
                                       "labelLimit": 420, "symbolStrokeColor": "#555",
                                       "symbolStrokeWidth": 2}
                            if len(runs) > 1 and not legend_inside else None},
             "opacity": {"field": "current", "type": "nominal", "legend": None,
                         "scale": {"domain": ["this run", "earlier"], "range": [1.0, 0.5]}},
             "strokeWidth": {"field": "current", "type": "nominal", "legend": None,
                             "scale": {"domain": ["this run", "earlier"], "range": [2.4, 1.4]}}}},
        # invisible points that light up at the epoch under the mouse, with the exact values
        {"params": [{"name": "hover", "select": {"type": "point", "fields": ["epoch"],
                                                 "nearest": True, "on": "mouseover",
                                                 "clear": "mouseout"}}],
         "mark": {"type": "point", "filled": True, "size": 60, "clip": True},
         "encoding": {
             **series,
             "opacity": {"condition": {**hover, "value": 1}, "value": 0},
             "tooltip": [{"field": "run", "type": "nominal"},
                         {"field": "split", "type": "nominal"},
                         {"field": "epoch", "type": "quantitative", "format": ".2f"},
                         {"field": "step", "type": "quantitative", "format": ","},
                         {"field": "value", "type": "quantitative", "format": value_format}]}},
        {"transform": [{"filter": hover}],
         "mark": {"type": "rule", "color": "#888", "strokeWidth": 1}},
    ]
    if marker is not None:
        at = {"y": {**y, "field": "value"}, "color": {"value": COLORS["guess"]},
              "tooltip": [{"field": "text", "title": "diverged"}]}
        layers += [{"data": {"values": [marker]}, "encoding": at,
                    "mark": {"type": "point", "shape": "cross", "size": 260, "strokeWidth": 3,
                             "filled": True, "color": COLORS["guess"]}},
                   # the words on the side of the cross with room: a blow-up near the start of
                   # the axis is written to its right
                   {"data": {"values": [marker]}, "encoding": {**at, "text": {"field": "text"}},
                    "mark": {"type": "text", "align": "left" if marker["early"] else "right",
                             "dx": 12 if marker["early"] else -12, "dy": 12, "fontSize": 12,
                             "fontWeight": "bold", "color": COLORS["guess"]}}]
    if position is not None:
        layers.append({"data": {"values": [{"epoch": float(position)}]},
                       "mark": {"type": "rule", "color": COLORS["guess"], "strokeDash": [4, 3],
                                "strokeWidth": 2}})
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "height": height,
        "data": {"values": rows},
        "encoding": {"x": x},
        "layer": layers,
    }
    if titled:
        spec["title"] = title
    return spec


def curves_title(metric, log_scale=False, blew_up=None):
    """The title curves_spec gives its chart, for a page that writes it above an untitled one."""
    if metric == "accuracy":
        return "Accuracy (higher is better)"
    return "Loss, log scale (lower is better)" if log_scale or blew_up else "Loss (lower is better)"


DASH_NAMES = ("solid", "dashed", "dotted", "dash-dot", "long dashes")


def runs_text(current_label, earlier_labels):
    """"solid: run 2 (...) · dashed: run 1 (...)": which line is which run, in words that wrap
    (a legend in a narrow chart cuts the names)."""
    runs = list(dict.fromkeys([*([current_label] if current_label else []), *earlier_labels]))
    if len(runs) < 2:
        return None
    return " · ".join(f"{DASH_NAMES[i] if i < len(DASH_NAMES) else 'dashed'}: {label}"
                      for i, label in enumerate(runs))


def loss_words(value):
    """A blown-up loss as the chart's axis writes it: 63.2, 1.2e8, or "not a number"."""
    if not _finite(value):
        return "not a number"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.1e}".replace("e+0", "e").replace(
        "e+", "e")


def _blow_up_marker(rows, blew_up):
    """{"epoch", "value", "text"} of the cross: where the run blew up, at the loss it blew up to
    (or, when that was not even a number, just above the highest loss drawn)."""
    ours = [r for r in rows if r["current"] == "this run"]
    epoch = blew_up.get("epoch")
    if not _finite(epoch):
        epoch = ours[-1]["epoch"] if ours else 0.0
    loss = blew_up.get("loss")
    highest = max((r["value"] for r in ours), default=1.0)
    value = float(loss) if _finite(loss) and loss > 0 else highest * 10
    step = blew_up.get("step")
    where = f"step {int(step):,}" if _finite(step) else f"epoch {float(epoch):.2f}"
    last = max((r["epoch"] for r in rows), default=0.0)
    return {"epoch": round(float(epoch), 4), "value": value, "early": epoch <= last / 2,
            "text": f"blew up: loss {loss_words(loss)} at {where}"}


def health_spec(rows, metric, title=None, log_scale=False, healthy=None, position=None,
                epochs=None, height=240, legend_inside=False, rising=False):
    """One layer-health figure (rows from app.render.inside.health_rows) against epochs, a line per
    layer; ``healthy``: a value to draw as a dashed green guide line (always within the axis).
    ``height`` is the whole chart's, title, axes and legend included (Streamlit fits them inside);
    without ``title`` the page names the chart; ``legend_inside``: the layers named in the plot's
    top right corner (the figures fall or stay flat), leaving the plot the height; or, when
    ``rising`` (a run that blew up), in the bottom right one."""
    values = [r for r in rows if r["metric"] == metric and (r["value"] > 0 or not log_scale)]
    y = {"field": "value", "type": "quantitative", "title": None}
    if metric == "dead_share":
        y.update(PERCENT)
    elif log_scale:
        y["scale"], y["axis"] = log_axis([r["value"] for r in values],
                                         [healthy] if healthy is not None else ())
    x = _epoch_axis(epochs)
    layers = [{"mark": {"type": "line", "clip": True, "point": len(values) < 40, "strokeWidth": 2},
               "encoding": {"x": x, "y": y,
                            "color": {"field": "layer", "type": "nominal", "title": None,
                                      "scale": {"scheme": "dark2"},
                                      "legend": {**LEGEND_INSIDE,
                                                 "orient": "bottom-right" if rising
                                                 else "top-right"}
                                      if legend_inside else
                                      {"orient": "top", "direction": "horizontal",
                                       "symbolSize": 80, "labelFontSize": 12,
                                       "labelLimit": 0, "columns": 6}},
                            "tooltip": [{"field": "layer"},
                                        {"field": "epoch", "type": "quantitative", "format": ".2f"},
                                        {"field": "value", "type": "quantitative",
                                         "format": ".1%" if metric == "dead_share" else ".3g"}]}}]
    if healthy is not None:
        layers.append({"data": {"values": [{"value": float(healthy), "what": "healthy"}]},
                       "mark": {"type": "rule", "color": COLORS["right"], "strokeDash": [6, 4],
                                "strokeWidth": 2},
                       "encoding": {"y": {**y, "field": "value"},
                                    "tooltip": [{"field": "what"}, {"field": "value"}]}})
    if position is not None:
        layers.append({"data": {"values": [{"epoch": float(position)}]},
                       "mark": {"type": "rule", "color": COLORS["guess"], "strokeDash": [4, 3],
                                "strokeWidth": 2},
                       "encoding": {"x": x}})
    # x is given layer by layer: the guide line has no epoch, and an x it inherited would leave
    # it undrawn (so the 0.001 line the caption names was never on screen)
    spec = {"height": height, "data": {"values": values}, "layer": layers}
    if title:
        spec["title"] = {"text": title, "anchor": "start", "fontSize": 13}
    return spec
