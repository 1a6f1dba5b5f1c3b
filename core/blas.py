"""How many threads the BLAS behind NumPy may use, set through ctypes (standard library only).

On this project's 2-core machine, shared with other work, OpenBLAS with 2 threads made the small
matrix products of mini-batch training 2 to 15 times *slower* than 1 thread (its threads spin
while they wait for each other; see benchmarks/results/speed.md). So training pins the BLAS to
``training_threads()`` threads (1 unless ``NN_BLAS_THREADS`` says otherwise) while it runs, and
gives back the previous setting afterwards.

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


def training_threads():
    """Threads for training: ``$NN_BLAS_THREADS`` if set to a positive integer, else 1 (measured
    fastest for every training shape on the 2-core machine; benchmarks/speed.py re-measures)."""
    try:
        value = int(os.environ.get("NN_BLAS_THREADS", "1"))
    except ValueError:
        return 1
    return value if value >= 1 else 1
