"""Teaching a model the visitor's handwriting: Draw's "Teach it" job (app.runs.job), one per session.

``Teacher.start(saved, label, splits, drawings, config, held_out_share)`` fine-tunes a copy of
``saved`` on the visitor's drawings mixed with the dataset's training images, in a worker process
(app.runs.worker runs ``core.finetune.teach``), exactly as a training runs: the same line and
per-visitor limit, the same per-run memory cap, nice level, Stop and end when the page is gone.
Part of the drawings (``held_out_share`` of each class) is kept out of the teaching to measure it
honestly. The result is the taught SavedModel (``snapshot().saved``) and the before -> after
``core.finetune.Outcome`` (``snapshot().details["outcome"]``), adopted by app.runs.adopt.
"""
import time

import numpy as np

from app.runs import line, worker
from app.runs.job import POLL_TIMEOUT, Job, RunState
from core.finetune import Outcome, split_drawings
from core.model import ModelConfig
from core.modelio import SavedModel
from core.reader import marked
from core.training import TrainConfig


class Teacher(Job):
    """One session's teaching run."""

    kind = "teach"

    def start(self, saved, label, splits, drawings, config, held_out_share, *, is_alive=None,
              poll_timeout=POLL_TIMEOUT, visitor=None):
        """Teach a copy of ``saved`` (a SavedModel; never changed) ``drawings`` (a
        core.handwriting.Drawings) mixed with ``splits``' training images, with ``config`` (a
        core.finetune.TeachConfig). Raises TrainingBusy when a job of this session or visitor
        runs, ConfigError when it needs more memory than a run may use."""
        taught, held = split_drawings(drawings.labels, held_out_share, rng=config.seed)
        n_taught, n_data = len(taught), len(splits.y_train)
        steps = config.steps_for(saved.model.config, n_taught)
        as_training = TrainConfig(dataset=saved.dataset, batch_size=config.batch_size,
                                  optimizer=config.optimizer, momentum=config.momentum,
                                  learning_rate=config.learning_rate, iterations=steps,
                                  scaling=saved.scaling)
        # the taught model (twice as wide with a second reader, core.reader) and its pools
        needs = line.run_memory(config.model_config_after(saved.model.config, n_taught),
                                as_training, splits, replay=False,
                                extra_bytes=config.pool_bytes(saved.model.config, n_taught, n_data))
        X = drawings.pixels(saved.scaling, saved.model.dtype)          # (N, 784)
        y = drawings.labels.astype(np.int64)
        arrays = {**worker.split_arrays(splits),
                  **{f"model.{name}": array for name, array in saved.model.params.items()},
                  "X_taught": X[taught], "y_taught": y[taught],
                  "X_held": X[held], "y_held": y[held]}
        spec = {"model_config": saved.model.config, "teach_config": config,
                "scaling": splits.scaling}
        self._saved, self._config = saved, config
        self._counts = int(len(taught)), int(len(held))
        state = RunState(total_steps=steps, dataset=saved.dataset,
                         label=f"{label}, taught your handwriting",
                         details={"held_out": (drawings.fingerprint(),
                                               tuple(int(i) for i in held))})
        self._begin(state, needs, visitor, is_alive, poll_timeout, (spec, arrays))

    def _result(self, params, metrics):
        saved, config = self._saved, self._config
        outcome = Outcome(**metrics["outcome"])
        n_taught, n_held = self._counts
        model_config = ModelConfig.from_dict(metrics["model_config"])
        grew = model_config != saved.model.config
        train_config = marked({**saved.train_config, **config.to_dict(), "dataset": saved.dataset,
                               "scaling": saved.scaling, "taught_drawings": n_taught,
                               "held_out_drawings": n_held}, saved, model_config)
        measured = {**saved.metrics, "test_accuracy": outcome.test_after,
                    "test_accuracy_before": outcome.test_before,
                    "held_out_accuracy": outcome.held_out_after,
                    "held_out_accuracy_before": outcome.held_out_before}
        model = type(saved.model)(model_config, params=params)
        taught = SavedModel(model=model, dataset=saved.dataset, scaling=saved.scaling,
                            train_config=train_config, history=list(self._state.history),
                            metrics=measured, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        return {"saved": taught, "details": {**self._state.details, "outcome": outcome,
                                             "grew": grew}}

    def _killed(self, message):
        return "stopped", message or "Stopped: the model was not changed."
