"""How much memory one training run takes, said before it starts, and the cap a server puts on it.

    memory = run_memory(model_config, train_config, snapshot_budget=SnapshotBudget(100 * 2**20, 8, 200))
    memory.total                      # bytes, an upper bound of what the run allocates at its peak
    memory.describe()                 # "about 342 MB: weights and their copies 4.6 MB, ..."
    memory.describe(detailed=True)    # "about 342 MB: weights 0.9 MB, gradients 1.8 MB, ..."
    check_run_memory(model_config, train_config, snapshot_budget=...)   # or raise ConfigError

The estimate follows what ``core.training.fit`` and the app's trainer really hold (float32 unless
the model says float64; P = the network's weights and biases, W = its weight matrices only):

    weights          P                the model
    gradients        2 P              a step's gradients, and the last step's until the new ones
                                      are made; at a record, when the last step's are gone, the
                                      copies it takes (the renewed last good weights, the
                                      replay's copy) use that room
    optimiser state  0 / P / 2 P      SGD none, momentum its velocity, Adam its two moments
    update buffers   P / P / 2 P      each optimiser's work buffers, allocated on its first step
    weight copies    P + W            the last good weights (``fit`` goes back to them when a run
                                      diverges) and the weights before the last reported step
                                      (layer health), kept from one record to the next
    activations      one block        the largest of: a training step (forward caches, dropout
                                      masks, backward temporaries, the mini-batch copy, chunks of
                                      ``CHUNK_ROWS`` rows), a record (1,000 validation images, the
                                      probe batch, layer health's float64 copies of the largest
                                      weight matrix), the final evaluation (chunks of 8,192 images)
    image copies     run's own        the shuffled order; a full batch's rearranged training set
                                      (core.compact: worst case, every pixel kept); a float64 copy
                                      of the training images for a float64 model
    curves           records          the history of records the page draws: a 10-minute run
                                      (app.runs.trainer's time limit) with a record every 0.3 s
    snapshots        the budget       the replay's copies of the weights (app.runs.replay: none when
                                      one copy times ``min_count`` is more than ``max_bytes``)
    data             given            the copy of the dataset a worker process holds

It is a sum of parts that are not all alive at once (the final evaluation comes after the
optimiser is gone), so it is an upper bound: ``tests/test_memory.py`` trains under ``tracemalloc``
and checks that the measured peak is below it and not far below (``python -m
benchmarks.memory_cap`` prints both). Making the network (float64 random draws) peaks lower than
training. Pure NumPy and the standard library; nothing here imports the app.
"""
from dataclasses import dataclass, fields, replace

from .datasets import validation_count
from .errors import ConfigError
from .model import CHUNK_ROWS, CONV_ROWS
from .options import label
from .training import COMPACT_MIN_ROWS, PROBE_IMAGES, RECORD_VALIDATION, STEP0_TRAIN_IMAGES

MB = 2**20
GB = 2**30
DEFAULT_MAX_RUN_MB = 1024
# The final evaluation (app.runs.worker.final_metrics -> the model's evaluate) runs in chunks of this many rows.
EVALUATION_ROWS = 8192
# The full datasets (MNIST, Fashion-MNIST): the estimate's sizes when the caller does not say.
FULL_TRAIN_IMAGES = 60_000
FULL_TEST_IMAGES = 10_000
# An augmented mini-batch (core.augment.warp) holds about this many (B, 784) float32 arrays at once.
AUGMENT_ARRAYS = 16
# The curves: a record (TrainRecord.to_dict, measured with tracemalloc) takes about this many
# bytes plus RECORD_LAYER_BYTES per weight layer; a run keeps at most about CURVE_RECORDS of them
# (600 s, app.runs.trainer's time limit, at one record every 0.3 s, and the ~110 planned ones).
RECORD_BYTES = 1500
RECORD_LAYER_BYTES = 250
CURVE_RECORDS = 2100
LABEL_BYTES = 8                       # labels are int64 (core.datasets.make_splits)
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2}       # arrays the size of P, per optimiser
OPTIMIZER_WORK = {"sgd": 1, "momentum": 1, "adam": 2}


