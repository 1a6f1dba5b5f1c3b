"""Command line: ``python -m core train | eval | visualize | predict``.

    python -m core train -dataset mnist --preset convnet --out OUT     (or --layers TEXT)
    python -m core predict -dataset mnist --model M PICTURE...         (core.cli_predict)

Keeps the original project's spellings (``-dataset mnist -lr 0.1 -i 1000``) next to the long forms.
Every NNError is printed as one line and exits with status 2; no traceback for a user's mistake.

Your own handwriting (core.handwriting, core.finetune), a contract other tools rely on:

    python -m core train -dataset mnist --start-from MODEL --extra-data DIR --out OUT
        fine-tunes MODEL on the dataset mixed with the drawings in DIR and writes OUT
    python -m core eval -dataset mnist --model M --extra-data DIR
        prints "Accuracy: NN.NN%" (the test set), then "Accuracy on DIR: NN.NN%" (the drawings)

DIR holds an images file ``*-images-idx3-ubyte`` and a labels file ``*-labels-idx1-ubyte``
(gzip-compressed ``.gz`` or not), as the Draw page's download does.
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import options, settings
from .cli_inspect import cmd_eval, cmd_visualize, load_saved
from .cli_predict import cmd_predict
from .errors import ConfigError, NNError
from .records import known
from .training import PRESETS, fit, get_preset, new_run, plan


def model_root():
    """Where models live: ``$NN_MODEL_DIR`` (as for the app), else model/ next to core/."""
    return settings.get().model_dir


def default_model(dataset):
    """The model eval and visualize read without --model: the one `train` wrote
    (model/<dataset>/nn_parameters.npz) if there is one, else the shipped pretrained model."""
    from .modelio import CLI_NAME, PRETRAINED_NAME
    trained = model_root() / dataset / f"{CLI_NAME}.npz"
    return trained if trained.exists() else model_root() / dataset / f"{PRETRAINED_NAME}.npz"


def _argument(parse):
    """An argparse type from one of core.options' parsers (its ConfigError becomes a usage error)."""
    def convert(text):
        try:
            return parse(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = parse.__name__
    return convert


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m core", allow_abbrev=False,
        description="Train, evaluate and visualise a NumPy network (an MLP or a conv net) on "
                    "MNIST or Fashion-MNIST, and classify picture files.",
        epilog="Run 'python -m core train --help' (or eval, visualize) for every option.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,eval,visualize,predict}")

    def common(p):
        p.add_argument("-dataset", "--dataset", default="mnist", choices=options.DATASETS,
                       help="which dataset (default: mnist)")
        p.add_argument("--data-dir", metavar="DIR",
                       help="folder holding mnist/ and fashion-mnist/ IDX files (default: "
                            "$NN_DATA_DIR, the cache, a download, then the bundled sample)")
        p.add_argument("--offline", action="store_true",
                       help="never try to download (also: NN_OFFLINE=1)")

    train = sub.add_parser("train", help="train a network and save it", allow_abbrev=False,
                           description="Train a network from a preset, overriding any setting. "
                                       "Settings not given come from the preset.")
    common(train)
    train.add_argument("--preset", default=None, choices=sorted(PRESETS),
                       help="starting point for every setting below (default: original, the "
                            "original project's 784-10-10 full-batch run)")
    train.add_argument("-lr", "--learning-rate", type=float, metavar="LR",
                       help="step size of the optimiser, e.g. 0.1 for SGD, 0.001 for Adam")
    train.add_argument("-i", "--iterations", type=int, metavar="N",
                       help="optimiser steps (full batch: passes over the data); overrides epochs")
    train.add_argument("-e", "--epochs", type=int, metavar="N",
                       help="passes over the training images")
    train.add_argument("--batch-size", type=_argument(options.parse_batch_size),
                       default=argparse.SUPPRESS, metavar="N|full",
                       help="images per step, or 'full' for full-batch gradient descent")
    train.add_argument("--hidden", type=_argument(options.parse_hidden_sizes), metavar="SIZES",
                       help="hidden layer sizes, e.g. 256,128; 'none' for no hidden layer")
    train.add_argument("--layers", type=_argument(options.parse_layers), metavar="TEXT",
                       help="the hidden layers as text, e.g. 'conv 16x5, pool 2, conv 32x5, "
                            "pool 2, dense 128' (conv CxK [same], pool 2, dense N; plain numbers "
                            "are dense layers); replaces --hidden")
    train.add_argument("--activation", choices=options.ACTIVATIONS,
                       help="non-linearity of the hidden layers")
    train.add_argument("--output-activation", choices=options.OUTPUT_ACTIVATIONS,
                       help="output layer: softmax (probabilities) or sigmoid (per class)")
    train.add_argument("--loss", choices=options.LOSSES,
                       help="what training minimises (cross_entropy needs a softmax output)")
    train.add_argument("--init", choices=options.INITIALIZERS,
                       help="how the starting weights are drawn")
    train.add_argument("--optimizer", choices=options.OPTIMIZERS, help="the update rule")
    train.add_argument("--momentum", type=float, metavar="M",
                       help="share of the previous step kept (momentum optimiser), e.g. 0.9")
    train.add_argument("--weight-decay", type=float, metavar="L2",
                       help="L2 penalty on the weights, e.g. 0.0001")
    train.add_argument("--dropout", type=float, metavar="RATE",
                       help="share of hidden units switched off at random while training, 0-0.9")
    train.add_argument("--lr-schedule", choices=options.LR_SCHEDULES,
                       help="constant, or cosine decay to 0 over the run")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="random shifts, rotations and stroke thickness on every batch")
    train.add_argument("--validation-size", type=float, metavar="N",
                       help="training images held out for validation: a count, or a fraction < 1")
    train.add_argument("--scaling", choices=options.SCALINGS,
                       help="pixels in [0, 1] (unit) or [-1, 1] (symmetric)")
    train.add_argument("--dtype", choices=("float32", "float64"),
                       help="number type of the weights and images (default: float32)")
    train.add_argument("--seed", type=int, default=0,
                       help="random seed: the same seed and settings give the same run, here "
                            "and in the app (default: 0)")
    train.add_argument("--out", metavar="FILE",
                       help="model file to write (default: model/<dataset>/nn_parameters.npz, "
                            "never the shipped pretrained.npz; required with --start-from)")
    teaching = train.add_argument_group(
        "fine-tuning (teach a trained model new handwriting)",
        "With --start-from, a short run continues from that model's weights instead of new "
        "ones: every batch mixes the dataset's training images with your drawings (--extra-data), "
        "which are sampled again and again and randomly distorted. The defaults: "
        f"{_teach_defaults()}. Any setting above that is not the architecture still applies "
        "(-lr, -i, --epochs, --batch-size, --optimizer, --momentum, --weight-decay, --lr-schedule, "
        "--augment, --validation-size, --seed).")
    teaching.add_argument("--start-from", metavar="MODEL",
                          help="fine-tune this model file (its pixel scaling stays; with "
                               "--extra-data a fully connected network grows a second reader for "
                               "the drawings' hand, twice as wide) instead of training a new "
                               "network; needs --out")
    teaching.add_argument("--extra-data", metavar="DIR",
                          help="a folder of your labelled drawings in MNIST's IDX format "
                               "(*-images-idx3-ubyte and *-labels-idx1-ubyte, .gz or not) to mix "
                               "into every batch; needs --start-from")
    teaching.add_argument("--extra-share", type=float, metavar="SHARE",
                          help="share of each batch taken from the drawings, 0-1 (default: "
                               "0.25, 32 of 128)")
    teaching.add_argument("--second-reader", action=argparse.BooleanOptionalAction, default=None,
                          help="grow a second reader through the drawings' hand (core.reader; "
                               "default: yes for a fully connected network not grown one "
                               "already); --no-second-reader keeps the architecture as it is")

    def model_argument(p):
        p.add_argument("--model", metavar="FILE",
                       help="model file (default: model/<dataset>/nn_parameters.npz, what train "
                            "wrote, else model/<dataset>/pretrained.npz, the shipped model)")

    ev = sub.add_parser("eval", help="test accuracy of a saved model", allow_abbrev=False,
                        description="Print the test accuracy of a model and its accuracy per "
                                    "class.")
    common(ev)
    model_argument(ev)
    ev.add_argument("--extra-data", metavar="DIR",
                    help="also measure the model on the labelled drawings in DIR (MNIST's IDX "
                         "format: *-images-idx3-ubyte and *-labels-idx1-ubyte, .gz or not): "
                         "prints 'Accuracy on DIR: NN.NN%%' after the test accuracy")

    pred = sub.add_parser("predict", help="classify picture files as the Draw page would",
                          allow_abbrev=False,
                          description="Read each PNG or JPEG (any size; white ink on black or "
                                      "dark ink on light paper), preprocess it as the Draw page "
                                      "does for the dataset, and print 'PICTURE: D (NN.N%%)' per "
                                      "file in order ('PICTURE: error: REASON' for one that "
                                      "cannot be read; the others still run).")
    pred.add_argument("-dataset", "--dataset", default="mnist", choices=options.DATASETS,
                      help="which dataset's preprocessing and default model (default: mnist)")
    model_argument(pred)
    pred.add_argument("pictures", nargs="+", metavar="PICTURE", help="PNG or JPEG files")

    vis = sub.add_parser("visualize", help="write PNG figures of a saved model",
                         allow_abbrev=False,
                         description="Write PNGs: curves, confusion matrix, mistakes, weights.")
    common(vis)
    model_argument(vis)
    vis.add_argument("--out-dir", metavar="DIR",
                     help="folder for the PNGs (default: figures/<dataset>/)")
    return parser


