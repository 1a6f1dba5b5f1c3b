"""A class bigger than one server, for real: two replicas behind HAProxy, sharing one model store.

Run twice, on the same scenarios:
- "loopback": started here, all on 127.0.0.1 and free ports: two ``streamlit run
  streamlit_app.py`` in hosted mode with one NN_MODEL_DIR, and Debian's HAProxy running
  docs/haproxy.cfg (the file compose.yaml mounts) with its servers swapped for the two replicas.
  Skipped where HAProxy is not installed (.ci/run installs Debian's package).
- "compose": compose.yaml as a teacher runs it (``docker compose up -d --build --scale app=2``, on
  a free port, a project of its own, taken down with its volume). Skipped where no Docker engine
  runs or its base images cannot be had (the CI machine has neither).
The balancer's X-NN-Replica header (docs/haproxy.cfg) names the replica that answered each
request. Visitors speak Streamlit's protocol through the balancer (tests/helpers/protocol.py): the
page over HTTP (the balancer's affinity cookie), then the WebSocket with the cookies, as a
browser does.

- Each visitor stays on one replica for its whole session (page loads, reloads, the stream), the
  visitors are spread over both replicas, and no run shows an error.
- A visitor trains and saves a model, then starts a long run; its replica is killed (SIGKILL, with
  its training worker). The visitor's next page load lands on the other replica, which lists the
  saved model and says plainly that the run in progress was lost (app/replica.py).

It waits on conditions only, never on timings, so a busy machine only makes it slower.
"""
import asyncio
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from app import replica

from app.store import hosting

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docs" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(p)), None)
REPLICA_HEADER = "x-nn-replica"
AFFINITY_COOKIE = "nn_replica"
START_TIMEOUT = 120.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


# -- the class's servers ---------------------------------------------------------------------------
def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def wait_until(predicate, timeout, what, processes=()):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        for name, process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode} before {what}")
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def loopback_config(port, replicas):
    """docs/haproxy.cfg for this machine: bound to 127.0.0.1:``port``; its server template (the
    compose replicas found by Docker's DNS) swapped for ``replicas`` ({name: port}). Its response
    header X-NN-Replica names the replica that answered."""
    lines, skipping = [], False
    for line in CONFIG.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("resolvers "):
            skipping = True                   # Docker's DNS: not here
        elif line and not line[0].isspace():
            skipping = False
        if skipping:
            continue
        if stripped.startswith("bind "):
            line = f"    bind 127.0.0.1:{port}"
        elif stripped.startswith("server-template "):
            lines += [f"    server {name} 127.0.0.1:{server_port}"
                      for name, server_port in replicas.items()]
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


COMPOSE_IMAGES = ("python:3.11-slim", "haproxy:2.8")     # compose.yaml's and the Dockerfile's bases


def _docker(*args, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _compose_command():
    """How this machine runs compose files (``docker compose``, or Debian's docker-compose), or
    skip with the reason none can run here."""
    if shutil.which("docker") is None:
        pytest.skip("no Docker client here: compose.yaml is run as written only with a Docker engine")
    try:
        info = _docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except subprocess.TimeoutExpired:
        pytest.skip("the Docker engine does not answer within 20 s")
    if info.returncode != 0:
        pytest.skip(f"no Docker engine runs here ({(info.stderr or info.stdout).strip()[-200:]})")
    if _docker("compose", "version", timeout=20).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor docker-compose is installed")


def compose_class(folder):
    """compose.yaml as a teacher runs it (two replicas, on a free port), in a project of its own;
    taken down with its volume at the end. Yields the namespace of ``balanced``."""
    compose = _compose_command()
    for image in COMPOSE_IMAGES:
        if _docker("image", "inspect", image).returncode != 0 \
                and _docker("pull", image, timeout=300).returncode != 0:
            pytest.skip(f"the base image {image} cannot be had here (no registry of images)")
    project, port = f"nnlb{uuid.uuid4().hex[:8]}", free_port()
    env = {**os.environ, "NN_PORT": str(port)}
    command = [*compose, "-p", project]
    log = folder / "compose.log"

    def run(*args, timeout=600):
        done = subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
        with open(log, "a") as out:
            out.write(f"$ {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        return done

    def logs():
        tail = run("logs", "--no-color", "--tail", "60", timeout=120)
        return log.read_text(errors="replace")[-2500:] + (tail.stdout + tail.stderr)[-5000:]

    try:
        up = run("up", "-d", "--build", "--scale", "app=2", timeout=1500)
        assert up.returncode == 0, f"compose up failed:\n{logs()}"
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(url), START_TIMEOUT, "the balancer answers")

        def answering():
            replicas = set()
            for _ in range(8):
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                    replicas.add(response.headers.get(REPLICA_HEADER))
            return len(replicas - {None}) == 2
        wait_until(answering, START_TIMEOUT, "both replicas answer through the balancer")
        volume = _docker("volume", "inspect", "-f", "{{.Mountpoint}}", f"{project}_models")
        assert volume.returncode == 0, volume.stderr
        store = Path(volume.stdout.strip())

        def kill(replica):
            """SIGKILL the container whose address the header gives (a replica lost, not stopped)."""
            address = replica.split()[-1]
            ids = _docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                          "--filter", "label=com.docker.compose.service=app").stdout.split()
            for container in ids:
                found = _docker("inspect", "-f",
                                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                                container).stdout.split()
                if address in found:
                    assert _docker("kill", container).returncode == 0
                    return
            raise AssertionError(f"no container of {project} has the address {address}")
        yield type("Balanced", (), {"url": url, "store": store, "kill": staticmethod(kill),
                                    "logs": staticmethod(logs)})
    finally:
        run("down", "-v", "--remove-orphans", timeout=300)


