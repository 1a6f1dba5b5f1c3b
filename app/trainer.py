"""A training run per session, trained in a worker process and polled by the page.

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
import logging
import os
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

from app import replica, snapshots, worker
from app.snapshots import Snapshots
from core import memory
from core.errors import NNError
from core.model import MLP
from core.modelio import SavedModel
from core.training import plan

log = logging.getLogger(__name__)

RECORD_SECONDS = 0.3        # target time between records: charts get a new point each poll
LIVE_VALIDATION = 1000      # validation images used for the live curve
DISCONNECT_GRACE = 15.0     # seconds a session may be disconnected before its run stops
POLL_TIMEOUT = 120.0        # without is_alive: seconds without a poll before the run stops
STOP_KILL_SECONDS = 5.0     # a worker still training this long after a Stop is killed
RSS_SLACK = 1.5, 200 * 2**20    # a worker may reach this x its run's estimate + this many bytes
                                # (the interpreter, numpy and the BLAS's own buffers) before it is
                                # killed: the estimate is an upper bound, so only a run the
                                # estimate got wrong by far would reach it
WATCH_SECONDS = 0.2         # how often the watcher looks at its worker and its session
FINAL_STATES = ("done", "stopped", "diverged", "failed", "abandoned")
ACTIVE_STATES = ("waiting", "starting", "running", "stopping", "evaluating")


class TrainingBusy(NNError):
    """The server already runs as many trainings as it allows."""


def _setting(name, default, lowest):
    try:
        return max(lowest, int(os.environ.get(name, str(default))))
    except ValueError:
        return default


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
    return _setting("NN_MAX_TRAININGS", min(cores(), memory_slots()), 1)


def memory_slots():
    """How many runs of the per-run memory cap (NN_MAX_RUN_MB) fit in half of the memory this
    server may use (its cgroup's limit, else the machine's); at least 1."""
    limit = memory.max_run_bytes()
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
    return _setting("NN_MAX_TRAININGS_PER_VISITOR", 1, 1)


def max_run_seconds():
    """How long a run may train before it stops by itself (NN_MAX_TRAINING_SECONDS, default 600);
    None when there is no limit (0)."""
    return _setting("NN_MAX_TRAINING_SECONDS", 600, 0) or None


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


@dataclass(frozen=True)
class Snapshot:
    """What the page shows; a consistent copy taken under the trainer's lock."""
    run_id: int
    status: str                  # idle | starting | running | stopping | evaluating | FINAL_STATES
    message: str                 # error or explanation for the user ("" when none)
    history: list                # TrainRecord dicts, oldest first
    total_steps: int
    dataset: str
    label: str
    model_config: object = None
    train_config: object = None
    saved: object = None         # SavedModel when the run has ended with usable weights
    started: float = 0.0
    snapshots: object = None     # app.snapshots.Snapshots of this run (replay)
    splits: object = None        # what the run trains and validates on (live validation cut)
    blew_up: dict | None = None  # {"step", "epoch", "loss"} where a diverged run blew up
    time_limit: float | None = None   # seconds this run may train (None: no limit)
    place: int = 0               # while waiting: 1 for the next run to start, 2 after it, ...

    @property
    def active(self):
        return self.status in ACTIVE_STATES

    @property
    def waiting_text(self):
        """What the page says while the run waits for a place."""
        cap = max_trainings()
        busy = "both are busy" if cap == 2 else "all are busy" if cap > 2 else "it is busy"
        return (f"Waiting for a free place: this server trains {cap} network"
                f"{'s' if cap > 1 else ''} at a time and {busy}. You are number "
                f"{self.place} in line; your run starts by itself.")

    @property
    def finished(self):
        return self.status in FINAL_STATES

    @property
    def last(self):
        return self.history[-1] if self.history else None

    @property
    def progress(self):
        last = self.last
        return last["step"] / self.total_steps if last and self.total_steps else 0.0

    @property
    def eta(self):
        last = self.last
        if not last or not last["step"]:
            return float("nan")
        return last["elapsed"] / last["step"] * (self.total_steps - last["step"])


