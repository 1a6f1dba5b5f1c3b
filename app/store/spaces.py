"""A visitor's space in the model store: its folder name, where it is, and the refusal of a save.

    <model_root>/visitors/<sha256(token)[:32]>/<dataset>/<name>.npz      one visitor's space

The visitor token (app.visitor, a cookie) is checked against app.visitor.TOKEN and hashed, so it
never appears on disk and no other text becomes a path. app.store.hosting (quotas, cleanup) and
app.store.admission (who may open a new space) both build on this.
"""
import hashlib
import re
from pathlib import Path

from app.visitor import TOKEN
from core.errors import ConfigError

VISITORS = "visitors"                      # the folder of the visitors' spaces in the model root
SPACE_RE = re.compile(r"^[0-9a-f]{32}$")    # a space's folder name: sha256(token)[:32]


class QuotaError(ConfigError):
    """A save would go beyond a hosted-mode quota; nothing was written."""


def space_name(token):
    """The folder name of ``token``'s space: sha256 of the token, 32 hex digits. Raises
    ConfigError for anything that is not a visitor token (it never becomes part of a path)."""
    if not isinstance(token, str) or TOKEN.fullmatch(token) is None:
        raise ConfigError("This browser has no visitor key yet, so it has no space for saved "
                          "models: reload the page and try again.")
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:32]


def saved_root(root, token, hosted):
    """The folder under which a visitor's models are ``<dataset>/<name>.npz``: the model root
    itself in local mode, the visitor's space in hosted mode (raises ConfigError without a
    valid token)."""
    root = Path(root)
    return root / VISITORS / space_name(token) if hosted else root
