"""Hosting policy: where saved models live, who sees them, how much each visitor may keep.

Two modes, chosen by the environment (no Streamlit config needed, so the CLI, the tests and a
container all read the same thing):

    NN_HOSTED=1                      hosted mode (a teacher's server for a class); unset, "0",
                                     "false", "no" or "off": local mode, one person on their own
                                     machine (any other value counts as hosted: isolation is the
                                     safe side)
    NN_HOSTED_MAX_MODELS=10          saved models per visitor (all datasets together)
    NN_HOSTED_MAX_MB_PER_VISITOR=100 MB of saved models per visitor
    NN_HOSTED_MAX_MB_TOTAL=2048      MB of saved models of all visitors together
    NN_HOSTED_KEEP_DAYS=7            a visitor's space whose newest file is older is removed

A bad number is logged once and its default used. Local mode is today's behaviour: every model
is ``<model_root>/<dataset>/<name>.npz``, one shared folder, no quotas. Hosted mode:

    <app>/model/<dataset>/pretrained.npz                     shipped with the app, read-only to
                                                             everyone, never copied into the store
    <model_root>/visitors/<sha256(token)[:32]>/<dataset>/<name>.npz      one visitor's space
    <model_root>/.store.lock                                 the store's lock (see ``store``)

``<model_root>`` is the model store (``NN_MODEL_DIR``), which server replicas may share on one
volume; ``<app>/model`` is the folder next to ``core/`` (``/app/model`` in the image), so each
replica reads the shipped models of its own image (``shipped_root``).

The visitor token (app.visitor, a cookie) is checked against app.visitor.TOKEN and hashed, so it
never appears on disk and no other text becomes a path. A visitor lists, loads, saves and deletes
only inside their own space, plus the shipped model; other files of the shared folder (such as the
CLI's nn_parameters.npz) are not shown. A save is checked against the quotas with its exact size
before it takes its name (``store``), under the store's lock: a POSIX lock on a file in the store
(``store_lock``), so that replicas sharing one store check and write one save at a time and
never overshoot a quota together. ``clean_old_spaces`` removes
stale spaces: only real folders named like a space directly inside ``visitors/``, never following
a symlink, each renamed out of the way first so that two processes never remove half of one each.
``clean_when_due`` runs it at a process's first page run and then at most once an hour.
"""
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.store.admission import admit_new_space
from app.store.spaces import SPACE_RE, VISITORS, QuotaError, saved_root, space_name  # noqa: F401
from core import modelio, settings
from core.errors import ConfigError
from core.idx import write_bytes_atomic

log = logging.getLogger(__name__)

TRASH_PREFIX = ".removing-"                 # a space being removed (renamed first, then deleted)
LOCK_NAME = ".store.lock"                   # in the model root: one quota check + save at a time
CLEAN_EVERY_SECONDS = 3600
MB = 2**20

_store_lock = threading.Lock()              # the threads of this process (store_lock)
_clean_lock = threading.Lock()
_last_clean = {"at": None}                  # time.monotonic() of this process's last cleanup


@dataclass(frozen=True)
class Settings:
    hosted: bool = False
    max_models: int = 10
    max_mb_per_visitor: float = 100.0
    max_mb_total: float = 2048.0
    keep_days: float = 7.0

    def quota_text(self):
        """The quotas in one sentence, for the Train page."""
        return (f"Each visitor may keep {plural(self.max_models, 'model')} and "
                f"{_mb(self.max_mb_per_visitor)} here ({_mb(self.max_mb_total)} for the whole "
                f"class)")


@dataclass(frozen=True)
class ModelEntry:
    """A model file a visitor may see: ``kind`` is "pretrained" (shipped, read-only), "cli"
    (written by python -m core train; local mode only) or "saved" (saved from the app)."""
    name: str
    path: Path
    kind: str


@dataclass(frozen=True)
class Usage:
    models: int
    bytes: int


def policy():
    """The hosting policy from the app's settings (core.settings; read on every call: cheap, and
    tests change the environment)."""
    s = settings.get()
    return Settings(hosted=s.hosted, max_models=s.hosted_max_models,
                    max_mb_per_visitor=s.hosted_max_mb_per_visitor,
                    max_mb_total=s.hosted_max_mb_total, keep_days=s.hosted_keep_days)


def plural(count, word):
    """e.g. "1 model", "10 models", "0.5 days"."""
    return f"{count:,g} {word}" + ("" if count == 1 else "s")