def kill_group(process):
    """SIGKILL ``process`` and everything in its process group (a replica and its training
    worker), and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


@pytest.fixture(scope="module", params=["loopback", "compose"])
def balanced(request, tmp_path_factory):
    """Two replicas sharing one store, behind HAProxy: started here on 127.0.0.1 ("loopback"), or
    compose.yaml as written in a Docker engine ("compose", skipped where none runs). Yields a
    namespace: the balancer's url, the store (a folder of this machine), ``kill(replica)`` (the
    X-NN-Replica header's value) and ``logs()``."""
    pytest.importorskip("websockets")
    if request.param == "compose":
        yield from compose_class(tmp_path_factory.mktemp("compose"))
        return
    if HAPROXY is None:
        pytest.skip("HAProxy is not installed (Debian: apt-get install haproxy; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("balanced")
    store = folder / "store"
    store.mkdir()
    env = {**os.environ, "NN_HOSTED": "1", "NN_MODEL_DIR": str(store), "NN_OFFLINE": "1",
           "NN_MAX_TRAININGS": "1", "PYTHONUNBUFFERED": "1"}
    ports = {"a": free_port(), "b": free_port()}
    processes = {}
    try:
        for name, port in ports.items():
            with open(folder / f"replica-{name}.log", "w") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
                     "--server.headless", "true", "--server.port", str(port),
                     "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)           # its own group: killed with its worker
        for name, port in ports.items():
            wait_until(lambda: healthy(f"http://127.0.0.1:{port}"), START_TIMEOUT,
                       f"replica {name} answers its health check",
                       [(f"replica {name}", processes[name])])
        port = free_port()
        config = folder / "haproxy.cfg"
        config.write_text(loopback_config(port, ports))
        check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, f"HAProxy refuses the configuration:\n{check.stdout}{check.stderr}"
        with open(folder / "haproxy.log", "w") as log:
            processes["haproxy"] = subprocess.Popen([HAPROXY, "-db", "-f", str(config)],
                                                    stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(url), 30, "the balancer answers",
                   [("haproxy", processes["haproxy"])])
        names = {f"{name} 127.0.0.1": name for name in ports}

        def kill(replica):
            kill_group(processes[names[replica]])

        def logs():
            return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                             for p in sorted(folder.glob("*.log")))
        yield type("Balanced", (), {"url": url, "store": store, "kill": staticmethod(kill),
                                    "logs": staticmethod(logs)})
    finally:
        for process in processes.values():
            if process.poll() is None:
                kill_group(process)


