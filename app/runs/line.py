"""[from app/trainer.py]
A training run per session, trained in a worker process and polled by the page.

The Train page keeps one ``Trainer`` in ``st.session_state["trainer"]``. ``start()`` hands the run to
a thread of the server (the *watcher*, named ``trainer-<label>``) that waits for a free place, then
trains it in its own process (app.worker: multiprocessing with spawn), so training no longer
shares the server's GIL and garbage collector with every visitor's page, and two runs use two
cores. The watcher never calls ``st.*``: it only updates the trainer's own fields under a lock
(history, status, message, weight snapshots, the finished SavedModel). The page reads them with
``snapshot()`` from an ``st.fragment(run_every=...)``, so a click elsewhere or a visit to another
page neither kills nor restarts the run.

Lifecycle (it always ends; there is no orphan thread or process):
    * A server-wide cap (env ``NN_MAX_TRAININGS``; default the number of cores this server may
      use, since one run keeps one core busy) limits the runs that train at once. A Start when
      the server is full joins a first-come, first-served line (status "waiting"): the page says
      how many run and the visitor's place in line, and the run begins by itself when a place is
      free. A visitor may have at most ``NN_MAX_TRAININGS_PER_VISITOR`` (default 1) runs, waiting
      or training, whatever the number of tabs (the visitor is app.visitor's token, shared by the
      tabs of one browser; else the session). Checks and the reservation happen under one lock,
      so several Start callbacks at once (rapid clicks, several tabs) start one run at most.
    * The worker streams ``core.training.fit``'s records (step 0, steps 1-10, at least 100 over
      the run and, with ``report_seconds=RECORD_SECONDS``, at least every 0.3 s) with copies of
      the weights, which the watcher keeps for the replay (app.snapshots: bounded in count and MB).
    * Stop sends the worker a message it reads at its next record: training stops within about
      half a second, then the model is measured on the full validation and test sets. A worker
      that has not stopped ``STOP_KILL_SECONDS`` after a Stop (one step of a huge network) is
      killed and the weights it last sent are kept.
    * It ends by itself when the run is finished, diverged (TrainingDiverged: the message says to
      lower the learning rate), failed, or when its session is gone: with ``is_alive`` (a callable
      that asks the Streamlit runtime whether the visitor still has a session connected) after
      ``DISCONNECT_GRACE`` seconds of disconnection; without it, when nobody has polled for
      ``poll_timeout`` seconds. An abandoned run's worker is killed at once. A run also stops
      after ``NN_MAX_TRAINING_SECONDS`` (default 600; 0 = no limit), keeping what it learned.
      ``limits_text()`` says the limits in one sentence for the page.
    * The worker ends itself when the server process dies, even by ``kill -9`` (app.worker).

Live validation figures are computed on at most ``LIVE_VALIDATION`` images so that frequent
records cost little (a full validation pass on every record would slow training by ~10%); when
the run ends, the model is evaluated on the whole validation and test sets.
"""
import dataclasses
import math
import os
import threading

from app import settings as app_settings
from app.runs.replay import BUDGET
from core import memory
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
    chosen = app_settings.get().max_trainings
    return chosen if chosen is not None else min(cores(), memory_slots())


def memory_slots():
    """How many runs of the per-run memory cap (NN_MAX_RUN_MB) fit in half of the memory this
    server may use (its cgroup's limit, else the machine's); at least 1."""
    limit = app_settings.get().max_run_bytes
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
    return app_settings.get().max_trainings_per_visitor


def max_run_seconds():
    """How long a run may train before it stops by itself (NN_MAX_TRAINING_SECONDS, default 600);
    None when there is no limit (0)."""
    return app_settings.get().max_training_seconds or None


def _duration(seconds):
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} seconds"


def limits_text():
    """The server's training limits in one sentence, for the Train page."""
    cap, mine, seconds = max_trainings(), max_per_visitor(), max_run_seconds()
    text = (f"This server trains at most {cap} network{'s' if cap > 1 else ''} at a time "
            f"(more wait in line), {mine} per visitor")
    if seconds:
        text += f"; a run stops after {_duration(seconds)} and keeps what it has learned"
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


_running = {}                    # trainer -> visitor, for every run with a slot, all sessions
_waiting = {}                    # trainer -> visitor, the line for a slot (insertion order = turn)
_running_lock = threading.Lock()


def running_count():
    """Runs that hold a place (training or about to) now, all sessions."""
    with _running_lock:
        return len(_running)


def waiting_count():
    """Runs waiting in line for a place."""
    with _running_lock:
        return len(_waiting)


def running_by_visitor():
    """{visitor: number of runs} now (for tests and benchmarks)."""
    with _running_lock:
        counts = {}
        for visitor in [*_running.values(), *_waiting.values()]:
            counts[visitor] = counts.get(visitor, 0) + 1
        return counts


def worker_nice():
    """How many nice steps below the server a run's worker trains: ``NN_WORKER_NICE``, by
    default 5 in hosted mode (a class's server answers every visitor's strokes and clicks first;
    30 drawing while 2 train: p95 1,485 -> 1,216 ms, the trainings 0.55x -> 0.53x of alone) and 0
    on one's own machine (where the visitor's own browser would take the training's place)."""
    return app_settings.get().nice


def run_limit():
    """The per-run memory cap in bytes for core.memory (NN_MAX_RUN_MB; inf for no limit)."""
    return app_settings.get().max_run_bytes or math.inf


def run_memory(model_config, train_config, splits):
    """What the run will take (core.memory: its worker's copy of ``splits`` included), or
    ConfigError when that is more than one run may use on this server (NN_MAX_RUN_MB)."""
    as_split = dataclasses.replace(train_config, validation_size=len(splits.y_val))
    return memory.check_run_memory(
        model_config, as_split, snapshot_budget=BUDGET,
        data_bytes=memory.splits_bytes(splits), n_images=len(splits.y_train) + len(splits.y_val),
        n_test=len(splits.y_test), limit=run_limit())


def worker_rss(pid):
    """Resident bytes of process ``pid`` now (0 when it cannot be read: not Linux, or gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
