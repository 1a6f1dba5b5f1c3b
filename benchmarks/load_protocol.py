"""Protocol-level load test: N visitors drawing on /draw while others train, without a browser.

    python benchmarks/load_protocol.py                  # the issue's round: 30 drawing, 2 training
    python benchmarks/load_protocol.py --sessions 1 5 10 20 --trainers 1 --duration 30
    python benchmarks/load_protocol.py --sessions 0 10 --trainers 2   # 0: the trainings alone
    python benchmarks/load_protocol.py --url http://127.0.0.1:8501   # an app already running here

Every visitor is an asyncio websocket client (the ``websockets`` package) speaking Streamlit's own
protocol on ``/_stcore/stream``: protobuf ``BackMsg`` up, ``ForwardMsg`` down, as the browser does
(subprotocol "streamlit"; a first ``rerun_script`` with ``page_name="draw"``), so 30 sessions cost
the client a few percent of one core and the figures are the server's. Each drawing session loops:

    wait ``--think`` seconds (the time a visitor takes to draw a stroke), then send the rerun the
    canvas sends after a stroke (the Draw fragment's id; the canvas widget's value: Fabric.js JSON
    of one stroke and the 280x280 PNG the canvas would send, rendered by
    benchmarks/fidelity/strokes.render); wait for the run's ``script_finished``; check that the
    run carried the "Prediction" metric with the digit drawn (1, 0 or 7: browser.STROKES);
    then send Clear (the same canvas value plus the Clear button's trigger, as the browser does),
    check that the guess is gone and take the new canvas's widget id from the run.

Round trip = the stroke's BackMsg sent to its run's ``script_finished`` received (the Prediction
delta arrives a few ms before). Errors: no ``script_finished`` within 10 s, a wrong or missing
guess, an exception or ``st.error`` element in a run, a closed websocket, a training that does
not start (the server's "busy" warning included).

Meanwhile ``--trainers`` more protocol sessions train (default 2; 0 or --no-training: none), each
a visitor of its own: it opens /train, sets Epochs to 200 on the recommended preset and presses
Start (the button's trigger), then behaves like a browser watching the run: it answers the page's
``auto_rerun`` messages (the live fragment, every 0.5 s) with auto reruns and reads the progress
bar ("Step N of M · epoch E · T s"). A training's throughput is its steps per second over the
round by the run's own clock (steps and seconds of the first and last progress the page showed
within the round), so the page's polling delay does not count. It presses Stop after each round,
so every round starts fresh runs. Before the rounds, a baseline round trains ONE run alone (no
drawing visitors, same duration; --no-baseline to skip it), and every training is reported as a
ratio of that throughput (the issue's target: each within 20%, i.e. >= 0.80).

Without --url it starts the app itself (benchmarks/browser.py's served_app: ``streamlit run`` on
127.0.0.1, a free port, NN_OFFLINE=1) with NN_MAX_TRAININGS raised to ``--trainers`` if needed
(each training is its own visitor, so the per-visitor cap of 1 holds), and stops it at the end;
then it also reports the server's CPU time and resident memory, its child processes included (a
training worker process counts as the server's). Only 127.0.0.1 is ever contacted (no proxy
either). Bounded: ``--duration`` seconds of drawing per round, at most 600 s over all rounds (the
baseline included), and at most ``--max-strokes`` strokes per session and round.
Prints a Markdown table and writes it to benchmarks/results/load_protocol.md and the raw figures
to load_protocol.json (``--out``).
"""
import argparse
import asyncio
import base64
import io
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:                     # run as a script: benchmarks/ is sys.path[0]
    sys.path.insert(0, str(ROOT))

from benchmarks.browser import STROKES, served_app  # noqa: E402
from benchmarks.load_test import percentile  # noqa: E402

GUESS_TIMEOUT_S = 10.0        # a stroke without its finished run by then is an error
RESYNC_TIMEOUT_S = 30.0       # after a timeout, how long to wait for the late run before giving up
LOAD_TIMEOUT_S = 60.0         # first load of a page
BRUSH_WIDTH = 20              # the Draw page's default brush (its "draw_brush" slider)
TRAINING_EPOCHS = 200         # long enough to outlast any round
SERVER_TIME = re.compile(r"Server time for this update[^:]*: ([\d.]+) ms")
# The Train page's progress bar: "Step 1,234 of 8,600 · epoch 2.87 · 12.3 s · about ..."
STEP = re.compile(r"Step ([\d,]+) of ([\d,]+)(?: · epoch [\d.]+ · ([\d,.]+) s)?")
BUSY = ("already running", "already training", "busy")  # the Train page's "no free slot" warnings
WAITING = "Waiting for a free place"  # the Train page's words for a run in line
BUSY_RETRY_S = 2.0            # a visitor told the server is busy presses Start again after this
ALONE_WITHIN = 0.20           # the target: each training within 20% of one alone

