"""``python -m core train --start-from MODEL [--extra-data DIR] --out OUT``: teach a saved model
(core.finetune), the drawings of --extra-data mixed into its batches; and reading those drawings
(``eval --extra-data`` too). Split from core.cli, whose parser and helpers it uses."""
import math
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .reader import has_reader, marked

# Settings that describe a network: a model you start from keeps its own.
_ARCHITECTURE_FLAGS = (("hidden", "--hidden"), ("layers", "--layers"), ("activation", "--activation"),
                       ("output_activation", "--output-activation"), ("loss", "--loss"),
                       ("init", "--init"), ("dropout", "--dropout"), ("preset", "--preset"))


def teach_config_from_args(args, saved, n_train):
    """The TeachConfig of ``train --start-from``: core.finetune's defaults, overridden by the
    flags that were given. Refuses flags that would change the saved model's architecture,
    scaling or number type. ``n_train``: training images (turns --epochs into steps)."""
    from .finetune import TeachConfig

    given = [flag for name, flag in _ARCHITECTURE_FLAGS if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} cannot change a model you start from: "
                          f"--start-from keeps its architecture ({saved.model.config.describe()}). "
                          "Leave them out, or train a new network without --start-from.")
    if args.scaling is not None and args.scaling != saved.scaling:
        raise ConfigError(f"{saved.path or 'That model'} reads pixels in the {saved.scaling} "
                          f"scaling; --scaling {args.scaling} would not fit it.")
    if args.dtype is not None and args.dtype != saved.model.config.dtype:
        raise ConfigError(f"{saved.path or 'That model'} holds {saved.model.config.dtype} weights; "
                          f"--dtype {args.dtype} cannot change that when fine-tuning.")
    overrides = {k: v for k, v in {
        "learning_rate": args.learning_rate, "optimizer": args.optimizer,
        "momentum": args.momentum, "weight_decay": args.weight_decay,
        "lr_schedule": args.lr_schedule, "seed": args.seed,
        "extra_share": args.extra_share, "steps": args.iterations}.items() if v is not None}
    if args.augment is not None:
        overrides["augment"] = overrides["augment_dataset"] = args.augment
    if hasattr(args, "batch_size"):
        if args.batch_size is None:
            raise ConfigError("Fine-tuning mixes your drawings into mini-batches: give "
                              "--batch-size a number (the default is 128), not 'full'.")
        overrides["batch_size"] = args.batch_size
    if args.second_reader is not None:
        overrides["second_reader"] = args.second_reader
    if has_reader(saved.train_config):
        overrides["second_reader"] = False         # core.reader: grown once, not again
    config = TeachConfig(**overrides)
    if args.epochs is not None and args.iterations is None:
        per_data = config.batch_size - config.extra_per_batch(1, n_train)
        steps = max(1, math.ceil(args.epochs * n_train / max(per_data, 1)))
        config = TeachConfig(**{**config.to_dict(), "steps": steps})
    return config


def _class_counts(drawings):
    counts = drawings.counts()
    if counts.min() == counts.max():
        return f"{counts[0]:,} per class"
    return "per class " + ", ".join(f"{k}: {c}" for k, c in enumerate(counts))


def _read_extra(args):
    """The drawings of --extra-data (core.handwriting.Drawings), with a line saying what they are."""
    from .handwriting import read_dir
    drawings = read_dir(args.extra_data)
    print(f"Extra data: {len(drawings):,} drawings from {args.extra_data} ({_class_counts(drawings)})")
    return drawings


