"""What the browser benchmarks and browser tests share: Chromium, the app's server, the Draw page.

    with served(folder, "app", env) as (url, model_dir): ...   the app on a free 127.0.0.1 port,
                                                                with a copy of model/ of its own
    wait_until_drawable(page, canvas)                          the Draw canvas takes strokes

Used by tests/browser/ and benchmarks/load_test.py, load_protocol.py, startup.py,
ui_overhead.py, explain.py, hardening.py, fidelity/replay.py. Only 127.0.0.1 is ever served or
contacted.
"""
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# -- Chromium --------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"                     # Debian's chromium
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# For many pages in one Chromium at once (load tests): all but one are in the background, and
# Chromium would otherwise slow their timers and rendering, which the round trips would then time.
CHROMIUM_ARGS_UNTHROTTLED = CHROMIUM_ARGS + ["--disable-renderer-backgrounding",
                                             "--disable-background-timer-throttling"]

# -- the Draw page ---------------------------------------------------------------------------------
# The text of the "Prediction" metric, or null when the page shows no guess.
PREDICTION_JS = """() => {
    for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
        const label = m.querySelector('[data-testid="stMetricLabel"]');
        if (label && label.innerText.trim().startsWith('Prediction'))
            return m.querySelector('[data-testid="stMetricValue"]').innerText.trim();
    }
    return null;
}"""

# Whether the page point [x, y] is the drawing canvas itself and not something lying over it (its
# toolbar). The canvas lives in a shadow root, where document.elementFromPoint stops at the host.
ON_CANVAS_JS = """([x, y]) => {
    let e = document.elementFromPoint(x, y);
    while (e && e.shadowRoot) {
        const inner = e.shadowRoot.elementFromPoint(x, y);
        if (!inner || inner === e) break;
        e = inner;
    }
    return !!e && e.tagName === 'CANVAS' && e.classList.contains('upper-canvas');
}"""

# -- the Train page's dashboard ---------------------------------------------------------------------
# JavaScript function definitions for a script that measures the dashboard: ``box(element)`` ->
# [left, top, right, bottom] in viewport pixels (null when not shown), and the column, picture and
# chart under a heading (``column`` / ``image`` / ``chart``). Paste into "() => {" + ... + "...}".
DASHBOARD_FINDERS_JS = """    const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                       return r.width > 0 ? [r.left, r.top, r.right, r.bottom] : null; };
    const column = heading => {
        const md = [...document.querySelectorAll('[data-testid="stMarkdown"]')]
            .find(e => e.innerText.trim().startsWith(heading));
        return md ? md.closest('[data-testid="stColumn"]') : null;
    };
    const image = heading => { const c = column(heading);
                               return c ? c.querySelector('[data-testid="stImage"] img') : null; };
    const chart = heading => { const c = column(heading);
                               return c ? c.querySelector('[data-testid="stVegaLiteChart"]') : null; };
"""


# What lies at the page point [x, y] (to say what covers the canvas when a stroke cannot start).
WHAT_IS_AT_JS = """([x, y]) => {
    const e = document.elementFromPoint(x, y);
    if (!e) return 'nothing (outside the window)';
    const box = e.getBoundingClientRect();
    const id = e.closest('[data-testid]');
    return `${e.tagName.toLowerCase()}.${[...e.classList].join('.')} in ${id ? id.dataset.testid : '-'}`
        + ` at (${box.x|0}, ${box.y|0}) ${box.width|0}x${box.height|0}; window scrolled ${window.scrollY|0}`;
}"""

# One stroke per digit in canvas pixels (280 x 280): shapes the shipped MNIST model reads right.
STROKES = {
    "1": [(140, 40 + 10 * i) for i in range(21)],
    "0": [(140 + 70 * math.sin(2 * math.pi * t / 32), 140 - 100 * math.cos(2 * math.pi * t / 32))
          for t in range(34)],
    "7": [(70 + 7 * i, 50) for i in range(21)] + [(210 - 4 * i, 50 + 9 * i) for i in range(1, 21)],
}