# The properties Fabric.js 7 writes for a free-drawing path (recorded from the real canvas);
# the server only stores this JSON, but the message should weigh what the browser's weighs.
FABRIC_PATH_DEFAULTS = {
    "lockMovementX": False, "lockMovementY": False, "lockRotation": False, "lockScalingX": False,
    "lockScalingY": False, "lockSkewingX": False, "lockSkewingY": False, "lockScalingFlip": False,
    "type": "Path", "version": "7.4.0", "originX": "center", "originY": "center", "fill": None,
    "stroke": "#FFFFFF", "strokeWidth": BRUSH_WIDTH, "strokeDashArray": None,
    "strokeLineCap": "round", "strokeDashOffset": 0, "strokeLineJoin": "round",
    "strokeUniform": False, "strokeMiterLimit": 10, "scaleX": 1, "scaleY": 1, "angle": 0,
    "flipX": False, "flipY": False, "opacity": 1, "shadow": None, "visible": True,
    "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
    "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0,
}


# -- what a browser would send ---------------------------------------------------------------------
def canvas_value(points, brush_width=BRUSH_WIDTH):
    """The canvas component's widget value after one stroke through ``points`` (canvas pixels):
    ``{"drawing": {"raw": <Fabric.js JSON>, "data": "data:image/png;base64,..."}}`` as a string,
    like streamlit-drawable-canvas 0.13 sends it."""
    import numpy as np
    from PIL import Image

    from benchmarks.fidelity.strokes import render
    rgba = render([np.asarray(points, float)], brush_width)              # (280, 280, 4) uint8
    png = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(png, format="PNG")
    # Fabric's pencil: quadratic curves through the midpoints of successive points
    path = [["M", *points[0]]]
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        path.append(["Q", x0, y0, (x0 + x1) / 2, (y0 + y1) / 2])
    path.append(["L", *points[-1]])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    raw_path = {**FABRIC_PATH_DEFAULTS, "strokeWidth": brush_width,
                "left": (min(xs) + max(xs)) / 2, "top": (min(ys) + max(ys)) / 2,
                "width": max(xs) - min(xs), "height": max(ys) - min(ys), "path": path}
    drawing = {"raw": {"version": "7.4.0", "objects": [raw_path], "background": "#000000"},
               "data": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}
    return json.dumps({"drawing": drawing}, separators=(",", ":"))


