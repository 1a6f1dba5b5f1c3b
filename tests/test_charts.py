"""app.charts: one module, one colour scheme, specs a browser can draw (no NaN, every value)."""
import json

import numpy as np
import pytest

from app.render.charts import (
    MAX_POINTS,
    activation_spec,
    confusion_spec,
    curves_spec,
    per_class_spec,
    probabilities_spec,
    thin,
)
from app.render.curves import health_spec, log_axis
from app.render.palette import COLORS

DIGITS = [str(d) for d in range(10)]
HISTORY = [{"step": 10, "epoch": 1.0, "train_loss": 0.5, "val_loss": np.nan,
            "train_accuracy": 0.8, "val_accuracy": np.nan},
           {"step": 20, "epoch": 2.0, "train_loss": 0.3, "val_loss": 0.35,
            "train_accuracy": 0.9, "val_accuracy": 0.88}]


def test_confusion_spec_writes_every_count():
    spec = confusion_spec(np.arange(100).reshape(10, 10), DIGITS)
    values = spec["data"]["values"]
    assert len(values) == 100
    assert values[23] == {**values[23], "true": "2", "predicted": "3", "count": 23, "label": "23"}
    assert values[0]["label"] == ""                           # zeros are left blank


def test_per_class_spec_leaves_a_class_without_images_empty():
    spec = per_class_spec(np.array([0.9] * 9 + [np.nan]), DIGITS, 0.9)
    assert spec["data"]["values"][9]["accuracy"] is None


def test_curves_skip_missing_values_and_fall_back_to_steps():
    values = curves_spec("loss", ("run 1", HISTORY))["data"]["values"]
    assert [(v["epoch"], v["split"]) for v in values] == [(1.0, "training"), (2.0, "training"),
                                                          (2.0, "validation")]
    no_epochs = [{**r, "epoch": None} for r in HISTORY]
    values = curves_spec("accuracy", ("run 1", no_epochs))["data"]["values"]
    assert [v["epoch"] for v in values] == [10, 20, 20]


def test_earlier_runs_are_named_in_the_legend_and_dashed():
    spec = curves_spec("loss", ("run 2", HISTORY), [("run 1", HISTORY)])
    runs = {(v["run"], v["current"]) for v in spec["data"]["values"]}
    assert runs == {("run 1", "earlier"), ("run 2", "this run")}
    dash = spec["layer"][0]["encoding"]["strokeDash"]
    assert dash["scale"]["domain"] == ["run 2", "run 1"] and dash["legend"] is not None
    assert dash["scale"]["range"][0] == [1, 0] and dash["scale"]["range"][1] != [1, 0]


def test_long_histories_are_thinned_to_a_bounded_number_of_points():
    long = [{**HISTORY[1], "step": i, "epoch": i / 100} for i in range(50_000)]
    spec = curves_spec("loss", ("now", long), [(f"before {i}", long) for i in range(3)])
    per_run = {}
    for row in spec["data"]["values"]:
        per_run[row["run"]] = per_run.get(row["run"], 0) + 1
    assert per_run["now"] <= 2 * MAX_POINTS          # two splits
    assert all(per_run[f"before {i}"] <= MAX_POINTS for i in range(3))
    kept = thin(long)
    assert kept[0] is long[0] and kept[-1] is long[-1]


def test_loss_on_a_log_scale_and_a_fixed_epoch_axis():
    spec = curves_spec("loss", ("run", HISTORY), log_scale=True, epochs=20)
    y = spec["layer"][0]["encoding"]["y"]
    assert y["scale"]["type"] == "log"
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 20.0]
    assert spec["encoding"]["x"]["axis"]["format"] == "d", "epochs 100 and 150, not 1e+2"


def test_a_diverged_run_is_marked_where_it_blew_up():
    spec = curves_spec("loss", ("run", HISTORY), blew_up={"epoch": 2.5, "step": 250, "loss": 3e8})
    marks = [layer for layer in spec["layer"] if layer["mark"].get("shape") == "cross"]
    assert len(marks) == 1
    marker = marks[0]["data"]["values"][0]
    # at the moment it blew up, at the loss it blew up to, with the words the metric uses
    assert marker["epoch"] == 2.5 and marker["value"] == 3e8
    assert marker["text"] == "blew up: loss 3.0e8 at step 250"
    y = spec["layer"][0]["encoding"]["y"]
    assert y["scale"]["type"] == "log", "a blow-up on a linear axis flattens the rest of the curve"
    assert y["scale"]["domain"][1] >= 3e8 and 1e8 in y["axis"]["values"]
    assert all(len(f"{v:g}") <= 6 for v in y["axis"]["values"]), "ticks at powers of ten"
    # a loss that was not even a number is marked just above the curve
    nan = curves_spec("loss", ("run", HISTORY), blew_up={"epoch": 2.5, "loss": float("nan")})
    marker = next(layer for layer in nan["layer"] if layer["mark"].get("shape") == "cross")
    assert "not a number" in marker["data"]["values"][0]["text"]
    json.dumps(nan, allow_nan=False)


