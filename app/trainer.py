"""A background training run per session, polled by the page.

The Train page keeps one ``Trainer`` in ``st.session_state["trainer"]``. ``start()`` runs
``core.training.fit`` in a daemon thread. The thread never calls ``st.*``: it only updates the
trainer's own fields under a lock (history, status, message, the finished SavedModel). The page
reads them with ``snapshot()`` from an ``st.fragment(run_every=...)``, so a click elsewhere or a
visit to another page neither kills nor restarts the run.

Lifecycle of the thread (it always ends; there is no orphan):
    * ``fit`` yields records by its own plan (step 0, steps 1-10, at least 100 over the run) and,
      with ``report_seconds=RECORD_SECONDS``, at least every 0.3 s. Between records the thread
      checks the stop event, so Stop takes effect within about half a second. With each record
      it keeps a copy of the weights (app.snapshots: bounded in count and MB) for the replay.
    * It ends by itself when the run is finished, diverged (TrainingDiverged: the message says to
      lower the learning rate), failed, or when its session is gone: with ``is_alive`` (a callable
      that asks the Streamlit runtime whether the browser session is still connected) after
      ``DISCONNECT_GRACE`` seconds of disconnection; without it, when nobody has polled for
      ``poll_timeout`` seconds. A reload starts a new session, so the old run stops.
    * A server-wide cap (env ``NN_MAX_TRAININGS``, default 2) limits concurrent runs: on a 2-core
      machine a third run would only slow the others down. A visitor may run at most
      ``NN_MAX_TRAININGS_PER_VISITOR`` (default 1) of them, whatever the number of tabs (the
      visitor is app.visitor's token, shared by the tabs of one browser; else the session), and a
      run stops by itself after ``NN_MAX_TRAINING_SECONDS`` (default 600; 0 = no limit), keeping
      what it learned, so that nobody holds the server's slots for hours. ``limits_text()`` says
      all three in one sentence for the page.
    * Starting is atomic: the checks (this trainer busy? this visitor at its limit? the server
      full?) and the reservation of a slot happen under one lock, so several Start callbacks
      running at once in Streamlit's threads (rapid clicks, several tabs) start one run at most.

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

from app.snapshots import Snapshots
from core.errors import NNError, TrainingDiverged
from core.model import MLP
from core.modelio import SavedModel
from core.training import new_run, plan

log = logging.getLogger(__name__)

RECORD_SECONDS = 0.3        # target time between records: charts get a new point each poll
LIVE_VALIDATION = 1000      # validation images used for the live curve
DISCONNECT_GRACE = 15.0     # seconds a session may be disconnected before its run stops
POLL_TIMEOUT = 120.0        # without is_alive: seconds without a poll before the run stops
FINAL_STATES = ("done", "stopped", "diverged", "failed", "abandoned")


class TrainingBusy(NNError):
    """The server already runs as many trainings as it allows."""


def _setting(name, default, lowest):
    try:
        return max(lowest, int(os.environ.get(name, str(default))))
    except ValueError:
        return default


def max_trainings():
    """Runs the server trains at once (NN_MAX_TRAININGS, default 2)."""
    return _setting("NN_MAX_TRAININGS", 2, 1)


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
    text = (f"This server trains at most {cap} network{'s' if cap > 1 else ''} at a time, "
            f"{mine} per visitor")
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
_running_lock = threading.Lock()


def running_count():
    with _running_lock:
        return len(_running)


def running_by_visitor():
    """{visitor: number of runs} now (for tests and benchmarks)."""
    with _running_lock:
        counts = {}
        for visitor in _running.values():
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

    @property
    def active(self):
        return self.status in ("starting", "running", "stopping", "evaluating")

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
        self._model = None
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
        self._last_poll = time.monotonic()

    # -- control (called from the page's callbacks) --------------------------------------------
    def start(self, model_config, train_config, splits, *, dataset=None, label="", data_note="",
              is_alive=None, poll_timeout=POLL_TIMEOUT, record_seconds=RECORD_SECONDS,
              visitor=None, max_seconds=None):
        """Start training a new MLP(model_config) on ``splits`` with ``train_config``.

        Raises TrainingBusy when this trainer is already running, when its visitor already has
        ``max_per_visitor()`` runs, or when the server has ``max_trainings()``: checked and
        reserved under one lock, so concurrent calls start one run at most. ``visitor``: who
        starts it (default: ``current_visitor()``, else this trainer alone). ``is_alive``: a
        callable returning False once the browser session is gone (see the module docstring).
        ``max_seconds``: the run's time limit (default ``max_run_seconds()``; 0 for none).
        """
        if visitor is None:
            visitor = current_visitor() or f"trainer:{id(self)}"
        limit = max_run_seconds() if max_seconds is None else (max_seconds or None)
        self._reserve(visitor)
        try:
            _, _, total = plan(train_config, splits.X_train.shape[0])
            model, rng = new_run(model_config, train_config)     # as `python -m core train` does
        except BaseException:
            with _running_lock:
                _running.pop(self, None)
            raise
        with self._lock:
            self._run_id += 1
            self._stop.clear()
            self._model = model
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
            self._splits = None
            self._time_limit = limit
            self._last_poll = time.monotonic()
            self._thread = threading.Thread(
                target=self._run, name=f"trainer-{self._label}", daemon=True,
                args=(model, splits, train_config, rng, data_note, is_alive, poll_timeout,
                      record_seconds, limit))
            self._thread.start()

    def _reserve(self, visitor):
        """Take a server slot for this trainer, or raise TrainingBusy: every check and the
        reservation under one lock (the thread frees the slot as its very last act)."""
        cap, per_visitor = max_trainings(), max_per_visitor()
        with _running_lock:
            if self in _running:
                raise TrainingBusy("A training is already running in this session: stop it first.")
            mine = sum(1 for other in _running.values() if other == visitor)
            if mine >= per_visitor:
                raise TrainingBusy(
                    f"You are already training {mine} network{'s' if mine > 1 else ''} (in this "
                    f"tab or another one); this shared server trains at most {per_visitor} per "
                    f"visitor. Stop it, or wait until it has finished.")
            if len(_running) >= cap:
                raise TrainingBusy(
                    f"The server is already running {len(_running)} trainings (the limit is {cap}, "
                    f"so that each one stays fast). Try again when one has finished.")
            _running[self] = visitor

    def stop(self):
        """Ask the run to stop; it ends at the next record (within about half a second)."""
        self._stop.set()
        with self._lock:
            if self._status in ("starting", "running"):
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

    # -- reading (called from the page's fragment) ----------------------------------------------
    def snapshot(self, poll=True):
        """A consistent copy of the state; counts as a poll (the session is still watching)."""
        with self._lock:
            if poll:
                self._last_poll = time.monotonic()
            return Snapshot(run_id=self._run_id, status=self._status, message=self._message,
                            history=list(self._history), total_steps=self._total_steps,
                            dataset=self._dataset, label=self._label,
                            model_config=self._model_config, train_config=self._train_config,
                            saved=self._saved, started=self._started,
                            snapshots=self._snapshots, blew_up=self._blew_up,
                            splits=self._splits, time_limit=self._time_limit)

    def live_model(self):
        """A copy of the model being trained, as of now (None before a run). For showing guesses:
        the copy is taken while the optimiser may be writing, so it can mix two consecutive
        steps, which is harmless for a display."""
        model = self._model
        if model is None:
            return None
        return MLP(model.config, params=model.copy_params())

    # -- the thread --------------------------------------------------------------------------
    def _set(self, **fields):
        with self._lock:
            for key, value in fields.items():
                setattr(self, f"_{key}", value)

    def _gone(self, is_alive, poll_timeout, since_alive):
        if is_alive is not None:
            return time.monotonic() - since_alive > DISCONNECT_GRACE
        with self._lock:
            return time.monotonic() - self._last_poll > poll_timeout

    def _run(self, model, splits, config, rng, data_note, is_alive, poll_timeout, record_seconds,
             time_limit=None):
        try:
            self._train(model, splits, config, rng, data_note, is_alive, poll_timeout,
                        record_seconds, time_limit)
        except NNError as e:          # a setting that cannot work: its own message says why
            self._set(status="failed", message=str(e))
        except Exception as e:        # never let a thread die silently: the page shows it
            log.exception("training thread failed")
            self._set(status="failed", message=f"Training failed unexpectedly: {type(e).__name__}: {e}")
        finally:
            with _running_lock:
                _running.pop(self, None)

    def _train(self, model, splits, config, rng, data_note, is_alive, poll_timeout,
               record_seconds, time_limit=None):
        from core.training import fit
        config = dataclasses.replace(config, report_seconds=record_seconds)
        live = live_splits(splits)
        with self._lock:
            self._splits = live
            if self._status == "starting":       # a Stop while starting stays "stopping"
                self._status = "running"
        since_alive = time.monotonic()
        deadline = since_alive + time_limit if time_limit else None
        ended = "done"
        message = ""
        records = fit(model, live, config, rng)
        try:
            for record in records:
                entry = record.to_dict()
                with self._lock:
                    self._history.append(entry)
                    index = len(self._history) - 1
                self._snapshots.add(index, entry, model.copy_params())
                if self._stop.is_set():
                    ended = "stopped"
                    break
                if is_alive is not None and is_alive():
                    since_alive = time.monotonic()
                if self._gone(is_alive, poll_timeout, since_alive):
                    ended, message = "abandoned", "The page that started this run was closed, so it stopped."
                    break
                if deadline is not None and time.monotonic() > deadline:
                    ended = "stopped"
                    message = (f"Stopped after {_duration(time_limit)}, the longest a run may train "
                               f"on this shared server; it keeps what it learned.")
                    break
        except TrainingDiverged as e:
            ended, message = "diverged", str(e)
            self._set(blew_up={"step": e.step, "epoch": e.epoch, "loss": e.loss})
        finally:
            records.close()          # ends fit's with-blocks (BLAS threads) now, not at GC time
        if ended == "done" and self._stop.is_set():
            ended = "stopped"        # a Stop that came before the first record
        with self._lock:
            history = list(self._history)
            if ended != "abandoned":
                self._status = "evaluating"
        trained = any(record["step"] > 0 for record in history)     # step 0 is the random start
        if not trained or ended == "abandoned":
            self._set(status=ended, message=message or ("Stopped before the first training step; "
                                                        "no model was kept." if not trained else ""))
            return
        saved = finish_model(model, splits, config, history, self._dataset, data_note, ended)
        self._set(status=ended, message=message, saved=saved)


def live_splits(splits, size=LIVE_VALIDATION):
    """``splits`` with its validation set cut to ``size`` images (the live curve)."""
    if splits.X_val.shape[0] <= size:
        return splits
    fields = {"X_val": splits.X_val[:size], "y_val": splits.y_val[:size]}
    try:
        return dataclasses.replace(splits, **fields)
    except TypeError:
        return SimpleNamespace(**{**vars(splits), **fields})


def finish_model(model, splits, config, history, dataset, data_note="", ended="done"):
    """Evaluate ``model`` on the full validation and test sets; return a SavedModel."""
    val_loss, val_accuracy = model.evaluate(splits.X_val, splits.y_val)
    test_loss, test_accuracy = model.evaluate(splits.X_test, splits.y_test)
    last = history[-1]
    metrics = {"train_accuracy": last["train_accuracy"], "val_accuracy": val_accuracy,
               "val_loss": val_loss, "test_accuracy": test_accuracy, "test_loss": test_loss,
               "training_seconds": last["elapsed"], "steps": last["step"], "ended": ended}
    if data_note:
        metrics["data"] = data_note
    train_config = config.to_dict()
    return SavedModel(model=model, dataset=dataset, scaling=config.scaling,
                      train_config=train_config, history=history, metrics=metrics,
                      created=time.strftime("%Y-%m-%dT%H:%M:%S"))
