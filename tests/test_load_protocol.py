"""The protocol-level load round (tests/helpers/visitors.py, which benchmarks/load_protocol.py runs)
against a real `streamlit run`.

Two drawing sessions and two training sessions speak Streamlit's websocket protocol for ~10 s:
every stroke must come back with the right guess, no run may fail, and both trainings must move.
No browser needed. The other tests check the round's pieces without a server: the progress bar
read into steps per second, the server's processes read from /proc, the "busy" warning, the target.
"""
import argparse
import asyncio
import concurrent.futures
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.helpers import procs, protocol, visitors
from tests.helpers.browser import STROKES, start_server, stop_server


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_sessions_draw_and_guess_while_two_train(tmp_path):
    args = argparse.Namespace(duration=10.0, think=0.3, max_strokes=50, no_training=False,
                              trainers=2)
    values = {digit: protocol.canvas_value(points)
              for digit, points in STROKES.items()}
    # the bundled sample, whatever NN_DATA_DIR says: the full dataset's first load would hold up
    # the first strokes (this checks the protocol, not the load)
    server, url = start_server(tmp_path / "streamlit.log", env={"NN_DATA_DIR": ""})
    try:
        # in a thread of its own: the browser tests' Playwright may still own this thread's loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result = pool.submit(asyncio.run, visitors.run_round(
                url, 2, args, values, server.pid)).result()
    finally:
        stop_server(server)
    assert result["errors"] == [], result["errors"]
    assert result["strokes"] >= 4 and len(result["round_trips"]) == result["strokes"]
    assert [t["name"] for t in result["trainings"]] == ["training 1", "training 2"]
    for training in result["trainings"]:
        assert training["steps"] > 0 and training["steps_per_second"] > 0, training
    assert result["server_cpu"] is not None and result["server_rss_peak"] > 0


def test_the_canvas_value_is_what_the_component_reads():
    """The value the client sends decodes like the browser's: an RGBA 280x280 PNG with ink."""
    import base64
    import io
    import json

    import numpy as np
    from PIL import Image

    value = json.loads(protocol.canvas_value(STROKES["1"]))["drawing"]
    assert value["raw"]["objects"][0]["type"] == "Path"
    image = Image.open(io.BytesIO(base64.b64decode(value["data"].split(";base64,", 1)[1])))
    rgba = np.asarray(image)
    assert image.mode == "RGBA" and rgba.shape == (280, 280, 4)
    assert rgba[140, 140, 0] == 255 and rgba[10, 10, 0] == 0          # ink on the line only


def progress_run(text):
    """A Run of /train whose progress bar says ``text``."""
    run = protocol.Run(started=0.0)
    run.elements.append(("progress", SimpleNamespace(text=text), "fragment"))
    return run


def test_the_progress_bar_gives_steps_per_second_by_the_runs_own_clock(monkeypatch):
    training = visitors.TrainingVisitor("http://127.0.0.1:1", "training 1")
    clock = iter([100.0, 100.5, 101.0])                       # read at each new step
    monkeypatch.setattr(visitors.time, "monotonic", lambda: next(clock))
    for step, seconds in [(100, 1.0), (100, 1.0), (1100, 6.0), (2100, 11.0)]:   # one repeat
        training._on_run(progress_run(
            f"Step {step:,} of 86,000 · epoch 0.23 · {seconds:,.1f} s · about 900 s left"))
    assert training.step == 2100 and training.total == 86000
    assert len(training.samples) == 3, "a repeated step is one reading"
    assert training.throughput() == pytest.approx(2000 / 10.0)      # the run's seconds
    assert training.throughput(since=100.5) == pytest.approx(1000 / 5.0)
    assert training.throughput(since=101.0) is None, "one reading is no speed"
    # a page without the run's seconds: the client's clock
    assert visitors.steps_per_second([(10.0, 0, None), (12.0, 500, None)]) == 250


def test_the_busy_warning_is_told_from_other_warnings():
    from streamlit.proto.Alert_pb2 import Alert

    run = protocol.Run(started=0.0)
    run.elements.append(("alert", Alert(body="Draw a digit first.", format=Alert.WARNING), ""))
    assert visitors.busy_warning(run) is None
    busy = "The server is already running 2 trainings (the limit is 2, ...)."
    run.elements.append(("alert", Alert(body=busy, format=Alert.WARNING), ""))
    assert visitors.busy_warning(run) == busy


def test_the_servers_memory_and_cpu_include_its_child_processes():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = b'x' * (64 << 20); print('ready', flush=True); "
                               "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        me = os.getpid()
        assert child.pid in procs.process_tree(me)
        alone = procs.rss_bytes(me, children=False)
        with_children = procs.rss_bytes(me)
        assert with_children - alone >= 60 << 20, "the child's 64 MB are counted"
        assert procs.cpu_seconds(me, children=True) >= procs.cpu_seconds(me)
    finally:
        child.kill()
        child.wait()
    assert procs.rss_bytes(2**22 + 12345) is None, "no such process"


def test_a_round_meets_the_target_only_with_every_training_near_one_alone():
    def a_round(*ratios):
        return {"sessions": 30, "trainers": len(ratios), "round_trips": [0.2] * 20 + [0.9],
                "errors": [], "alone_steps_per_second": 300.0,
                "trainings": [{"steps_per_second": 300 * r, "ratio_to_alone": r} for r in ratios]}
    assert visitors.target_met(a_round(0.95, 0.85))
    assert not visitors.target_met(a_round(0.95, 0.7))
    assert not visitors.target_met({**a_round(0.95), "trainers": 2}), "one did not start"
    slow = a_round(0.9, 0.9)
    slow["round_trips"] = [0.5] * 10 + [1.5] * 2
    assert not visitors.target_met(slow)
    assert visitors.training_cells(a_round(0.95, 0.85)) == "285 (0.95x), 255 (0.85x)"
    assert visitors.target_met({**a_round(0.9), "sessions": 0}) is None