def _teach_defaults():
    from .finetune import PLAIN_STEPS, READER_STEPS, TeachConfig
    d = TeachConfig()
    return (f"a fully connected network grows a second reader through the drawings' hand and "
            f"{READER_STEPS:,} steps train the layers after its first (else {PLAIN_STEPS} steps "
            f"of the whole network); batches of {d.batch_size} images ({d.extra_share:.0%} of "
            "them drawings), "
            f"{d.optimizer} with lr {d.learning_rate:g} and a {d.lr_schedule} schedule, "
            "distortions on")


def configs_from_args(args):
    """(ModelConfig, TrainConfig) from the preset, overridden by the flags that were given."""
    preset = get_preset(args.preset or "original", args.dataset)
    model_overrides = {k: v for k, v in {
        "hidden_sizes": args.hidden, "activation": args.activation,
        "output_activation": args.output_activation, "loss": args.loss, "init": args.init,
        "dropout": args.dropout, "dtype": args.dtype}.items() if v is not None}
    train_overrides = {k: v for k, v in {
        "learning_rate": args.learning_rate, "iterations": args.iterations, "epochs": args.epochs,
        "optimizer": args.optimizer, "momentum": args.momentum, "weight_decay": args.weight_decay,
        "lr_schedule": args.lr_schedule, "augment": args.augment, "scaling": args.scaling,
        "seed": args.seed}.items() if v is not None}
    if hasattr(args, "batch_size"):                      # None means full batch, so SUPPRESS marks "not given"
        train_overrides["batch_size"] = args.batch_size
    if args.validation_size is not None:
        v = args.validation_size
        train_overrides["validation_size"] = int(v) if v >= 1 else v
    if args.epochs is not None and args.iterations is None:
        train_overrides["iterations"] = None
    if args.loss == "cross_entropy" and args.output_activation is None:
        model_overrides["output_activation"] = "softmax"
    if getattr(args, "layers", None) is not None:
        model_overrides["layers"] = args.layers          # its dense sizes become hidden_sizes
    elif args.hidden is not None:
        model_overrides["layers"] = ""                   # --hidden alone: an MLP
    model_config = replace(preset.model, **model_overrides)
    train_config = replace(preset.train, **train_overrides)
    return model_config, train_config