@dataclass(frozen=True)
class SnapshotBudget:
    """The replay's limits (app.runs.replay): at most ``max_bytes`` and ``max_count`` copies of the
    weights, and none at all when ``min_count`` copies would not fit in ``max_bytes``."""
    max_bytes: int
    min_count: int
    max_count: int

    def bytes_for(self, copy_bytes):
        """The most the replay holds for a network whose one copy takes ``copy_bytes``."""
        if copy_bytes * self.min_count > self.max_bytes:
            return 0
        return min(self.max_bytes, self.max_count * copy_bytes)


@dataclass(frozen=True)
class RunMemory:
    """Bytes one training run allocates, by what they hold (see the module docstring)."""
    weights: int
    gradients: int
    optimizer_state: int
    optimizer_work: int
    weight_copies: int
    activations: int
    image_copies: int
    curves: int
    snapshots: int
    data: int = 0
    optimizer: str = "sgd"

    @property
    def total(self):
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "optimizer")

    def parts(self):
        """[(what, bytes)] for every part that takes any memory, in the order of the fields."""
        names = {"weights": "weights", "gradients": "gradients",
                 "optimizer_state": f"{label(self.optimizer)}'s state",
                 "optimizer_work": "update buffers", "weight_copies": "weight copies",
                 "activations": "activations", "image_copies": "image copies",
                 "curves": "curves", "snapshots": "replay snapshots", "data": "dataset copy"}
        return [(what, getattr(self, name)) for name, what in names.items() if getattr(self, name)]

    def groups(self):
        """[(what, bytes)] in five words a student follows: the weights with their gradients and
        copies, the optimiser, the activations, the images, the replay with the curves."""
        groups = [
            ("weights and their copies", self.weights + self.gradients + self.weight_copies),
            (f"the {label(self.optimizer)} optimiser", self.optimizer_state + self.optimizer_work),
            ("activations", self.activations),
            ("the images", self.image_copies + self.data),
            ("the replay and curves", self.snapshots + self.curves),
        ]
        return [(what, size) for what, size in groups if size]

    def describe(self, detailed=False):
        """'about 1.6 GB: weights and their copies 1.0 GB, the Adam optimiser 400 MB, ...';
        ``detailed``: every part ('weights 200 MB, gradients 400 MB, ...')."""
        parts = ", ".join(f"{what} {format_bytes(size)}"
                          for what, size in (self.parts() if detailed else self.groups()))
        return f"about {format_bytes(self.total)}: {parts}"

    def __repr__(self):
        return f"RunMemory({self.describe()})"


def format_bytes(size):
    """'0.9 MB', '45 MB', '1.6 GB' (MB = 2**20 bytes, as app.runs.replay counts them)."""
    if size >= GB:
        return f"{size / GB:.1f} GB".replace(".0 GB", " GB")
    if size >= 10 * MB:
        return f"{size / MB:,.0f} MB"
    if size >= 0.05 * MB:
        return f"{size / MB:.1f} MB"
    return "under 0.1 MB"


def dataset_bytes(n_images, n_test, input_size=784, dtype="float32"):
    """Bytes of a dataset's splits as core.datasets.make_splits makes them (X_train, X_val, X_test
    in ``dtype``, int64 labels, the int64 indices of the split), from the number of training
    images (before the validation split) and of test images: ``splits_bytes`` of those splits."""
    return (n_images + n_test) * (input_size * _itemsize(dtype) + LABEL_BYTES) + n_images * 8


SPLIT_ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "train_indices",
                "val_indices")


def splits_bytes(splits):
    """Bytes of the arrays a core.datasets.Splits holds (what a worker receives a copy of)."""
    names = SPLIT_ARRAYS
    return sum(getattr(splits, name).nbytes for name in names
               if getattr(splits, name, None) is not None)