def widget_state(widget_id, **value):
    """One WidgetState: ``widget_state(id, trigger_value=True)``, ``json_value=...``, ..."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    return WidgetState(id=widget_id, **value)


# -- one session -----------------------------------------------------------------------------------
@dataclass
class Run:
    """One script run as the ForwardMsg stream showed it (new_session .. script_finished)."""
    started: float                                   # perf_counter at its new_session
    elements: list = field(default_factory=list)     # (kind, element proto, fragment_id)
    errors: list = field(default_factory=list)       # exceptions, st.error, page not found
    prediction_at: float = None                      # when the "Prediction" metric arrived
    auto_reruns: dict = field(default_factory=dict)  # fragment_id -> interval (s)
    status: int = None
    finished: float = None

    def find(self, kind, label=None):
        """The first element of ``kind`` (with ``label``), or None."""
        for k, element, _ in self.elements:
            if k == kind and (label is None or getattr(element, "label", None) == label):
                return element
        return None

    def find_all(self, kind):
        return [element for k, element, _ in self.elements if k == kind]

    def fragment_of(self, kind):
        for k, _, fragment_id in self.elements:
            if k == kind:
                return fragment_id
        return ""

    def metric(self, label):
        element = self.find("metric", label)
        return None if element is None else element.body

    def texts(self):
        """Markdown bodies and progress texts, in order."""
        out = []
        for k, element, _ in self.elements:
            if k == "markdown":
                out.append(element.body)
            elif k == "progress":
                out.append(element.text)
        return out


class StreamlitSession:
    """One visitor: a websocket on /_stcore/stream, BackMsgs up, ForwardMsgs down.

    ``rerun(...)`` sends a rerun_script and returns the Run that answers it. ``auto_rerun``
    messages are obeyed like the browser's timers do (so a /train page keeps polling its run)."""

    def __init__(self, url, page_name, name):
        self.url, self.page_name, self.name = url, page_name, name
        self.page_script_hash = ""      # the page shown, sent with every rerun (as the browser)
        self.pages = {}                 # url path -> page_script_hash, from st.navigation
        self.widgets = {}              # widget id -> WidgetState sent with every rerun
        self.on_run = None             # callback(Run) for every finished run
        self._ws = None
        self._reader = None
        self._run = None
        self._waiters = []             # (sent_at, future)
        self._timers = {}              # fragment_id -> asyncio.Task sending auto reruns
        self.closed = None             # why the stream ended, once it has
        self.messages = 0

    async def open(self):
        from websockets.asyncio.client import connect
        ws_url = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        # proxy=None: never through a proxy from the environment; only 127.0.0.1 is contacted
        self._ws = await connect(ws_url, subprotocols=["streamlit"], origin=self.url,
                                 proxy=None, max_size=None, open_timeout=30)
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-reader")

    async def close(self):
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    # -- down: ForwardMsgs
    async def _read(self):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        try:
            async for frame in self._ws:
                self.messages += 1
                self._handle(ForwardMsg.FromString(frame))
            self.closed = f"websocket closed ({self._ws.close_code})"
        except Exception as e:                        # a broken stream fails every waiter
            self.closed = f"{type(e).__name__}: {e}"
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(ConnectionError(self.closed))

    def _handle(self, msg):
        kind = msg.WhichOneof("type")
        now = time.perf_counter()
        if kind == "new_session":
            # its page_script_hash may be the main script's (st.navigation apps): the page that
            # runs is named by the navigation message below
            self._run = Run(started=now)
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
        elif self._run is None:
            return
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            element_kind = element.WhichOneof("type")
            proto = getattr(element, element_kind)
            self._run.elements.append((element_kind, proto, msg.delta.fragment_id))
            if element_kind == "metric" and proto.label == "Prediction":
                self._run.prediction_at = now
            elif element_kind == "exception":
                self._run.errors.append(f"exception {proto.type}: {proto.message[:200]}")
            elif element_kind == "alert" and proto.format == proto.ERROR:
                self._run.errors.append(f"st.error: {proto.body[:200]}")
        elif kind == "page_not_found":
            self._run.errors.append(f"page not found: {msg.page_not_found.page_name!r}")
        elif kind == "auto_rerun":
            self._run.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                timer = self._timers.pop(fragment_id, None)
                if timer is not None:
                    timer.cancel()
        elif kind == "script_finished":
            run, self._run = self._run, None
            run.status, run.finished = msg.script_finished, now
            self._follow_auto_reruns(run)
            if self.on_run is not None:
                self.on_run(run)
            if run.status == msg.FINISHED_EARLY_FOR_RERUN:
                return                                 # a newer run answers the request
            for sent_at, future in list(self._waiters):
                if run.started >= sent_at and not future.done():
                    future.set_result(run)
            self._waiters = [(s, f) for s, f in self._waiters if not f.done()]

    def _follow_auto_reruns(self, run):
        """As the browser: a full run replaces the timers with those it registered; a fragment
        run only adds its own."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        if run.status == ForwardMsg.FINISHED_SUCCESSFULLY:
            for fragment_id in set(self._timers) - set(run.auto_reruns):
                self._timers.pop(fragment_id).cancel()
        for fragment_id, interval in run.auto_reruns.items():
            if fragment_id in self._timers:
                self._timers.pop(fragment_id).cancel()
            self._timers[fragment_id] = asyncio.create_task(
                self._auto_rerun(fragment_id, interval), name=f"{self.name}-auto-rerun")

    async def _auto_rerun(self, fragment_id, interval):
        while True:                                    # setInterval: whether or not it finished
            await asyncio.sleep(interval)
            await self._send(fragment_id=fragment_id, is_auto_rerun=True)

    # -- up: BackMsgs
    async def _send(self, extra=(), fragment_id="", is_auto_rerun=False, page_name=""):
        from streamlit.proto.BackMsg_pb2 import BackMsg
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = "" if page_name else self.page_script_hash
        state.page_name = page_name
        state.fragment_id = fragment_id
        state.is_auto_rerun = is_auto_rerun
        extra_ids = {w.id for w in extra}
        state.widget_states.widgets.extend(
            [w for i, w in self.widgets.items() if i not in extra_ids] + list(extra))
        info = state.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url = f"{self.url}/{self.page_name}"
        info.is_embedded, info.color_scheme = False, "light"
        await self._ws.send(msg.SerializeToString())

    async def rerun(self, extra=(), fragment_id="", page_name=""):
        """Send a rerun (``extra`` widget states on top of ``self.widgets``); returns a future of
        the Run that answers it (the first run to finish that started after the send)."""
        if self.closed:
            raise ConnectionError(self.closed)
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((time.perf_counter(), future))
        await self._send(extra, fragment_id, page_name=page_name)
        return future

    async def load(self):
        """Open the page the way the browser does: a first rerun with only the page's name."""
        future = await self.rerun(page_name=self.page_name)
        run = await asyncio.wait_for(future, LOAD_TIMEOUT_S)
        if run.errors:
            raise RuntimeError(f"{self.name}: /{self.page_name} showed {run.errors[0]}")
        if not self.page_script_hash or self.pages.get(self.page_name) != self.page_script_hash:
            raise RuntimeError(f"{self.name}: asked for /{self.page_name}, another page ran")
        return run


