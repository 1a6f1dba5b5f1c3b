"""How many threads the BLAS behind NumPy may use, set through ctypes (standard library only).

On this project's 2-core machine, shared with other work, OpenBLAS with 2 threads made the small
matrix products of mini-batch training 2 to 15 times *slower* than 1 thread (its threads spin
while they wait for each other; see benchmarks/results/speed.md). So training pins the BLAS to
``training_threads()`` threads (1 unless ``set_training_threads`` said otherwise: the CLI and the
app pass NN_BLAS_THREADS) while it runs, and
gives back the previous setting afterwards.

The pin is process-wide: OpenBLAS keeps one thread count per process, with no per-thread setting.
Since the app trains each run in a worker process of its own (app.runs.worker), a run's pin holds in
that process only; in the server it is set only while "Teach it" fine-tunes a model for a few
seconds (core.finetune), when every other session's Draw and Inspect inference in the server
process runs on 1 thread too. What that costs them, measured with
``python -m benchmarks.blas_threads`` (784-256-128-10 float32 ``predict_proba``, medians of 15
and 21 alternating repeats on the 2-core machine; the busy core runs a 1-thread training loop):

    the other core     BLAS threads   10,000 test images   one image (a Draw stroke)
    idle               1              40.5-41.6 ms         28-29 us
    idle               2              23.1-24.6 ms         28-32 us
    busy training      1              47.1-51.6 ms         29 us
    busy training      2              48.5-49.1 ms         29-47 us

A single drawing costs the same on 1 thread (its products are too small to share). A whole
test-set pass would be 1.7x faster on 2 threads only with the second core free; while the pin is
in force that core is running the training that asked for it, and 2 threads gain nothing
(0.96-1.06x). So the pin stays process-wide: it costs other sessions nothing measurable while a
run trains, and spares the run the 2-15x slow-down of spinning BLAS threads.

The library is found the way threadpoolctl finds it: among the shared objects already loaded into
this process (numpy's wheel ships ``libscipy_openblas64_``). When there is no OpenBLAS (another
BLAS, another OS) every function here quietly does nothing and returns None.
"""
import contextlib
import ctypes
import os
import threading

import numpy as np  # noqa: F401  (loads the BLAS, so that it is in the process maps below)

_lock = threading.Lock()
_api = None          # (get, set) or () when no OpenBLAS was found; None until looked up


def _loaded_libraries():
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5
                     and "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


def _find():
    global _api
    if _api is not None:
        return _api
    _api = ()
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        # numpy's own build prefixes and suffixes the symbols; a system OpenBLAS does not
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                _api = (get, put)
                return _api
    return _api


def available():
    """True when the BLAS thread count can be read and set."""
    return bool(_find())


def get_threads():
    """The BLAS's current thread count, or None when it cannot be controlled."""
    api = _find()
    return int(api[0]()) if api else None


def set_threads(n):
    """Set the BLAS thread count (process-wide); returns the previous count or None."""
    api = _find()
    if not api:
        return None
    with _lock:
        previous = int(api[0]())
        if previous != n:
            api[1](int(n))
    return previous


_pins = {"count": 0, "previous": None}


@contextlib.contextmanager
def threads(n):
    """``with threads(1): ...`` runs the block with the BLAS pinned to ``n`` threads (n=None:
    leave it alone) and restores the previous count when the last such block ends (training
    runs in several threads at once share one process-wide setting)."""
    if not n or not available():
        yield
        return
    with _lock:
        if _pins["count"] == 0:
            _pins["previous"] = int(_api[0]())
        _pins["count"] += 1
        _api[1](int(n))
    try:
        yield
    finally:
        with _lock:
            _pins["count"] -= 1
            if _pins["count"] == 0 and _pins["previous"] is not None:
                _api[1](_pins["previous"])


_training = {"threads": 1}


def set_training_threads(count):
    """Let training in this process use ``count`` BLAS threads (whole, at least 1; the caller
    reads the setting: NN_BLAS_THREADS in the CLI and the app)."""
    _training["threads"] = max(1, int(count))


def training_threads():
    """Threads for training: 1 unless ``set_training_threads`` said otherwise (1 was measured
    fastest for every training shape on the 2-core machine; benchmarks/speed.py re-measures)."""
    return _training["threads"]
