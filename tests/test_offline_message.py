"""Issue 26, item 9 (part): without a network, the app said so with a raw RuntimeWarning and its
source line on the server's console. Now it is one plain log line, and the page's dataset notes
say it (core's own callers, the CLI, keep their printer)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)

CODE = """
import logging
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
from app.data import load_raw
raw = load_raw("mnist")
print("SOURCE", raw.source)
print("NOTES", " | ".join(raw.notes))
"""


def test_no_network_is_one_clear_log_line_not_a_warning_dump(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("NN_DATA_DIR", "NN_OFFLINE", "NN_MIRRORS", "NN_CACHE_DIR")}
    env.update(NN_CACHE_DIR=str(tmp_path / "cache"), NN_MIRRORS="http://127.0.0.1:9/",
               PYTHONPATH=str(ROOT), PYTHONWARNINGS="default")
    completed = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=100)
    out, err = completed.stdout, completed.stderr
    assert completed.returncode == 0, err[-3000:]
    assert "SOURCE sample" in out, out
    assert "RuntimeWarning" not in err and "warnings.warn" not in err, err
    lines = [line for line in err.splitlines() if "could not be downloaded" in line]
    assert len(lines) == 1 and lines[0].startswith("WARNING app.data: No network: MNIST could "
                                                   "not be downloaded"), err
    assert "No network" in out, "the page's notes say it too"