# -- the visitors ----------------------------------------------------------------------------------
def draw_widgets(run):
    """(canvas widget id, Clear button id, the Draw fragment's id) from a run of /draw."""
    canvas = run.find("bidi_component")
    clear = run.find("button", "Clear")
    if canvas is None or clear is None:
        raise RuntimeError("the Draw page showed no canvas or no Clear button")
    return canvas.id, clear.id, run.fragment_of("bidi_component")


async def timed(future, results, what):
    """The Run that answers ``future``. A run later than GUESS_TIMEOUT_S is an error, and is still
    waited for (RESYNC_TIMEOUT_S more) so that the session stays in step with its page; raises
    when even that fails."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), GUESS_TIMEOUT_S)
    except asyncio.TimeoutError:
        results["errors"].append(f"{what}: no finished run within {GUESS_TIMEOUT_S:.0f} s")
        results["timeouts"] += 1
    return await asyncio.wait_for(future, RESYNC_TIMEOUT_S)


async def draw_session(index, url, clock, args, values, results, ready):
    """One visitor on /draw: loads the page, sets ``ready``, waits for ``clock["go"]``, then
    strokes and clears until ``clock["stop_at"]`` or ``args.max_strokes``."""
    name = f"session {index}"
    session = StreamlitSession(url, "draw", name)
    errors = results["errors"]
    try:
        await session.open()
        canvas_id, clear_id, fragment_id = draw_widgets(await session.load())
    except Exception as e:
        errors.append(f"{name}: /draw did not load ({type(e).__name__}: {e})")
        ready.set()
        await session.close()
        return
    ready.set()
    await clock["go"].wait()
    digits = list(STROKES)
    strokes = 0
    try:
        while time.monotonic() < clock["stop_at"] and strokes < args.max_strokes:
            await asyncio.sleep(args.think)           # the visitor draws the stroke
            digit = digits[(index + strokes) % len(digits)]
            canvas = widget_state(canvas_id, json_value=values[digit])
            strokes += 1
            sent = time.perf_counter()
            run = await timed(await session.rerun([canvas], fragment_id), results,
                              f"{name}, stroke {strokes}")
            results["round_trips"].append(run.finished - sent)
            if run.prediction_at is not None:
                results["to_prediction"].append(run.prediction_at - sent)
            server_ms = [float(m.group(1)) for t in run.texts() if (m := SERVER_TIME.search(t))]
            results["server_ms"].extend(server_ms[-1:])
            shown = run.metric("Prediction")
            if run.errors:
                errors.append(f"{name}: stroke {strokes}: {run.errors[0]}")
            elif shown != digit:
                errors.append(f"{name}: drew {digit}, the page showed {shown!r}")
            # Clear: the browser sends the canvas's value again plus the button's trigger
            sent = time.perf_counter()
            clear = widget_state(clear_id, trigger_value=True)
            run = await timed(await session.rerun([canvas, clear], fragment_id), results,
                              f"{name}, Clear")
            results["clear_trips"].append(run.finished - sent)
            if run.errors or run.metric("Prediction") is not None:
                errors.append(f"{name}: Clear left {run.errors[:1] or run.metric('Prediction')!r}")
            new_canvas_id, clear_id, fragment_id = draw_widgets(run)
            if new_canvas_id == canvas_id:
                errors.append(f"{name}: Clear did not give a new canvas")
            canvas_id = new_canvas_id
    except Exception as e:
        errors.append(f"{name}: {type(e).__name__}: {str(e)[:160]}")
    finally:
        results["strokes"] += strokes
        results["messages"] += session.messages
        await session.close()


class TrainingVisitor:
    """A protocol session on /train that starts the recommended preset (Epochs ``epochs``) and
    keeps watching it like a browser (auto reruns of the live fragment).

    ``samples``: (client time.monotonic(), step, the run's own seconds or None) for every new
    step the progress bar showed; ``throughput(since, until)`` turns them into steps/s."""

    def __init__(self, url, name="training", epochs=TRAINING_EPOCHS):
        self.session = StreamlitSession(url, "train", name)
        self.name, self.epochs = name, epochs
        self.step = None                 # last "Step N of M" shown
        self.total = None
        self.samples = []
        self.stop_id = None
        self.errors = []
        self.runs = 0
        self.busy_waits = 0              # Starts the server refused for want of a free slot
        self.waited_in_line = False      # the page said the run waits for a free place

    def _on_run(self, run):
        self.runs += 1
        for text in run.texts():
            if m := STEP.search(text):
                step, total = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
                seconds = float(m.group(3).replace(",", "")) if m.group(3) else None
                if step != self.step:
                    self.samples.append((time.monotonic(), step, seconds))
                self.step, self.total = step, total
        self.errors.extend(f"{self.name}: {e}" for e in run.errors)
        if any(WAITING in alert.body for alert in run.find_all("alert")):
            self.waited_in_line = True
        stop = run.find("button", "Stop")
        if stop is not None:
            self.stop_id = stop.id

    async def start(self, via=None, busy_wait=LOAD_TIMEOUT_S):
        """Open /train (``via``: open that page first, e.g. "" for Home, and go to /train as the
        sidebar link does), set Epochs, press Start and wait for the run's first step. A full
        server either puts the run in line (the page says "Waiting for a free place") or, in
        older versions, refuses the Start as busy, which is then pressed again every
        BUSY_RETRY_S seconds; either way the first step may take up to ``busy_wait`` seconds
        (at least LOAD_TIMEOUT_S) before this raises RuntimeError."""
        s = self.session
        s.on_run = self._on_run
        await s.open()
        if via is None:
            run = await s.load()
        else:
            s.page_name = via
            await s.load()
            s.page_name, s.page_script_hash = "train", s.pages.get("train", "")
            run = await asyncio.wait_for(await s.rerun(), LOAD_TIMEOUT_S)
        epochs, start = run.find("number_input", "Epochs"), run.find("button", "Start")
        if epochs is None or start is None:
            raise RuntimeError("/train showed no Epochs field or no Start button")
        s.widgets[epochs.id] = widget_state(epochs.id, int_value=self.epochs)
        await asyncio.wait_for(await s.rerun(), LOAD_TIMEOUT_S)
        give_up = time.monotonic() + max(busy_wait, LOAD_TIMEOUT_S)
        while True:
            run = await asyncio.wait_for(
                await s.rerun([widget_state(start.id, trigger_value=True)]), LOAD_TIMEOUT_S)
            if run.errors:
                raise RuntimeError(f"Start: {run.errors[0]}")
            busy = busy_warning(run)
            if busy is None:
                break
            if time.monotonic() > give_up:
                raise RuntimeError(f"Start refused for {busy_wait:.0f} s: {busy[:160]}")
            self.busy_waits += 1
            await asyncio.sleep(BUSY_RETRY_S)
        while self.step is None:                       # its first record: the run is going
            if time.monotonic() > give_up or s.closed:
                raise RuntimeError(f"the training showed no step within "
                                   f"{max(busy_wait, LOAD_TIMEOUT_S):.0f} s"
                                   + (" (it waited in line)" if self.waited_in_line else ""))
            await asyncio.sleep(0.1)

    def throughput(self, since=-math.inf, until=math.inf):
        """Steps per second between the first and the last progress shown within [since, until]
        (time.monotonic()): by the run's own clock when the page showed it, else by the
        client's. None with fewer than two such progress readings."""
        inside = [s for s in self.samples if since <= s[0] <= until]
        return steps_per_second(inside)

    async def stop(self):
        s = self.session
        try:
            if self.stop_id and not s.closed:
                stop = widget_state(self.stop_id, trigger_value=True)
                await asyncio.wait_for(await s.rerun([stop]), LOAD_TIMEOUT_S)
        finally:
            await s.close()


def busy_warning(run):
    """The text of the Train page's "no free slot" warning in ``run``, or None."""
    for alert in run.find_all("alert"):
        if alert.format == alert.WARNING and any(word in alert.body for word in BUSY):
            return alert.body
    return None


def steps_per_second(samples):
    """Steps/s from (client time, step, run seconds | None) samples, first to last: by the run's
    seconds when both ends have them, else by the client's clock; None if it cannot tell."""
    if len(samples) < 2:
        return None
    (t0, step0, run0), (t1, step1, run1) = samples[0], samples[-1]
    seconds = run1 - run0 if run0 is not None and run1 is not None else t1 - t0
    return (step1 - step0) / seconds if seconds > 0 else None


# -- the server's processes (Linux /proc) ----------------------------------------------------------
def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (its field 3 is index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid):
    """``pid`` and its live descendants (children of every thread, recursively), from /proc."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except (OSError, ValueError):          # the thread or the process just ended
                pass
    return list(dict.fromkeys(pids))


def cpu_seconds(pid, children=False):
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), or None. With
    ``children``: plus its live descendants' and those it has waited for (a worker process that
    ended during a measurement still counts, as the difference of two readings)."""
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return None
    ticks = sum(int(f) for f in fields[11:13])                     # utime, stime
    if children:
        ticks += sum(int(f) for f in fields[13:15])                # cutime, cstime (reaped)
        for child in process_tree(pid)[1:]:
            try:
                ticks += sum(int(f) for f in _stat_fields(child)[11:15])
            except (OSError, IndexError, ValueError):
                pass
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid, children=True):
    """Resident memory of ``pid`` (VmRSS), summed over its live descendants with ``children``;
    None if ``pid`` is gone. (Shared pages count once per process, as in ``ps``.)"""
    total = None
    for one in process_tree(pid) if children else [pid]:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:")), 0)                # a zombie has none
        total = (total or 0) + kb * 1024
    return total