def run_memory(model_config, train_config, *, snapshot_budget, data_bytes=0, n_images=None,
               n_test=None):
    """A RunMemory for training ``model_config`` with ``train_config``.

    ``snapshot_budget``: a SnapshotBudget (the app's replay), or None when nothing keeps snapshots
    (the CLI). ``data_bytes``: the dataset copy the run holds on its own (a worker process's; 0
    when the run shares the server's). ``n_images`` / ``n_test``: the dataset's training images
    (before the validation split) and test images; the full datasets' 60,000 / 10,000 when None.
    """
    n_images = FULL_TRAIN_IMAGES if n_images is None else int(n_images)
    n_test = FULL_TEST_IMAGES if n_test is None else int(n_test)
    n_val = validation_count(train_config.validation_size, n_images)
    n_train = max(1, n_images - n_val)
    s = _itemsize(model_config.dtype)
    sizes = model_config.layer_sizes
    P = model_config.num_parameters
    W = sum(d_in * d_out for d_in, d_out in _layers(model_config))     # the weights without biases
    optimizer = train_config.optimizer
    budget = snapshot_budget.bytes_for(P * s) if snapshot_budget is not None else 0
    return RunMemory(
        weights=P * s,
        gradients=2 * P * s,
        optimizer_state=OPTIMIZER_STATE[optimizer] * P * s,
        optimizer_work=OPTIMIZER_WORK[optimizer] * P * s,
        weight_copies=(P + W) * s,
        activations=max(_step_bytes(model_config, train_config, n_train),
                        _record_bytes(model_config, n_train, n_val),
                        _forward_bytes(model_config, min(EVALUATION_ROWS, max(n_val, n_test, 1)))),
        image_copies=_image_copies(model_config, train_config, n_train, model_config.input_size, s),
        curves=CURVE_RECORDS * (RECORD_BYTES + RECORD_LAYER_BYTES * len(model_config.weight_shapes())),
        snapshots=budget,
        data=int(data_bytes),
        optimizer=optimizer,
    )


def model_bytes(model_config):
    """Bytes of a network's weights and biases (a run's ``weights``): what a model a session keeps
    costs the server's memory (app.held bounds them)."""
    return model_config.num_parameters * _itemsize(model_config.dtype)


# Why 1 GB a run by default (the app's NN_MAX_RUN_MB) on a 2-core, 24 GiB server: it trains at most
# 2 runs at once, so runs take at most 2 GB, which leaves the rest for the 30 or so sessions of a
# class (each keeps its finished models and up to 100 MB of replay), the shared datasets and the
# system. A 1 GB run is already a 784-2048-2048-2048-10 network with Adam (10M weights), more than 2
# cores train at a pace anyone watches; the recommended preset needs about 340 MB on full MNIST (its
# replay 100 MB, a worker's copy of the dataset 210 MB).
DEFAULT_MAX_RUN_BYTES = DEFAULT_MAX_RUN_MB * MB


def check_run_memory(model_config, train_config, *, snapshot_budget, data_bytes=0, n_images=None,
                     n_test=None, limit=DEFAULT_MAX_RUN_BYTES):
    """The run's RunMemory, or ConfigError when it needs more than ``limit`` bytes (None: no
    limit; the app passes its NN_MAX_RUN_MB). Arguments as for ``run_memory``."""
    kwargs = dict(snapshot_budget=snapshot_budget, data_bytes=data_bytes, n_images=n_images,
                  n_test=n_test)
    memory = run_memory(model_config, train_config, **kwargs)
    if limit is not None and memory.total > limit:
        raise ConfigError(too_much_message(memory, limit, _remedies(model_config, train_config,
                                                                     memory, limit, kwargs)))
    return memory


