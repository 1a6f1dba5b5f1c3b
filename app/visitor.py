"""Who this browser is, across reloads: a visitor token in a cookie, and what a reload restores.

Streamlit starts a new session on every reload (or dropped connection), with an empty
session_state: a visitor would lose the run in progress, its curves, the settings, the model they
trained and their drawing, while the old training thread went on unseen. So each browser gets a
random token in a cookie (``COOKIE``; set by a line of JavaScript the frame renders until the
browser sends it back), and every session of that token is registered here. A new session of a
known token starts from the values its latest earlier session had for the keys that make up
the visitor's work (app.session names them); a training run counts as watched while any session
of its token is connected.

The token is a secret of 128 random bits that never appears in a URL (a shared link never
shares a session), signed by the server (app.tokens): a token it did not issue is replaced by a
new one, so a client cannot make up tokens (each would key a new space of saved models). The registry is bounded, since what it remembers holds models and weight
snapshots: tokens unseen for ``KEEP_SECONDS`` (env ``NN_VISITOR_KEEP_SECONDS``, default 30
minutes) and with no session still connected are forgotten, at most ``MAX_VISITORS`` are kept
(the least recently seen go first) with at most ``MAX_SESSIONS`` sessions each. Forgetting runs on
every new session and, on a server, in a sweeper thread every ``sweep_seconds()``, so the memory
of visitors who left is freed even when nobody comes after them. What is remembered of a session
is its SessionState itself, never the wrapper of one script run (which holds that run's
ScriptRunner): once a visitor is forgotten, nothing here refers to their work.

A visitor gone for ``REPLAY_KEEP_SECONDS`` (2 minutes) keeps their runs, models and curves for a
reload, but not the replay's copies of the weights (up to 100 MB a run): the sweeper frees them, and their models over 16 MB that a file can give back (app.held).
The sweeper also makes Streamlit drop its closed sessions once their time
(``server.disconnectedSessionTTL``) has passed, which Streamlit itself does only when another
session closes, and then returns the freed memory to the system (``sweep()``); measured by
benchmarks/memory_visitors.py.
"""
import logging
import re
import threading
import time
from collections import OrderedDict

from app import tokens

log = logging.getLogger(__name__)

COOKIE = "nn_visitor"
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
DEFAULT_KEEP_SECONDS = 30 * 60   # a visitor who comes back within 30 minutes finds their work
MAX_VISITORS = 100               # the least recently seen beyond this are forgotten (memory)
MAX_SESSIONS = 4                 # sessions remembered per visitor (tabs, reloads)
MAX_SWEEP_SECONDS = 60.0         # the sweeper's period at most (else a quarter of the keep time)


def keep_seconds():
    """How long a visitor who left is remembered: ``NN_VISITOR_KEEP_SECONDS`` (whole seconds, at
    least 1; default 1800). Benchmarks set it short to see the memory come back."""
    from core import settings

    return settings.get().visitor_keep_seconds


KEEP_SECONDS = keep_seconds()    # read once, at the server's start

_lock = threading.Lock()
_visitors = OrderedDict()        # token -> {"sessions": [(session id, SessionState)], "seen": time}
_sweeper = None                  # the thread that forgets visitors who left (on a server only)
_renewed = {}                    # new token -> the unsigned token it replaced (renewed_from)


def _context():
    """(session id, its SessionState, the request's cookies) of the running script, or
    (None, None, {}) outside a Streamlit server (AppTest, scripts)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        ctx = get_script_run_ctx()
        if ctx is None:
            return None, None, {}
        return ctx.session_id, _unwrapped(ctx.session_state), request_cookies()
    except Exception:
        return None, None, {}


def _unwrapped(state):
    """The session's SessionState itself rather than ``state``, the SafeSessionState of one
    script run: that wrapper refers to its ScriptRunner (and what the runner refers to), which
    would stay in memory as long as the registry holds the wrapper."""
    try:
        from streamlit.runtime.state.safe_session_state import SafeSessionState
        if isinstance(state, SafeSessionState):
            return object.__getattribute__(state, "_state")
    except Exception:              # a Streamlit internal moved: keep the wrapper, it still works
        pass
    return state


def request_cookies():
    """The cookies the browser sent with this session's request ({} without a request)."""
    try:
        import streamlit as st
        return dict(st.context.cookies)
    except Exception:
        return {}


