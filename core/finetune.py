"""Teach a trained model someone's handwriting: a short run from its weights on a mix of the
dataset's training images and their drawings.

    taught, held_out = split_drawings(labels, held_out_share=0.25, rng=0)
    model = copy_model(saved.model)                      # the original stays as it was
    # (a dense model may grow a second reader in place: model.config says its new shape)
    for record in teach(model, splits, X[taught], y[taught], TeachConfig(),
                        held_out=(X[held_out], y[held_out])):
        ...                                              # a TeachRecord per report; stop = stop
    before, after = measure(original, splits, ...), measure(model, splits, ...)

Why a mix: a few dozen drawings alone would pull the weights towards them and away from
everything else (the test accuracy falls). Every mini-batch holds ``extra_share`` drawings,
sampled with replacement (oversampled), and dataset images for the rest, so the model keeps what
it knew while it learns the new style. The drawings are randomly distorted (core.augment: shifts,
rotations, scaling, shear, stroke thickness), so a handful of examples teaches a style rather
than those exact pixels.

Of the dataset images of every batch, 35% (``styled_share``) are redrawn in the visitor's hand
first (core.handstyle): the one affine map (turn, squeeze, slant) that gives the dataset's
digits the spread of ink of the visitor's, measured from the drawings, with no setting per
style. The other dataset images are learned with the original model's answers as their targets
(``distill``: soft targets, dZ = (P - P_original) / N), not their labels: they hold the model
where it was on the dataset.

A dense network also grows a second reader (core.reader, ``second_reader``): a copy of itself
that reads every image un-warped by that same hand map, folded into its first layer, its logits
added to the original's. The first layer stays as built; the layers after it are taught, 2,400
updates on pools of first-layer activations computed once (a few times cheaper a step than the
whole network), so the run takes about as long as 800 updates of the whole network did. If the
taught drawings are still misread at the end (under 90%: shapes the first layer's features
cannot tell apart, not a hand), the reader goes and the whole network is taught as without one.
A conv net keeps its convolutions the same way (``fast_head``: a warp of the whole image does not
fold into them, so no second reader): its dense layers are taught on pools of the convolutions'
output, with the same fall-back (mnist-rotated 84.7% -> 96.3% in 7.6 s of CPU, where teaching the
whole conv net took 26 s for 96.6%).
Measured on nine styles (python -m benchmarks.handwriting, issue 25): held out 93.0-100% (the
hardest, real MNIST digits narrow, slanted and thick: 93.5%, from 89.3% without the reader),
test drop at most 0.43 points, 6.4-7.3 s of CPU; what was tried and dropped is in
benchmarks/README.md.

The drawings are split into taught and held-out ones (stratified by class) so that the
before/after on the held-out drawings is honest: the run never sees them.

Like core.training.fit, ``teach`` is a generator that yields a frozen record per report (step 0
first, before any update) and raises TrainingDiverged, with the last good weights restored, when
the loss stops being finite. Nothing here prints.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from . import blas
from .augment import AugmentConfig
from .errors import ConfigError
from .handstyle import HandStyle
from .model import CONV_ROWS, MLP
from .optimizers import make_optimizer
from .reader import can_grow, grown, head_of, make_pools, pool_batch, with_reader
from .training import (
    LR_SCHEDULES,
    MAX_STEPS,
    RunProgress,
    check_loss,
    check_optimizer_settings,
    check_report,
    checked_update,
    plain,
)

LIVE_VALIDATION = 1000          # validation images measured at each record (all of them at the end)
PLAIN_STEPS = 800               # updates of the whole network (no second reader)
READER_STEPS = 2400             # updates of the layers after the first (a second reader)
REPORTS = 30                    # records per run when report_every is None
READER_MIN_TAUGHT = 0.9         # a second reader that reads fewer of the taught drawings goes
POOL = {"plain": 24000, "styled": 24000, "drawings": 12000}  # a second reader's pools, at most
POOL_CONV = {"plain": 6000, "styled": 6000, "drawings": 3000}  # a conv net's (costlier to make)


@dataclass(frozen=True)
class TeachConfig:
    """A fine-tuning run. The defaults teach 100 drawings of a new style in 6.5-7.5 s of CPU on
    this 2-core machine on the shipped MNIST model (784-256-128-10, which grows to
    784-512-256-10 with its second reader) and cost it at most about 0.45 points of test
    accuracy (python -m benchmarks.handwriting). The same for every visitor: nothing is set per
    style."""
    steps: int | None = None           # optimiser updates; None: the method's own
                                       # (READER_STEPS with a second reader, else PLAIN_STEPS)
    batch_size: int = 128              # images per update, dataset images and drawings together
    extra_share: float = 0.25          # share of each batch taken from the drawings (oversampled)
    learning_rate: float = 6e-4
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"        # decays to 0 at the end: the last steps settle, not jump
    augment: bool = True               # distort the drawings on every pass (core.augment)
    augment_dataset: bool = True       # ...and the dataset images (as the shipped model trained)
    styled_share: float = 0.35         # share of the dataset images redrawn in the visitor's hand
    pull_back: float = 0.0             # per step, this share of each weight's change is undone
                                       # (measured: 0.003 costs 3 points on the drawings)
    distill: float = 1.0               # on the dataset images not redrawn, this share of the
                                       # target is the original model's probabilities (soft
                                       # targets that keep it where it was), the rest the label
    second_reader: bool = True         # grow a second reader through the visitor's hand
                                       # (core.reader) when the model is a dense MLP
    fast_head: bool = True             # a conv net: keep its convolutions, teach the dense
                                       # layers after them on pools (core.reader.head_of)
    reader_weight: float = 1.0         # the second reader's share of the logits at the start
    seed: int = 0
    report_every: int | None = None    # steps between records; None: about REPORTS per run

    def __post_init__(self):
        self.validate()

    def validate(self):
        if self.steps is not None and (
                isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer))
                or not 1 <= self.steps <= MAX_STEPS):
            raise ConfigError(f"{self.steps} steps is not possible: use from 1 to {MAX_STEPS:,}.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) \
                or not 2 <= self.batch_size <= 4096:
            raise ConfigError(f"Batch size {self.batch_size} is not possible for teaching: use "
                              "2 to 4,096 images.")
        share = self.extra_share
        if not (isinstance(share, (int, float)) and 0 <= share <= 1):
            raise ConfigError(f"The drawings' share of a batch must be from 0 to 1; got {share!r}.")
        styled = self.styled_share
        if not (isinstance(styled, (int, float)) and 0 <= styled <= 1):
            raise ConfigError("The share of dataset images redrawn in your hand must be from 0 "
                              f"to 1; got {styled!r}.")
        if not (isinstance(self.distill, (int, float)) and 0 <= self.distill <= 1):
            raise ConfigError("The share of the original model's answers in the targets "
                              f"(distill) must be from 0 to 1; got {self.distill!r}.")
        if not (isinstance(self.pull_back, (int, float)) and 0 <= self.pull_back < 0.5):
            raise ConfigError(f"The pull back towards the original weights must be from 0 to "
                              f"below 0.5 per step; got {self.pull_back!r}.")
        if not (isinstance(self.reader_weight, (int, float)) and 0 <= self.reader_weight <= 1):
            raise ConfigError("The second reader's share of the answer at the start must be from "
                              f"0 to 1; got {self.reader_weight!r}.")
        check_optimizer_settings(self)
        if self.report_every is not None and self.report_every < 1:
            raise ConfigError("report_every must be at least 1 step.")

    def uses_reader(self, model_config, n_extra):
        """Whether teaching ``n_extra`` drawings to a model of ``model_config`` grows a second
        reader (core.reader): asked for, drawings to measure the hand from, dataset images
        redrawn in it, a dense MLP with a softmax output."""
        return bool(self.second_reader and n_extra > 0 and self.styled_share > 0
                    and model_config.loss == "cross_entropy" and can_grow(model_config))

    def uses_pools(self, model_config, n_extra):
        """Whether only the layers after the first block are taught, on pools of that block's
        output computed once: with a second reader, and for a conv net (``fast_head``)."""
        return self.uses_reader(model_config, n_extra) or bool(
            self.fast_head and model_config.layers and n_extra > 0 and self.styled_share > 0
            and model_config.loss == "cross_entropy")

    def steps_for(self, model_config, n_extra):
        """The run's number of updates: ``steps``, or the method's own when it is None."""
        if self.steps is not None:
            return int(self.steps)
        return READER_STEPS if self.uses_pools(model_config, n_extra) else PLAIN_STEPS

    def model_config_after(self, model_config, n_extra):
        """The taught model's ModelConfig: twice as wide with a second reader (unless it goes
        because it did not learn the drawings), else ``model_config``."""
        return grown(model_config) if self.uses_reader(model_config, n_extra) else model_config

    def pool_bytes(self, model_config, n_extra, n_data):
        """The pools (float16 activations of the first block), 0 without them."""
        if not self.uses_pools(model_config, n_extra):
            return 0
        total = self.steps_for(model_config, n_extra)
        per_extra = self.extra_per_batch(n_extra, n_data)
        per_data = self.batch_size - per_extra
        per_styled = self.styled_per_batch(per_data)
        conv = bool(model_config.layers)
        rows = sum(min(cap, per * total) for cap, per in
                   zip((POOL_CONV if conv else POOL).values(),
                       (per_data - per_styled, per_styled, per_extra)))
        width = model_config.layer_sizes[0] if conv else 2 * model_config.hidden_sizes[0]
        return rows * width * 2

    def report_steps(self, total):
        return self.report_every or max(1, round(total / REPORTS))

    def extra_per_batch(self, n_extra, n_dataset):
        """How many drawings go into each batch (the rest are dataset images): ``extra_share``
        of it, but no more than there are drawings, so that a handful of them is not repeated
        dozens of times per batch (the model would learn those pixels and forget the dataset)."""
        if n_extra == 0:
            return 0
        if n_dataset == 0:
            return self.batch_size
        return min(self.batch_size, n_extra, max(1, round(self.extra_share * self.batch_size)))

    def styled_per_batch(self, per_data):
        """How many of a batch's ``per_data`` dataset images are redrawn in the visitor's hand."""
        return int(round(self.styled_share * per_data))

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class TeachRecord(RunProgress):
    """What ``teach`` yields: the TrainRecord fields (so curves, the CLI's progress bar and
    model files take it as they are) and the accuracy on the drawings."""
    step: int
    total_steps: int
    epoch: float                    # passes over the dataset's training images so far
    train_loss: float               # mean over the mixed batches since the previous record
    train_accuracy: float
    val_loss: float                 # on up to LIVE_VALIDATION validation images; nan without
    val_accuracy: float
    learning_rate: float
    elapsed: float
    samples_per_second: float
    taught_accuracy: float          # on the taught drawings as drawn (not distorted); nan if none
    held_out_accuracy: float        # on the held-out drawings; nan when there are none

    def to_dict(self):
        return {name: plain(value) for name, value in asdict(self).items()}


def copy_model(model):
    """A new MLP with a copy of ``model``'s weights (teaching never touches the original)."""
    return MLP(model.config, params=model.copy_params())