def too_much_message(memory, limit, remedies="Use fewer or smaller hidden layers"):
    """'This network needs about 1.6 GB to train (weights ...); a run may use at most 1 GB on
    this server, so it cannot start. Use fewer or smaller hidden layers.'"""
    return (f"This network needs {memory.describe().replace(': ', ' to train (', 1)}); a run may "
            f"use at most {format_bytes(limit)} on this server, so it cannot start. {remedies}.")


def _remedies(model_config, train_config, memory, limit, kwargs):
    """What to change: the network always; the optimiser or the batch too when that alone
    would bring the run within ``limit``."""
    remedies = ["Use fewer or smaller hidden layers"]
    alternatives = []
    if train_config.optimizer != "sgd":
        alternatives.append((f"SGD instead of {label(train_config.optimizer)}",
                             replace(train_config, optimizer="sgd")))
    if train_config.augment or train_config.batch_size is None or train_config.batch_size > 128:
        alternatives.append(("batches of 128 without augmentation",
                             replace(train_config, batch_size=128, augment=False)))
    for words, other in alternatives:
        if run_memory(model_config, other, **kwargs).total <= limit:
            remedies.append(words)
    return ", or ".join(remedies)


# -- the parts --------------------------------------------------------------------------------------
def _itemsize(dtype):
    return 8 if str(dtype) == "float64" else 4


def _layers(model_config):
    """[(D_in, D_out)] of every weight layer, input to output."""
    sizes = model_config.layer_sizes
    return list(zip(sizes[:-1], sizes[1:]))


def _activation_temp(model_config, s):
    """Bytes per hidden unit and row that the activation's in-place backward allocates: a bool
    (ReLU, leaky ReLU), 1 - A (sigmoid), A * A and 1 - A * A (tanh)."""
    return {"relu": 1, "leaky_relu": 1, "sigmoid": s, "tanh": 2 * s}[model_config.activation]


def _block_bytes(model_config, rows, s):
    """One forward and backward pass over ``rows`` rows (MLP._block)."""
    hidden = model_config.hidden_sizes
    out = model_config.output_size
    dropout = model_config.dropout > 0
    # Forward caches: each hidden layer's activation; with dropout also its mask and H * mask.
    kept = sum(rows * h * s * (3 if dropout else 1) for h in hidden)
    # Drawing a mask: float32 random numbers and a bool, then the mask in the model's dtype.
    mask_temp = max((rows * h * max(5, 1 + 2 * s) for h in hidden), default=0) if dropout else 0
    # Backward: dZ (rows, D_out) and dA (rows, D_in) of one layer, and the activation's temporary.
    backward = max((rows * (d_in + d_out) * s + rows * d_in * _activation_temp(model_config, s)
                    for d_in, d_out in _layers(model_config)[1:]), default=0)
    loss = rows * (6 * out * s + 32)               # logits / probabilities, dZ, row indices, sums
    return kept + max(mask_temp, backward) + loss + _conv_bytes(model_config, rows, s, True)


def _conv_bytes(model_config, rows, s, training):
    """The conv and pool layers (core.conv) on ``rows`` rows. Training keeps, per conv layer, its
    im2col columns (rows * H_out * W_out * k * k * C_in) and its output, per pool layer its
    output; backward then makes one conv layer's dcols, padded dX and dY at a time. Inference
    keeps only the current layer's columns, padded input and output."""
    if not model_config.layers:
        return 0
    shape, kept, peak = (1, model_config.image_side, model_config.image_side), 0, 0
    shapes = model_config.image_shapes
    for spec, (C, H, W) in zip(model_config.specs, shapes):
        c, h, w = shape
        if spec.kind == "conv":
            cols = rows * H * W * spec.kernel ** 2 * c * s
            padded = rows * (h + spec.kernel) * (w + spec.kernel) * c * s
            out = rows * H * W * C * s
            kept += cols + out if training else 0
            peak = max(peak, cols + padded + out + (rows * H * W * C if training else 0))
        else:
            out = rows * H * W * C * s
            kept += out if training else 0
            peak = max(peak, out + rows * h * w * c * (s + 1))     # pool backward: dX and the ties
        shape = (C, H, W)
    return kept + peak


