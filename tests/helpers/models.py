"""The shipped models, and only them: what a fresh clone's (and the image's) model/ holds.

A working copy's model/ may also hold models a user trained there (the README's
``python -m core train`` writes ``model/<dataset>/nn_parameters.npz``); a test or a benchmark
that copied the whole folder would then read those instead. ``copy_shipped_models`` copies
``model/<dataset>/pretrained.npz`` alone.
"""
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = "pretrained.npz"


def shipped_models(root=ROOT):
    """[model/<dataset>/pretrained.npz, ...] that exist (none before the models are built)."""
    return sorted((Path(root) / "model").glob(f"*/{SHIPPED}"))


def copy_shipped_models(dest, root=ROOT):
    """Copy each shipped model to ``dest``/<dataset>/pretrained.npz; returns ``dest``."""
    dest = Path(dest)
    for path in shipped_models(root):
        (dest / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / path.parent.name / SHIPPED)
    return dest