def cmd_finetune(args):
    """``train --start-from MODEL [--extra-data DIR] --out OUT``: core.finetune.teach from the
    weights of MODEL on the dataset mixed with the drawings, then save OUT."""
    from .cli import ProgressBar, _load_raw, _pct
    from .datasets import make_splits
    from .finetune import accuracy, copy_model, teach
    from .modelio import SavedModel, load_model, save_model

    if not args.out:
        raise ConfigError("--start-from needs --out FILE for the fine-tuned model (it would "
                          f"otherwise replace model/{args.dataset}/nn_parameters.npz).")
    start = load_model(args.start_from)
    if start.dataset != args.dataset:
        raise ConfigError(f"{args.start_from} is a {start.dataset} model; add -dataset "
                          f"{start.dataset} to fine-tune it.")
    print(f"Started from {args.start_from}: {start.describe()}")
    drawings = _read_extra(args) if args.extra_data else None
    raw = _load_raw(args)
    # the validation split the model was trained with, so that validation stays unseen
    validation = start.train_config.get("validation_size", 5000)
    if args.validation_size is not None:
        v = args.validation_size
        validation = int(v) if v >= 1 else v
    split_seed = start.train_config.get("seed", 0)
    dtype = np.dtype(start.model.config.dtype)
    splits = make_splits(raw, validation, start.scaling, rng=split_seed, dtype=dtype)
    config = teach_config_from_args(args, start, splits.X_train.shape[0])
    X_extra = drawings.pixels(start.scaling, dtype) if drawings is not None else np.zeros((0, 784), dtype)
    y_extra = drawings.labels.astype(np.int64) if drawings is not None else np.zeros(0, np.int64)
    per_extra = config.extra_per_batch(len(y_extra), splits.X_train.shape[0])
    model = copy_model(start.model)
    steps = config.steps_for(model.config, len(y_extra))
    print(f"Model: {model}")
    mix = (f"batches of {config.batch_size} ({per_extra} of them drawings"
           f"{', distorted' if config.augment else ''})" if per_extra
           else f"batches of {config.batch_size}")
    print(f"Training: fine-tuning, {config.optimizer}, lr {config.learning_rate:g} "
          f"({config.lr_schedule}), {mix}, {steps:,} steps on "
          f"{splits.X_train.shape[0]:,} images"
          + (f" + {len(y_extra):,} drawings" if len(y_extra) else "")
          + f" (validation {splits.X_val.shape[0]:,})")
    test_before = accuracy(start.model, splits.X_test, splits.y_test)
    extra_before = accuracy(start.model, X_extra, y_extra)
    bar = ProgressBar()
    history = []
    for record in teach(model, splits, X_extra, y_extra, config):
        history.append(record.to_dict())
        bar.update(record)
    last = history[-1]
    grew = model.config != start.model.config
    if grew:
        print(f"Second reader: the network grew to {model.config.describe()} (core.reader: a "
              "copy of it reads through the drawings' hand)")
    val_loss, val_accuracy = model.evaluate(splits.X_val, splits.y_val)
    test_loss, test_accuracy = model.evaluate(splits.X_test, splits.y_test)
    extra_after = accuracy(model, X_extra, y_extra)
    print(f"Validation accuracy: {_pct(val_accuracy).strip()}")
    if len(y_extra):
        print(f"Accuracy on {args.extra_data}: {extra_before * 100:.2f}% -> {extra_after * 100:.2f}% "
              "(the drawings it was taught; measure new ones with eval --extra-data)")
    print(f"Test accuracy: {test_accuracy:.2%}  ({last['elapsed']:.1f} s of training; "
          f"{test_before:.2%} before)")
    metrics = {"train_accuracy": last["train_accuracy"], "val_accuracy": val_accuracy,
               "test_accuracy": test_accuracy, "test_loss": test_loss,
               "test_accuracy_before": test_before, "training_seconds": last["elapsed"],
               "data": raw.describe()}
    if len(y_extra):
        metrics.update(extra_accuracy_before=extra_before, extra_accuracy=extra_after,
                       extra_drawings=len(y_extra))
    train_config = {**config.to_dict(), "dataset": args.dataset, "scaling": start.scaling,
                    "validation_size": validation, "fine_tuned_from": str(args.start_from),
                    "extra_data": str(args.extra_data) if args.extra_data else None}
    train_config = marked(train_config, start, model.config)
    saved = SavedModel(model=model, dataset=args.dataset, scaling=start.scaling,
                       train_config=train_config, history=history, metrics=metrics)
    path = save_model(Path(args.out), saved)
    print(f"Saved parameters to {path}")
    return 0
