"""A visitor's browser reduced to Streamlit's protocol, with cookies: for tests that reach a served
app through a proxy (tests/test_load_balancer.py). Self-contained (benchmarks/load_protocol.py has
the load test's fuller client).

A browser first loads the page over plain HTTP (where a load balancer sets its affinity cookie),
then opens the WebSocket ``/_stcore/stream`` with the cookies it holds, and sends a
``rerun_script`` BackMsg per run; the server answers with ForwardMsgs until ``script_finished``.
``ProtocolVisitor`` does the same: ``get`` keeps the cookies the responses set, ``connect`` opens
the stream, ``run`` sends a rerun (a first one names the page) and returns the elements of the run
that answers it. Fragment timers (``auto_rerun``) are not followed: a test reruns the page itself.
"""
import asyncio
import http.client
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

RUN_TIMEOUT = 60.0


@dataclass
class Run:
    """One script run as the stream showed it."""
    elements: list = field(default_factory=list)     # (kind, element proto)
    errors: list = field(default_factory=list)       # exceptions and st.error
    status: int = None
    started: float = 0.0                             # perf_counter at its new_session

    def find(self, kind, label=None):
        return next((e for k, e in self.elements
                     if k == kind and (label is None or getattr(e, "label", None) == label)), None)

    def alerts(self):
        return [e.body for k, e in self.elements if k == "alert"]

    def texts(self):
        return [e.body for k, e in self.elements if k in ("markdown", "alert")]


class ProtocolVisitor:
    """One browser: its cookies, and one stream at a time (``connect`` again = a reload)."""

    def __init__(self, base_url, cookies=None):
        self.base_url = base_url.rstrip("/")
        self.cookies = dict(cookies or {})
        self.widgets = {}                  # widget id -> WidgetState, sent with every rerun
        self.page_script_hash = ""
        self.page_name = ""
        self._ws = self._reader = None
        self._run = None
        self._waiters = []                 # (sent at, future)
        self.closed = None

    # -- HTTP, as the browser loads the page
    def cookie_header(self):
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def get(self, path="/"):
        """GET ``path`` with this browser's cookies; keep the cookies the response sets. Returns
        (status, headers as a dict with lower-case names)."""
        parts = urllib.parse.urlsplit(self.base_url)
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

    # -- the stream
    async def connect(self):
        """Open the page's WebSocket with the cookies; returns the handshake's response headers
        (lower-case names)."""
        from websockets.asyncio.client import connect
        await self.close()
        self.closed = None
        url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self._ws = await connect(url, subprotocols=["streamlit"], origin=self.base_url,
                                 additional_headers={"Cookie": self.cookie_header()},
                                 proxy=None, max_size=None, open_timeout=30)
        self._reader = asyncio.create_task(self._read())
        return {k.lower(): v for k, v in self._ws.response.headers.raw_items()}

    async def close(self):
        if self._ws is not None:
            await self._ws.close()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = self._reader = None

    async def _read(self):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        try:
            async for frame in self._ws:
                self._handle(ForwardMsg.FromString(frame))
            self.closed = f"websocket closed ({self._ws.close_code})"
        except Exception as e:
            self.closed = f"{type(e).__name__}: {e}"
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(ConnectionError(self.closed))

    def _handle(self, msg):
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._run = Run(started=time.perf_counter())
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash
        elif self._run is None:
            return
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            element_kind = element.WhichOneof("type")
            proto = getattr(element, element_kind)
            self._run.elements.append((element_kind, proto))
            if element_kind == "exception":
                self._run.errors.append(f"exception {proto.type}: {proto.message[:300]}")
            elif element_kind == "alert" and proto.format == proto.ERROR:
                self._run.errors.append(f"st.error: {proto.body[:300]}")
        elif kind == "page_not_found":
            self._run.errors.append(f"page not found: {msg.page_not_found.page_name!r}")
        elif kind == "script_finished":
            run, self._run = self._run, None
            run.status = msg.script_finished
            if run.status == msg.FINISHED_EARLY_FOR_RERUN:
                return                     # a newer run answers the request
            for sent, future in self._waiters:
                if run.started >= sent and not future.done():
                    future.set_result(run)
            self._waiters = [(s, f) for s, f in self._waiters if not f.done()]

    async def run(self, page_name=None, extra=()):
        """Send a rerun (``page_name``: open that page, as a first load does; ``extra``: widget
        states for this run only, e.g. a button's trigger) and return the Run that answers it."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        if self.closed:
            raise ConnectionError(self.closed)
        if page_name is not None:
            self.page_name = page_name
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((time.perf_counter(), future))
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = ""
        rerun.page_name = page_name or ""
        rerun.page_script_hash = "" if page_name is not None else self.page_script_hash
        extra_ids = {w.id for w in extra}
        rerun.widget_states.widgets.extend(
            [w for i, w in self.widgets.items() if i not in extra_ids] + list(extra))
        info = rerun.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url = f"{self.base_url}/{self.page_name}"
        await self._ws.send(msg.SerializeToString())
        return await asyncio.wait_for(future, RUN_TIMEOUT)


def widget(widget_id, **value):
    """A WidgetState: ``widget(id, trigger_value=True)``, ``widget(id, string_value="x")``."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    return WidgetState(id=widget_id, **value)
