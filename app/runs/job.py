"""Work that outlives a rerun: one background job per session and kind, in a worker process.

Training a network (app.runs.trainer.Trainer) and teaching one the visitor's handwriting
(app.runs.teacher.Teacher) run the same way; this module is that way:

    Start (a page callback) -> the line (app.runs.line: a place, or a turn in the line)
        -> a watcher thread of the server -> a worker process (app.runs.worker) that trains
        -> records streamed back -> ``snapshot()`` read by the page's fragment -> the result,
        adopted by app.runs.adopt (with a way back).

The watcher never calls ``st.*``: it replaces the job's frozen ``RunState`` under a lock
(``dataclasses.replace``), and the page reads a consistent copy with ``snapshot()``, so a click
elsewhere or a visit to another page neither kills nor restarts the job.

Lifecycle (a job always ends; there is no orphan thread or process):
    * The server trains at most ``max_trainings()`` jobs at once (both kinds count); a Start when it
      is full waits in a first-come, first-served line (status "waiting") and the page says the
      visitor's place. A visitor has at most ``max_per_visitor()`` jobs, waiting or running, all
      tabs together. Checks and the reservation happen under one lock.
    * Before it starts, the job's memory is estimated (core.memory) and refused over the per-run
      cap; its worker is killed if its resident memory goes far beyond the estimate.
    * Stop sends the worker a message it reads at its next record (within about half a second). A
      worker that has not stopped ``STOP_KILL_SECONDS`` after a Stop is killed; the kind decides
      what is kept (``_killed``).
    * It ends by itself when done, diverged, failed, or when its session is gone (``is_alive``
      false for ``DISCONNECT_GRACE`` seconds; without ``is_alive``, no poll for ``poll_timeout``
      seconds), or after ``NN_MAX_TRAINING_SECONDS``. A worker that dies is reported as it died
      (``killed_message``): by a signal from outside, by the kernel's out-of-memory killer (its
      count grew meanwhile: ``oom_kills``), or stopped by this app over its memory limit.
    * Workers run ``NN_WORKER_NICE`` steps below the server and end themselves when the server dies.

A kind of job subclasses ``Job`` and says three things: what to send the worker (``_job``), what
to do with a record (``_on_record``) and how to turn the worker's final message into the job's
result (``_result``).
"""
import dataclasses
import logging
import signal
import threading
import time
from dataclasses import dataclass

from app import replica
from app.runs import line, worker
from core import memory, settings
from core.errors import NNError

log = logging.getLogger(__name__)

DISCONNECT_GRACE = 15.0     # seconds a session may be disconnected before its job stops
POLL_TIMEOUT = 120.0        # without is_alive: seconds without a poll before the job stops
STOP_KILL_SECONDS = 5.0     # a worker still working this long after a Stop is killed
RSS_SLACK = 1.5, 200 * 2**20    # a worker may reach this x its job's estimate + this many bytes
WATCH_SECONDS = 0.2         # how often the watcher looks at its worker and its session
FINAL_STATES = ("done", "stopped", "diverged", "failed", "abandoned")
ACTIVE_STATES = ("waiting", "starting", "running", "stopping", "evaluating")


