"""Shareable links and lessons: every Train setting in the URL, and the Home page's guided lessons.

A link like ``/train?dataset=mnist&hidden=10&learning_rate=5&optimizer=sgd&show=learning_rate``
opens the Train page with those settings; ``show`` (optional) keeps only the named controls on
screen and locks the others (a teacher's link that lets students change just the learning rate:
no way to show the rest, and the dataset fixed when the link names one, until another link without
``show`` is opened); a lesson's own list of controls, without ``show``, can be widened by
the student. ``lesson`` names one of
``LESSONS``, whose steps, question and what to look for the page then shows. A link never holds the
visitor's session (that is a cookie, app.visitor).

    read_link(params) -> Link          settings, controls to show, lesson, and what was refused
    link_query(settings, show, lesson) -> {param: text}      the query string of a link
    LESSONS                            the guided lessons (Home lists them)
"""
import math
from dataclasses import dataclass, field

from app.inputs.scales import BATCH_SIZES, LEARNING_RATES, WEIGHT_DECAYS, nearest
from core import options
from core.errors import NNError
from core.model import MAX_DROPOUT
from core.training import PRESETS

SETTINGS = ("preset", "hidden", "activation", "output_activation", "loss", "init", "dropout",
            "learning_rate", "optimizer", "momentum", "lr_schedule", "length_unit", "epochs",
            "iterations", "batch_size", "weight_decay", "augment", "scaling", "seed",
            "validation_size")
CHOICES = {"preset": tuple(PRESETS), "activation": options.ACTIVATIONS,
           "output_activation": options.OUTPUT_ACTIVATIONS, "loss": options.LOSSES,
           "init": options.INITIALIZERS, "optimizer": options.OPTIMIZERS,
           "lr_schedule": options.LR_SCHEDULES, "scaling": options.SCALINGS,
           "length_unit": ("epochs", "iterations")}
MAX_PARAM_CHARS = 200           # a longer value is refused unread


def _number(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _whole(text):
    if not text.lstrip("-").isascii() or not text.lstrip("-").isdigit():
        raise ValueError(text)
    return int(text)


def _parse(name, text):
    """The widget value for setting ``name`` from a link's text; raises ValueError/NNError."""
    if name in CHOICES:
        if text not in CHOICES[name]:
            raise ValueError(text)
        return text
    if name == "hidden":
        if any(ch.isalpha() for ch in text):          # the layer text form: "conv 8x5, pool 2"
            return options.parse_layers(text)
        return ", ".join(map(str, options.parse_hidden_sizes(text)))
    if name == "learning_rate":
        return nearest(LEARNING_RATES, _number(text))
    if name == "weight_decay":
        value = _number(text)
        return 0.0 if value <= 0 else nearest(WEIGHT_DECAYS[1:], value)
    if name == "batch_size":
        size = options.parse_batch_size(text)
        return "full" if size is None else (size if size in BATCH_SIZES
                                            else nearest(BATCH_SIZES, size))
    if name == "dropout":
        return round(min(max(_number(text), 0.0), MAX_DROPOUT) * 20) / 20      # slider steps
    if name == "momentum":
        return round(min(max(_number(text), 0.0), 0.99), 2)
    if name == "augment":
        if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(text)
        return text.lower() in ("1", "true", "yes", "on")
    return _whole(text)              # epochs, iterations, seed, validation_size


@dataclass(frozen=True)
class Link:
    dataset: str | None = None
    settings: dict = field(default_factory=dict)     # widget values, without the "train." prefix
    show: frozenset | None = None                    # controls kept on screen; None: all
    lesson: str | None = None
    refused: tuple = ()                              # "name=value" the link had wrong
    locked: bool = False                             # ``show`` was given: a lock, not a hint

    @property
    def empty(self):
        return not (self.dataset or self.settings or self.show or self.lesson)


def read_link(params):
    """A Link from query parameters (a mapping of str to str). Unknown parameters are ignored; a
    known one with a value that cannot be used is left out and named in ``refused``."""
    settings, refused, show, lesson, dataset = {}, [], None, None, None
    locked = False
    for name, text in params.items():
        text = str(text)[:MAX_PARAM_CHARS + 1]
        if len(text) > MAX_PARAM_CHARS:
            refused.append(f"{name}=…")
            continue
        try:
            if name in SETTINGS:
                settings[name] = _parse(name, text)
            elif name == "dataset":
                if text not in options.DATASETS:
                    raise ValueError(text)
                dataset = text
            elif name == "show":
                names = [n for n in text.split(",") if n]
                if any(n not in SETTINGS for n in names):
                    raise ValueError(text)
                show, locked = frozenset(names), True
            elif name == "lesson":
                if text not in LESSONS:
                    raise ValueError(text)
                lesson = text
        except (ValueError, NNError):
            refused.append(f"{name}={text}")
    if lesson is not None:
        base = {k: v for k, v in read_link(LESSONS[lesson].params).settings.items()}
        settings = {**base, **settings}
        if show is None and LESSONS[lesson].show is not None:
            show = frozenset(LESSONS[lesson].show)
    return Link(dataset, settings, show, lesson, tuple(refused), locked)


def link_query(settings, dataset, show=None, lesson=None):
    """{param: text} for a link that opens the Train page with ``settings`` (widget values)."""
    query = {"dataset": dataset}
    for name in SETTINGS:
        if name in settings:
            value = settings[name]
            query[name] = ("true" if value else "false") if isinstance(value, bool) else \
                f"{value:g}" if isinstance(value, float) else str(value).replace(" ", "")
    if show:
        query["show"] = ",".join(n for n in SETTINGS if n in show)
    if lesson:
        query["lesson"] = lesson
    return query


@dataclass(frozen=True)
class Lesson:
    title: str
    icon: str
    params: dict                 # settings over the recommended preset, as link text
    show: tuple | None           # the controls students may change; None: all
    steps: str                   # what to do
    question: str                # a question to answer
    look_for: str                # what to look for


LESSONS = {
    "diverge": Lesson(
        "When the steps are too big", ":material/trending_up:",
        {"preset": "recommended", "optimizer": "sgd", "lr_schedule": "constant",
         "learning_rate": "5", "hidden": "128", "epochs": "5"},
        ("learning_rate",),
        "Press **Start** with a learning rate of 5. Then try 0.5, and 0.05, and compare.",
        "Why does a bigger step not mean faster learning?",
        "With 5 the loss shoots up within a few steps and a red cross marks where it blew up. "
        "With 0.5 it falls; with 0.05 it falls more slowly. The update/weight ratio under Layer "
        "health shows how big each step is."),
    "tiny": Lesson(
        "Ten units, ten pictures", ":material/grid_view:",
        {"preset": "recommended", "hidden": "10", "dropout": "0", "epochs": "3",
         "learning_rate": "0.005"},
        None,
        "Press **Start** and watch *What the units look for*: switch it to *what they learned*.",
        "Can you tell which digit (or which stroke) each of the 10 units is looking for?",
        "Red strokes are ink the unit wants, blue ink it does not. Most units learn a part of "
        "several digits, not one digit each."),
    "depth": Lesson(
        "Does a deeper network learn better?", ":material/layers:",
        {"preset": "recommended", "hidden": "64", "epochs": "5"},
        ("hidden", "activation"),
        "Train with one hidden layer of 64, then with “64, 64, 64”, then with sigmoid instead of "
        "ReLU. Keep **Compare with earlier runs** on.",
        "Which one reaches the best validation accuracy, and which learns fastest at the start?",
        "Deep sigmoid networks start slowly: their gradient size is small in the first layers "
        "(Layer health). ReLU keeps it larger."),
}
