"""The worker: each background job (a training, a teaching) runs in its own process, so that the
server's GIL, garbage collector and other visitors' pages never slow it down, and two jobs use two
cores.

``launch(conn_job)`` starts a process with multiprocessing's *spawn* method (a fresh interpreter:
nothing of the server's threads or locks is inherited) running ``main``. It imports numpy and
``core`` only, never Streamlit. Server and worker talk over one duplex ``Pipe``:

    server -> worker   ("job", kind, spec, nice, names)   kind "train" or "teach"; spec a small dict
                       (configs, scaling); then, per array in ``names``, ("array", name, dtype,
                       shape) and its raw bytes (``send_bytes``: no pickling copy of the 200 MB
                       training set); later, at any time, ("stop",)
    worker -> server   ("running",)                          the data arrived, work begins
                       ("record", record dict, params | None)   per record
                       ("evaluating",)                       measuring the full validation/test sets
                       ("final", ended, message, blew_up, metrics | None, params | None)
                       (weights: a layout [(name, dtype, shape)] in the message, then each
                       array's raw bytes; ``receive`` puts them back together)

``JOBS`` maps a kind to the function that does it: ``train`` runs core.training.fit, ``teach``
core.finetune.teach. Weights travel with a training's record when one copy is at most
``SEND_EVERY_RECORD_BYTES`` (what the replay can keep anyway: app.runs.replay keeps >= 8 copies in
100 MB); bigger networks send theirs at most every ``SEND_SECONDS_BIG`` seconds, for the live
pictures. A thread of the worker does the sending (``_Sender``), so training never waits for the
server to read; while more than ``SEND_BACKLOG`` messages wait, records go without weights.

The worker never outlives the server: a watcher thread ends the process (``os._exit``) when the
pipe reaches end-of-file (the server process died, even by ``kill -9``, so the kernel closed its
end) or when its parent process changes; a Stop sets an event that the work loop checks at every
record (records come at least every ``record_seconds``, so Stop takes effect within about half a
second).
"""
import multiprocessing
import multiprocessing.spawn
import os
import threading
import time

import numpy as np

SEND_EVERY_RECORD_BYTES = 100 * 2**20 // 8     # app.runs.replay.MAX_BYTES / MIN_COUNT
SEND_SECONDS_BIG = 5.0
SEND_BACKLOG = 4                # messages waiting to be sent beyond which records go without weights
ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")

NAME = "nn-training-worker"
_spawn = multiprocessing.get_context("spawn")
Pipe = _spawn.Pipe
_preparation_data = multiprocessing.spawn.get_preparation_data


def _without_main(name):
    """spawn's preparation data, minus the server's main module for our workers: a spawned
    child re-imports ``__main__`` (under `streamlit run`, Streamlit's command line, 60 MB and a
    second of imports; in a script, its unguarded top-level code). ``main`` below needs neither."""
    data = _preparation_data(name)
    if name == NAME:
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
    return data


multiprocessing.spawn.get_preparation_data = _without_main


def launch(conn):
    """Start a worker process on the child end ``conn`` of a Pipe; return the Process."""
    process = _spawn.Process(target=main, args=(conn,), name=NAME, daemon=True)
    process.start()
    conn.close()                    # the child holds its own copy; ours would keep EOF away
    return process


def split_arrays(splits):
    """{name: array} of ``splits``' six arrays, for ``send_job``."""
    return {name: getattr(splits, name) for name in ARRAYS}


def send_job(conn, kind, spec, arrays, nice=0):
    """Send a job: its ``kind``, its ``spec`` (a small picklable dict) and its ``arrays``
    ({name: array}, as raw bytes without pickling copies); the worker lowers its CPU priority by
    ``nice`` steps."""
    conn.send(("job", kind, spec, nice, list(arrays)))
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        conn.send(("array", name, array.dtype.str, array.shape))
        conn.send_bytes(_raw(array))


