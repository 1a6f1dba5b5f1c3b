"""Training as a generator.

``fit(model, splits, config)`` yields a frozen ``TrainRecord`` at the steps ``report_steps`` plans
(step 0 before any update, every one of the first 10 steps, then about 100 more, and the last),
plus one whenever ``config.report_seconds`` have passed. The CLI prints the records, the app
charts them, the tests collect them; to stop, stop iterating. Nothing here prints or touches a UI.

A "step" is one optimiser update: with ``batch_size=None`` it is one full-batch iteration over
all training images (the original project's "iteration"), otherwise one mini-batch.
"""
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from . import blas
from .compact import CompactRows
from .datasets import SCALINGS
from .errors import ConfigError, TrainingDiverged
from .health import layer_stats
from .model import MLP, ModelConfig
from .optimizers import OPTIMIZERS, make_optimizer
from .records import RunProgress, TrainRecord, known, plain  # noqa: F401  (re-exported)

MAX_STEPS = 1_000_000
MAX_EPOCHS = 1000
MAX_SEED = 2**32 - 1               # what np.random.default_rng takes as a plain seed
LR_RANGE = (1e-6, 100.0)
# A loss this large means the weights have blown up even if the numbers are still finite
# (cross-entropy starts near ln 10 = 2.3; MSE never exceeds 2).
EXPLODED_LOSS = 1e4
# A cross-entropy averaged over a whole report this many times that of guessing at random
# (ln 10 = 2.3 for 10 classes: 23, a probability of 1e-10 for the right class) means the weights
# were thrown off, even if the loss then stays finite: a learning rate far too large.
THROWN_OFF_FACTOR = 10
# The presets hold out 1/12 of the training images: 5,000 of MNIST's 60,000 (the textbook split),
# 833 of the bundled sample's 10,000.
VALIDATION_SHARE = 1 / 12
# The reporting plan: every one of the first EARLY_REPORTS steps (the early shape of the curve, and
# a run that diverges at once still shows its last finite values), then REGULAR_REPORTS evenly
# spaced records, so any run of 100 steps or more draws a curve of at least 100 points.
EARLY_REPORTS = 10
REGULAR_REPORTS = 100
# Step 0's training loss is measured on this many of the first training images (a record before
# any update has no steps to average over).
STEP0_TRAIN_IMAGES = 1000
# Layer health (core.health) is measured on this many of the first validation images (training
# images when there is no validation set), the same images for the whole run.
PROBE_IMAGES = 256
# Validation images measured at each record before the last (which measures them all).
RECORD_VALIDATION = 1000
# Full batches of fewer rows than 4x this are not worth rearranging into a CompactRows plan.
COMPACT_MIN_ROWS = 512
# Learning-rate schedules: the factor applied to the learning rate at step (1..total).
LR_SCHEDULES = {
    "constant": lambda step, total: 1.0,
    "cosine": lambda step, total: 0.5 * (1 + math.cos(math.pi * (step - 1) / total)),  # to 0 at the end
}