def _mb(megabytes):
    return f"{megabytes:,.0f} MB" if megabytes >= 10 else f"{megabytes:,.1f} MB"


def _bytes_mb(size):
    return f"{size / MB:,.1f} MB"


# -- where a visitor's models are ------------------------------------------------------------------
def store_root():
    """The model store: NN_MODEL_DIR, else the app's own model/ folder (core.settings)."""
    return settings.get().model_dir


def shipped_root(root, hosted):
    """The folder whose ``<dataset>/pretrained.npz`` are the shipped models: in hosted mode the
    app's own ``model/`` folder (NN_SHIPPED_DIR: read-only in the image, and never copied into the
    shared store, so replicas of different images never overwrite each other's); in local mode
    the model root itself, one folder for everything, as always."""
    return settings.get().shipped_dir if hosted else Path(root)


def visible_models(root, dataset, token, hosted):
    """The model files of ``dataset`` this visitor may see, as ModelEntry: the shipped model
    first, then (local) every other file of the shared folder, or (hosted) the visitor's own.
    Regular files only, none through a symlink out of its folder (core.modelio.list_models)."""
    root = Path(root)
    if hosted:
        entries = [ModelEntry(path.stem, path, "pretrained")
                   for path in modelio.list_models(shipped_root(root, hosted), dataset)
                   if path.stem == modelio.PRETRAINED_NAME]
        try:
            space = saved_root(root, token, hosted)
        except ConfigError:
            return entries
        return entries + [ModelEntry(path.stem, path, "saved")
                          for path in modelio.list_models(space, dataset)
                          if not is_pretrained(path.stem)]
    entries = []
    for path in modelio.list_models(root, dataset):
        if path.stem == modelio.PRETRAINED_NAME:
            entries.append(ModelEntry(path.stem, path, "pretrained"))
        elif not is_pretrained(path.stem):
            kind = "cli" if path.stem == modelio.CLI_NAME else "saved"
            entries.append(ModelEntry(path.stem, path, kind))
    return entries


def is_pretrained(name):
    """True for the shipped model's name (in any case): never saved over, never deleted."""
    return name.casefold() == modelio.PRETRAINED_NAME.casefold()


# -- quotas ----------------------------------------------------------------------------------------
def usage(space):
    """Usage(models, bytes) of a space: the regular ``<dataset>/*.npz`` files in it (symlinks are
    not followed and not counted)."""
    models = size = 0
    for folder in _real_subfolders(space):
        for entry in _scan(folder.path):
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:                 # removed meanwhile
                continue
            if entry.name.endswith(".npz") and stat.S_ISREG(info.st_mode):
                models += 1
                size += info.st_size
    return Usage(models, size)


def total_bytes(root):
    """Bytes of saved models in all the visitors' spaces together."""
    return sum(usage(space.path).bytes for space in _real_subfolders(Path(root) / VISITORS)
               if SPACE_RE.match(space.name))


def check_quota(root, token, name, new_bytes, config=None):
    """Raise QuotaError, saying what to do, if saving ``new_bytes`` more as ``name`` would go
    beyond a quota of ``config`` (default: ``policy()``)."""
    config = config or policy()
    mine = usage(saved_root(root, token, True))
    keep_it = "or download this model (.npz) to keep it on your computer"
    if mine.models >= config.max_models:
        raise QuotaError(
            f"You already have {plural(mine.models, 'saved model')}, the most one visitor may keep "
            f"on this server. Delete one of them (choose it under Saved models, then Delete) to "
            f"save “{name}”, {keep_it}.")
    if mine.bytes + new_bytes > config.max_mb_per_visitor * MB:
        raise QuotaError(
            f"“{name}” takes {_bytes_mb(new_bytes)} and your saved models already take "
            f"{_bytes_mb(mine.bytes)}; each visitor may keep {_mb(config.max_mb_per_visitor)} on "
            f"this server. Delete one of your saved models to make room, {keep_it}.")
    everyone = total_bytes(root)
    if everyone + new_bytes > config.max_mb_total * MB:
        raise QuotaError(
            f"This server's space for saved models is full ({_bytes_mb(everyone)} of "
            f"{_mb(config.max_mb_total)} used by all visitors), so “{name}” "
            f"({_bytes_mb(new_bytes)}) cannot be saved. Delete one of your saved models, "
            f"{keep_it}, and tell your teacher.")