def in_thread(coroutine):
    """Run ``coroutine`` in a thread with its own event loop (pytest's may own this thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()




# -- the visitors ----------------------------------------------------------------------------------
def new_visitor(url, store=None):
    from app import tokens
    from tests.helpers.protocol import ProtocolVisitor
    # the visitor cookie a browser gets from the page's script (app/visitor.py) on its first
    # visit: a token signed with the store's secret, which the replicas share (app.tokens);
    # without the store, a made-up one (the server then uses one of its own each time)
    token = tokens.issue(store) if store is not None else f"lb-visitor-{uuid.uuid4().hex[:16]}"
    return ProtocolVisitor(url, {"nn_visitor": token})


async def open_page(visitor, page, seen):
    """Load ``page`` as a browser does: the page over HTTP, then the stream and its first run.
    Records in ``seen`` the replica that answered each step. Returns the Run."""
    status, headers = await asyncio.to_thread(visitor.get, f"/{page}")
    assert status == 200, f"/{page}: HTTP {status}"
    seen.append(headers.get(REPLICA_HEADER))
    handshake = await visitor.connect()
    seen.append(handshake.get(REPLICA_HEADER))   # the stream's own answer (HTTP 101) names it too
    return await visitor.run(page_name=page)


async def browse(url, pages, errors):
    """One visitor loading ``pages`` one after another (each a reload: a new stream); returns the
    replicas that answered it, in order."""
    visitor, seen = new_visitor(url), []
    try:
        for page in pages:
            run = await open_page(visitor, page, seen)
            errors += [f"/{page}: {e}" for e in run.errors]
            status, headers = await asyncio.to_thread(visitor.get, "/_stcore/health")
            seen.append(headers.get(REPLICA_HEADER))
    finally:
        await visitor.close()
    return visitor.cookies.get(AFFINITY_COOKIE), seen


def test_each_visitor_stays_on_one_replica_for_its_whole_session(balanced):
    errors = []

    async def class_arrives():
        return await asyncio.gather(*(browse(balanced.url, ["draw", "", "draw", "train"], errors)
                                      for _ in range(6)))
    visitors = in_thread(class_arrives())
    assert errors == [], errors
    for cookie, seen in visitors:
        assert cookie, "the balancer set no affinity cookie"
        assert None not in seen and len(set(seen)) == 1, \
            f"a visitor's requests reached several replicas: {seen}"
    replicas = {seen[0] for _, seen in visitors}
    assert len(replicas) == 2, f"the visitors were not spread over both replicas: {replicas}"
    cookies = {seen[0]: cookie for cookie, seen in visitors}
    assert all(cookie == cookies[seen[0]] for cookie, seen in visitors), "one cookie per replica"


async def until(visitor, predicate, what, timeout=120.0, every=1.0):
    """Rerun the page until ``predicate(run)`` holds; returns that run."""
    end = time.monotonic() + timeout
    while True:
        run = await visitor.run()
        assert not run.errors, run.errors
        if predicate(run):
            return run
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout:.0f} s: {what}; the page said "
                                 f"{run.alerts()[:3]}")
        await asyncio.sleep(every)


async def start_training(visitor, epochs):
    from tests.helpers.protocol import widget_state as widget
    run = await visitor.run()
    epochs_input, start = run.find("number_input", "Epochs"), run.find("button", "Start")
    assert epochs_input is not None and start is not None, "/train shows no Epochs or Start"
    visitor.widgets[epochs_input.id] = widget(epochs_input.id, int_value=epochs)
    await visitor.run()
    run = await visitor.run(extra=[widget(start.id, trigger_value=True)])
    assert not run.errors, run.errors


def has_mark(store, token):
    folder = hosting.saved_root(store, token, True) / replica.RUNS
    return any(folder.glob("*.json"))


def test_a_replica_lost_its_visitor_lands_on_the_other_with_the_saved_model_and_is_told(balanced):
    from tests.helpers.protocol import widget_state as widget
    visitor = new_visitor(balanced.url, balanced.store)
    token = visitor.cookies["nn_visitor"]

    async def scenario():
        before, after = [], []
        try:
            await open_page(visitor, "train", before)
            await start_training(visitor, epochs=1)
            run = await until(visitor, lambda run: run.find("button", "Save") is not None
                              and not run.find("button", "Save").disabled,
                              "the one-epoch run ends and its model can be saved")
            name_input, save = run.find("text_input", "Save as"), run.find("button", "Save")
            visitor.widgets[name_input.id] = widget(name_input.id, string_value="kept-model")
            run = await visitor.run(extra=[widget(save.id, trigger_value=True)])
            assert any("Saved as “kept-model”" in text for text in run.alerts()), run.alerts()
            await start_training(visitor, epochs=200)
            (first,) = set(before)
            await asyncio.to_thread(wait_until, lambda: has_mark(balanced.store, token), 60,
                                    "the long run records itself in the shared store")
            # the page is open, the run goes on: its replica dies, its worker with it
            await asyncio.to_thread(balanced.kill, first)
            run = await open_page(visitor, "train", after)                # the browser reloads
            again = await open_page(visitor, "train", after)              # and stays there
        finally:
            await visitor.close()
        return first, run, again, after

    first, run, again, seen = in_thread(scenario())
    assert len(set(seen)) == 1 and first not in seen, \
        f"after {first} died, the visitor was sent to {seen}\n{balanced.logs()}"
    assert not run.errors and not again.errors, run.errors + again.errors
    lost = [text for text in run.alerts() if "was lost when its server stopped" in text]
    assert lost and "your saved models are safe" in lost[0], run.alerts()
    saved = run.find("selectbox", "Saved models")
    assert saved is not None and "kept-model" in saved.options, \
        "the other replica does not list the model saved through the first"
    assert not has_mark(balanced.store, token), "the lost run was told once"