def check_optimizer_settings(config):
    """Refuse, with a message saying the range, the optimiser settings of a training or teaching
    config: learning_rate, optimizer, lr_schedule, momentum, weight_decay and seed."""
    lo, hi = LR_RANGE
    lr = config.learning_rate
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lo <= lr <= hi):
        raise ConfigError(f"Learning rate {lr} is out of range: use a value from {lo:g} to {hi:g}.")
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimiser {config.optimizer!r}: choose one of "
                          f"{', '.join(OPTIMIZERS)}.")
    if config.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"Unknown learning-rate schedule {config.lr_schedule!r}: choose one of "
                          f"{', '.join(LR_SCHEDULES)}.")
    if not 0 <= config.momentum < 1:
        raise ConfigError(f"Momentum {config.momentum} is out of range: use a value in [0, 1).")
    if not (math.isfinite(config.weight_decay) and 0 <= config.weight_decay <= 1):
        raise ConfigError(f"L2 weight decay {config.weight_decay} is out of range: use 0 to 1.")
    seed = config.seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"Seed {seed} is not possible: use a whole number from 0 to {MAX_SEED:,}.")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"
    learning_rate: float = 0.1
    epochs: int = 10                   # used when iterations is None
    iterations: int | None = None      # number of optimiser steps; overrides epochs when set
    batch_size: int | None = 128       # None: full batch (gradient descent on all training images)
    optimizer: str = "sgd"             # sgd | momentum | adam
    momentum: float = 0.9
    weight_decay: float = 0.0          # L2 penalty on weights (not biases)
    lr_schedule: str = "constant"      # constant | cosine (decays to 0 over the run)
    validation_size: int | float = 5000
    scaling: str = "unit"              # unit [0, 1] | symmetric [-1, 1]
    augment: bool = False              # random shifts/rotations/thickness (core.augment)
    seed: int = 0
    report_every: int | None = None    # steps between records; None: see report_steps
    report_seconds: float | None = None  # also a record when this many seconds passed (the app: 0.3)

    def __post_init__(self):
        self.validate()

    def validate(self):
        check_optimizer_settings(self)
        if self.scaling not in SCALINGS:
            raise ConfigError(f"Unknown pixel scaling {self.scaling!r}: use unit ([0, 1]) or symmetric ([-1, 1]).")
        if self.iterations is not None and not 1 <= self.iterations <= MAX_STEPS:
            raise ConfigError(f"{self.iterations} iterations is not possible: use from 1 to {MAX_STEPS:,}.")
        if self.iterations is None and not 1 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"{self.epochs} epochs is not possible: use from 1 to {MAX_EPOCHS}.")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"Batch size {self.batch_size} is not possible: use 1 or more, or full batch.")
        if self.report_every is not None and self.report_every < 1:
            raise ConfigError("report_every must be at least 1 step.")
        rs = self.report_seconds
        if rs is not None and not (isinstance(rs, (int, float)) and math.isfinite(rs) and rs > 0):
            raise ConfigError(f"report_seconds {rs} is not possible: use a number of seconds above "
                              f"0, or None for records at the planned steps only.")

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Preset:
    """A named starting point. ``per_dataset`` changes some settings for one dataset, e.g.
    {"fashion-mnist": {"epochs": 14, "dropout": 0.25}}: each name is a ModelConfig or TrainConfig
    field; ``get_preset(name, dataset)`` applies them, ``PRESETS[name]`` is the MNIST version."""
    name: str
    description: str
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    per_dataset: dict = field(default_factory=dict)


PRESETS = {
    "original": Preset(
        "original",
        "The project we grew from: 784-10-10 ReLU/softmax, full-batch gradient descent, lr 0.1, "
        "1000 iterations, weights and biases from U[-0.5, 0.5).",
        ModelConfig(hidden_sizes=(10,), activation="relu", output_activation="softmax",
                    loss="cross_entropy", init="small_uniform"),
        TrainConfig(learning_rate=0.1, iterations=1000, batch_size=None, optimizer="sgd",
                    scaling="unit", validation_size=VALIDATION_SHARE),
    ),
    "textbook": Preset(
        "textbook",
        "The classic textbook MLP: 784-50-10 sigmoid everywhere, MSE on one-hot targets, "
        "mini-batches of 100, lr 0.1, 50 epochs, pixels in [-1, 1].",
        ModelConfig(hidden_sizes=(50,), activation="sigmoid", output_activation="sigmoid",
                    loss="mse", init="glorot"),
        TrainConfig(learning_rate=0.1, epochs=50, batch_size=100, optimizer="sgd",
                    scaling="symmetric", validation_size=VALIDATION_SHARE),
    ),
    "recommended": Preset(
        "recommended",
        "The best this machine trains in about a minute: 784-256-128-10 ReLU, Adam with a cosine "
        "schedule, mini-batches of 128, light dropout.",
        ModelConfig(hidden_sizes=(256, 128), activation="relu", output_activation="softmax",
                    loss="cross_entropy", init="he", dropout=0.1),
        TrainConfig(learning_rate=0.001, epochs=20, batch_size=128, optimizer="adam",
                    lr_schedule="cosine", scaling="unit", validation_size=VALIDATION_SHARE),
    ),
    "convnet": Preset(
        "convnet",
        "A small convolutional network, the next step after the MLP: two 5x5 conv layers (16 and "
        "32 channels) each with 2x2 max pooling, a dense layer of 128, Adam with a cosine "
        "schedule, 6 epochs (Fashion-MNIST: 14 epochs and dropout 0.25 on the dense layer, which "
        "it needs to pass 90.5%). Past 99% on MNIST in about 3 minutes here.",
        ModelConfig(layers="conv 16x5, pool 2, conv 32x5, pool 2, dense 128", activation="relu",
                    output_activation="softmax", loss="cross_entropy", init="he"),
        TrainConfig(learning_rate=0.001, epochs=6, batch_size=128, optimizer="adam",
                    lr_schedule="cosine", scaling="unit", validation_size=VALIDATION_SHARE),
        per_dataset={"fashion-mnist": {"epochs": 14, "dropout": 0.25}},
    ),
}