class ProgressBar:
    """A one-line progress bar on stderr when it is a terminal; periodic lines otherwise."""

    def __init__(self, stream=sys.stderr, lines=20):
        self.stream = stream
        self.tty = stream.isatty()
        self.lines = lines
        self.last_line = -1

    def update(self, r):
        text = (f"step {r.step:>{len(str(r.total_steps))},}/{r.total_steps:,}  epoch {r.epoch:6.2f}  "
                f"loss {r.train_loss:.4f}  train {r.train_accuracy:6.2%}  "
                f"val {_pct(r.val_accuracy)}  {r.elapsed:6.1f}s  eta {_seconds(r.eta)}")
        if self.tty:
            width = 24
            filled = int(width * r.progress)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}")
            if r.step == r.total_steps:
                self.stream.write("\n")
        else:
            line = int(r.progress * self.lines)
            if line != self.last_line:
                self.last_line = line
                self.stream.write(text + "\n")
        self.stream.flush()


def _pct(x):
    return "   n/a" if known(x) is None else f"{x:6.2%}"


def _seconds(x):
    """'  12s', or '   --' before the first step has paced the run."""
    return "   --" if known(x) is None else f"{x:4.0f}s"


def _load_raw(args):
    from .datasets import load_dataset

    def progress(done, total, message=""):
        if message:
            print(message, file=sys.stderr)

    env = settings.get()
    raw = load_dataset(args.dataset, args.data_dir or env.data_dir,
                       download=not (args.offline or env.offline), progress=progress,
                       cache_dir=env.cache_dir, mirrors=env.mirrors or None)
    print(f"Data: {raw.describe()}")
    return raw