@dataclass(frozen=True)
class RunState:
    """What the page shows of a job: one frozen value, replaced as the job goes."""
    run_id: int = 0
    status: str = "idle"         # idle | ACTIVE_STATES | FINAL_STATES
    message: str = ""            # error or explanation for the visitor ("" when none)
    history: tuple = ()          # the job's records (dicts), oldest first
    total_steps: int = 0
    dataset: str = ""
    label: str = ""
    model_config: object = None
    train_config: object = None
    saved: object = None         # SavedModel when the job has ended with usable weights
    started: float = 0.0
    snapshots: object = None     # app.runs.replay.Snapshots of a training (the replay)
    splits: object = None        # what a training trains and validates on (live validation cut)
    blew_up: dict | None = None  # {"step", "epoch", "loss"} where a diverged run blew up
    time_limit: float | None = None   # seconds this job may run (None: no limit)
    place: int = 0               # while waiting: 1 for the next job to start, 2 after it, ...
    details: dict | None = None  # what a kind of job adds (teaching: its outcome, held-out set)

    @property
    def active(self):
        return self.status in ACTIVE_STATES

    @property
    def finished(self):
        return self.status in FINAL_STATES

    @property
    def waiting_text(self):
        """What the page says while the job waits for a place."""
        cap = line.max_trainings()
        busy = "both are busy" if cap == 2 else "all are busy" if cap > 2 else "it is busy"
        return (f"Waiting for a free place: this server trains {cap} network"
                f"{'s' if cap > 1 else ''} at a time and {busy}. You are number "
                f"{self.place} in line; it starts by itself.")

    @property
    def last(self):
        return self.history[-1] if self.history else None

    @property
    def progress(self):
        """Share of the planned steps done, in [0, 1]."""
        last = self.last
        return min(1.0, last["step"] / self.total_steps) if last and self.total_steps else 0.0

    @property
    def planned_epochs(self):
        """The run's length in epochs, for a fixed x axis (None when unknown)."""
        last = self.last
        if not last or not last["step"] or not self.total_steps or "epoch" not in last:
            return None
        return self.total_steps * last["epoch"] / last["step"]

    @property
    def eta(self):
        """Estimated seconds left from the pace so far (nan before the first step)."""
        last = self.last
        if not last or not last["step"]:
            return float("nan")
        return last["elapsed"] / last["step"] * max(0, self.total_steps - last["step"])


WORK = {"train": "training", "teach": "teaching"}


def oom_kills():
    """How many processes the kernel's out-of-memory killer has ended: in this server's cgroup
    (cgroup v2 memory.events) when it has one, else on the machine (/proc/vmstat); None when
    neither can be read. A worker that died by SIGKILL while this grew was killed for memory."""
    for path, key in (("/sys/fs/cgroup/memory.events", "oom_kill"), ("/proc/vmstat", "oom_kill")):
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def killed_message(exitcode, rss_limit=None, kind="train", out_of_memory=False):
    """Why a worker ended without its result, in words a visitor can act on: which signal or
    exit code, and whether memory (and which limit) had anything to do with it. ``rss_limit``:
    what this app lets the job's worker use; ``out_of_memory``: the kernel's out-of-memory killer
    ended a process meanwhile (``oom_kills``)."""
    work = WORK.get(kind, kind)
    allowed = (f" (this app lets it use {memory.format_bytes(rss_limit)})" if rss_limit else "")
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == signal.SIGKILL and out_of_memory:
            limit = _memory_limit_text()
            return (f"The {work} process was killed by the system because the server ran out of "
                    f"memory{limit}, not because of your network{allowed}: other visitors' work "
                    f"filled it. Nothing was kept; try again in a few minutes.")
        return (f"The {work} process was killed by a signal ({name}) from outside this app: an "
                f"operator or the system stopped it. It was within its memory limit{allowed}, so "
                f"nothing is wrong with your settings; nothing was kept. Try again.")
    return (f"The {work} process ended unexpectedly (exit code {exitcode}) before it finished; "
            f"nothing was kept. Try again, and tell your teacher if it happens again.")


def rss_limit_message(kind, used, rss_limit, estimate):
    """What the page says when the watcher stopped a worker over its memory limit."""
    return (f"The {WORK.get(kind, kind)} process used {memory.format_bytes(used)} of memory, "
            f"more than the {memory.format_bytes(rss_limit)} this app lets it use (its estimate "
            f"of {memory.format_bytes(estimate)}, with room to spare), so the app stopped it; "
            f"nothing was kept. This should not happen: tell your teacher.")


def _memory_limit_text():
    from app.runs.line import _memory_bytes
    total = _memory_bytes()
    return f" (it may use {memory.format_bytes(total)} in all)" if total else ""