# -- the app's server ------------------------------------------------------------------------------
class ServerError(RuntimeError):
    """The app's server exited or did not become healthy in time (the message has its log)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_process(port, env, output):
    """``streamlit run streamlit_app.py`` on 127.0.0.1:``port`` with exactly ``env``, its output
    (stdout and stderr) to ``output``; returns the process at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_healthy(url, deadline, server=None, poll=0.2):
    """True once ``url``/_stcore/health answers, False if ``deadline`` (time.monotonic()) passes
    first or ``server`` (a process, optional) exits."""
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(poll)
    return False


def start_server(log_path, env=None, timeout=60):
    """The app on a free port of 127.0.0.1, offline (NN_OFFLINE=1), output to ``log_path``, with
    ``env`` (a dict) added to this process's environment; returns (process, url) once healthy.
    Raises ServerError, with the end of the log, if it exits or is not healthy within ``timeout`` s.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "NN_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "w") as log:                   # the server keeps its own handle
        server = streamlit_process(port, full_env, log)
    if wait_healthy(url, time.monotonic() + timeout, server):
        return server, url
    exited = server.poll() is not None
    stop_server(server)
    tail = Path(log_path).read_text(errors="replace")[-3000:]
    what = (f"exited with {server.returncode}" if exited
            else f"did not become healthy within {timeout} s")
    raise ServerError(f"streamlit {what} (log: {log_path}):\n{tail}")


@contextmanager
def served(folder, name="app", env=None, timeout=60):
    """The app on a free port (offline; models in a copy of the shipped models in
    ``folder``/<name>-model; its log in ``folder``/<name>-streamlit.log; ``env`` added); yields
    (URL, that model folder) and stops the server afterwards. Raises ServerError if it does not
    start."""
    from tests.helpers.models import copy_shipped_models
    model_dir = Path(folder) / f"{name}-model"
    model_dir.mkdir(parents=True, exist_ok=True)
    copy_shipped_models(model_dir)                 # not models a user trained into model/
    server, url = start_server(Path(folder) / f"{name}-streamlit.log",
                               env={"NN_MODEL_DIR": str(model_dir), **(env or {})}, timeout=timeout)
    try:
        yield url, model_dir
    finally:
        stop_server(server)


def stop_server(server):
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


def local_url(url):
    """``url`` if it points at 127.0.0.1, else exit: this tool never loads anyone else's server."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or not parts.port:
        sys.exit(f"refusing {url!r}: the load test only targets http://127.0.0.1:<port>")
    return f"http://127.0.0.1:{parts.port}"


@contextmanager
def served_app(url=None, log_prefix="app-"):
    """For a command-line tool: yields (url, process) for the app already running at ``url`` (on
    127.0.0.1, else exit; process None), or else for one started here (``start_server``, its log
    in a new temporary folder named ``log_prefix``...) and stopped at the end. Exits with the
    server's log if it does not start."""
    if url:
        yield local_url(url), None
        return
    log_path = Path(tempfile.mkdtemp(prefix=log_prefix)) / "streamlit.log"
    try:
        server, url = start_server(log_path)
    except ServerError as e:
        sys.exit(str(e))
    print(f"app started at {url} (log: {log_path})", file=sys.stderr)
    try:
        yield url, server
    finally:
        stop_server(server)


# -- waiting for what the user sees ------------------------------------------------------------------
def wait_until_drawable(page, canvas, timeout=60):
    """Wait until ``canvas`` (the Draw page's ``canvas.upper-canvas``) takes strokes: with the mouse
    over it, it shows the pen's crosshair cursor. The canvas sets its pen up only after loading
    its initial drawing, a moment after it appears; a stroke before that would be lost."""
    end = time.monotonic() + timeout
    wiggle = 0
    while True:
        box = canvas.bounding_box()
        if box is not None:
            # the cursor is updated on mouse moves: move a pixel back and forth near the middle
            page.mouse.move(box["x"] + box["width"] / 2 + wiggle, box["y"] + box["height"] / 2)
            wiggle = 1 - wiggle
            if canvas.evaluate("c => c.style.cursor") == "crosshair":
                return box
        if time.monotonic() > end:
            raise AssertionError(f"the canvas did not take strokes within {timeout} s")
        page.wait_for_timeout(50)                    # between polls