def cmd_train(args):
    from .datasets import make_splits
    from .modelio import SavedModel, save_model

    if args.start_from:
        from .cli_teach import cmd_finetune
        return cmd_finetune(args)
    if args.extra_data:
        raise ConfigError("--extra-data teaches a trained model your drawings: add --start-from "
                          f"MODEL (e.g. --start-from model/{args.dataset}/pretrained.npz) and "
                          "--out FILE.")
    if args.extra_share is not None:
        raise ConfigError("--extra-share goes with --start-from and --extra-data.")
    if args.second_reader is not None:
        raise ConfigError("--second-reader goes with --start-from and --extra-data.")
    model_config, train_config = configs_from_args(args)
    raw = _load_raw(args)
    splits = make_splits(raw, train_config.validation_size, train_config.scaling,
                         rng=train_config.seed, dtype=np.dtype(model_config.dtype))
    model, rng = new_run(model_config, train_config)
    batch, _, total = plan(train_config, splits.X_train.shape[0])
    print(f"Model: {model}")
    print(f"Training: {train_config.optimizer}, lr {train_config.learning_rate:g}, "
          f"{'full batch' if train_config.batch_size is None else f'batches of {batch}'}, "
          f"{total:,} steps on {splits.X_train.shape[0]:,} images "
          f"(validation {splits.X_val.shape[0]:,})")
    out = Path(args.out) if args.out else model_root() / args.dataset / "nn_parameters.npz"
    bar = ProgressBar()
    history = []
    for record in fit(model, splits, train_config, rng):
        history.append(record.to_dict())
        bar.update(record)
    last = history[-1]
    test_loss, test_accuracy = model.evaluate(splits.X_test, splits.y_test)
    metrics = {"train_accuracy": last["train_accuracy"], "val_accuracy": last["val_accuracy"],
               "test_accuracy": test_accuracy, "test_loss": test_loss,
               "training_seconds": last["elapsed"], "data": raw.describe()}
    print(f"Validation accuracy: {_pct(last['val_accuracy']).strip()}")
    print(f"Test accuracy: {test_accuracy:.2%}  ({last['elapsed']:.1f} s of training)")
    saved = SavedModel(model=model, dataset=args.dataset, scaling=train_config.scaling,
                       train_config=train_config.to_dict(), history=history, metrics=metrics)
    path = save_model(out, saved)
    print(f"Saved parameters to {path}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    from . import blas
    blas.set_training_threads(settings.get().blas_threads)
    try:
        commands = {"train": cmd_train, "eval": cmd_eval, "visualize": cmd_visualize,
                    "predict": lambda args: cmd_predict(args, load_saved)}
        return commands[args.command](args)
    except NNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted; nothing was saved.", file=sys.stderr)
        return 130