class Job:
    """One session's background job of one kind. Create once per session; ``start`` may be
    called again when the previous job has ended."""

    kind = "job"

    def __init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._process = None
        self._rss_limit = None
        self._needs = 0
        self._state = RunState()
        self._last_poll = time.monotonic()

    # -- control (called from the page's callbacks) --------------------------------------------
    def _begin(self, state, needs, visitor, is_alive, poll_timeout, job):
        """Reserve a place (or a turn in line) and start the watcher. ``state``: the new job's
        RunState (run_id and status are set here); ``needs``: its core.memory estimate;
        ``job``: (message, arrays) for the worker."""
        if visitor is None:
            visitor = line.current_visitor() or f"{self.kind}:{id(self)}"
        with line.lock:
            line.check(self, visitor)
            with self._lock:
                self._stop.clear()
                self._last_poll = time.monotonic()
                self._needs = needs.total
                self._rss_limit = needs.total * RSS_SLACK[0] + RSS_SLACK[1]
                status = "starting" if line.enter(self, visitor) else "waiting"
                self._state = dataclasses.replace(state, run_id=self._state.run_id + 1,
                                                  status=status, started=time.time())
                run_id = self._state.run_id
            self._thread = threading.Thread(
                target=self._watch, name=f"{self.kind}-{state.label}", daemon=True,
                args=(job, is_alive, poll_timeout, state.time_limit, run_id, visitor))
            self._thread.start()

    def stop(self):
        """Ask the job to stop; it ends at its next record (within about half a second)."""
        self._stop.set()
        with self._lock:
            if self._state.status in ("waiting", "starting", "running"):
                self._state = dataclasses.replace(self._state, status="stopping")

    def reset(self):
        """Stop any job and forget its history (the result stays wherever it was adopted)."""
        self.stop()
        self.join(2.0)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._state = RunState(run_id=self._state.run_id)

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
        """The pid of the job's worker process while it lives (for tests and benchmarks)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    # -- reading (called from the page's fragment) ----------------------------------------------
    def snapshot(self, poll=True):
        """The job's RunState now; counts as a poll (the session is still watching)."""
        place = line.place(self)
        with self._lock:
            if poll:
                self._last_poll = time.monotonic()
            state = self._state
        return dataclasses.replace(state, place=place) if place != state.place else state

    # -- the watcher thread ---------------------------------------------------------------------
    def _set(self, **fields):
        with self._lock:
            self._state = dataclasses.replace(self._state, **fields)

    def _watch(self, job, is_alive, poll_timeout, time_limit, run_id, visitor):
        ended, message = "failed", ""
        mark = replica.record_run(visitor, self._state.label)   # hosted: in the store till it ends
        try:
            ended, message = self._await_turn(is_alive, poll_timeout)
            if ended is None:
                ended, message = self._run(job, is_alive, poll_timeout, time_limit)
        except NNError as e:          # a setting that cannot work: its own message says why
            ended, message = "failed", str(e)
        except Exception as e:        # never let a job die silently: the page shows it
            log.exception("%s watcher failed", self.kind)
            ended, message = "failed", f"It failed unexpectedly: {type(e).__name__}: {e}"
        finally:
            self._end_worker()
            replica.end_run(mark)
            line.leave(self)
            with self._lock:
                if self._state.run_id == run_id:
                    self._state = dataclasses.replace(self._state, status=ended, message=message)

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
        """Wait in line for a place; (None, "") once it holds one, else how the job ended."""
        since_alive = time.monotonic()
        while True:
            if line.take_turn(self):
                with self._lock:
                    if self._state.status == "waiting":
                        self._state = dataclasses.replace(self._state, status="starting")
                return None, ""
            if self._stop.is_set():
                return "stopped", "Stopped while waiting for a free place; nothing was trained."
            gone, since_alive = self._gone(is_alive, poll_timeout, since_alive)
            if gone:
                return "abandoned", "The page that started this was closed, so it stopped."
            time.sleep(WATCH_SECONDS)

    def _run(self, job, is_alive, poll_timeout, time_limit):
        """Run ``job`` in a worker process; return (how it ended, message)."""
        parent_end, child_end = worker.Pipe()
        oom_before = oom_kills()
        self._process = worker.launch(child_end)
        try:
            spec, arrays = job
            spec = {**spec, "blas_threads": settings.get().blas_threads}
            worker.send_job(parent_end, self.kind, spec, arrays, nice=line.worker_nice())
        except OSError:
            pass                       # the worker died at once: its exit code says why below
        since_alive = started = time.monotonic()
        stop_sent = None               # when the worker was asked to stop
        message, final = "", None
        while final is None:
            try:
                if parent_end.poll(WATCH_SECONDS):
                    final = self._receive(worker.receive(parent_end))
                    continue
            except (EOFError, OSError):
                break                  # the worker is gone without its final message
            if not self._process.is_alive() and not parent_end.poll(0):
                break
            used = line.worker_rss(self._process.pid)
            if used > self._rss_limit:
                self._process.kill()
                return "failed", rss_limit_message(self.kind, used, self._rss_limit, self._needs)
            gone, since_alive = self._gone(is_alive, poll_timeout, since_alive)
            if gone:
                self._process.kill()   # nobody will see the result: free the core at once
                return "abandoned", "The page that started this was closed, so it stopped."
            if time_limit and stop_sent is None and time.monotonic() - started > time_limit:
                message = (f"Stopped after {line.duration_text(time_limit)}, the longest a run "
                           f"may train on this shared server; it keeps what it learned.")
                self._stop.set()
            if self._stop.is_set() and stop_sent is None:
                stop_sent = time.monotonic()
                with self._lock:
                    if self._state.status in ("starting", "running"):
                        self._state = dataclasses.replace(self._state, status="stopping")
                try:
                    parent_end.send(("stop",))
                except OSError:
                    pass
            with self._lock:
                evaluating = self._state.status == "evaluating"
            if (stop_sent is not None and not evaluating
                    and time.monotonic() - stop_sent > STOP_KILL_SECONDS):
                self._end_worker()
                return self._killed(message)
        parent_end.close()
        if final is None:
            if self._process is not None:
                self._process.join(1.0)        # its exit code: a signal, or how it exited
            code = self._process.exitcode if self._process is not None else None
            self._end_worker()
            oom_after = oom_kills()
            out_of_memory = None not in (oom_before, oom_after) and oom_after > oom_before
            return "failed", killed_message(code, self._rss_limit, self.kind, out_of_memory)
        ended, worker_message, blew_up, metrics, params = final
        if blew_up is not None:
            self._set(blew_up=blew_up)
        message = worker_message or message
        if ended == "done" and self._stop.is_set():
            ended = "stopped"
        if params is None:             # nothing was trained, or it failed
            return ended, message or ("Stopped before the first step; nothing was kept."
                                      if ended in ("stopped", "done") else "")
        self._set(**self._result(params, metrics))
        return ended, message

    def _receive(self, msg):
        """Handle one message from the worker; return the final tuple when it is the last."""
        kind = msg[0]
        if kind == "record":
            _, entry, params = msg
            with self._lock:
                # a run can grow longer than planned (Teach it: a second reader that could not
                # learn the drawings gives way to teaching the whole network)
                total = max(self._state.total_steps, int(entry.get("total_steps") or 0))
                self._state = dataclasses.replace(self._state, total_steps=total,
                                                  history=(*self._state.history, entry))
                index = len(self._state.history) - 1
            self._on_record(index, entry, params)
        elif kind == "running":
            with self._lock:
                if self._state.status == "starting":       # a Stop while starting stays
                    self._state = dataclasses.replace(self._state, status="running")
        elif kind == "evaluating":
            self._set(status="evaluating")
        elif kind == "final":
            return msg[1:]
        return None

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

    # -- what a kind of job says -------------------------------------------------------------------
    def _on_record(self, index, entry, params):
        """A record arrived (``params``: the weights sent with it, or None)."""

    def _result(self, params, metrics):
        """RunState fields from the worker's final weights and metrics (e.g. ``saved``)."""
        raise NotImplementedError

    def _killed(self, message):
        """(ended, message) when a worker that would not stop was killed."""
        return "stopped", message or "Stopped before it finished; nothing was kept."
