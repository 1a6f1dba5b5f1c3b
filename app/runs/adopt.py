"""A new model replaces the current one, with a way back: one way for every job that makes one.

A finished training (app.runs.trainer) and a finished teaching (app.runs.teacher) are adopted the
same way: ``adopt(kind)`` (the frame calls ``adopt_all()`` on every run) makes the job's model the
current model of its dataset (Draw and Inspect then use it) and remembers the model it replaced;
``replaced(kind, snap)`` gives that model back for the comparison the page shows, ``undo`` (a
button's callback) makes it current again, ``redo`` the job's model again. A job is adopted once
(``adopted(kind, snap)``).

A training that diverged keeps the previous model (its weights are the last good ones, but a run
that blew up is not what a visitor wants to draw into); every training with at least one record
joins "runs" for the compare-runs overlay, whatever its end.
"""
import streamlit as st

from app.data import shipped_model
from app.session import notify, set_current_model

JOB_KEYS = {"train": "trainer", "teach": "my_teacher"}      # kind -> session key of its Job
KEEPS = {"train": ("done", "stopped"), "teach": ("done",)}  # the ends whose model is adopted
MAX_RUNS_KEPT = 8              # earlier runs kept for the compare-runs overlay


def job(kind):
    """This session's job of ``kind`` ("train" | "teach"), or None before the first."""
    return st.session_state[JOB_KEYS[kind]]


def adopted(kind, snap):
    """True when ``snap`` (a finished job's RunState) has been adopted already."""
    return snap.run_id == st.session_state["adopted"][kind]


def adopt(kind):
    """If this session's job of ``kind`` has ended since we last looked, adopt its model.
    Returns True if it did."""
    ss = st.session_state
    current = job(kind)
    if current is None:
        return False
    snap = current.snapshot(poll=False)
    if not snap.finished or adopted(kind, snap):
        return False
    ss["adopted"] = {**ss["adopted"], kind: snap.run_id}
    if kind == "train" and snap.history:
        ss["runs"] = [*ss["runs"], {"label": snap.label, "dataset": snap.dataset,
                                    "history": list(snap.history)}][-MAX_RUNS_KEPT:]
    if snap.saved is not None and snap.status in KEEPS[kind]:
        previous = ss["user_models"].get(snap.dataset)
        ss["replaced"] = {**ss["replaced"], kind: (snap.run_id, snap.dataset, previous)}
        set_current_model(snap.dataset, snap.saved, label(kind, snap))
    return True


def adopt_all():
    """Adopt every job of this session that has ended (the frame calls this on every run)."""
    return [kind for kind in JOB_KEYS if adopt(kind)]


def label(kind, snap):
    """What the job's model is called on every page."""
    return f"your {snap.label}" if kind == "train" else snap.label


def replaced(kind, snap):
    """(SavedModel | None, label | None, entry) of the model that job ``snap`` replaced when it
    was adopted; ``entry`` is what ``undo`` restores (None: back to the shipped model)."""
    record = st.session_state["replaced"][kind]
    if record is None or record[0] != snap.run_id or record[1] != snap.dataset:
        return None, None, None
    if record[2] is not None:
        return (*record[2], record[2])
    shipped, _ = shipped_model(snap.dataset)
    if shipped is None:
        return None, None, None
    return shipped, "the pretrained model", None


def in_use(snap):
    """True when the job's model is the current model of its dataset."""
    entry = st.session_state["user_models"].get(snap.dataset)
    return entry is not None and entry[0] is snap.saved


def undo(kind, run_id, dataset):
    """Callback: make the model that job ``run_id`` replaced current again."""
    record = st.session_state["replaced"][kind]
    if record is None or record[0] != run_id or record[1] != dataset:
        return
    set_current_model(dataset, *(record[2] if record[2] is not None else (None, "")))
    if kind == "teach":
        notify("info", "Back to the model from before the teaching.", on="my")


def redo(kind, snap):
    """Callback: make the job's model current again after an undo."""
    set_current_model(snap.dataset, snap.saved, label(kind, snap))
