"""Every ``NN_*`` setting of the product, the app's and the command line's, read here and nowhere
else, with one parser.

``TABLE`` names each variable with its default and meaning, as the table below does (and
tests/test_settings.py checks that the two agree; docs/serving.md explains them for a class).
``get()`` reads the environment on every call: it is cheap, and tests change the environment between
calls. The rest of core/ reads no environment: the app (app/) passes these values to core as
arguments, and ``python -m core`` (core/cli.py) reads the few it follows here too, so both mean the
same by each variable. Standard library only, like all of core/.

A value that cannot be read is logged once and its default used: a typo in a server's
configuration never stops a class.

    name                            default     meaning
    NN_DATA_DIR                     (none)      a folder holding the full datasets
                                                (<dir>/mnist/train-images-idx3-ubyte.gz ...)
    NN_CACHE_DIR                    ~/.cache/nn-playground   where downloaded datasets are kept
    NN_OFFLINE                      off         on: never download (use the folder, the cache or
                                                the bundled sample)
    NN_MIRRORS                      (official)  base URLs to download the datasets from, spaces
                                                or commas between them
    NN_MODEL_DIR                    model/      the model store (saved models; in hosted mode the
                                                visitors' spaces)
    NN_SHIPPED_DIR                  model/      where the shipped models are read from (read-only)
    NN_HOSTED                       off         on: hosted mode, each visitor's models in a space
                                                of their own, with quotas
    NN_HOSTED_MAX_MODELS            10          saved models per visitor (all datasets together)
    NN_HOSTED_MAX_MB_PER_VISITOR    100         MB of saved models per visitor
    NN_HOSTED_MAX_MB_TOTAL          2048        MB of saved models of all visitors together
    NN_HOSTED_KEEP_DAYS             7           a visitor's space whose newest file is older goes
    NN_HOSTED_NEW_SPACES_PER_HOUR   20          new visitors' spaces one client address may open
                                                in an hour (a class behind one school address
                                                may need its size here)
    NN_TRUST_FORWARDED              off         on: the client address is the last one of the
                                                X-Forwarded-For header (only behind a proxy that
                                                writes it, as docs/haproxy.cfg does)
    NN_MAX_TRAININGS                (sized)     runs trained at once (default: the cores this
                                                server may use, and no more than half its memory
                                                holds at the per-run cap)
    NN_MAX_TRAININGS_PER_VISITOR    1           runs one visitor may have, waiting or training
    NN_MAX_TRAINING_SECONDS         600         a run stops after this long (0: no limit)
    NN_MAX_RUN_MB                   1024        memory one run may use (0: no limit)
    NN_WORKER_NICE                  5 hosted, 0 local   nice steps below the server for workers
    NN_BLAS_THREADS                 1           BLAS threads of a training worker
    NN_VISITOR_KEEP_SECONDS         1800        a visitor who left is remembered this long
    NN_MAX_HELD_MB_PER_VISITOR      128         MB of models one visitor's sessions may hold in
                                                memory (current, Undo's and the runs' results)
    NN_MAX_HELD_MB_TOTAL            (sized)     MB of models all sessions together may hold
                                                (default: a quarter of the server's memory)
"""
import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
_OFF = {"", "0", "false", "no", "off"}
_warned = set()


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    meaning: str
    kind: str               # "path" | "flag" | "words" | "number" (> 0) | "whole" (>= 0,
                            # clamped to lowest .. highest)
    lowest: int = 0
    highest: int | None = None