def test_log_axes_are_labelled_at_powers_of_ten_or_round_numbers():
    scale, axis = log_axis([0.02, 2.3, 1e8])
    assert axis["values"] == [10.0 ** k for k in range(-1, 9)]
    assert scale["domain"][0] < 0.02 and scale["domain"][1] > 1e8
    scale, axis = log_axis([0.05, 0.3])                 # under a decade: 1, 2 and 5 of each
    assert axis["values"] == [0.05, 0.1, 0.2]
    scale, axis = log_axis([0.004], include=[1e-3])    # the guide line stays inside
    assert scale["domain"][0] < 1e-3 < scale["domain"][1]


@pytest.mark.parametrize("spec", [
    curves_spec("accuracy", ("run", [{"epoch": 0, "step": 0, "train_accuracy": 1.0,
                                       "val_accuracy": 1.0}])),
    health_spec([{"epoch": 0.0, "step": 0, "layer": "layer 1", "metric": "dead_share",
                  "value": 1.0}], "dead_share"),
], ids=["accuracy", "dead units"])
def test_shares_end_at_100_percent_drawn_on_its_gridline(spec):
    y = spec["layer"][0]["encoding"]["y"]
    assert y["axis"]["values"][-1] == 1.0 and y["axis"]["format"] == ".0%"
    top = y["scale"]["domain"][1]
    assert 1.0 < top < 1.05 and y["scale"]["nice"] is False, "100% below the top, no 120% tick"


def test_the_update_size_guide_line_is_always_in_range():
    rows = [{"epoch": e / 10, "step": e, "layer": "layer 1", "metric": "update_ratio",
             "value": 0.05 + e / 100} for e in range(10)]
    spec = health_spec(rows, "update_ratio", log_scale=True, healthy=1e-3)
    y = spec["layer"][0]["encoding"]["y"]
    assert y["scale"]["domain"][0] < 1e-3, "the 0.001 guide the caption names is drawn"
    guide = spec["layer"][1]
    assert guide["mark"]["type"] == "rule" and guide["data"]["values"][0]["value"] == 1e-3
    # drawn across the chart: no x of its own, none inherited (its row has no epoch)
    assert "x" not in guide["encoding"] and "x" not in spec.get("encoding", {})
    legend = spec["layer"][0]["encoding"]["color"]["legend"]
    assert legend["labelLimit"] == 0, "layer names are never cut ('laye...')"


def test_probability_chart_highlights_the_guess():
    spec = probabilities_spec(np.eye(10)[3] * 0.9 + 0.01, DIGITS)
    values = spec["data"]["values"]
    assert [v["guess"] for v in values].index(True) == 3
    assert values[3]["text"] == "91%"
    assert spec["layer"][0]["encoding"]["color"]["condition"]["value"] == COLORS["guess"]


def test_one_colour_per_meaning():
    spec = curves_spec("accuracy", ("run", HISTORY))
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {
        "training": COLORS["training"], "validation": COLORS["validation"]}


@pytest.mark.parametrize("spec", [
    curves_spec("loss", ("run", HISTORY), blew_up={"epoch": 1.0}, position=1.5),
    curves_spec("accuracy", None, [("old", HISTORY)]),
    probabilities_spec([0.1] * 10, DIGITS, title="Output layer"),
    confusion_spec(np.eye(10, dtype=int), DIGITS),
    per_class_spec([np.nan] * 10, DIGITS, 0.5),
    activation_spec(np.array([0.0, -1.0, 2.5]), "Hidden layer 1"),
], ids=["loss", "accuracy", "probabilities", "confusion", "per-class", "activations"])
def test_specs_are_strict_json(spec):
    json.dumps(spec, allow_nan=False)        # raises on NaN or Infinity, which Vega cannot read