async def sample_rss(pid, samples, every=1.0):
    """Append (time.monotonic(), server RSS with children, processes) to ``samples`` every
    ``every`` seconds until cancelled."""
    while True:
        samples.append((time.monotonic(), rss_bytes(pid), len(process_tree(pid))))
        await asyncio.sleep(every)


# -- a round ---------------------------------------------------------------------------------------
async def start_trainings(url, count, results, epochs=TRAINING_EPOCHS):
    """``count`` TrainingVisitors, started at once; those that fail are reported and closed."""
    trainings = [TrainingVisitor(url, f"training {i + 1}", epochs) for i in range(count)]
    outcomes = await asyncio.gather(*(t.start() for t in trainings), return_exceptions=True)
    started = []
    for training, outcome in zip(trainings, outcomes):
        if isinstance(outcome, BaseException):
            results["errors"].append(f"{training.name} did not start: "
                                     f"{type(outcome).__name__}: {outcome}")
            await training.session.close()
        else:
            started.append(training)
    return started


async def run_round(url, sessions, args, values, server_pid=None, trainers=None):
    """``sessions`` drawing visitors (0: none) for ``args.duration`` s, with ``trainers`` training
    visitors (default ``args.trainers``, 1 if it has none; 0 with ``args.no_training``). Returns
    the round's raw figures."""
    if trainers is None:
        trainers = 0 if args.no_training else getattr(args, "trainers", 1)
    results = {"sessions": sessions, "trainers": trainers, "round_trips": [], "to_prediction": [],
               "clear_trips": [], "server_ms": [], "errors": [], "timeouts": 0, "strokes": 0,
               "messages": 0, "trainings": []}
    trainings = await start_trainings(url, trainers, results) if trainers else []
    readies = [asyncio.Event() for _ in range(sessions)]
    clock = {"go": asyncio.Event(), "stop_at": math.inf}

    async def arrive(i):
        await asyncio.sleep(0.1 * i)                   # visitors arrive over a few seconds
        await draw_session(i, url, clock, args, values, results, readies[i])

    tasks = [asyncio.create_task(arrive(i)) for i in range(sessions)]
    memory, sampler = [], None
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 180)
        steps0 = [t.step or 0 for t in trainings]
        cpu0, load0 = time.process_time(), os.getloadavg()[0]
        server0 = cpu_seconds(server_pid, children=True) if server_pid else None
        own0 = cpu_seconds(server_pid) if server_pid else None
        if server_pid:
            sampler = asyncio.create_task(sample_rss(server_pid, memory))
        started = time.monotonic()
        clock["stop_at"] = started + args.duration
        clock["go"].set()
        if tasks:
            await asyncio.gather(*tasks)
        else:
            await asyncio.sleep(args.duration)
        ended = time.monotonic()
        wall = ended - started
        server1 = cpu_seconds(server_pid, children=True) if server_pid else None
        own1 = cpu_seconds(server_pid) if server_pid else None
        results.update(
            wall=wall, client_cpu=(time.process_time() - cpu0) / wall,
            server_cpu=None if server0 is None or server1 is None else (server1 - server0) / wall,
            server_process_cpu=None if own0 is None or own1 is None else (own1 - own0) / wall,
            load_before=load0, load_after=os.getloadavg()[0])
        known = [m[1] for m in memory if m[1] is not None]
        if known:
            results.update(server_rss_peak=max(known), server_rss_end=known[-1],
                           server_processes=max(m[2] for m in memory))
        for training, step0 in zip(trainings, steps0):
            results["trainings"].append({
                "name": training.name, "steps": (training.step or 0) - step0,
                "steps_per_second": training.throughput(started, ended),
                "total": training.total, "runs": training.runs,
                "busy_waits": training.busy_waits, "waited_in_line": training.waited_in_line})
            results["errors"].extend(training.errors)
            if training.session.closed:
                results["errors"].append(f"{training.name}: {training.session.closed}")
        if trainings:                    # the figures of the one-training table, as before
            results["training_steps"] = sum(t["steps"] for t in results["trainings"])
            results["training_total"] = trainings[0].total
            results["training_runs"] = sum(t.runs for t in trainings)
    finally:
        if sampler is not None:
            sampler.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(t.stop() for t in trainings), return_exceptions=True)
    return results