TABLE = (
    Setting("NN_DATA_DIR", None, "a folder holding the full datasets", "path"),
    Setting("NN_CACHE_DIR", None, "where downloaded datasets are kept "
            "(default ~/.cache/nn-playground)", "path"),
    Setting("NN_OFFLINE", False, "never download the datasets", "flag"),
    Setting("NN_MIRRORS", (), "base URLs to download the datasets from", "words"),
    Setting("NN_MODEL_DIR", ROOT / "model", "the model store", "path"),
    Setting("NN_SHIPPED_DIR", ROOT / "model", "where the shipped models are read from", "path"),
    Setting("NN_HOSTED", False, "hosted mode: each visitor's models in their own space", "flag"),
    Setting("NN_HOSTED_MAX_MODELS", 10, "saved models per visitor", "whole", 1),
    Setting("NN_HOSTED_MAX_MB_PER_VISITOR", 100.0, "MB of saved models per visitor", "number"),
    Setting("NN_HOSTED_MAX_MB_TOTAL", 2048.0, "MB of saved models of all visitors", "number"),
    Setting("NN_HOSTED_KEEP_DAYS", 7.0, "days a visitor's unused space is kept", "number"),
    Setting("NN_HOSTED_NEW_SPACES_PER_HOUR", 20, "new visitors' spaces one client address may "
            "open in an hour", "whole", 1),
    Setting("NN_TRUST_FORWARDED", False, "take the client address from X-Forwarded-For (behind "
            "a proxy that writes it)", "flag"),
    Setting("NN_MAX_TRAININGS", None, "runs trained at once (default: sized from the cores and "
            "the memory)", "whole", 1),
    Setting("NN_MAX_TRAININGS_PER_VISITOR", 1, "runs one visitor may have at once", "whole", 1),
    Setting("NN_MAX_TRAINING_SECONDS", 600, "seconds a run may train (0: no limit)", "whole", 0),
    Setting("NN_MAX_RUN_MB", 1024, "MB one run may use (0: no limit)", "whole", 0),
    Setting("NN_WORKER_NICE", None, "nice steps below the server for training workers "
            "(default 5 in hosted mode, else 0)", "whole", 0, 19),
    Setting("NN_BLAS_THREADS", 1, "BLAS threads of a training worker", "whole", 1),
    Setting("NN_VISITOR_KEEP_SECONDS", 1800, "seconds a visitor who left is remembered",
            "whole", 1),
    Setting("NN_MAX_HELD_MB_PER_VISITOR", 128, "MB of models one visitor's sessions may hold in "
            "memory", "whole", 1),
    Setting("NN_MAX_HELD_MB_TOTAL", None, "MB of models all sessions may hold in memory "
            "(default: a quarter of the server's memory)", "whole", 1),
)
BY_NAME = {setting.name: setting for setting in TABLE}


def _parse(setting, text):
    """The value of ``setting`` written as ``text`` (stripped, not empty); ValueError if unusable."""
    if setting.kind == "path":
        return Path(text).expanduser()
    if setting.kind == "flag":
        return text.lower() not in _OFF
    if setting.kind == "words":
        return tuple(text.replace(",", " ").split())
    if setting.kind == "number":
        value = float(text)
        if not 0 < value < float("inf"):
            raise ValueError(text)
        return value
    value = int(text)
    if value < 0:
        raise ValueError(text)                       # negative: the default, never "no limit"
    value = max(setting.lowest, value)              # below the lowest: the lowest
    return value if setting.highest is None else min(value, setting.highest)


def read(name, environ=None):
    """The value of one setting (its default when unset, empty or unreadable)."""
    setting = BY_NAME[name]
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return setting.default
    try:
        return _parse(setting, text)
    except ValueError:
        if (name, text) not in _warned:
            _warned.add((name, text))
            log.warning("%s=%r cannot be used; using the default (%s)", name, text,
                        setting.default)
        return setting.default


@dataclass(frozen=True)
class Settings:
    """Every setting's value, by its name without the ``NN_`` prefix, lowercase."""
    data_dir: Path | None
    cache_dir: Path | None
    offline: bool
    mirrors: tuple
    model_dir: Path
    shipped_dir: Path
    hosted: bool
    hosted_max_models: int
    hosted_max_mb_per_visitor: float
    hosted_max_mb_total: float
    hosted_keep_days: float
    hosted_new_spaces_per_hour: int
    trust_forwarded: bool
    max_trainings: int | None
    max_trainings_per_visitor: int
    max_training_seconds: int
    max_run_mb: int
    worker_nice: int | None
    blas_threads: int
    visitor_keep_seconds: int
    max_held_mb_per_visitor: int
    max_held_mb_total: int | None

    @property
    def max_run_bytes(self):
        """The per-run memory cap in bytes, None for no limit."""
        return self.max_run_mb * 2**20 if self.max_run_mb else None

    @property
    def nice(self):
        """Nice steps for a training worker: the setting, else 5 in hosted mode (a class's server
        answers every visitor's strokes and clicks first: 30 drawing while 2 train, p95 1,485 ->
        1,216 ms) and 0 on one's own machine."""
        if self.worker_nice is not None:
            return self.worker_nice
        return 5 if self.hosted else 0


def get(environ=None):
    """Every setting, read now from ``environ`` (default: the process environment)."""
    values = {field.name: read("NN_" + field.name.upper(), environ) for field in fields(Settings)}
    return Settings(**values)