def split_drawings(labels, held_out_share=0.25, rng=None):
    """(taught indices, held-out indices) of drawings with ``labels`` (N,), split class by class.

    Each class with n drawings holds out floor(held_out_share * n) of them, chosen at random, so
    a class drawn fewer than 1 / held_out_share times is all taught (there is nothing to spare).
    ``rng``: a Generator or a seed (None: 0). Both index arrays are sorted."""
    if not 0 <= held_out_share < 1:
        raise ConfigError(f"The held-out share must be from 0 to below 1; got {held_out_share}.")
    labels = np.asarray(labels)
    rng = np.random.default_rng(0 if rng is None else rng)
    held = []
    for k in np.unique(labels):
        rows = np.flatnonzero(labels == k)
        count = int(math.floor(held_out_share * rows.size + 1e-9))
        if count:
            held.append(rng.choice(rows, count, replace=False))
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    taught = np.setdiff1d(np.arange(labels.size), held)
    return taught, held


def accuracy(model, X, y):
    """Share of (X, y) that ``model`` classifies right; nan for no rows."""
    return model.evaluate(X, y)[1] if len(y) else float("nan")


def teach(model, splits, X_extra, y_extra, config=TeachConfig(), rng=None, held_out=None):
    """Fine-tune ``model`` in place on ``splits.X_train`` mixed with the drawings (X_extra (n, 784)
    in the model's scaling, y_extra (n,)); yield a TeachRecord at step 0 and every
    ``config.report_every`` steps, and at the last step.

    ``held_out``: (X, y) of drawings the run never trains on, measured at every record.
    ``rng``: a Generator (None: ``config.seed``) for the batches, dropout and distortions.
    With no drawings it simply continues training on the dataset (the same mix without them).
    Raises TrainingDiverged (weights of the last record restored) if the loss blows up."""
    with blas.threads(blas.training_threads()):
        yield from _teach(model, splits, X_extra, y_extra, config, rng, held_out)