async def run_all(url, args, server_pid=None):
    """The baseline round (one training alone) unless there is no training or ``args.baseline``
    is off, then a round per number of ``args.sessions``; each training's ratio to the baseline
    is added to its figures."""
    values = {digit: canvas_value(points) for digit, points in STROKES.items()}
    trainers = 0 if args.no_training else args.trainers
    plan = [(0, 1, True)] if trainers and args.baseline else []
    plan += [(n, trainers, False) for n in args.sessions]
    rounds, alone = [], None
    for sessions, count, baseline in plan:
        r = await run_round(url, sessions, args, values, server_pid, trainers=count)
        r["baseline"] = baseline
        if baseline:
            alone = r["trainings"][0]["steps_per_second"] if r["trainings"] else None
        for training in r["trainings"]:
            speed = training["steps_per_second"]
            training["ratio_to_alone"] = speed / alone if speed and alone else None
        r["alone_steps_per_second"] = alone
        speeds = ", ".join(f"{t['steps_per_second'] or 0:.0f}" for t in r["trainings"])
        print(f"{'baseline: ' if baseline else ''}{sessions} sessions, {count} trainings: "
              f"{len(r['round_trips'])} guesses, p95 {ms(r['round_trips'], 0.95)} ms, "
              f"steps/s [{speeds}], {len(r['errors'])} errors", file=sys.stderr)
        rounds.append(r)
        await asyncio.sleep(3)                         # the stopped trainings wind down
    return rounds