class Trainer:
    """One session's training run. Create once per session; ``start`` may be called again when
    the previous run has ended."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._process = None
        self._live_params = None
        self._run_id = 0
        self._status = "idle"
        self._message = ""
        self._history = []
        self._total_steps = 0
        self._dataset = ""
        self._label = ""
        self._model_config = None
        self._train_config = None
        self._saved = None
        self._started = 0.0
        self._snapshots = Snapshots()
        self._blew_up = None
        self._splits = None
        self._time_limit = None
        self._rss_limit = None
        self._last_poll = time.monotonic()

    # -- control (called from the page's callbacks) --------------------------------------------
    def start(self, model_config, train_config, splits, *, dataset=None, label="", data_note="",
              is_alive=None, poll_timeout=POLL_TIMEOUT, record_seconds=RECORD_SECONDS,
              visitor=None, max_seconds=None):
        """Start training a new MLP(model_config) on ``splits`` with ``train_config``, now if the
        server has a free place, else when its turn in line comes (status "waiting").

        Raises TrainingBusy when this trainer already has a run, or when its visitor already has
        ``max_per_visitor()`` runs (waiting or training): checked and reserved under one lock,
        so concurrent calls start one run at most. ``visitor``: who starts it (default:
        ``current_visitor()``, else this trainer alone). ``is_alive``: a callable returning False
        once the browser session is gone (see the module docstring). ``max_seconds``: the run's
        time limit (default ``max_run_seconds()``; 0 for none).
        """
        if visitor is None:
            visitor = current_visitor() or f"trainer:{id(self)}"
        limit = max_run_seconds() if max_seconds is None else (max_seconds or None)
        _, _, total = plan(train_config, splits.X_train.shape[0])     # refuses impossible plans
        needs = run_memory(model_config, train_config, splits)         # or ConfigError: too big
        train_config = dataclasses.replace(train_config, report_seconds=record_seconds)
        with _running_lock:
            self._check(visitor)
            with self._lock:
                self._run_id += 1
                self._stop.clear()
                self._live_params = None
                self._status = "starting"
                self._message = ""
                self._history = []
                self._total_steps = total
                self._dataset = dataset or train_config.dataset
                self._label = label or f"run {self._run_id}"
                self._model_config = model_config
                self._train_config = train_config
                self._saved = None
                self._started = time.time()
                self._snapshots = Snapshots()
                self._blew_up = None
                self._splits = live_splits(splits)
                self._time_limit = limit
                self._last_poll = time.monotonic()
                self._rss_limit = needs.total * RSS_SLACK[0] + RSS_SLACK[1]
            if len(_running) < max_trainings() and not _waiting:
                _running[self] = visitor
            else:
                _waiting[self] = visitor
                self._status = "waiting"
            self._thread = threading.Thread(
                target=self._watch, name=f"trainer-{self._label}", daemon=True,
                args=(splits, data_note, is_alive, poll_timeout, limit, self._run_id, visitor))
            self._thread.start()

    def _check(self, visitor):
        """Refuse a second run of this trainer or of this visitor (call under _running_lock)."""
        if self in _running or self in _waiting:
            raise TrainingBusy("A training is already running in this session: stop it first.")
        per_visitor = max_per_visitor()
        mine = sum(1 for other in [*_running.values(), *_waiting.values()] if other == visitor)
        if mine >= per_visitor:
            raise TrainingBusy(
                f"You are already training {mine} network{'s' if mine > 1 else ''} (in this "
                f"tab or another one); this shared server trains at most {per_visitor} per "
                f"visitor. Stop it, or wait until it has finished.")

    def stop(self):
        """Ask the run to stop; training ends at its next record (within about half a second)."""
        self._stop.set()
        with self._lock:
            if self._status in ("waiting", "starting", "running"):
                self._status = "stopping"

    def reset(self):
        """Stop any run and forget its history (the finished model stays wherever it was adopted)."""
        self.stop()
        self.join(2.0)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._status, self._message, self._history, self._saved = "idle", "", [], None
                self._total_steps = 0

    def join(self, timeout=None):
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    @property
    def thread_alive(self):
        return self._thread is not None and self._thread.is_alive()

    @property
    def worker_pid(self):
        """The pid of the run's worker process while it lives (for tests and benchmarks)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    # -- reading (called from the page's fragment) ----------------------------------------------
    def snapshot(self, poll=True):
        """A consistent copy of the state; counts as a poll (the session is still watching)."""
        place = 0
        with _running_lock:
            if self in _waiting:
                place = list(_waiting).index(self) + 1
        with self._lock:
            if poll:
                self._last_poll = time.monotonic()
            return Snapshot(run_id=self._run_id, status=self._status, message=self._message,
                            history=list(self._history), total_steps=self._total_steps,
                            dataset=self._dataset, label=self._label,
                            model_config=self._model_config, train_config=self._train_config,
                            saved=self._saved, started=self._started,
                            snapshots=self._snapshots, blew_up=self._blew_up,
                            splits=self._splits, time_limit=self._time_limit, place=place)

    def release_replay(self, why=""):
        """Free the replay's weight copies and the live copy of a run that has ended (the model
        and the curves stay); returns the bytes freed. For visitors who have left: a run's
        replay holds up to 100 MB for as long as the visitor is remembered."""
        with self._lock:
            if self._status in ACTIVE_STATES or not len(self._snapshots):
                return 0
            freed = self._snapshots.nbytes
            self._snapshots = Snapshots()
            self._snapshots.refused = why
            self._live_params = None
            return freed

    def live_model(self):
        """A copy of the network as the worker last sent it (None before the first record)."""
        with self._lock:
            params, config = self._live_params, self._model_config
        if params is None:
            return None
        return MLP(config, params={name: array.copy() for name, array in params.items()})

    # -- the watcher thread ---------------------------------------------------------------------
    def _set(self, **fields):
        with self._lock:
            for key, value in fields.items():
                setattr(self, f"_{key}", value)

    def _watch(self, splits, data_note, is_alive, poll_timeout, time_limit, run_id, visitor):
        ended, message = "failed", ""
        mark = replica.record_run(visitor, self._label)   # hosted: in the shared store, till it ends
        try:
            ended, message = self._await_turn(is_alive, poll_timeout)
            if ended is None:
                ended, message = self._train(splits, data_note, is_alive, poll_timeout, time_limit)
        except NNError as e:          # a setting that cannot work: its own message says why
            ended, message = "failed", str(e)
        except Exception as e:        # never let a run die silently: the page shows it
            log.exception("training watcher failed")
            ended, message = "failed", f"Training failed unexpectedly: {type(e).__name__}: {e}"
        finally:
            self._end_worker()
            replica.end_run(mark)
            with _running_lock:
                _running.pop(self, None)
                _waiting.pop(self, None)
                with self._lock:
                    if self._run_id == run_id:
                        self._status, self._message = ended, message

    def _gone(self, is_alive, poll_timeout, since_alive):
        """(session gone?, new since_alive)."""
        now = time.monotonic()
        if is_alive is not None:
            if is_alive():
                return False, now
            return now - since_alive > DISCONNECT_GRACE, since_alive
        with self._lock:
            return now - self._last_poll > poll_timeout, since_alive

    def _await_turn(self, is_alive, poll_timeout):
        """Wait in line for a place; (None, "") once it holds one, else how the run ended."""
        since_alive = time.monotonic()
        while True:
            with _running_lock:
                if self in _running:
                    return None, ""
                if (next(iter(_waiting)) is self and len(_running) < max_trainings()):
                    _running[self] = _waiting.pop(self)
                    with self._lock:
                        if self._status == "waiting":
                            self._status = "starting"
                    return None, ""
            if self._stop.is_set():
                return "stopped", "Stopped while waiting for a free place; nothing was trained."
            gone, since_alive = self._gone(is_alive, poll_timeout, since_alive)
            if gone:
                return "abandoned", "The page that started this run was closed, so it stopped."
            time.sleep(WATCH_SECONDS)

    def _train(self, splits, data_note, is_alive, poll_timeout, time_limit):
        """Train in a worker process; return (how it ended, message)."""
        parent_end, child_end = worker.Pipe()
        self._process = worker.launch(child_end)
        with self._lock:
            model_config, train_config = self._model_config, self._train_config
        try:
            worker.send_job(parent_end, model_config, train_config, splits, worker_nice())
        except OSError:
            pass                       # the worker died at once: its exit code says why below
        since_alive = started = time.monotonic()
        stop_sent = None               # when the worker was asked to stop
        ended, message, final = None, "", None
        while final is None:
            try:
                if parent_end.poll(WATCH_SECONDS):
                    final = self._receive(worker.receive(parent_end))
                    continue
            except (EOFError, OSError):
                break                  # the worker is gone without its final message
            if not self._process.is_alive() and not parent_end.poll(0):
                break
            if worker_rss(self._process.pid) > self._rss_limit:
                self._process.kill()
                return "failed", (f"The training process used more than "
                                  f"{memory.format_bytes(self._rss_limit)} of memory, far more "
                                  f"than this network should need, so it was stopped.")
            gone, since_alive = self._gone(is_alive, poll_timeout, since_alive)
            if gone:
                self._process.kill()   # nobody will see the result: free the core at once
                return "abandoned", "The page that started this run was closed, so it stopped."
            if time_limit and stop_sent is None and time.monotonic() - started > time_limit:
                message = (f"Stopped after {_duration(time_limit)}, the longest a run may train "
                           f"on this shared server; it keeps what it learned.")
                self._stop.set()
            if self._stop.is_set() and stop_sent is None:
                stop_sent = time.monotonic()
                with self._lock:
                    if self._status in ("starting", "running"):
                        self._status = "stopping"
                try:
                    parent_end.send(("stop",))
                except OSError:
                    pass
            with self._lock:
                evaluating = self._status == "evaluating"
            if (stop_sent is not None and not evaluating
                    and time.monotonic() - stop_sent > STOP_KILL_SECONDS):
                self._end_worker()
                return self._finish_here(splits, data_note, "stopped", message)
        parent_end.close()
        if final is None:
            code = self._process.exitcode if self._process is not None else None
            self._end_worker()
            why = (" (it was killed, often a sign that the server ran out of memory)"
                   if code is not None and code < 0 else "")
            return "failed", (f"The training process ended unexpectedly{why}; "
                              f"try a smaller network.")
        ended, worker_message, blew_up, metrics, params = final
        if blew_up is not None:
            self._set(blew_up=blew_up)
        message = worker_message or message
        if ended == "done" and self._stop.is_set():
            ended = "stopped"
        if params is None:             # nothing was trained, or it failed
            return ended, message or ("Stopped before the first training step; no model was "
                                      "kept." if ended in ("stopped", "done") else "")
        self._set(saved=self._saved_model(params, metrics, data_note))
        return ended, message

    def _receive(self, msg):
        """Handle one message from the worker; return the final tuple when it is the last."""
        kind = msg[0]
        if kind == "record":
            _, entry, params = msg
            with self._lock:
                self._history.append(entry)
                index = len(self._history) - 1
                if params is not None:
                    self._live_params = params
            if params is not None:
                self._snapshots.add(index, entry, params)
        elif kind == "running":
            with self._lock:
                if self._status == "starting":       # a Stop while starting stays "stopping"
                    self._status = "running"
        elif kind == "evaluating":
            self._set(status="evaluating")
        elif kind == "final":
            return msg[1:]
        return None

    def _finish_here(self, splits, data_note, ended, message):
        """A worker that would not stop was killed: keep the weights it last sent."""
        with self._lock:
            params, history = self._live_params, list(self._history)
        if params is None or not any(entry["step"] > 0 for entry in history):
            return ended, message or "Stopped before the first training step; no model was kept."
        self._set(status="evaluating")
        model = MLP(self._model_config, params=params)
        metrics = worker.final_metrics(model, splits, history, ended)
        self._set(saved=self._saved_model(params, metrics, data_note))
        return ended, message

    def _saved_model(self, params, metrics, data_note):
        with self._lock:
            config, train_config = self._model_config, self._train_config
            history, dataset = list(self._history), self._dataset
        if data_note:
            metrics = {**metrics, "data": data_note}
        return SavedModel(model=MLP(config, params=params), dataset=dataset,
                          scaling=train_config.scaling, train_config=train_config.to_dict(),
                          history=history, metrics=metrics,
                          created=time.strftime("%Y-%m-%dT%H:%M:%S"))

    def _end_worker(self):
        """Make sure the worker process has ended (it normally ends by itself)."""
        process = self._process
        if process is None:
            return
        process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join(5.0)
        self._process = None


