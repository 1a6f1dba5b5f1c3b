"""Models held in memory by the sessions: bounded per visitor and for the whole server.

A model a visitor keeps stays in the server's memory as long as a session of theirs refers to it
(and, for a reload, the registry of app.visitor): the current model of each dataset, the one Undo
goes back to, the results of their training and teaching jobs. It costs its weights
(``core.memory.model_bytes``, the accounting of the per-run cap): a 59 KB upload of constant
weights inflates to a 784-3000-4096-10 network of 59 MB, and 8 such visitors took a server from
150 to 596 MB (issue 26). Before a model is kept (an upload, a load, the Start of a training or a
teaching, whose result will be kept) ``check_room`` counts every distinct model the sessions hold
and raises ModelsFull, saying why and what to do, when the new one would go beyond

    NN_MAX_HELD_MB_PER_VISITOR   128 MB   all the sessions of one visitor together
    NN_MAX_HELD_MB_TOTAL         a quarter of the server's memory   every session; its last quarter
                                          only for models of at most SMALL_MODEL_BYTES (every
                                          preset's), so visitors with huge models cannot stop a
                                          class from keeping theirs

A refusal changes nothing: the visitor keeps what they had. ``release_left`` (run by the visitor
sweeper, app.visitor.sweep) lets go of the models over SMALL_MODEL_BYTES that only the current
model or Undo holds (an upload, a saved file loaded: nothing a job made) of visitors gone for
REPLAY_KEEP_SECONDS with no session connected; a reload tells them (session key "models_freed").
"""
from app import visitor
from core import memory, settings
from core.errors import ConfigError

SMALL_MODEL_BYTES = 16 * 2**20          # the largest preset is far below: 784-1024-1024-10, 7 MB
RESERVE_SHARE = 0.25                    # of the total, kept for models of at most that size
JOB_KEYS = ("trainer", "my_teacher")


class ModelsFull(ConfigError):
    """Keeping this model would hold more memory than a visitor or the server may; nothing
    changed."""


def model_bytes(saved):
    """What a SavedModel costs in memory: its weights and biases."""
    return sum(array.nbytes for array in saved.model.params.values())


def limits():
    """(bytes per visitor, bytes in all) from the settings."""
    s = settings.get()
    total = s.max_held_mb_total * 2**20 if s.max_held_mb_total else _default_total()
    return s.max_held_mb_per_visitor * 2**20, max(total, s.max_held_mb_per_visitor * 2**20)


def _default_total():
    from app.runs.line import _memory_bytes  # the process's memory (cgroup or machine)
    return (_memory_bytes() or 8 * 2**30) // 4


def _get(state, key):
    try:
        return state[key]
    except Exception:            # not there, or a state that cannot be read now
        return None


def _held(state, skip=None):
    """{id(model): (bytes, from a job?)} of the distinct models ``state`` (a session's state)
    refers to; ``skip``: a dataset whose current model is about to be replaced (not counted,
    unless something else holds it too)."""
    found = {}

    def add(saved, by_job=False):
        model = getattr(saved, "model", None)
        if getattr(model, "params", None) is not None:
            old = found.get(id(model))
            found[id(model)] = (model_bytes(saved), by_job or bool(old and old[1]))
    for dataset, entry in (_get(state, "user_models") or {}).items():
        if entry is not None and dataset != skip:
            add(entry[0])
    for entry in (_get(state, "replaced") or {}).values():
        if entry is not None and entry[2] is not None:
            add(entry[2][0])
    for key in JOB_KEYS:
        job = _get(state, key)
        if job is not None and hasattr(job, "snapshot"):
            add(job.snapshot(poll=False).saved, by_job=True)
            add(getattr(job, "_saved", None), by_job=True)          # the model being taught
    return found


def held_now(state, token, skip=None):
    """(bytes held by ``token``'s sessions, bytes held by every session): ``state`` is the running
    session's (counted with ``skip``), the others come from app.visitor's registry."""
    current = visitor.current_state()
    mine, everyone = _held(state, skip), dict(_held(state, skip))
    for other_token, other in visitor.registered_states():
        if other is current:
            continue
        models = _held(other)
        everyone.update(models)
        if other_token == token:
            mine.update(models)
    return sum(b for b, _ in mine.values()), sum(b for b, _ in everyone.values())


def check_room(state, token, new_bytes, what, skip=None):
    """Raise ModelsFull when keeping ``new_bytes`` more of model (``what``: e.g. "This upload (a
    784-3000-4096-10 network)") would go beyond a limit; ``skip`` as for ``_held``."""
    per_visitor, total = limits()
    mine, everyone = held_now(state, token, skip)
    size = memory.format_bytes(new_bytes)
    keeps = "you keep the model you had"
    if mine + new_bytes > per_visitor:
        raise ModelsFull(
            f"{what} takes {size} of the server's memory, and the models you already have open "
            f"here take {memory.format_bytes(mine)} of the {memory.format_bytes(per_visitor)} "
            f"one visitor may keep, so it was not kept; {keeps}. Use a smaller network, or the "
            f"pretrained model again on the other dataset (Your models).")
    limit = total if new_bytes <= SMALL_MODEL_BYTES else total * (1 - RESERVE_SHARE)
    if everyone + new_bytes > limit:
        raise ModelsFull(
            f"{what} takes {size} of the server's memory, and the models everyone has open on "
            f"this server already take {memory.format_bytes(everyone)} of the "
            f"{memory.format_bytes(int(limit))} it keeps for "
            f"{'them' if limit == total else 'models that large'}, so it was not kept; {keeps}. "
            f"Try a smaller network, or again in a few minutes.")


def release_left(now=None):
    """Let go of the big models of visitors who left (see the module docstring); returns the
    bytes let go."""
    freed = 0
    for state in visitor.states_of_visitors_who_left(now):
        jobs = {key for key, (_, by_job) in _held(state).items() if by_job}
        models = dict(_get(state, "user_models") or {})
        let_go, size = [], 0
        for dataset, entry in models.items():
            if entry is not None and id(entry[0].model) not in jobs \
                    and model_bytes(entry[0]) > SMALL_MODEL_BYTES:
                size += model_bytes(entry[0])
                let_go.append(entry[1])
                models[dataset] = None
        replaced = dict(_get(state, "replaced") or {})
        for kind, entry in replaced.items():        # Undo back to a big file: Undo goes with it
            if entry is not None and entry[2] is not None and id(entry[2][0].model) not in jobs \
                    and model_bytes(entry[2][0]) > SMALL_MODEL_BYTES:
                replaced[kind] = None
        if let_go:
            try:
                state["user_models"], state["replaced"] = models, replaced
                freed += size
                state["models_freed"] = (
                    f"While you were away, {', '.join(let_go)} ({memory.format_bytes(size)}) "
                    f"was let go to make room in the server's memory for the class; the "
                    f"pretrained model is back. Load or upload it again to go on with it.")
            except Exception:        # a state that cannot be written now: next sweep
                continue
    return freed


visitor.on_sweep(release_left)      # the sweeper lets go of big file models of visitors who left
