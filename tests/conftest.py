import os
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Tests never reach the network and never touch the user's cache.
os.environ.setdefault("NN_OFFLINE", "1")


@pytest.fixture
def app_models(monkeypatch, tmp_path):
    """For AppTest: offline, st.navigation mode, and an empty model folder in tmp_path (returned;
    ``shipped_models`` fills it). Waits for any training a test started to end.

    AppTest re-detects the legacy pages/ folder on every run and would then run a page file
    without the frame; a real server switches that off on the first st.navigation call.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from app.trainer import running_count

    monkeypatch.setenv("NN_OFFLINE", "1")
    model_dir = tmp_path / "model"
    monkeypatch.setenv("NN_MODEL_DIR", str(model_dir))
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", init)
    yield model_dir
    end = time.monotonic() + 5
    while running_count() and time.monotonic() < end:
        time.sleep(0.05)


@pytest.fixture
def shipped_models(app_models):
    """``app_models`` holding a copy of the shipped models (none when they are not built yet)."""
    if (ROOT / "model").is_dir():
        shutil.copytree(ROOT / "model", app_models, dirs_exist_ok=True)
    return app_models