def _raw(array):
    """The bytes of ``array`` as a flat buffer (no copy when it is contiguous; empty ones too)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def send_params(conn, message, params):
    """Send ``message + (layout,)`` then each array's raw bytes: straight from the model's own
    arrays into the pipe (no copy, no pickling), which this thread alone writes to."""
    layout = [(name, array.dtype.str, array.shape) for name, array in params.items()]
    conn.send((*message, layout))
    for array in params.values():
        conn.send_bytes(_raw(array))


def receive(conn):
    """The next message from a worker, with a record's weights read into fresh arrays."""
    message = conn.recv()
    if message[0] in ("record", "final") and isinstance(message[-1], list):
        params = {}
        for name, dtype, shape in message[-1]:
            params[name] = np.empty(shape, dtype)
            conn.recv_bytes_into(_raw(params[name]))
        message = (*message[:-1], params)
    return message


def _receive_job(conn):
    kind, job_kind, spec, nice, names = conn.recv()
    assert kind == "job", kind
    _lower_priority(nice)
    arrays = {}
    for _ in names:
        kind, name, dtype, shape = conn.recv()
        assert kind == "array", kind
        arrays[name] = np.frombuffer(conn.recv_bytes(), dtype=dtype).reshape(shape)
    return job_kind, spec, arrays


def _splits(spec, arrays):
    from core.datasets import Splits
    return Splits(scaling=spec["scaling"], **{name: arrays[name] for name in ARRAYS})


def _lower_priority(level):
    """Run this worker ``level`` nice steps below the server (0: the same priority)."""
    if level and hasattr(os, "nice"):
        try:
            os.nice(level)
        except OSError:
            pass


def _watch(conn, stop, parent):
    """Set ``stop`` on the server's ("stop",); end this process at once when the server is gone."""
    while True:
        try:
            if conn.poll(0.5):
                if conn.recv()[0] == "stop":
                    stop.set()
        except (EOFError, OSError):
            os._exit(3)             # the server closed the pipe or died: no orphan
        if os.getppid() != parent:
            os._exit(3)


def main(conn):
    """The worker process: receive a job, train, stream records, send the final result."""
    parent = os.getppid()
    try:
        kind, spec, arrays = _receive_job(conn)
    except (EOFError, OSError):
        os._exit(3)
    stop = threading.Event()
    threading.Thread(target=_watch, args=(conn, stop, parent), daemon=True,
                     name="server-watch").start()
    sender = _Sender(conn)
    try:
        from core import blas
        blas.set_training_threads(spec.get("blas_threads", 1))
        JOBS[kind](sender, stop, spec, arrays)
    except BaseException as e:            # the server shows it; never a silent death
        from core.errors import NNError
        message = (str(e) if isinstance(e, NNError)
                   else f"Training failed unexpectedly: {type(e).__name__}: {e}")
        sender.finish(("final", "failed", message, None, None, None))   # no weights
    finally:
        conn.close()


def _train(sender, stop, spec, arrays):
    """A training: core.training.fit's records, streamed with weights for the replay."""
    from core.errors import TrainingDiverged
    from core.training import fit, new_run

    model_config, train_config = spec["model_config"], spec["train_config"]
    splits = _splits(spec, arrays)
    model, rng = new_run(model_config, train_config)        # as `python -m core train` does
    sender.put(("running",))
    size = sum(a.nbytes for a in model.params.values())
    every_record = size <= SEND_EVERY_RECORD_BYTES
    last_sent = float("-inf")
    ended, message, blew_up, history = "done", "", None, []
    records = fit(model, splits, train_config, rng)
    try:
        for record in records:
            entry = record.to_dict()
            history.append(entry)
            if ((every_record or time.monotonic() - last_sent >= SEND_SECONDS_BIG)
                    and sender.backlog() < SEND_BACKLOG):
                sender.put(("record", entry), model.copy_params())
                last_sent = time.monotonic()
            else:               # the server is behind: the record goes, the weights wait
                sender.put(("record", entry, None))
            if stop.is_set():
                ended = "stopped"
                break
    except TrainingDiverged as e:
        ended, message = "diverged", str(e)
        blew_up = {"step": e.step, "epoch": e.epoch, "loss": e.loss}
    finally:
        records.close()
    if ended == "done" and stop.is_set():
        ended = "stopped"            # a Stop that came before the first record
    if not any(entry["step"] > 0 for entry in history):    # step 0 is the random start
        sender.finish(("final", ended, message, blew_up, None, None))
        return
    sender.put(("evaluating",))
    metrics = final_metrics(model, splits, history, ended)
    sender.finish(("final", ended, message, blew_up, metrics), model.params)