def _active_sessions():
    """A predicate: is this Streamlit session id connected now? (Always False without a server.)"""
    try:
        from streamlit.runtime import Runtime
        if Runtime.exists():
            return Runtime.instance().is_active_session
    except Exception:
        pass
    return lambda session_id: False


def _forget_old(now):
    """Forget (under ``_lock``) the visitors unseen for KEEP_SECONDS, except those with a session
    still connected (a tab watching a long run only reruns its fragments, which do not count as
    seen: it is seen now), then the least recently seen beyond MAX_VISITORS. Returns how many."""
    active = None
    forgotten = 0
    for token, entry in list(_visitors.items()):
        if now - entry["seen"] <= KEEP_SECONDS:
            continue
        active = active or _active_sessions()
        if any(active(session_id) for session_id, _ in entry["sessions"]):
            entry["seen"] = now
            _visitors.move_to_end(token)
        else:
            del _visitors[token]
            forgotten += 1
    while len(_visitors) > MAX_VISITORS:
        _visitors.popitem(last=False)
        forgotten += 1
    return forgotten


def forget_old(now=None):
    """Forget the visitors who left more than KEEP_SECONDS ago (see ``_forget_old``); returns
    how many were forgotten. ``now``: a time.monotonic() value (tests)."""
    with _lock:
        return _forget_old(time.monotonic() if now is None else now)


def sweep_seconds():
    """How often the server's sweeper forgets visitors who left: a quarter of the keep time,
    between 1 and MAX_SWEEP_SECONDS seconds."""
    return min(MAX_SWEEP_SECONDS, max(1.0, KEEP_SECONDS / 4))


def _sweep_forever():
    while True:
        time.sleep(sweep_seconds())
        try:
            sweep()
        except Exception:          # never let the sweeper die: the next new session sweeps too
            log.exception("the visitor sweeper failed")


def current_state():
    """The running session's own SessionState (as the registry holds it), None outside a run."""
    return _context()[1]


def registered_states():
    """[(token, SessionState)] of every session the registry remembers (app.held counts what
    they hold)."""
    with _lock:
        return [(token, state) for token, entry in _visitors.items()
                for _, state in entry["sessions"]]


def states_of_visitors_who_left(now=None):
    """The SessionStates of the visitors unseen for REPLAY_KEEP_SECONDS with no session
    connected (their replays and big models are let go: ``release_replays``, app.held)."""
    now = time.monotonic() if now is None else now
    with _lock:
        left = [list(entry["sessions"]) for entry in _visitors.values()
                if now - entry["seen"] > REPLAY_KEEP_SECONDS]
    active = _active_sessions() if left else None
    return [state for sessions in left if not any(active(sid) for sid, _ in sessions)
            for _, state in sessions]


def on_sweep(release):
    """Have every sweep call ``release()`` (returns what it let go of, 0 for nothing) after the
    replays: app.held registers its ``release_left`` here, so this module needs none of it."""
    if release not in RELEASERS:
        RELEASERS.append(release)


def sweep():
    """Free what visitors who left held: forget them (``forget_old``), free the replays of
    those who left a while ago (``release_replays``), let Streamlit drop its expired closed
    sessions (``_expire_closed_sessions``), and when any let go of anything, collect the cycles
    and hand the freed memory back to the system (``_release_memory``).
    Returns (visitors forgotten, closed sessions dropped)."""
    forgotten = forget_old()
    released = sum(release() for release in RELEASERS)
    expired = _expire_closed_sessions()
    if forgotten or released or expired:
        _release_memory()
    return forgotten, expired


REPLAY_KEEP_SECONDS = 120        # a visitor gone this long keeps their runs, not their replays
REPLAY_FREED = ("The replay of this run was freed when you left the page, to make room for "
                "other visitors; the model and its curves are kept.")


def release_replays(now=None):
    """Free the replay snapshots (up to 100 MB a run) of visitors unseen for
    REPLAY_KEEP_SECONDS with no session connected: a class leaving at once would otherwise
    hold them for the whole KEEP_SECONDS. Returns the bytes freed."""
    freed = 0
    for state in states_of_visitors_who_left(now):
        try:
            trainer = state["trainer"]
        except Exception:              # not there, or a state that cannot be read
            continue
        if trainer is not None and hasattr(trainer, "release_replay"):
            freed += trainer.release_replay(REPLAY_FREED)
    return freed


def _expire_closed_sessions(timeout=5.0):
    """Make Streamlit drop the closed sessions older than server.disconnectedSessionTTL; returns
    how many it dropped (0 without a server).

    Streamlit 1.67 keeps a closed session (its whole session_state: models, runs, weight
    snapshots) in a TTL cache that removes expired entries only on its next write, that is when
    another session closes: the last visitors of a class would stay in memory until someone else
    leaves, maybe the next day. This runs the cache's own ``expire()`` on the server's event loop
    (the cache is not thread-safe; its manager's lock is held as Streamlit does). It reads private
    attributes of Streamlit: if any has moved, it does nothing."""
    try:
        from streamlit.runtime import Runtime
        if not Runtime.exists():
            return 0
        runtime = Runtime.instance()
        manager = runtime._session_mgr
        cache = manager._session_storage._cache
        lock = manager._storage_lock
        loop = runtime._get_async_objs().eventloop
        cache.expire                                   # noqa: B018 (exists, or nothing is done)
    except Exception:
        return 0
    done, dropped = threading.Event(), []

    def expire():
        try:
            with lock:
                dropped.extend(cache.expire())
        finally:
            done.set()
    try:
        loop.call_soon_threadsafe(expire)
    except RuntimeError:           # the server is shutting down
        return 0
    done.wait(timeout)
    count = len(dropped)
    dropped.clear()
    return count


def _release_memory():
    """A full garbage collection (a session's objects form cycles, and the app turns Streamlit's
    collection after every run off), then glibc's malloc_trim: without it the freed memory of
    the sessions stays in the allocator's free lists and the server's RSS does not come down."""
    import gc

    from core.memory import trim_heap
    gc.collect()
    trim_heap()


def _start_sweeper():
    """Start the sweeper thread once per server process (not without a Streamlit runtime: AppTest
    and scripts sweep on each new session only)."""
    global _sweeper
    try:
        from streamlit.runtime import Runtime
        if not Runtime.exists():
            return
    except Exception:
        return
    with _lock:
        if _sweeper is None or not _sweeper.is_alive():
            _sweeper = threading.Thread(target=_sweep_forever, name="visitor-sweeper",
                                        daemon=True)
            _sweeper.start()


def bind(session_state, kept_keys, cookie_token=None):
    """Register this session under its visitor token and restore ``kept_keys`` from the token's
    latest other session. Returns (token, whether the browser still needs the cookie).

    ``cookie_token``: the token the browser sent (tests pass one; the server reads the cookie).
    Only a token this server issued (app.tokens) is taken: any other gets a new one, and a
    well-formed unsigned one (a cookie from before tokens were signed) hands its work in the
    registry over to the new token (``renewed_from`` says which it was).
    """
    session_id, state, cookies = _context()
    token = cookie_token if cookie_token is not None else cookies.get(COOKIE)
    well_formed = bool(token) and TOKEN.fullmatch(token) is not None
    known = well_formed and tokens.issued(token)
    old = token if well_formed and not known else None
    if not known:
        token = tokens.issue()
    now = time.monotonic()
    with _lock:
        _forget_old(now)
        if old is not None and old in _visitors:    # an unsigned cookie of this server's own
            _visitors[token] = _visitors.pop(old)   # registry (before tokens were signed)
        if old is not None:
            _renewed[token] = old
            while len(_renewed) > MAX_VISITORS:
                _renewed.pop(next(iter(_renewed)))
        visitor = _visitors.get(token)
        earlier = [s for _, s in (visitor["sessions"] if visitor else ()) if s is not state]
        if visitor is None:
            visitor = _visitors[token] = {"sessions": [], "seen": now}
        visitor["seen"] = now
        _visitors.move_to_end(token)
        if state is not None:
            visitor["sessions"] = [*visitor["sessions"], (session_id, state)][-MAX_SESSIONS:]
        published = dict(visitor.get("kept") or {})
    if state is not None:
        _start_sweeper()
    # the settings the earlier session published, and its objects (its runs and models) as
    # they are now
    live = _values_of(earlier[-1]) if earlier else {}
    values = {**live, **published,
              **{key: value for key, value in live.items() if not _plain(value)}}
    for key in kept_keys:
        if key in values:
            session_state[key] = values[key]
    return token, not known or cookies.get(COOKIE) != token


def publish(token, session_state, kept_keys):
    """Keep a copy of the settings among ``kept_keys`` (plain values: numbers, text, choices)
    of this session for the visitor's next one.

    Called by the session's own thread at the start and the end of each of its runs, when its
    state is whole. A reload then takes the settings from this copy, not from the other
    session's live state, which its own thread may be changing or tearing down at that moment
    (a reload once found the form's widgets empty). Objects (runs, models, drawings) are not
    copied: the sweeper lets go of them in the sessions themselves, and a copy would keep them.
    A key missing from this run (a widget of another page) keeps the value published before."""
    values = {}
    for key in kept_keys:
        try:
            value = session_state[key] if key in session_state else None
            if key in session_state and _plain(value):
                values[key] = list(value) if isinstance(value, list) else value
        except Exception:          # a widget key Streamlit will not read outside its run
            continue
    with _lock:
        visitor = _visitors.get(token)
        if visitor is not None:
            visitor["kept"] = {**(visitor.get("kept") or {}), **values}


def _plain(value):
    """Whether ``value`` is a setting (None, a number, text, or a tuple / list / frozenset of
    them) rather than an object of the session."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (tuple, list, frozenset)) and all(_plain(v) for v in value)


def _values_of(earlier):
    try:       # user keys and keyed widgets' values, read without the other session's runner
        return dict(earlier.filtered_state if hasattr(earlier, "filtered_state") else earlier)
    except Exception:              # the earlier session cannot give its state back: start fresh
        return {}


def renewed_from(token):
    """The unsigned token that ``token`` replaced at its session's start (once), else None."""
    with _lock:
        return _renewed.pop(token, None)


def seen(token):
    """Note that ``token``'s visitor is still here (called on every run)."""
    with _lock:
        visitor = _visitors.get(token)
        if visitor is not None:
            visitor["seen"] = time.monotonic()


def connected(token):
    """Whether any session of ``token`` is still connected to this server."""
    try:
        from streamlit.runtime import Runtime
        runtime = Runtime.instance()
    except Exception:
        return False
    with _lock:
        visitor = _visitors.get(token)
        sessions = list(visitor["sessions"]) if visitor else []
    alive = {sid for sid, _ in sessions if runtime.is_active_session(sid)}
    with _lock:                    # forget closed sessions but the latest (a reload restores it)
        visitor = _visitors.get(token)
        if visitor is not None and len(visitor["sessions"]) > 1:
            latest = visitor["sessions"][-1]
            visitor["sessions"] = [e for e in visitor["sessions"][:-1] if e[0] in alive] + [latest]
    return bool(alive)


def cookie_script(token, max_age=None):
    """The JavaScript that stores ``token`` in the browser for ``max_age`` seconds (default
    KEEP_SECONDS; our own constant code and a token of URL-safe characters only, never anything
    a visitor typed)."""
    if TOKEN.fullmatch(token) is None:
        raise ValueError("not a visitor token")
    max_age = KEEP_SECONDS if max_age is None else int(max_age)
    return (f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age={max_age}; "
            "SameSite=Strict';</script>")


RELEASERS = [release_replays]       # what each sweep lets go of (on_sweep adds to it)