def get_preset(name, dataset="mnist"):
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    preset = PRESETS[name]
    changes = preset.per_dataset.get(dataset, {})
    model_changes = {k: v for k, v in changes.items() if k in ModelConfig.__dataclass_fields__}
    train_changes = {k: v for k, v in changes.items() if k not in model_changes}
    return replace(preset, model=replace(preset.model, **model_changes),
                   train=replace(preset.train, dataset=dataset, **train_changes))


def _learning_rate(config, step, total_steps):
    return config.learning_rate * LR_SCHEDULES[config.lr_schedule](step, total_steps)


def report_steps(total_steps, report_every=None):
    """The steps that make a record, as a sorted tuple: 0 (before any update), 1 to EARLY_REPORTS,
    every max(1, total_steps // REGULAR_REPORTS) steps, and total_steps. Every step when
    total_steps < REGULAR_REPORTS; at least REGULAR_REPORTS records after step 0 otherwise.

    ``report_every`` (TrainConfig.report_every), when given, replaces both the early steps and
    the regular spacing: 0, report_every, 2 * report_every, ..., total_steps.
    """
    if report_every is not None and report_every < 1:
        raise ConfigError(f"report_every {report_every} is not possible: use 1 step or more.")
    if report_every is not None:
        spacing, early = report_every, 0
    else:
        spacing, early = max(1, total_steps // REGULAR_REPORTS), min(EARLY_REPORTS, total_steps)
    steps = {0, total_steps, *range(1, early + 1), *range(spacing, total_steps + 1, spacing)}
    return tuple(sorted(steps))


def plan(config, n_train):
    """(batch size, steps per epoch, total steps) for ``n_train`` training images."""
    if n_train < 1:
        raise ConfigError("There are no training images left: make the validation split smaller.")
    batch = n_train if config.batch_size is None else min(config.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch)
    total = config.iterations if config.iterations is not None else config.epochs * steps_per_epoch
    if total > MAX_STEPS:
        raise ConfigError(f"{total:,} steps is too long a run: use fewer epochs or a larger batch "
                          f"(at most {MAX_STEPS:,} steps).")
    return batch, steps_per_epoch, total


def fit(model, splits, config, rng=None):
    """Train ``model`` on ``splits`` (core.datasets.Splits); yield a TrainRecord per report.

    Raises TrainingDiverged if the loss or the weights stop being finite; the model then holds the
    weights of the last record, which were finite.

    While it runs, the BLAS is pinned to ``blas.training_threads()`` threads (1 by default: faster
    for these small products on a shared 2-core machine); the previous setting comes back when
    the run ends or is stopped. Full-batch runs rearrange the training set once into a
    ``CompactRows`` plan (see core.model) when that halves the work.
    """
    with blas.threads(blas.training_threads()):
        yield from _fit(model, splits, config, rng)


def _fit(model, splits, config, rng):
    if model.config.input_size != splits.X_train.shape[1]:
        raise ConfigError("The model's input size does not match the images.")
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    X, y = splits.X_train, splits.y_train
    if X.dtype != model.dtype:
        X = X.astype(model.dtype)
    n_train = X.shape[0]
    batch, steps_per_epoch, total = plan(config, n_train)
    planned = report_steps(total, config.report_every)            # (0, ..., total)
    report_seconds = config.report_seconds
    augment = None
    if config.augment:
        from .augment import AugmentConfig
        augment = AugmentConfig()
    optimizer = make_optimizer(config.optimizer, config.learning_rate, config.momentum,
                               config.weight_decay)
    full_batch = batch == n_train and augment is None

    compact = None
    if full_batch and n_train > 4 * COMPACT_MIN_ROWS and not model.config.layers:
        compact = CompactRows.worth_it(X, y)

    # Records during the run measure validation on its first RECORD_VALIDATION images (the last
    # record on all of them): a full pass at each of ~110 records doubled a run's time.
    X_val_live, y_val_live = splits.X_val[:RECORD_VALIDATION], splits.y_val[:RECORD_VALIDATION]
    probe_source = splits.X_val if splits.X_val.shape[0] else X
    probe_X = np.asarray(probe_source[:PROBE_IMAGES], dtype=model.dtype)   # (<=256, 784)
    weight_names = [name for name in model.params if name.endswith(".W")]

    # Step 0: the untrained network, so every curve starts where the weights started.
    train_loss, train_accuracy = model.evaluate(X[:STEP0_TRAIN_IMAGES], y[:STEP0_TRAIN_IMAGES])
    val_loss, val_accuracy = model.evaluate(X_val_live, y_val_live)
    yield TrainRecord(step=0, total_steps=total, epoch=0.0, train_loss=train_loss,
                      train_accuracy=train_accuracy, val_loss=val_loss, val_accuracy=val_accuracy,
                      learning_rate=_learning_rate(config, 1, total), elapsed=0.0,
                      samples_per_second=0.0, layers=layer_stats(model, None, None, probe_X))

    good_params, good_step = model.copy_params(), 0
    next_planned = 1                                         # index into planned
    start = last_record = time.perf_counter()
    loss_sum = correct = seen = samples = 0
    order = None
    for step in range(1, total + 1):
        # decided before the step, so that only a reporting step pays for a copy of the weights
        reports = step == planned[next_planned]
        if reports:
            next_planned += 1
        elif report_seconds is not None:
            reports = time.perf_counter() - last_record >= report_seconds
        epoch = step / steps_per_epoch
        position = (step - 1) % steps_per_epoch
        if full_batch:
            Xb, yb = X, y
        else:
            if position == 0:
                order = rng.permutation(n_train)
            idx = order[position * batch:(position + 1) * batch]
            Xb, yb = X[idx], y[idx]                      # (B, 784), contiguous copy
            if augment is not None:
                Xb = augment(Xb, rng)
        optimizer.learning_rate = _learning_rate(config, step, total)
        if compact is not None:
            loss, probs, grads = model.loss_and_grads_compact(compact, rng=rng)
        else:
            loss, probs, grads = model.loss_and_grads(Xb, yb, rng=rng)
        check_loss(model, loss, good_params, step=step, epoch=epoch, good_step=good_step,
                   learning_rate=config.learning_rate)
        weights_before = ({name: model.params[name].copy() for name in weight_names}
                          if reports else None)
        optimizer.step(model.params, grads)
        n = yb.shape[0]
        loss_sum += loss * n
        correct += int((probs.argmax(axis=1) == yb).sum())
        seen += n
        samples += n
        if reports:
            window_loss = loss_sum / seen
            check_report(model, window_loss, good_params, step=step, epoch=epoch,
                         learning_rate=config.learning_rate)
            if step == total:
                val_loss, val_accuracy = model.evaluate(splits.X_val, splits.y_val)
            else:
                val_loss, val_accuracy = model.evaluate(X_val_live, y_val_live)
            layers = layer_stats(model, grads, weights_before, probe_X)
            elapsed = time.perf_counter() - start
            good_params, good_step = model.copy_params(), step
            yield TrainRecord(step=step, total_steps=total, epoch=epoch,
                              train_loss=float(window_loss), train_accuracy=correct / seen,
                              val_loss=val_loss, val_accuracy=val_accuracy,
                              learning_rate=optimizer.learning_rate, elapsed=elapsed,
                              samples_per_second=samples / elapsed if elapsed > 0 else 0.0,
                              layers=layers)
            loss_sum = correct = seen = 0
            last_record = time.perf_counter()         # the consumer's time is not training time

def new_run(model_config, config):
    """(a fresh MLP, the Generator to pass to ``fit``) for a run with ``config.seed``.

    The one place that turns a seed into a run: the CLI and the app both start runs here, and
    both draw their validation split with ``make_splits(..., rng=config.seed)``, so the same seed
    and settings give the same run everywhere. The generator draws the initial weights, then
    (in ``fit``) the batch order, the dropout masks and the augmentations.
    """
    rng = np.random.default_rng(config.seed)
    return MLP(model_config, rng), rng


def train(model_config, splits, config):
    """Build a model with ``new_run`` and run ``fit`` to the end. Returns (model, list of records)."""
    model, rng = new_run(model_config, config)
    records = list(fit(model, splits, config, rng))
    return model, records


# -- the checks of every update and every report: fit's, and core.finetune's -------------------

def check_loss(model, loss, good_params, *, step, epoch, learning_rate, good_step=None,
               what="Training"):
    """A batch's loss that is not finite or beyond EXPLODED_LOSS puts ``good_params`` back and
    raises TrainingDiverged (before the weights move), saying which learning rate to try."""
    if math.isfinite(loss) and loss <= EXPLODED_LOSS:
        return
    model.load_params(good_params)
    kept = (f"The weights from step {good_step:,} were kept." if good_step is not None
            else "The last good weights were kept.")
    raise TrainingDiverged(
        f"{what} diverged at step {step:,}: the loss became {loss:.3g}. The learning rate "
        f"{learning_rate:g} is too large for this network; try a smaller learning rate, "
        f"{learning_rate / 10:g}. {kept}", step=step, epoch=epoch, loss=float(loss))


def checked_update(model, optimizer, Xb, yb, rng, good_params, *, step, epoch, what="Training"):
    """One update of ``model`` on (Xb (B, 784), yb (B,)) at ``optimizer.learning_rate``, checked
    as fit checks each step (``check_loss``). Returns (loss, probs (B, classes)) of the batch
    before the update."""
    loss, probs, grads = model.loss_and_grads(Xb, yb, rng=rng)
    check_loss(model, loss, good_params, step=step, epoch=epoch,
               learning_rate=optimizer.learning_rate, what=what)
    optimizer.step(model.params, grads)
    return loss, probs


def check_report(model, window_loss, good_params, *, step, epoch, learning_rate, what="Training"):
    """The checks at a report: the weights became infinite, or the loss averaged since the last
    report is THROWN_OFF_FACTOR times that of guessing. Either puts ``good_params`` back and
    raises TrainingDiverged."""
    if not model.params_finite():
        model.load_params(good_params)
        raise TrainingDiverged(
            f"{what} diverged at step {step:,}: the weights became infinite. Lower the learning "
            f"rate (now {learning_rate:g}): try a smaller learning rate, {learning_rate / 10:g}. "
            f"The last good weights were kept.", step=step, epoch=epoch, loss=float("nan"))
    chance_loss = math.log(model.config.output_size)
    if model.loss_fn.fused_with_softmax and window_loss > THROWN_OFF_FACTOR * chance_loss:
        model.load_params(good_params)
        raise TrainingDiverged(
            f"{what} diverged by step {step:,}: the loss averaged {window_loss:.3g}, more than "
            f"{THROWN_OFF_FACTOR} times the {chance_loss:.2g} of guessing at random. The learning "
            f"rate {learning_rate:g} is too large for this network; try a smaller learning rate, "
            f"{learning_rate / 10:g}. The last good weights were kept.",
            step=step, epoch=epoch, loss=float(window_loss))
