import gzip
import hashlib
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = str(ROOT / "streamlit_app.py")

# Tests never reach the network and never touch the user's cache.
os.environ.setdefault("NN_OFFLINE", "1")

needs_model = pytest.mark.skipif(not (ROOT / "model" / "mnist" / "pretrained.npz").exists(),
                                 reason="the shipped MNIST model is not built yet")


@pytest.fixture(autouse=True)
def network_not_yet_found_unreachable():
    """Each test starts as a fresh process would: no memory of unreachable mirrors
    (core.download skips downloads for a while after finding none reachable)."""
    from core import download
    download._no_network["since"] = None
    yield
    download._no_network["since"] = None


@pytest.fixture
def app_models(monkeypatch, tmp_path):
    """For AppTest: offline, the bundled samples as the data (whatever NN_DATA_DIR or the user's
    cache hold: pages' figures and texts are the samples'), st.navigation mode, and an empty model
    folder in tmp_path (returned; ``shipped_models`` fills it). Waits for any training a test
    started to end.

    Every AppTest goes through here, so the app's process-wide dataset cache only ever holds the
    samples.

    AppTest re-detects the legacy pages/ folder on every run and would then run a page file
    without the frame; a real server switches that off on the first st.navigation call.
    """
    from streamlit.runtime.pages_manager import PagesManager

    monkeypatch.setenv("NN_OFFLINE", "1")
    monkeypatch.delenv("NN_DATA_DIR", raising=False)
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "empty-cache"))
    model_dir = tmp_path / "model"
    monkeypatch.setenv("NN_MODEL_DIR", str(model_dir))
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", init)
    yield model_dir
    trainings_left()


def wait_for(predicate, timeout=20.0):
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def trainings_left(timeout=5.0):
    """Wait up to ``timeout`` seconds for every training run to end, training or waiting in line
    (a finished run's watcher takes a moment to end its worker process after the page shows the
    result); return how many are left."""
    from app.runs.line import running_count, waiting_count

    end = time.monotonic() + timeout
    while running_count() + waiting_count() and time.monotonic() < end:
        time.sleep(0.05)
    return running_count() + waiting_count()


@pytest.fixture
def shipped_models(app_models):
    """``app_models`` holding a copy of the shipped models (none when they are not built yet),
    and nothing else a user may have trained into model/."""
    from tests.helpers.models import copy_shipped_models
    return copy_shipped_models(app_models)


# -- AppTest helpers (import them: ``from tests.conftest import open_app, texts``) ----------------
def open_app(page=None, dataset="mnist"):
    """An AppTest of the whole app (the frame runs first, as in a browser), with ``dataset``
    chosen in the sidebar and then switched to ``page`` (e.g. "pages/draw.py"). Fails if the page
    shows an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=30).run()
    if dataset != "mnist":
        at.sidebar.selectbox(key="dataset").set_value(dataset).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(elements):
    """All the text of some elements (``at.error``, ``at.caption``, ...) as one string."""
    return " ".join(str(e.value) for e in elements)


def metric(at, label):
    """The value shown by the metric labelled ``label``, or None when the page shows none."""
    return next((m.value for m in at.metric if m.label == label), None)


def tiny_run(at, hidden="16", epochs=1, batch=128, validation=1000):
    """Set the Train page's controls for a run of about a second on the bundled sample."""
    at.text_input(key="train.hidden").set_value(hidden)
    at.selectbox(key="train.optimizer").set_value("adam")
    at.select_slider(key="train.learning_rate").set_value(0.005)
    at.select_slider(key="train.batch_size").set_value(batch)
    at.number_input(key="train.epochs").set_value(epochs)
    at.number_input(key="train.validation_size").set_value(validation)
    at.slider(key="train.dropout").set_value(0.0)
    at.toggle(key="train.augment").set_value(False)
    return at.run()


def run_until_finished(at, timeout=60):
    """Rerun the Train page until its training has finished and the page shows the outcome."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        trainer = at.session_state["trainer"]
        if trainer is not None and trainer.snapshot(poll=False).finished:
            at.run()                      # the run that notices it (run_every does not fire here)
            return at.run()
        time.sleep(0.3)
        at.run()
    raise AssertionError(f"the training did not finish within {timeout} s")


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
