"""A visitor's browser without the browser: Streamlit's websocket protocol spoken directly.

    session = StreamlitSession(url, "draw", "visitor 1"); await session.open()
    run = await session.load()                      # the page's first run (a Run)
    run = await (await session.rerun([widget_state(id, json_value=canvas_value(points))], fragment))

Each session sends protobuf ``BackMsg`` up and reads ``ForwardMsg`` down on ``/_stcore/stream``
(subprotocol "streamlit"), as the browser does, and obeys the page's ``auto_rerun`` timers. Used by
benchmarks/load_protocol.py and memory_visitors.py, and by tests/test_container.py and
tests/test_load_protocol.py (through tests/helpers/visitors.py). ``ProtocolVisitor`` is a browser
with cookies that loads the page over HTTP first, for a load balancer's affinity
(tests/test_load_balancer.py). Only 127.0.0.1 is contacted.
"""
import asyncio
import base64
import io
import json
import time
from dataclasses import dataclass, field

GUESS_TIMEOUT_S = 10.0        # a stroke without its finished run by then is an error
RESYNC_TIMEOUT_S = 30.0       # after a timeout, how long to wait for the late run before giving up
LOAD_TIMEOUT_S = 60.0         # first load of a page
BRUSH_WIDTH = 20              # the Draw page's default brush (its "draw_brush" slider)

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

    from tests.helpers.strokes import render
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

    def alerts(self):
        """The bodies of st.success / info / warning / error, in order."""
        return [element.body for k, element, _ in self.elements if k == "alert"]

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

    def __init__(self, url, page_name, name, cookies=None, follow_timers=True):
        self.url, self.page_name, self.name = url.rstrip("/"), page_name, name
        self.cookies = dict(cookies or {})   # sent with the stream's handshake, as a browser does
        self.follow_timers = follow_timers   # False: a test reruns the page itself
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
        """Open the stream (with the cookies); returns the handshake's response headers
        (lower-case names)."""
        from websockets.asyncio.client import connect
        ws_url = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        headers = {"Cookie": self.cookie_header()} if self.cookies else None
        # proxy=None: never through a proxy from the environment; only 127.0.0.1 is contacted
        self._ws = await connect(ws_url, subprotocols=["streamlit"], origin=self.url,
                                 additional_headers=headers, proxy=None, max_size=None,
                                 open_timeout=30)
        self.closed = None
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-reader")
        return {k.lower(): v for k, v in self._ws.response.headers.raw_items()}

    def cookie_header(self):
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    async def close(self):
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = self._reader = None

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
        elif kind == "auto_rerun" and self.follow_timers:
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


class ProtocolVisitor(StreamlitSession):
    """A browser behind a load balancer: it loads the page over plain HTTP first (where the
    balancer sets its affinity cookie), keeps the cookies the responses set, and opens the stream
    with them; ``connect`` again is a reload. Fragment timers are not followed: a test reruns the
    page itself (``run``)."""

    def __init__(self, base_url, cookies=None):
        super().__init__(base_url, "", "visitor", cookies=cookies, follow_timers=False)
        self.base_url = self.url

    def get(self, path="/"):
        """GET ``path`` with this browser's cookies; keep the cookies the response sets. Returns
        (status, headers as a dict with lower-case names)."""
        import http.client
        import urllib.parse
        from http.cookies import SimpleCookie
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request("GET", path, headers={"Cookie": self.cookie_header()})
            response = connection.getresponse()
            response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                self.cookies.update({k: m.value for k, m in SimpleCookie(header).items()})
            return response.status, {k.lower(): v for k, v in response.headers.items()}
        finally:
            connection.close()

    async def connect(self):
        """Open the page's stream anew (a reload); returns the handshake's response headers."""
        await self.close()
        return await self.open()

    async def run(self, page_name=None, extra=()):
        """Send a rerun (``page_name``: open that page, as a first load does; ``extra``: widget
        states for this run only, e.g. a button's trigger) and return the Run that answers it."""
        if page_name is not None:        # a page by its name only (the home page's is "")
            self.page_name, self.page_script_hash = page_name, ""
        future = await self.rerun(extra, page_name=page_name or "")
        return await asyncio.wait_for(future, LOAD_TIMEOUT_S)
