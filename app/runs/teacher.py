"""[from app/my_drawings.py]
Teach it your handwriting: the visitor's own labelled drawings, measured and taught.

The views (each a function a page calls; the pages stay thin):

    label_buttons(dataset, pixels, guess, source, on_saved)   Draw, under the guess: "Right" and
        "It's actually a [class]" add the drawing (its 784 pixels, the label and a 56 x 56 sketch
        of the raw drawing) to the visitor's set for that dataset
    section(dataset)                Draw, below: "Your handwriting" accuracy of the current model,
        "Teach it" with before -> after side by side, the gallery (the current model's guess in
        green or red, delete one, clear all), download / upload the set as MNIST IDX files
    test_set_choice(dataset, raw)   Inspect: the visitor's drawings as another test set (the
        confusion matrix, mistakes and activations then work on them)
    training_curve(snap)            Train, in the live view: accuracy on the drawings as the
        network learns (from 10 drawings on)

The set lives in ``st.session_state["my_drawings"]`` (dataset -> core.handwriting.Drawings, an
immutable set, so a reload's new session can share it: app.visitor keeps it for 30 minutes).
Teaching runs core.finetune.teach in a background thread (``Teacher``), like a training: a click
elsewhere or a page switch does not stop it, and the page polls it. When it ends, the taught
model becomes the current one, with a one-click way back.
"""
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from app.runs.line import max_trainings, running_count
from core.errors import NNError, TrainingDiverged

_teaching = set()                  # Teachers whose thread runs, across sessions
_teaching_lock = threading.Lock()


@dataclass(frozen=True)
class Taught:
    """A Teacher's state, copied for the page."""
    run_id: int
    status: str                    # idle | running | done | failed
    message: str
    dataset: str
    records: tuple                 # TeachRecord dicts
    total_steps: int
    outcome: object                # core.finetune.Outcome when done
    saved: object                  # the taught SavedModel when done
    label: str                     # what the taught model is called
    held_out: tuple                # (fingerprint of the set, indices held out) of this run

    @property
    def running(self):
        return self.status == "running"

    @property
    def finished(self):
        return self.status in ("done", "failed")


class Teacher:
    """One session's teaching run (core.finetune.teach in a daemon thread). The thread never calls
    st.*; the page reads ``snapshot()``. A run takes seconds and always ends by itself."""

    def __init__(self):
        self._lock = threading.Lock()
        self._thread = None
        self._state = Taught(0, "idle", "", "", (), 0, None, None, "", ("", ()))

    def snapshot(self):
        with self._lock:
            return self._state

    def _set(self, **fields):
        with self._lock:
            self._state = replace(self._state, **fields)

    def start(self, saved, label, splits, drawings, config, held_out_share):
        """Teach ``saved`` (a SavedModel; never changed) ``drawings`` mixed with ``splits``'
        training images. Raises NNError when a run is going or the server is busy."""
        from core.finetune import split_drawings

        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise NNError("It is already being taught: wait a few seconds.")
        with _teaching_lock:
            busy = running_count() + len(_teaching)
            if busy >= max_trainings():
                raise NNError(f"The server is busy with {busy} trainings (the limit is "
                              f"{max_trainings()}, so each stays fast). Try again in a moment.")
            _teaching.add(self)
        taught, held = split_drawings(drawings.labels, held_out_share, rng=config.seed)
        run_id = self._state.run_id + 1
        self._set(run_id=run_id, status="running", message="", dataset=saved.dataset, records=(),
                  total_steps=config.steps, outcome=None, saved=None,
                  label=f"{label}, taught your handwriting",
                  held_out=(drawings.fingerprint(), tuple(int(i) for i in held)))
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"teacher-{run_id}",
                                        args=(saved, splits, drawings, taught, held, config))
        self._thread.start()

    def join(self, timeout=None):
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self, saved, splits, drawings, taught, held, config):
        try:
            self._teach(saved, splits, drawings, taught, held, config)
        except (NNError, TrainingDiverged) as e:
            self._set(status="failed", message=str(e))
        except Exception as e:                 # never die silently: the page shows it
            self._set(status="failed", message=f"Teaching failed: {type(e).__name__}: {e}")
        finally:
            with _teaching_lock:
                _teaching.discard(self)

    def _teach(self, saved, splits, drawings, taught, held, config):
        from core.finetune import compare, copy_model, teach
        from core.modelio import SavedModel

        X = drawings.pixels(saved.scaling, saved.model.dtype)          # (N, 784)
        y = drawings.labels.astype(np.int64)
        model = copy_model(saved.model)
        started = time.perf_counter()
        records = []
        for record in teach(model, splits, X[taught], y[taught], config, held_out=(X[held], y[held])):
            records.append(record.to_dict())
            self._set(records=tuple(records))
        seconds = time.perf_counter() - started
        outcome = compare(saved.model, model, splits.X_test, splits.y_test, (X[taught], y[taught]),
                          (X[held], y[held]), steps=config.steps, seconds=seconds)
        train_config = {**saved.train_config, **config.to_dict(), "dataset": saved.dataset,
                        "scaling": saved.scaling, "taught_drawings": int(len(taught)),
                        "held_out_drawings": int(len(held))}
        metrics = {**saved.metrics, "test_accuracy": outcome.test_after,
                   "test_accuracy_before": outcome.test_before,
                   "held_out_accuracy": outcome.held_out_after,
                   "held_out_accuracy_before": outcome.held_out_before}
        taught_model = SavedModel(model=model, dataset=saved.dataset, scaling=saved.scaling,
                                  train_config=train_config, history=records, metrics=metrics)
        self._set(status="done", outcome=outcome, saved=taught_model)