def _teach(model, splits, X_extra, y_extra, config, rng, held_out):
    dtype = model.dtype
    X_data, y_data = splits.X_train, np.asarray(splits.y_train, np.int64)
    X_extra = np.asarray(X_extra, dtype).reshape(-1, model.config.input_size)
    y_extra = np.asarray(y_extra, np.int64).reshape(-1)
    if X_extra.shape[0] != y_extra.shape[0]:
        raise ConfigError(f"{X_extra.shape[0]} drawings but {y_extra.shape[0]} labels.")
    if X_data.shape[1] != model.config.input_size:
        raise ConfigError("The model's input size does not match the images.")
    n_data, n_extra = X_data.shape[0], X_extra.shape[0]
    if n_data + n_extra == 0:
        raise ConfigError("There is nothing to teach: no dataset images and no drawings.")
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    per_extra = config.extra_per_batch(n_extra, n_data)
    per_data = config.batch_size - per_extra if n_data else 0
    per_styled = config.styled_per_batch(per_data) if n_extra else 0
    pooled = per_styled > 0 and config.uses_pools(model.config, n_extra)
    reading = pooled and config.uses_reader(model.config, n_extra)
    # the method's own number of steps: READER_STEPS on pools, else PLAIN_STEPS
    total = config.steps_for(model.config, n_extra) if pooled else (config.steps or PLAIN_STEPS)
    report_every = config.report_steps(total)
    X_val = np.asarray(splits.X_val[:LIVE_VALIDATION], dtype)
    y_val = splits.y_val[:LIVE_VALIDATION]
    X_held, y_held = held_out if held_out is not None else (X_extra[:0], y_extra[:0])
    X_held = np.asarray(X_held, dtype).reshape(-1, model.config.input_size)
    augment = AugmentConfig() if config.augment or config.augment_dataset else None
    hand = HandStyle.measure(X_extra, y_extra, X_data, y_data, rng=rng) if per_styled else None
    schedule = LR_SCHEDULES[config.lr_schedule]
    # the model as it came answers for the plain dataset images (distillation); only with the
    # softmax's cross-entropy, whose soft-target gradient is (P - T) / N
    distilled = per_data - per_styled if config.distill and model.loss_fn.fused_with_softmax else 0
    original = copy_model(model) if distilled or pooled else None
    if reading:                      # the model grows a second reader through the visitor's hand
        paper = -1.0 if splits.scaling == "symmetric" else 0.0
        model.take_over(with_reader(model, hand.maps[0], paper, config.reader_weight))
    if pooled:
        head, first_block = head_of(model)
        # the plain images' targets: the original model's answers (a conv net's head is still
        # the original's while the pools are made)
        teacher = ((lambda X, F: original.predict_proba(X)) if reading
                   else (lambda X, F: head.predict_proba(F)))
        pools = make_pools(first_block, teacher, X_data, y_data, X_extra, y_extra, hand, augment,
                           config, total, (per_data - per_styled, per_styled, per_extra), rng,
                           POOL_CONV if model.config.layers else POOL)

    def epoch_at(step):
        return step * per_data / n_data if n_data else 0.0

    def record(step, loss, train_accuracy, elapsed):
        val_loss, val_accuracy = model.evaluate(X_val, y_val)
        samples = step * (per_data + per_extra)
        return TeachRecord(
            step=step, total_steps=total, epoch=epoch_at(step),
            train_loss=float(loss), train_accuracy=float(train_accuracy),
            val_loss=val_loss, val_accuracy=val_accuracy,
            learning_rate=config.learning_rate * schedule(max(step, 1), total),
            elapsed=elapsed, samples_per_second=samples / elapsed if elapsed > 0 else 0.0,
            taught_accuracy=accuracy(model, X_extra, y_extra),
            held_out_accuracy=accuracy(model, X_held, y_held))

    def batch():
        """(X (B, 784), y (B,)): dataset images (the first ``per_styled`` of them redrawn in the
        visitor's hand), then drawings sampled with replacement (oversampled)."""
        parts_X, parts_y = [], []
        if per_data:
            rows = rng.integers(0, n_data, per_data)
            Xb, yb = X_data[rows], y_data[rows]
            if per_styled:
                Xb[:per_styled] = hand.redraw(Xb[:per_styled], yb[:per_styled])
            parts_X.append(augment(Xb, rng) if config.augment_dataset else Xb)
            parts_y.append(yb)
        if per_extra:
            rows = rng.integers(0, n_extra, per_extra)
            Xb = X_extra[rows]
            parts_X.append(augment(Xb, rng) if config.augment else Xb)
            parts_y.append(y_extra[rows])
        return np.concatenate(parts_X).astype(dtype, copy=False), np.concatenate(parts_y)

    # Step 0: the model as it came, on the drawings as drawn.
    first_loss, first_accuracy = (model.evaluate(X_extra, y_extra) if n_extra
                                  else model.evaluate(X_data[:1000], y_data[:1000]))
    yield record(0, first_loss, first_accuracy, 0.0)
    start = time.perf_counter()

    def phase(offset, steps, pooled):
        """Steps offset + 1 .. offset + steps: the layers after the first block on the pools
        (with a second reader, or a conv net's dense layers), or the whole network on fresh
        batches."""
        optimizer = make_optimizer(config.optimizer, config.learning_rate, config.momentum,
                                   config.weight_decay)
        good_params = model.copy_params()
        head_good = _renamed(good_params, head) if pooled else None
        start_params = model.copy_params() if config.pull_back else None
        loss_sum = correct = seen = 0
        for k in range(1, steps + 1):
            step = offset + k
            optimizer.learning_rate = config.learning_rate * schedule(k, steps)
            if pooled:
                # the layers after the first block, on the pools' activations
                Fb, targets, yb = pool_batch(pools, config.distill, model, rng)
                loss, probs = soft_update(head, optimizer, Fb, targets, rng, head_good,
                                          step=step, epoch=epoch_at(step))
            elif distilled:
                Xb, yb = batch()
                targets = np.zeros((yb.size, model.config.output_size), dtype)     # (B, 10)
                targets[np.arange(yb.size), yb] = 1
                plain = slice(per_styled, per_data)            # dataset images as they were
                targets[plain] *= 1 - config.distill
                targets[plain] += config.distill * original.predict_proba(Xb[plain])
                loss, probs = soft_update(model, optimizer, Xb, targets, rng, good_params,
                                          step=step, epoch=epoch_at(step))
            else:
                Xb, yb = batch()
                loss, probs = checked_update(model, optimizer, Xb, yb, rng, good_params,
                                             step=step, epoch=epoch_at(step), what="Teaching")
            if config.pull_back:
                for name, value in model.params.items():     # towards the model as it came
                    value -= config.pull_back * (value - start_params[name])
            loss_sum += loss * yb.size
            correct += int((probs.argmax(axis=1) == yb).sum())
            seen += yb.size
            if k % report_every == 0 or k == steps:
                check_report(model, loss_sum / seen, good_params, step=step,
                             epoch=epoch_at(step), learning_rate=config.learning_rate,
                             what="Teaching")
                yield record(step, loss_sum / seen, correct / seen, time.perf_counter() - start)
                good_params = model.copy_params()
                head_good = _renamed(good_params, head) if pooled else None
                loss_sum = correct = seen = 0

    yield from phase(0, total, pooled)
    if pooled and accuracy(model, X_extra, y_extra) < READER_MIN_TAUGHT:
        # The first block's features (kept as they were) cannot tell these drawings apart: the
        # second reader, if any, goes, and the whole network is taught, as without pools.
        del pools
        model.take_over(copy_model(original))
        extra = config.steps if config.steps is not None else PLAIN_STEPS
        total += extra
        yield from phase(total - extra, extra, False)


def _renamed(params, head):
    """``params`` of a whole model under the names of ``head``'s (its layers after the first)."""
    return {name: params[f"layers.{int(name.split('.')[1]) + head.key_offset}."
                         f"{name.split('.')[2]}"] for name in head.params}


def soft_update(model, optimizer, Xb, targets, rng, good_params, *, step, epoch):
    """One update of ``model`` (softmax cross-entropy) towards soft ``targets`` (B, classes) on
    Xb (B, 784), through the layers' protocol (forward_train, then backward from
    dZ = (P - T) / B), in blocks of CONV_ROWS rows; checked as ``checked_update`` checks.
    Returns (loss, probs (B, classes)) of the batch before the update."""
    n = Xb.shape[0]
    grads = {name: np.zeros_like(value) for name, value in model.params.items()}
    probs = np.empty((n, model.config.output_size), model.dtype)
    loss_sum = 0.0
    for start in range(0, n, CONV_ROWS):
        stop = min(start + CONV_ROWS, n)
        logits, caches = model.forward_train(Xb[start:stop], rng)            # (b, 10)
        part, probs[start:stop], dZ = model.loss_fn.soft_loss_sum_and_delta(
            logits, targets[start:stop], n)
        model.backward(caches, dZ, grads_out=grads)
        loss_sum += part
    loss = loss_sum / n
    check_loss(model, loss, good_params, step=step, epoch=epoch,
               learning_rate=optimizer.learning_rate, what="Teaching")
    optimizer.step(model.params, grads)
    return loss, probs


@dataclass(frozen=True)
class Outcome:
    """Before and after teaching, side by side (accuracies in [0, 1]; nan where there was
    nothing to measure)."""
    test_before: float
    test_after: float
    held_out_before: float
    held_out_after: float
    taught_before: float
    taught_after: float
    n_taught: int
    n_held_out: int
    n_test: int
    steps: int
    seconds: float

    def to_dict(self):
        return asdict(self)


def compare(before, after, X_test, y_test, taught, held_out, steps=0, seconds=0.0):
    """An Outcome from the model ``before`` and ``after`` teaching on the test set and the
    taught and held-out drawings ((X, y) pairs, in the models' scaling)."""
    return Outcome(
        test_before=accuracy(before, X_test, y_test), test_after=accuracy(after, X_test, y_test),
        held_out_before=accuracy(before, *held_out), held_out_after=accuracy(after, *held_out),
        taught_before=accuracy(before, *taught), taught_after=accuracy(after, *taught),
        n_taught=len(taught[1]), n_held_out=len(held_out[1]), n_test=len(y_test), steps=steps,
        seconds=seconds)