@contextlib.contextmanager
def store_lock(root):
    """Hold the store's lock, ``<root>/.store.lock``: one quota check and save at a time in all
    the processes that share ``root``, replicas in other containers included. A POSIX record lock
    (fcntl), which Linux also takes on NFS (with the server's lock service); it is released when
    the holder closes the file or dies, so a replica killed while saving never blocks the others.
    A POSIX lock belongs to a process, not a thread: a thread lock keeps this process's threads
    in line first."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _store_lock:
        fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)                   # releases the lock


def store(root, token, path, data, config=None, address=None):
    """Write the model file ``data`` (bytes of a validated .npz) to ``path`` in ``token``'s space,
    if the quotas allow it (QuotaError, nothing written, if not). The check and the write hold
    the store's lock (``store_lock``), so saves in several replicas at once never go beyond a
    quota together. Atomic: a temporary file in the same folder and a rename. A save that would
    open a new space must come from a token this server issued and, when ``address`` (the
    client's) is given, within that address's new spaces per hour (app.store.admission)."""
    with store_lock(root):
        check_quota(root, token, Path(path).stem, len(data), config)
        if not os.path.lexists(saved_root(root, token, True)):
            admit_new_space(root, token, address if address is not None else "local",
                            Path(path).stem)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return write_bytes_atomic(path, data)


# -- cleanup ---------------------------------------------------------------------------------------
def newest_time(space):
    """The newest modification time (seconds) of a space folder and everything in it, read with
    lstat (a symlink's own time; its target is never looked at)."""
    newest = os.lstat(space).st_mtime
    for folder, subfolders, files in os.walk(space, followlinks=False):
        for name in subfolders + files:
            try:
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                pass
    return newest


def clean_old_spaces(root, keep_days=None, now=None):
    """Remove the visitors' spaces whose newest file is older than ``keep_days`` (default: the
    setting). Returns the names of the spaces removed. Never raises.

    Only real folders directly in ``<root>/visitors`` named like a space are considered; a
    symlink anywhere is neither followed nor removed through (a ``visitors`` that is itself a
    symlink is left alone). Each stale space is first renamed to ``.removing-...`` (atomic: when
    two processes clean at once, one of them gets it), then deleted; a leftover of an interrupted
    removal is deleted on the next cleanup.
    """
    keep_days = policy().keep_days if keep_days is None else keep_days
    now = time.time() if now is None else now
    visitors = Path(root) / VISITORS
    try:
        if not stat.S_ISDIR(os.lstat(visitors).st_mode):
            return []
    except OSError:
        return []
    removed = []
    for entry in _real_subfolders(visitors):
        try:
            if entry.name.startswith(TRASH_PREFIX):
                _remove_tree(entry.path)
            elif SPACE_RE.match(entry.name) and now - newest_time(entry.path) > keep_days * 86400:
                trash = visitors / f"{TRASH_PREFIX}{entry.name}-{secrets.token_hex(4)}"
                os.rename(entry.path, trash)          # FileNotFoundError: another process has it
                _remove_tree(trash)
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def clean_when_due(root, now=None):
    """In hosted mode, ``clean_old_spaces`` if this process has not run it in the last hour
    (its first call, at the first page run, always runs it). Returns the spaces removed."""
    if not policy().hosted:
        return []
    now = time.monotonic() if now is None else now
    with _clean_lock:
        last = _last_clean["at"]
        if last is not None and now - last < CLEAN_EVERY_SECONDS:
            return []
        _last_clean["at"] = now
    removed = clean_old_spaces(root)
    if removed:
        log.info("removed %d visitor model spaces unused for %s days", len(removed),
                 policy().keep_days)
    return removed


def _remove_tree(path):
    """shutil.rmtree without following symlinks (its fd-based version on Linux), tolerant of
    another process removing the same files."""
    def ignore_gone(function, name, error):
        if not isinstance(error, FileNotFoundError):
            log.warning("could not remove %s: %s", name, error)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=ignore_gone)
    else:
        shutil.rmtree(path, onerror=lambda function, name, info: ignore_gone(function, name,
                                                                           info[1]))


def _real_subfolders(folder):
    """The entries of ``folder`` that are folders themselves, not symlinks to one."""
    return [entry for entry in _scan(folder) if _is_real_folder(entry)]


def _is_real_folder(entry):
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _scan(folder):
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []
