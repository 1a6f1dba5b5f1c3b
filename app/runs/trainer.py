"""Training a network: the Train page's job (app.runs.job), one per session.

``Trainer.start(model_config, train_config, splits)`` trains a new network in a worker process
(app.runs.worker runs ``core.training.fit``); the page polls ``snapshot()``. The worker streams
fit's records (step 0, steps 1-10, at least 100 over the run and, with
``report_seconds=RECORD_SECONDS``, at least every 0.3 s) with copies of the weights, which the
trainer keeps for the replay (app.runs.replay: bounded in count and MB) and for the live views
(``live_model``). A worker killed after a Stop leaves the weights it last sent as the result.

Live validation figures are computed on at most ``LIVE_VALIDATION`` images so that frequent
records cost little (a full validation pass on every record would slow training by ~10%); when
the run ends, the model is evaluated on the whole validation and test sets.
"""
import dataclasses
import time

from app.runs import line, worker
from app.runs.job import POLL_TIMEOUT, Job, RunState
from app.runs.replay import Snapshots
from core.model import MLP
from core.modelio import SavedModel
from core.training import plan

RECORD_SECONDS = 0.3        # target time between records: charts get a new point each poll
LIVE_VALIDATION = 1000      # validation images used for the live curve


class Trainer(Job):
    """One session's training run."""

    kind = "train"

    def __init__(self):
        super().__init__()
        self._live_params = None
        self._data_note = ""
        self._full_splits = None

    def start(self, model_config, train_config, splits, *, dataset=None, label="", data_note="",
              is_alive=None, poll_timeout=POLL_TIMEOUT, record_seconds=RECORD_SECONDS,
              visitor=None, max_seconds=None):
        """Train a new network of ``model_config`` on ``splits`` with ``train_config``, now if
        the server has a free place, else when its turn in line comes (status "waiting").

        Raises TrainingBusy when this trainer already has a run, or when its visitor already
        has ``line.max_per_visitor()`` jobs; ConfigError when the plan is impossible or the run
        needs more memory than one run may use. ``visitor``: who starts it (default: the
        browser's visitor token). ``is_alive``: a callable returning False once the browser
        session is gone. ``max_seconds``: the run's time limit (default
        ``line.max_run_seconds()``; 0 for none).
        """
        limit = line.max_run_seconds() if max_seconds is None else (max_seconds or None)
        _, _, total = plan(train_config, splits.X_train.shape[0])     # refuses impossible plans
        needs = line.run_memory(model_config, train_config, splits)    # or ConfigError: too big
        train_config = dataclasses.replace(train_config, report_seconds=record_seconds)
        self._live_params, self._data_note, self._full_splits = None, data_note, splits
        live = live_splits(splits)
        state = RunState(total_steps=total, dataset=dataset or train_config.dataset,
                         label=label or f"run {self._state.run_id + 1}",
                         model_config=model_config, train_config=train_config,
                         snapshots=Snapshots(), splits=live, time_limit=limit)
        job = ({"model_config": model_config, "train_config": train_config,
                "scaling": splits.scaling}, worker.split_arrays(splits))
        self._begin(state, needs, visitor, is_alive, poll_timeout, job)

    def release_replay(self, why=""):
        """Free the replay's weight copies and the live copy of a run that has ended (the model
        and the curves stay); returns the bytes freed. For visitors who have left: a run's
        replay holds up to 100 MB for as long as the visitor is remembered."""
        with self._lock:
            kept = self._state.snapshots
            if self._state.active or kept is None or not len(kept):
                return 0
            fresh = Snapshots()
            fresh.refused = why
            self._state = dataclasses.replace(self._state, snapshots=fresh)
            self._live_params = None
            return kept.nbytes

    def live_model(self):
        """A copy of the network as the worker last sent it (None before the first record)."""
        with self._lock:
            params, config = self._live_params, self._state.model_config
        if params is None:
            return None
        return MLP(config, params={name: array.copy() for name, array in params.items()})

    # -- the job's own parts ------------------------------------------------------------------
    def _on_record(self, index, entry, params):
        if params is not None:
            with self._lock:
                self._live_params = params
                kept = self._state.snapshots
            kept.add(index, entry, params)

    def _result(self, params, metrics):
        state = self._state
        if self._data_note:
            metrics = {**metrics, "data": self._data_note}
        saved = SavedModel(model=MLP(state.model_config, params=params), dataset=state.dataset,
                           scaling=state.train_config.scaling,
                           train_config=state.train_config.to_dict(),
                           history=list(state.history), metrics=metrics,
                           created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        return {"saved": saved}

    def _killed(self, message):
        """A worker that would not stop was killed: keep the weights it last sent."""
        with self._lock:
            params, history = self._live_params, self._state.history
            config, splits = self._state.model_config, self._full_splits
        if params is None or not any(entry["step"] > 0 for entry in history):
            return "stopped", message or "Stopped before the first training step; no model was kept."
        self._set(status="evaluating")
        model = MLP(config, params=params)
        metrics = worker.final_metrics(model, splits, list(history), "stopped")
        self._set(**self._result(params, metrics))
        return "stopped", message


def live_splits(splits, size=LIVE_VALIDATION):
    """``splits`` with its validation set cut to ``size`` images (the live curve)."""
    if splits.X_val.shape[0] <= size:
        return splits
    return dataclasses.replace(splits, X_val=splits.X_val[:size], y_val=splits.y_val[:size])
