"""Who may open a new space in the model store (hosted mode): a visitor whose token this server
issued (app.tokens), and at most NN_HOSTED_NEW_SPACES_PER_HOUR new spaces per client address in
an hour.

A client can have as many visitor tokens as it opens fresh sessions, and each token's space may
hold NN_HOSTED_MAX_MB_PER_VISITOR: without a limit per address, one client filled 2,016 of the
class's 2,048 MB in 15 s (issue 26). The spaces opened in the last hour are counted per address in
``<store>/.new-spaces.json`` ({sha256(address)[:16]: [times]}; the address itself is never
written), read and written under the store's lock (app.store.hosting.store_lock), so replicas
sharing the store count together.

    client_address()                    this session's client address ("local" without one)
    admit_new_space(root, token, address, name, config)   raise QuotaError, or count the space

Behind a proxy every visitor comes from the proxy's address: with ``NN_TRUST_FORWARDED=1`` the
address is the last one of X-Forwarded-For (the one the proxy saw and appended; docs/haproxy.cfg
writes it). Only set it behind such a proxy: otherwise a client writes the header itself.
"""
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from app import tokens
from app.store.spaces import QuotaError, saved_root
from core import settings
from core.errors import ConfigError
from core.idx import write_bytes_atomic

log = logging.getLogger(__name__)

LEDGER = ".new-spaces.json"
HOUR = 3600.0
MAX_ADDRESSES = 10_000            # the ledger forgets the oldest beyond this (its size is bounded)


def client_address():
    """The client address of this session's request: X-Forwarded-For's last entry when the
    operator trusts it (NN_TRUST_FORWARDED), else the connection's; "local" for a browser on this
    machine and outside a request (AppTest, scripts)."""
    try:
        import streamlit as st
        if settings.get().trust_forwarded:
            forwarded = st.context.headers.get("X-Forwarded-For")
            forwarded = forwarded if isinstance(forwarded, str) else ""
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            if hops:
                return hops[-1]
        address = st.context.ip_address
        return address if isinstance(address, str) and address else "local"   # AppTest: a mock
    except Exception:
        return "local"


def _key(address):
    return hashlib.sha256(str(address).encode()).hexdigest()[:16]


def _read(path):
    try:
        data = json.loads(Path(path).read_text())
        return {k: [float(t) for t in v] for k, v in data.items() if isinstance(v, list)}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def admit_new_space(root, token, address, name, limit=None, now=None):
    """Before ``token``'s first file opens its space: raise app.store.hosting.QuotaError (nothing
    counted) for a token this server did not issue or an address that opened ``limit`` spaces
    in the last hour (default NN_HOSTED_NEW_SPACES_PER_HOUR); else count this one. The caller
    holds the store's lock. ``name``: the model being saved, for the message."""
    if not tokens.issued(token, root):
        raise QuotaError(
            f"This browser's visitor key was not given out by this server, so “{name}” cannot "
            f"be saved here. Reload the page to get a new key, then save again.")
    limit = settings.get().hosted_new_spaces_per_hour if limit is None else limit
    now = time.time() if now is None else now
    path = Path(root) / LEDGER
    ledger = {key: [t for t in times if now - t < HOUR] for key, times in _read(path).items()}
    ledger = {key: times for key, times in ledger.items() if times}
    mine = ledger.get(_key(address), [])
    if len(mine) >= limit:
        minutes = max(1, round((HOUR - (now - min(mine))) / 60))
        raise QuotaError(
            f"“{name}” was not saved: {limit} visitors from your network address have already "
            f"started a space for saved models on this server in the last hour, the most one "
            f"address may (it keeps one client from filling the class's space). Try again in "
            f"about {minutes} minute{'s' if minutes != 1 else ''}, or download this model (.npz) "
            f"to keep it on your computer; if your whole class shares one address, ask your "
            f"teacher to raise NN_HOSTED_NEW_SPACES_PER_HOUR.")
    ledger[_key(address)] = [*mine, now]
    if len(ledger) > MAX_ADDRESSES:
        newest_first = sorted(ledger, key=lambda key: max(ledger[key]), reverse=True)
        ledger = {key: ledger[key] for key in newest_first[:MAX_ADDRESSES]}
    try:
        write_bytes_atomic(path, json.dumps(ledger).encode())
    except OSError as e:          # the save itself will say if the store cannot be written
        log.warning("could not count a new space in %s: %s", path, e)


def renew_space(root, old_token, new_token):
    """Hand the space of an unsigned token (a cookie from before tokens were signed) over to the
    signed token that replaced it, when the new one has none yet: the visitor keeps their saved
    models. Returns whether a space was moved. Never raises."""
    try:
        old, new = saved_root(root, old_token, True), saved_root(root, new_token, True)
        if old.is_dir() and not old.is_symlink() and not os.path.lexists(new):
            os.rename(old, new)
            return True
    except (OSError, ConfigError) as e:   # it cannot happen: the old space expires in time
        log.warning("could not hand a renewed visitor's space over: %s", e)
    return False
