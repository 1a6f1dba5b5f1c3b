"""Streamlit-side helpers for the Inspect page: Vega-Lite specs, image grids, cached evaluations.

The chart builders return plain Vega-Lite dicts (drawn with ``st.vega_lite_chart`` in 1-3 ms) and
the image builders return uint8 arrays, so they can be tested without a running app. The one
expensive thing, the model's predictions over the whole test set, is computed once per set of
weights (``test_predictions``, keyed by a fingerprint of the weights) and reused on every rerun.
"""
import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import metrics

WEIGHTS_PER_PAGE = 64
HEAT_SCHEME = "blues"


# -- the expensive part, once per model ---------------------------------------------------------
def fingerprint(saved):
    """A short hash of the model's weights and its scaling: the cache key for its evaluations."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(saved.scaling.encode())
    for name in sorted(saved.model.params):
        value = np.ascontiguousarray(saved.model.params[name])
        digest.update(name.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Evaluation:
    probabilities: np.ndarray   # (N, 10) on the test set
    predicted: np.ndarray       # (N,)
    labels: np.ndarray          # (N,)
    confusion: np.ndarray       # (10, 10), row = true class
    per_class: np.ndarray       # (10,) recall of each class
    accuracy: float


@st.cache_data(show_spinner="Running the model on every test image…", max_entries=16)
def test_predictions(model_key, _saved, _raw):
    """Evaluate ``_saved`` on the test images of ``_raw`` (a RawDataset).

    Cached by ``model_key``: the arguments with a leading underscore are not hashed, so the key
    must identify both (see ``evaluation_key``). About 10 MB of work once, a dict lookup after.
    """
    from core.datasets import scale_pixels
    X_test = scale_pixels(_raw.test_images, _saved.scaling)                     # (N, 784)
    probabilities = _saved.model.predict_proba(X_test).astype(np.float32)      # (N, 10)
    predicted = probabilities.argmax(axis=1)
    labels = np.asarray(_raw.test_labels, dtype=np.int64)
    confusion = metrics.confusion_matrix(predicted, labels, probabilities.shape[1])
    return Evaluation(probabilities, predicted, labels, confusion,
                      metrics.per_class_accuracy(confusion), metrics.accuracy(predicted, labels))


def evaluation_key(saved, raw):
    """Identifies a (model weights, test set) pair for ``test_predictions``."""
    return (fingerprint(saved), raw.name, raw.source, raw.location, int(raw.test_images.shape[0]))


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def load_model_file(path, mtime):
    """A saved model file, loaded once per (path, modification time). Read-only: shared."""
    from core.modelio import load_model
    return load_model(path)


def display_images(X, scaling):
    """Model inputs (N, 784) in the given scaling -> (N, 28, 28) floats in [0, 1] to show."""
    X = np.asarray(X, dtype=np.float32)
    if scaling == "symmetric":
        X = (X + 1.0) / 2.0
    return X.reshape(-1, 28, 28)


# -- charts --------------------------------------------------------------------------------------
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
                 "color": {"condition": [{"test": "datum.correct", "value": "#cfe8d5"},
                                         {"test": "datum.count == 0", "value": "#ffffff"}],
                           "field": "share", "type": "quantitative", "title": "share of true class",
                           "scale": {"type": "sqrt", "domain": [0, 0.1], "clamp": True,
                                     "range": ["#fdd9b5", "#a63603"]},
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
    domain = [max(0.0, np.floor(low * 10) / 10 - 0.1), 1.0]
    layers = [{"mark": {"type": "bar", "color": "#4c78a8", "clip": True},
               "encoding": {
                   "x": {"field": "accuracy", "type": "quantitative", "title": "accuracy",
                         "scale": {"domain": domain}, "axis": {"format": "%"}},
                   "y": {"field": "class", "type": "nominal", "sort": {"field": "order"}, "title": None},
                   "tooltip": [{"field": "class"}, {"field": "accuracy", "format": ".2%"}]}}]
    if overall is not None:
        layers.append({"data": {"values": [{"overall": float(overall)}]},
                       "mark": {"type": "rule", "color": "#e4572e", "strokeDash": [4, 3]},
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


def curves_spec(history, metric):
    """Training curves from SavedModel.history: ``metric`` is "loss" or "accuracy"."""
    values = []
    for record in history:
        x = record.get("epoch")
        if x is None or not np.isfinite(x):
            x = record.get("step")
        for split in ("train", "val"):
            y = record.get(f"{split}_{metric}")
            if y is not None and np.isfinite(y):
                values.append({"x": float(x), "value": float(y),
                               "split": "training" if split == "train" else "validation"})
    y = {"field": "value", "type": "quantitative", "title": metric, "scale": {"zero": False}}
    if metric == "accuracy":
        y["axis"] = {"format": "%"}
    return {
        "data": {"values": values},
        "height": 220,
        "mark": {"type": "line", "point": len(values) <= 60},
        "encoding": {
            "x": {"field": "x", "type": "quantitative", "title": "epoch"},
            "y": y,
            "color": {"field": "split", "type": "nominal", "title": None,
                      "scale": {"domain": ["training", "validation"], "range": ["#4c78a8", "#e4572e"]}},
            "tooltip": [{"field": "split"}, {"field": "x", "title": "epoch", "format": ".2f"},
                        {"field": "value", "format": ".4f"}],
        },
    }


# -- images --------------------------------------------------------------------------------------
def diverging_rgb(values, limit=None):
    """Map values to RGB uint8: negative blue, zero white, positive red (symmetric around 0)."""
    values = np.asarray(values, dtype=np.float32)
    limit = float(np.max(np.abs(values))) if limit is None else float(limit)
    t = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values)
    red, blue = np.array([178, 24, 43], np.float32), np.array([33, 102, 172], np.float32)
    white = np.float32(255.0)
    pos, neg = np.clip(t, 0, 1)[..., None], np.clip(-t, 0, 1)[..., None]
    rgb = white + pos * (red - white) + neg * (blue - white)
    return (rgb + 0.5).astype(np.uint8)


def weight_images(W, start=0, count=WEIGHTS_PER_PAGE, scale=4):
    """The incoming weights of units ``start .. start+count-1`` of a first layer W (784, H), each as
    a 28x28 red/blue image enlarged ``scale`` times. Each unit has its own colour range (its largest
    |weight| is full colour), so every pattern is visible whatever its magnitude."""
    W = np.asarray(W, dtype=np.float32)
    stop = min(W.shape[1], start + count)
    images = []
    for j in range(start, stop):
        image = diverging_rgb(W[:, j].reshape(28, 28))
        images.append(_margin(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)))
    return images


def grey_images(images, scale=3):
    """(N, 28, 28) floats in [0, 1] -> list of enlarged uint8 images (nearest-neighbour), each with
    a thin white margin so that neighbours in a gallery do not run into each other."""
    out = []
    for image in images:
        image = (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        out.append(_margin(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)))
    return out


def _margin(image, width=3, value=255):
    pad = ((width, width), (width, width)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, constant_values=value)
