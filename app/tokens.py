"""Visitor tokens this server issued: 128 random bits and their signature, so that a made-up
token (which would key a new space of saved models in hosted mode) is never accepted.

    issue(root=None) -> token            a new token: 22 random characters + 22 of signature
    issued(token, root=None) -> bool     whether ``token`` was signed with the store's secret

A token is ``r + s``: ``r`` 16 random bytes and ``s`` the first 16 bytes of HMAC-SHA256(secret,
``r``), both in URL-safe base64 without padding (44 characters, within app.visitor.TOKEN). The
secret is 32 random bytes in ``<store>/.visitor-secret`` (``root``: the model store, NN_MODEL_DIR),
beside the visitors' spaces, so that every replica sharing the store signs and checks with the
same one and a restart keeps every cookie valid. It is created on first use, atomically: written
in full to a temporary file, then hard-linked to its name, which fails when another process got
there first (its secret is then read): no process ever reads half a secret, and two replicas
starting together agree. A store that cannot be written (read-only) gets a secret of this process,
with a warning: its tokens then last as long as the process.
"""
import base64
import hashlib
import hmac
import logging
import os
import secrets
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_NAME = ".visitor-secret"
SECRET_BYTES = 32
PART = 22                                   # characters of 16 bytes in base64 without padding

_lock = threading.Lock()
_secrets = {}                               # store path -> its secret (read once per process)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _store(root):
    if root is None:
        from core import settings
        root = settings.get().model_dir
    return Path(root)


def secret(root=None):
    """The store's secret (bytes), created on first use (see the module docstring)."""
    root = _store(root)
    key = str(root)
    with _lock:
        if key not in _secrets:
            _secrets[key] = _read_or_create(root)
        return _secrets[key]


def _read_or_create(root):
    path = root / SECRET_NAME
    try:
        data = path.read_bytes()
        if len(data) == SECRET_BYTES:
            return data
        log.warning("%s is damaged (%d bytes); making a new one", path, len(data))
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        return _process_secret(path, e)
    try:
        root.mkdir(parents=True, exist_ok=True)
        temporary = root / f"{SECRET_NAME}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)        # FileExistsError: another process made it first
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
        data = path.read_bytes()
        if len(data) != SECRET_BYTES:
            raise OSError(f"{path} holds {len(data)} bytes")
        return data
    except OSError as e:
        return _process_secret(path, e)


def _process_secret(path, error):
    log.warning("the visitor secret %s cannot be kept (%s); visitor tokens will last as long "
                "as this process", path, error)
    return secrets.token_bytes(SECRET_BYTES)


def _signature(random_part, root):
    digest = hmac.new(secret(root), random_part.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest[:16])


def issue(root=None):
    """A new visitor token signed with the store's secret."""
    random_part = _b64(secrets.token_bytes(16))
    return random_part + _signature(random_part, root)


def issued(token, root=None):
    """Whether ``token`` is one this server (or a replica sharing its store) issued."""
    if not isinstance(token, str) or len(token) != 2 * PART or not token.isascii():
        return False
    random_part, signature = token[:PART], token[PART:]
    return hmac.compare_digest(signature, _signature(random_part, root))
