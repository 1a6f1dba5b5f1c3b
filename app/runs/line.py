"""The line: how many jobs (trainings and teachings) the server runs at once, who waits, and the
limits a visitor meets.

    max_trainings()       jobs at once (NN_MAX_TRAININGS; default the cores this server may use,
                          and no more than half its memory holds at the per-run cap)
    max_per_visitor()     jobs one visitor may have, waiting or running, all tabs together
    max_run_seconds()     how long a job may run (None: no limit)
    limits_text()         the limits in one sentence, for the Train page
    run_memory(...)       a training's memory estimate, or ConfigError over the per-run cap

A job (app.runs.job.Job) enters under ``lock``: ``check`` refuses a second job of the same job
object or one over the visitor's limit, ``enter`` gives it a place or puts it in line (first
come, first served), ``take_turn`` moves the first in line to a free place, ``leave`` frees it.
Checks and reservation happen under one lock, so rapid clicks or several tabs start one job at
most.
"""
import dataclasses
import os
import threading

from app.runs.replay import BUDGET
from core import memory, settings
from core.errors import NNError


class TrainingBusy(NNError):
    """The server already runs as many trainings as it allows."""


def cores():
    """The CPU cores this server may use: its CPU affinity, or fewer under a cgroup CPU quota
    (``docker run --cpus=2`` on a 64-core host is 2)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:                   # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(count, int(quota))) if quota else count


def _cgroup_cpu_quota():
    """CPUs allowed by the cgroup's quota (v2 cpu.max, or v1 cfs), or None when unlimited."""
    for path, read in (("/sys/fs/cgroup/cpu.max", lambda text: text.split()),
                       ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", None)):
        try:
            with open(path) as f:
                text = f.read()
            if read is not None:
                quota, period = read(text)
            else:
                with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
                    quota, period = text.strip(), f.read().strip()
            if quota in ("max", "-1"):
                return None
            return int(quota) / int(period)
        except (OSError, ValueError):
            continue
    return None


def max_trainings():
    """Runs the server trains at once (NN_MAX_TRAININGS; default the number of cores, since each
    run keeps one core busy in its worker process and one more would only slow the others down,
    and no more than half the server's memory holds at the per-run cap, core.memory)."""
    chosen = settings.get().max_trainings
    return chosen if chosen is not None else min(cores(), memory_slots())


def memory_slots():
    """How many runs of the per-run memory cap (NN_MAX_RUN_MB) fit in half of the memory this
    server may use (its cgroup's limit, else the machine's); at least 1."""
    limit = settings.get().max_run_bytes
    total = _memory_bytes()
    if not limit or not total:
        return 1_000_000
    return max(1, int(total / 2 // limit))


def _memory_bytes():
    """The memory this process may use: a cgroup limit (v2 memory.max, v1 limit_in_bytes) when
    there is one, else MemTotal; None when neither can be read."""
    machine = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    machine = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
            if text != "max":
                value = int(text)
                return min(value, machine) if machine else value
        except (OSError, ValueError):
            continue
    return machine


def max_per_visitor():
    """Runs one visitor may have at once, all tabs together (NN_MAX_TRAININGS_PER_VISITOR, 1)."""
    return settings.get().max_trainings_per_visitor


def max_run_seconds():
    """How long a run may train before it stops by itself (NN_MAX_TRAINING_SECONDS, default 600);
    None when there is no limit (0)."""
    return settings.get().max_training_seconds or None


def duration_text(seconds):
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds"


def limits_text():
    """The server's training limits in one sentence, for the Train page."""
    cap, mine, seconds = max_trainings(), max_per_visitor(), max_run_seconds()
    text = (f"This server trains at most {cap} network{'s' if cap > 1 else ''} at a time "
            f"(more wait in line), {mine} per visitor")
    if seconds:
        text += f"; a run stops after {duration_text(seconds)} and keeps what it has learned"
    return text + "."


def current_visitor():
    """Who is starting a run: the visitor token of this browser (app.visitor's cookie, shared
    by its tabs), else the Streamlit session; None outside a Streamlit script run."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        ctx = get_script_run_ctx(suppress_warning=True)
        if ctx is None:
            return None
        import streamlit as st
        token = st.session_state.get("visitor")
        return f"visitor:{token}" if token else f"session:{ctx.session_id}"
    except Exception:              # a Streamlit internal moved: each trainer counts on its own
        return None


_running = {}                    # job -> visitor, for every job with a place, all sessions
_waiting = {}                    # job -> visitor, the line for a place (insertion order = turn)
lock = threading.Lock()


def check(job, visitor):
    """Refuse a second job of ``job`` or of ``visitor`` (call under ``lock``)."""
    if job in _running or job in _waiting:
        raise TrainingBusy("It is already running in this session: stop it first.")
    per_visitor = max_per_visitor()
    mine = sum(1 for other in [*_running.values(), *_waiting.values()] if other == visitor)
    if mine >= per_visitor:
        raise TrainingBusy(
            f"You are already training {mine} network{'s' if mine > 1 else ''} (in this "
            f"tab or another one); this shared server trains at most {per_visitor} per "
            f"visitor. Stop it, or wait until it has finished.")


def enter(job, visitor):
    """Give ``job`` a place (True) or a turn in the line (False); call under ``lock``."""
    if len(_running) < max_trainings() and not _waiting:
        _running[job] = visitor
        return True
    _waiting[job] = visitor
    return False


def take_turn(job):
    """True when ``job`` holds a place (moving it from the head of the line to a free one)."""
    with lock:
        if job in _running:
            return True
        if _waiting and next(iter(_waiting)) is job and len(_running) < max_trainings():
            _running[job] = _waiting.pop(job)
            return True
        return False


def leave(job):
    """Free ``job``'s place or its turn in line."""
    with lock:
        _running.pop(job, None)
        _waiting.pop(job, None)


def place(job):
    """``job``'s place in line: 1 for the next to start, 0 when it is not waiting."""
    with lock:
        return list(_waiting).index(job) + 1 if job in _waiting else 0


def running_count():
    """Jobs that hold a place (running or about to) now, all sessions."""
    with lock:
        return len(_running)


def waiting_count():
    """Jobs waiting in line for a place."""
    with lock:
        return len(_waiting)


def running_by_visitor():
    """{visitor: number of jobs} now (for tests and benchmarks)."""
    with lock:
        counts = {}
        for visitor in [*_running.values(), *_waiting.values()]:
            counts[visitor] = counts.get(visitor, 0) + 1
        return counts


def worker_nice():
    """How many nice steps below the server a run's worker trains: ``NN_WORKER_NICE``, by
    default 5 in hosted mode (a class's server answers every visitor's strokes and clicks first;
    30 drawing while 2 train: p95 1,485 -> 1,216 ms, the trainings 0.55x -> 0.53x of alone) and 0
    on one's own machine (where the visitor's own browser would take the training's place)."""
    return settings.get().nice


def run_limit():
    """The per-run memory cap in bytes for core.memory (NN_MAX_RUN_MB; None for no limit)."""
    return settings.get().max_run_bytes


def run_memory(model_config, train_config, splits, replay=True, extra_bytes=0):
    """What the job will take (core.memory: its worker's copy of ``splits`` and ``extra_bytes``
    included, and the replay's weight copies unless ``replay`` is False), or ConfigError when
    that is more than one job may use on this server (NN_MAX_RUN_MB)."""
    as_split = dataclasses.replace(train_config, validation_size=len(splits.y_val))
    return memory.check_run_memory(
        model_config, as_split, snapshot_budget=BUDGET if replay else None,
        data_bytes=memory.splits_bytes(splits) + extra_bytes, n_images=len(splits.y_train) + len(splits.y_val),
        n_test=len(splits.y_test), limit=run_limit())


def worker_rss(pid):
    """Resident bytes of process ``pid`` now (0 when it cannot be read: not Linux, or gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