def _step_bytes(model_config, train_config, n_train):
    """A training step: the mini-batch, its augmentation, one block (or chunks of a full batch)."""
    s = _itemsize(model_config.dtype)
    d_in = model_config.input_size
    batch = n_train if train_config.batch_size is None else min(train_config.batch_size, n_train)
    rows = min(batch, CONV_ROWS if model_config.layers else CHUNK_ROWS)
    total = _block_bytes(model_config, rows, s)
    full_batch = batch == n_train and not train_config.augment
    if not full_batch:
        total += batch * d_in * s                                   # X[idx]: the batch's copy
    if train_config.augment:
        total += AUGMENT_ARRAYS * batch * d_in * 4
    if batch > CHUNK_ROWS:
        # chunks add into the gradients: each layer's dW is a temporary first (the compact first
        # layer: its columns gathered and scattered back, two of them), and the batch's probs
        layers = _layers(model_config)
        dW = max([2 * layers[0][0] * layers[0][1]] + [a * b for a, b in layers[1:]])
        total += dW * s + batch * model_config.output_size * s
    return total + batch * (LABEL_BYTES + 2)                        # labels, argmax, == per row


def _forward_bytes(model_config, rows):
    """MLP.evaluate on ``rows`` rows: each layer's input (the first one's is the caller's), its
    Z and its activation, which sigmoid and leaky ReLU make with one more temporary; then the loss
    on a copy of the logits."""
    s = _itemsize(model_config.dtype)
    conversion = rows * model_config.input_size * s if s == 8 else 0   # float32 pixels -> float64
    arrays = 3 if model_config.activation in ("sigmoid", "leaky_relu") else 2
    peak = max(rows * ((d_in if i else 0) + arrays * d_out) * s + rows * d_out
               for i, (d_in, d_out) in enumerate(_layers(model_config)))
    conv = _conv_bytes(model_config, min(rows, CONV_ROWS), s, False)
    return conversion + max(peak, conv) + rows * (4 * model_config.output_size * s + 32)


def _record_bytes(model_config, n_train, n_val):
    """A record: the untrained network on the first training images (step 0), live validation,
    then layer health on the probe batch: all hidden activations kept, and update ratios computed
    on float64 copies of the weights before and after and of their difference."""
    s = _itemsize(model_config.dtype)
    evaluation = _forward_bytes(model_config, min(max(STEP0_TRAIN_IMAGES, RECORD_VALIDATION),
                                                  max(n_train, n_val)))
    probe = min(PROBE_IMAGES, n_val or n_train)
    largest = max(d_in * d_out for d_in, d_out in _layers(model_config))
    health_copies = (3 if s == 4 else 1) * 8 * largest              # before64, after64, difference
    kept = sum(probe * h * s for h in model_config.hidden_sizes)
    return max(evaluation, kept + max(health_copies, _forward_bytes(model_config, probe)))


def _image_copies(model_config, train_config, n_train, d_in, s):
    """What fit derives from the training images for the whole run."""
    total = n_train * LABEL_BYTES                                   # the shuffled order
    if s == 8:
        total += n_train * d_in * 8                                 # X.astype(float64)
    full_batch = train_config.batch_size is None or train_config.batch_size >= n_train
    if full_batch and not train_config.augment and n_train > 4 * COMPACT_MIN_ROWS:
        # core.compact.CompactRows: the ink mask while it is built, the parts (at most every
        # pixel), the column lists of the parts and the order and labels in plan order
        total += n_train * d_in * (1 + s) + n_train * d_in // 16 + 4 * n_train * LABEL_BYTES
    return total


_malloc_trim = None


def trim_heap():
    """glibc's malloc_trim(0): give the heap memory that was freed back to the system (a few ms;
    freed memory otherwise stays in the allocator's free lists, per thread arena, and a server's
    resident memory does not come down). Nothing happens on other C libraries."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)
