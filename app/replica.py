"""This server process as one replica of several sharing a model store: the runs in progress it
records there, so that another replica can tell a visitor that theirs was lost.

A training run lives in the memory of the one server process that started it (app.runs.job); a
load balancer with cookie affinity sends the visitor back to that process for as long as it
answers. When it stops (a crash, a redeploy, a container removed), the balancer sends the visitor
to another replica, which finds their saved models in the shared store but knows nothing of the
run. So in hosted mode each run leaves a mark in its visitor's space while it goes:

    <store>/visitors/<space>/.runs/<replica>-<n>.json       {"replica", "label", "started"}

written when the run starts (``record_run``) and removed when it ends, however it ends
(``end_run``, from the job's watcher thread). A mark outlives its run only when its process
died. A new session of the visitor on a replica that did not write the mark (``lost_notice``, at
the session's first run) takes the mark (removes it: the notice is given once) and says plainly
that the run was lost. A replica is one server process: ``REPLICA`` is new at each start, so a
single server restarted in place tells its visitors the same.

With cookie affinity, a visitor reaches another replica only when theirs has stopped answering;
if it merely dropped out of rotation for a while, the run may finish there unseen, but the
visitor, now held to the new replica, cannot reach it either: for them it is lost all the same.
The marks count as nothing against the quotas (app.store.hosting counts ``<dataset>/*.npz`` only) and go
with the space when it is cleaned up. Local mode (one server, one person) records nothing.
"""
import itertools
import json
import logging
import os
import secrets
import socket
import time
from pathlib import Path

from app.store import hosting
from core.errors import ConfigError
from core.idx import write_bytes_atomic

log = logging.getLogger(__name__)

RUNS = ".runs"                     # the marks' folder in a visitor's space
# This server process, unique across hosts (containers), processes and restarts.
REPLICA = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
LOST = ("Your run in progress{named} was lost when its server stopped; your saved models are "
        "safe. Start it again on the Train page.")
LOST_MANY = ("Your {count} runs in progress were lost when their server stopped; your saved "
             "models are safe. Start them again on the Train page.")
_numbers = itertools.count(1)


def _runs_folder(root, token):
    return hosting.saved_root(root, token, hosted=True) / RUNS


def record_run(visitor, label="", root=None):
    """In hosted mode, mark a run of ``visitor`` (app.runs.line's key: "visitor:<token>"; runs of a
    session without a token are not marked) as in progress on this replica. Returns the mark's
    path for ``end_run``, or None. Never raises: a store that cannot be written costs the notice,
    not the run."""
    token = visitor[len("visitor:"):] if str(visitor).startswith("visitor:") else None
    if token is None or not hosting.policy().hosted:
        return None
    try:
        folder = _runs_folder(root or hosting.store_root(), token)
        folder.mkdir(parents=True, exist_ok=True)
        mark = folder / f"{REPLICA}-{next(_numbers)}.json"
        record = {"replica": REPLICA, "label": label, "started": time.time()}
        return write_bytes_atomic(mark, json.dumps(record).encode())
    except (ConfigError, OSError) as e:
        log.warning("could not record a run in progress in the model store: %s", e)
        return None


def end_run(mark):
    """The run of ``mark`` (from ``record_run``; None: nothing) has ended: remove its mark."""
    if mark is not None:
        try:
            os.unlink(mark)
        except OSError:            # taken by another replica, or the space was cleaned up
            pass


def lost_notice(root, token):
    """In hosted mode, the notice for ``token``'s runs that were in progress on another replica
    (its process gone), or None. Each such mark is removed: told once, by one session."""
    if not hosting.policy().hosted:
        return None
    try:
        folder = _runs_folder(root, token)
        marks = sorted(p for p in Path(folder).glob("*.json")
                       if not p.name.startswith(f"{REPLICA}-"))
    except (ConfigError, OSError):
        return None
    labels = []
    for mark in marks:
        try:
            label = json.loads(mark.read_text()).get("label", "")
            os.unlink(mark)                # FileNotFoundError: another session told them
        except (OSError, ValueError, AttributeError):
            continue
        labels.append(str(label))
    if not labels:
        return None
    if len(labels) > 1:
        return LOST_MANY.format(count=len(labels))
    return LOST.format(named=f" (“{labels[0]}”)" if labels[0] else "")
