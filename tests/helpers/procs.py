"""Processes, read and bounded through Linux /proc: their trees, CPU, memory and exit; a limit on
this process's address space; a peak measured around one call; code run in a fresh interpreter.

    process_tree(pid), cpu_seconds(pid, children), rss_bytes(pid, children), exited(pid)
    status("VmHWM", pid="self"), reset_peak(), limit_address_space(extra_bytes)
    measured(function, *args) -> (outcome text, seconds, peak bytes above the resident memory)
    run_child(code) -> CompletedProcess; json_lines(completed) -> its JSON lines

Shared by the hardening, memory and trainer tests and the benchmarks that measure the same.
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# -- any process ----------------------------------------------------------------------------------
def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (its field 3 is index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid):
    """``pid`` and its live descendants (children of every thread, recursively), from /proc."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except (OSError, ValueError):          # the thread or the process just ended
                pass
    return list(dict.fromkeys(pids))


def cpu_seconds(pid, children=False):
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), or None. With
    ``children``: plus its live descendants' and those it has waited for (a worker process that
    ended during a measurement still counts, as the difference of two readings)."""
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return None
    ticks = sum(int(f) for f in fields[11:13])                     # utime, stime
    if children:
        ticks += sum(int(f) for f in fields[13:15])                # cutime, cstime (reaped)
        for child in process_tree(pid)[1:]:
            try:
                ticks += sum(int(f) for f in _stat_fields(child)[11:15])
            except (OSError, IndexError, ValueError):
                pass
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid, children=True):
    """Resident memory of ``pid`` (VmRSS), summed over its live descendants with ``children``;
    None if ``pid`` is gone. (Shared pages count once per process, as in ``ps``.)"""
    total = None
    for one in process_tree(pid) if children else [pid]:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:")), 0)                # a zombie has none
        total = (total or 0) + kb * 1024
    return total


def exited(pid):
    """Whether process ``pid`` has ended: gone, or a zombie waiting for its parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def status(key, pid="self"):
    """A /proc/<pid>/status figure (VmSize, VmRSS, VmHWM) in bytes; None if it has none (a zombie)
    or the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in text.splitlines() if line.startswith(key + ":")), None)
    return None if line is None else int(line.split()[1]) * 1024


def reset_peak(pid="self"):
    """Reset VmHWM of ``pid`` to its current resident size (Linux >= 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


# -- this process ---------------------------------------------------------------------------------
def limit_address_space(extra_bytes):
    """Let this process map at most ``extra_bytes`` more than it has now: a runaway allocation
    fails with MemoryError instead of swapping the machine."""
    limit = status("VmSize") + int(extra_bytes)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def release_free_memory():
    """Give memory freed by earlier cases back to the system (glibc keeps large freed blocks),
    so that the next peak counts what that case allocates, not what it could reuse."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measured(function, *args):
    """(outcome text, seconds, peak bytes above the resident memory before) of function(*args)."""
    import gc
    gc.collect()
    release_free_memory()
    reset_peak()
    before = status("VmRSS")
    start = time.perf_counter()
    try:
        outcome = function(*args)
    except MemoryError:
        outcome = "MemoryError"
    except Exception as e:               # the visitor's message, or a bug the caller reports
        outcome = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    return outcome, seconds, max(0, status("VmHWM") - before)


def run_child(code, timeout=600):
    """Run ``code`` in a fresh interpreter (the project on sys.path, one BLAS thread); returns the
    CompletedProcess. Its JSON lines are the results."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "NN_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def json_lines(completed):
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