# -- the report ------------------------------------------------------------------------------------
def ms(values, q):
    return f"{percentile(values, q) * 1000:.0f}" if values else "n/a"


COLUMNS = ["drawing sessions", "trainings", "guesses", "p50 ms", "p95 ms", "max ms", "errors",
           "steps/s per training (x one alone)", "Clear p50 / p95 ms", "script time p50 / p95 ms",
           "server CPU: all / its own process", "server RSS peak MB", "client CPU",
           "load avg before / after", "target met"]


def training_cells(r):
    """Each training's steps/s and its ratio to the baseline: "312 (0.91x), 290 (0.85x)"."""
    if not r["trainings"]:
        return "no training"
    cells = []
    for t in r["trainings"]:
        speed, ratio = t.get("steps_per_second"), t.get("ratio_to_alone")
        text = "n/a" if speed is None else f"{speed:,.0f}"
        if r.get("baseline"):
            text += " (alone)"
        elif ratio is not None:
            text += f" ({ratio:.2f}x)"
        cells.append(text)
    return ", ".join(cells)


def target_met(r):
    """The issue's target for a round with drawing visitors: p95 < 1 s, no errors, and every
    training within ALONE_WITHIN of one alone (when a baseline was measured); None: no target."""
    trips = r["round_trips"]
    if not r["sessions"]:
        return None
    ratios = [t.get("ratio_to_alone") for t in r["trainings"]]
    alone_ok = all(ratio is not None and ratio >= 1 - ALONE_WITHIN for ratio in ratios) \
        if r.get("alone_steps_per_second") else True
    return bool(trips) and percentile(trips, 0.95) < 1 and not r["errors"] \
        and len(r["trainings"]) == r["trainers"] and alone_ok


def round_cells(r):
    trips, server, clears = r["round_trips"], r["server_ms"], r["clear_trips"]
    met = target_met(r)
    rss = r.get("server_rss_peak")
    return [
        str(r["sessions"]) + (" (baseline)" if r.get("baseline") else ""),
        str(r.get("trainers", len(r["trainings"]))), f"{len(trips):,}",
        ms(trips, 0.5), ms(trips, 0.95), ms(trips, 1.0), str(len(r["errors"])),
        training_cells(r),
        f"{ms(clears, 0.5)} / {ms(clears, 0.95)}",
        f"{percentile(server, 0.5):.0f} / {percentile(server, 0.95):.0f}" if server else "n/a",
        "n/a" if r.get("server_cpu") is None else
        f"{r['server_cpu']:.0%} / {r.get('server_process_cpu') or 0:.0%}",
        "n/a" if rss is None else f"{rss / 2**20:,.0f}",
        f"{r['client_cpu']:.0%}",
        f"{r['load_before']:.1f} / {r['load_after']:.1f}",
        "n/a" if met is None else ("yes" if met else "NO"),
    ]


