import gzip
import hashlib
import os
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
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


# -- a dataset mirror on 127.0.0.1 (tests/test_download.py, tests/test_datasets.py) ------------------
def tiny_dataset(n_train=30, n_test=10, seed=0):
    """{official file name: raw IDX bytes} of a small random dataset with every class."""
    from core.idx import encode_idx

    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": encode_idx(rng.integers(0, 256, (n_train, 784), np.uint8)),
        "train-labels-idx1-ubyte": encode_idx((np.arange(n_train) % 10).astype(np.uint8)),
        "t10k-images-idx3-ubyte": encode_idx(rng.integers(0, 256, (n_test, 784), np.uint8)),
        "t10k-labels-idx1-ubyte": encode_idx((np.arange(n_test) % 10).astype(np.uint8)),
    }


def checksum_table(files, dataset="mnist"):
    return {dataset: {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}


class LocalMirror:
    """A tiny HTTP server in a thread. ``routes[path] = (mode, body)``; mode "ok" serves the body,
    "cut" promises the whole body but closes the connection halfway, a number is an HTTP error."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                mode, body = mirror.routes.get(self.path, (404, b""))
                if mode not in ("ok", "cut"):
                    self.send_error(mode)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "ok":
                    self.wfile.write(body)
                else:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def serve(self, prefix, files, mode="ok", compress=True):
        for name, data in files.items():
            self.routes[f"{prefix}{name}.gz"] = (mode, gzip.compress(data) if compress else data)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    server = LocalMirror()
    yield server
    server.close()