def _teach(sender, stop, spec, arrays):
    """A teaching: core.finetune.teach on the visitor's drawings, then before -> after."""
    import dataclasses

    from core.errors import TrainingDiverged
    from core.finetune import compare, copy_model, teach
    from core.model import MLP

    splits = _splits(spec, arrays)
    before = MLP(spec["model_config"], params={name[len("model."):]: array.copy()
                                               for name, array in arrays.items()
                                               if name.startswith("model.")})
    taught = arrays["X_taught"], arrays["y_taught"]
    held = arrays["X_held"], arrays["y_held"]
    model = copy_model(before)
    sender.put(("running",))
    started = time.perf_counter()
    ended, message = "done", ""
    records = teach(model, splits, *taught, spec["teach_config"], held_out=held)
    try:
        for record in records:
            sender.put(("record", record.to_dict(), None))
            if stop.is_set():
                ended = "stopped"
                break
    except TrainingDiverged as e:
        sender.finish(("final", "diverged", str(e), None, None, None))
        return
    finally:
        records.close()
    if ended == "stopped":
        sender.finish(("final", "stopped", "Stopped: the model was not changed.", None, None,
                       None))
        return
    seconds = time.perf_counter() - started
    sender.put(("evaluating",))
    outcome = compare(before, model, splits.X_test, splits.y_test, taught, held,
                      steps=record.step, seconds=seconds)
    # the taught model's shape: twice as wide when it grew a second reader (core.reader)
    sender.finish(("final", "done", "", None, {"outcome": dataclasses.asdict(outcome),
                                                "model_config": model.config.to_dict()}),
                  model.params)


JOBS = {"train": _train, "teach": _teach}


class _Sender:
    """Sends the worker's messages from a thread of its own, so that training never waits for the
    server to read (a busy server's watcher thread may take a moment to get the GIL); messages
    keep their order. ``put(message, params)`` queues a message (with a private copy of the
    weights, or none); ``finish`` queues the last one and waits until everything is sent."""

    def __init__(self, conn):
        import queue
        self._conn, self._queue, self._finished = conn, queue.Queue(), False
        self._thread = threading.Thread(target=self._send_all, name="sender", daemon=True)
        self._thread.start()

    def backlog(self):
        return self._queue.qsize()

    def put(self, message, params=None):
        self._queue.put((message, params))

    def finish(self, message, params=None):
        if self._finished:
            return
        self._finished = True
        self.put(message, params)
        self._queue.put(None)
        self._thread.join()

    def _send_all(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            message, params = item
            try:
                if params is None:
                    self._conn.send(message)
                else:
                    send_params(self._conn, message, params)
            except (OSError, ValueError):
                os._exit(3)            # the server is gone


def final_metrics(model, splits, history, ended="done"):
    """What a finished run measured: the full validation and test sets, and the last record."""
    val_loss, val_accuracy = model.evaluate(splits.X_val, splits.y_val)
    test_loss, test_accuracy = model.evaluate(splits.X_test, splits.y_test)
    last = history[-1]
    return {"train_accuracy": last["train_accuracy"], "val_accuracy": val_accuracy,
            "val_loss": val_loss, "test_accuracy": test_accuracy, "test_loss": test_loss,
            "training_seconds": last["elapsed"], "steps": last["step"], "ended": ended}