def command_line(args):
    sessions = " ".join(str(n) for n in args.sessions)
    text = (f"python benchmarks/load_protocol.py --sessions {sessions} --duration "
            f"{args.duration:.0f} --think {args.think:g}")
    if args.no_training:
        return text + " --no-training"
    return text + f" --trainers {args.trainers}" + ("" if args.baseline else " --no-baseline")


def report(args, rounds):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(round_cells(r)) + " |" for r in rounds]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    trainers = 0 if args.no_training else args.trainers
    text = (f"## Protocol load test: drawing sessions"
            f"{f' + {trainers} training' + ('s' if trainers > 1 else '') if trainers else ''}\n\n"
            f"`{command_line(args)}` on {time.strftime('%Y-%m-%d')} ({machine}; the server, the "
            f"trainings and the client share these cores).\n\n" + "\n".join(lines) + "\n\n"
            f"Round trip: the stroke's rerun sent to its run's script_finished (the Prediction "
            f"delta arrives just before it); {args.duration:.0f} s of drawing per round, "
            f"{args.think:g} s of drawing time before each stroke. Steps/s: each training's "
            f"steps over the round by the run's own clock (its progress bar), and in brackets its "
            f"ratio to the baseline round's one training alone. Target: p95 < 1000 ms, no errors "
            f"and every training >= {1 - ALONE_WITHIN:.2f}x of one alone. Script time: the Draw "
            f"fragment's own figure (\"Server time for this update\"). CPU: share of one core "
            f"over the round; the server's CPU (all) and RSS include its child processes (the "
            f"training workers), its own process's CPU does not.\n")
    errors = [e for r in rounds for e in r["errors"]]
    if errors:
        text += "\nErrors (first 10):\n\n" + "\n".join(f"- {e}" for e in errors[:10]) + "\n"
    return text, all(target_met(r) for r in rounds if r["sessions"])


def rounded(value):
    """Floats to 4 decimals (0.1 ms) all through, for a JSON file of readable size."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def source_state():
    """The commit measured and the files that differed from it (the app is run from disk)."""
    import subprocess

    def git(*cmd):
        try:                   # rstrip: a porcelain line starts with a meaningful space
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted": [line[3:] for line in git("status", "--porcelain").splitlines()]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[30],
                        help="drawing sessions, one round per number (0: the trainings alone)")
    parser.add_argument("--trainers", type=int, default=2,
                        help="training visitors during every round (0: none)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the first round of one training alone (no ratios then)")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds of drawing per round (600 at most over all rounds)")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds a visitor takes to draw each stroke")
    parser.add_argument("--max-strokes", type=int, default=1000, help="per session and round")
    parser.add_argument("--no-training", action="store_true",
                        help="no training meanwhile (as --trainers 0)")
    parser.add_argument("--url", help="an app already running on http://127.0.0.1:<port>")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load_protocol.md"),
                        help="Markdown file for the results, JSON next to it ('' for none)")
    args = parser.parse_args(argv)
    if not all(0 <= n <= 100 for n in args.sessions) or len(args.sessions) > 10:
        parser.error("use 0-100 sessions per round and at most 10 rounds")
    if not 0 <= args.trainers <= 10:
        parser.error("use 0-10 trainers")
    args.no_training = args.no_training or args.trainers == 0
    rounds = len(args.sessions) + (0 if args.no_training or not args.baseline else 1)
    if not 1 <= args.duration or rounds * args.duration > 600:
        parser.error("use at most 600 s of drawing in all (rounds, the baseline included, "
                     "x --duration)")
    if not 1 <= args.max_strokes <= 10_000:
        parser.error("use 1-10,000 strokes per session")
    if not 0 <= args.think <= 60:
        parser.error("use a think time of 0-60 s")
    if not args.url and not args.no_training:      # the server this starts allows N trainings
        cap = os.environ.get("NN_MAX_TRAININGS", "")
        if not cap.isdigit() or int(cap) < args.trainers:
            os.environ["NN_MAX_TRAININGS"] = str(max(2, args.trainers))
    with served_app(args.url, "load-protocol-") as (url, server):
        rounds = asyncio.run(run_all(url, args, server.pid if server else None))
    text, ok = report(args, rounds)
    print(text)
    if args.out:
        write_results(args.out, text, {"rounds": rounded(rounds)})
    return 0 if ok else 1


def write_results(out, text, figures):
    """The Markdown ``text`` to ``out`` and, beside it (.json), ``figures`` with the command,
    the date and the source's state."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(
        {"command": sys.argv, "date": time.strftime("%Y-%m-%d %H:%M"), **source_state(),
         **figures}, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
