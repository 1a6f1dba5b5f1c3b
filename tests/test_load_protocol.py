"""The protocol-level load test (benchmarks/load_protocol.py) against a real `streamlit run`.

Two drawing sessions and one training session speak Streamlit's websocket protocol for ~10 s:
every stroke must come back with the right guess, no run may fail, and the training must move.
No browser needed.
"""
import argparse
import asyncio
import concurrent.futures

import pytest

from benchmarks import load_protocol
from benchmarks.browser import start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_two_sessions_draw_and_guess_while_one_trains(tmp_path):
    args = argparse.Namespace(duration=10.0, think=0.3, max_strokes=50, no_training=False)
    values = {digit: load_protocol.canvas_value(points)
              for digit, points in load_protocol.STROKES.items()}
    server, url = start_server(tmp_path / "streamlit.log")
    try:
        # in a thread of its own: the browser tests' Playwright may still own this thread's loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result = pool.submit(asyncio.run, load_protocol.run_round(
                url, 2, args, values, server.pid)).result()
    finally:
        stop_server(server)
    assert result["errors"] == [], result["errors"]
    assert result["strokes"] >= 4 and len(result["round_trips"]) == result["strokes"]
    assert result["training_steps"] > 0, "the training session's run did not move"


def test_the_canvas_value_is_what_the_component_reads():
    """The value the client sends decodes like the browser's: an RGBA 280x280 PNG with ink."""
    import base64
    import io
    import json

    import numpy as np
    from PIL import Image

    value = json.loads(load_protocol.canvas_value(load_protocol.STROKES["1"]))["drawing"]
    assert value["raw"]["objects"][0]["type"] == "Path"
    image = Image.open(io.BytesIO(base64.b64decode(value["data"].split(";base64,", 1)[1])))
    rgba = np.asarray(image)
    assert image.mode == "RGBA" and rgba.shape == (280, 280, 4)
    assert rgba[140, 140, 0] == 255 and rgba[10, 10, 0] == 0          # ink on the line only
