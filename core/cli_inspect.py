"""``python -m core eval`` and ``visualize``: what a saved model does on the test set."""
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .records import known

ROOT = Path(__file__).resolve().parents[1]


def _pct(x):
    return "   n/a" if known(x) is None else f"{x:6.2%}"


def _read_extra(args):
    from .cli_teach import _read_extra as read
    return read(args)


def _load_raw(args):
    from .cli import _load_raw as load
    return load(args)


def load_saved(args, out=None):
    """The SavedModel of --model (or the default one), saying what it is on ``out`` (stdout)."""
    import sys
    out = out or sys.stdout
    from .cli import default_model
    from .modelio import load_model
    path = Path(args.model) if args.model else default_model(args.dataset)
    saved = load_model(path)
    if args.model is None and saved.dataset != args.dataset:
        raise ConfigError(f"{path} holds a {saved.dataset} model, not {args.dataset}.")
    if saved.dataset != args.dataset:
        print(f"Note: {path} was trained on {saved.dataset}; evaluating it on {saved.dataset}.",
              file=out)
        args.dataset = saved.dataset
    print(f"Loaded parameters from {path}: {saved.describe()}", file=out)
    return saved


def _class_label(k, name, labels_only):
    return name if labels_only else f"{k} {name}"


def evaluate_saved(saved, raw):
    """(probabilities (M, 10), test labels (M,)) of ``saved`` on the test set of ``raw``."""
    from .datasets import scale_pixels
    X = scale_pixels(raw.test_images, saved.scaling, dtype=saved.model.dtype)
    return saved.model.predict_proba(X), np.asarray(raw.test_labels, np.int64)


def cmd_eval(args):
    from .datasets import CLASS_NAMES
    from .metrics import accuracy, confusion_matrix, per_class_accuracy

    saved = load_saved(args)
    drawings = _read_extra(args) if getattr(args, "extra_data", None) else None
    raw = _load_raw(args)
    probs, labels = evaluate_saved(saved, raw)
    predicted = probs.argmax(axis=1)
    print(f"Accuracy: {accuracy(predicted, labels) * 100:.2f}%")
    if drawings is not None:
        guesses = saved.model.predict(drawings.pixels(saved.scaling, saved.model.dtype))
        print(f"Accuracy on {args.extra_data}: {accuracy(guesses, drawings.labels) * 100:.2f}%")
    per_class = per_class_accuracy(confusion_matrix(predicted, labels))
    counts = np.bincount(labels, minlength=10)
    names = CLASS_NAMES[saved.dataset]
    labels_only = all(name == str(k) for k, name in enumerate(names))   # MNIST: the digit itself
    width = max(len("class"), *(len(_class_label(k, name, labels_only)) for k, name in enumerate(names)))
    print("Per-class accuracy:")
    print(f"  {'class':<{width}}  accuracy  test images")
    for k, name in enumerate(names):
        print(f"  {_class_label(k, name, labels_only):<{width}}  {_pct(float(per_class[k])):>8}  "
              f"{counts[k]:>11,}")
    return 0


def cmd_visualize(args):
    from . import visualize
    saved = load_saved(args)
    raw = _load_raw(args)
    out_dir = Path(args.out_dir) if args.out_dir else ROOT / "figures" / args.dataset
    probs, labels = evaluate_saved(saved, raw)
    for path in visualize.write_all(saved, raw, probs, labels, out_dir):
        print(path)
    return 0