def worker_nice():
    """How many nice steps below the server a run's worker trains: ``NN_WORKER_NICE``, by
    default 5 in hosted mode (a class's server answers every visitor's strokes and clicks first;
    30 drawing while 2 train: p95 1,485 -> 1,216 ms, the trainings 0.55x -> 0.53x of alone) and 0
    on one's own machine (where the visitor's own browser would take the training's place)."""
    from app import hosting
    default = 5 if hosting.settings().hosted else 0
    try:
        return max(0, min(19, int(os.environ.get("NN_WORKER_NICE", default))))
    except ValueError:
        return default


def run_memory(model_config, train_config, splits):
    """What the run will take (core.memory: its worker's copy of ``splits`` included), or
    ConfigError when that is more than one run may use on this server (NN_MAX_RUN_MB)."""
    as_split = dataclasses.replace(train_config, validation_size=len(splits.y_val))
    return memory.check_run_memory(
        model_config, as_split, snapshot_budget=snapshots.BUDGET,
        data_bytes=memory.splits_bytes(splits), n_images=len(splits.y_train) + len(splits.y_val),
        n_test=len(splits.y_test))


def worker_rss(pid):
    """Resident bytes of process ``pid`` now (0 when it cannot be read: not Linux, or gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def live_splits(splits, size=LIVE_VALIDATION):
    """``splits`` with its validation set cut to ``size`` images (the live curve)."""
    if splits.X_val.shape[0] <= size:
        return splits
    fields = {"X_val": splits.X_val[:size], "y_val": splits.y_val[:size]}
    try:
        return dataclasses.replace(splits, **fields)
    except TypeError:
        return SimpleNamespace(**{**vars(splits), **fields})
