"""The container: the Dockerfile's promises, the app started as the image starts it, and the image
itself built and served where a container engine runs (docs/serving.md).

Three levels, from always to where possible:
- static: python:3.11-slim, a user who is not root, a health check on /_stcore/health, hosted and
  offline mode, the model store on a volume; every COPY source exists and reaches the build
  context, and .dockerignore keeps .git, tests, results and models trained here out of it;
- container-like (no engine needed): the image's /app laid out in a temporary folder from the
  Dockerfile's COPY lines and .dockerignore, then its ENTRYPOINT (if any) and CMD run there with
  its ENV (all parsed from the Dockerfile, so this test follows it), an empty model store, and
  only the address and port changed to a free one on 127.0.0.1; a visitor's session opens /draw
  and finds the shipped model in the image's model/ folder, and the store stays empty;
- the image: built and started by podman or docker when one can start a container here (else
  skipped, saying why). On a machine that needs extra flags, give them in the environment:
      NN_CONTAINER_ENGINE       the engine's command, e.g. "podman --runtime runc"
      NN_CONTAINER_BASE         the image that stands for python:3.11-slim, if it cannot be pulled
      NN_CONTAINER_BUILD_ARGS   extra arguments for `build`, e.g. "--from <base> --network host"
      NN_CONTAINER_RUN_ARGS     extra arguments for `run`, e.g. "--ulimit nofile=4096:4096"
  docs/serving.md gives the ones this project's machine needed.
"""
import asyncio
import concurrent.futures
import filecmp
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers.browser import free_port, stop_server, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BASE_IMAGE = "python:3.11-slim"


# -- reading the Dockerfile ------------------------------------------------------------------------
def instructions(path=DOCKERFILE):
    """[(INSTRUCTION, arguments)] in order: comments dropped, continued lines joined."""
    result, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.strip().partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def last(keyword):
    """The arguments of the last ``keyword`` instruction (the one in force), or None."""
    found = [arguments for k, arguments in instructions() if k == keyword]
    return found[-1] if found else None


def environment():
    """The ENV settings, as a dict."""
    settings = {}
    for keyword, arguments in instructions():
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                settings[name] = value
    return settings


def copies():
    """[(sources, destination)] of the COPY instructions (paths relative to the context)."""
    result = []
    for keyword, arguments in instructions():
        if keyword == "COPY":
            parts = [p for p in shlex.split(arguments) if not p.startswith("--")]
            result.append((parts[:-1], parts[-1]))
    return result


def healthcheck_command():
    arguments = last("HEALTHCHECK")
    return json.loads(arguments[arguments.index("CMD") + len("CMD"):].strip())


# -- .dockerignore ---------------------------------------------------------------------------------
def _pattern(text):
    """A .dockerignore pattern as a regex over slash-separated relative paths."""
    out, i = "", 0
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out + r"\Z")


def ignore_rules(path=DOCKERIGNORE):
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    return rules


def ignored(relative, rules):
    """Whether the build context leaves ``relative`` out: Docker's rule, the last pattern that
    matches the path or one of its parent folders wins, and "!" lets a path back in."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    leave_out = False
    for negated, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            leave_out = not negated
    return leave_out


def context_files(source, rules):
    """The files under ``source`` (relative to the project) that reach the build context."""
    path = ROOT / source
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [p for p in paths if not ignored(p.relative_to(ROOT).as_posix(), rules)]


# -- always: the Dockerfile's promises ---------------------------------------------------------------
def test_base_user_healthcheck_and_settings():
    assert [a for k, a in instructions() if k == "FROM"] == [BASE_IMAGE]
    user = last("USER")
    assert user and user.split(":")[0] not in ("root", "0"), f"the server would run as {user!r}"

    health = healthcheck_command()
    assert health[0] == "python" and "curl" not in json.dumps(health), \
        "python:3.11-slim has no curl: the health check must use Python"
    assert "http://localhost:8501/_stcore/health" in health[-1]

    settings = environment()
    assert settings["NN_HOSTED"] == "1", "a served app keeps each visitor's models apart"
    assert settings["NN_OFFLINE"] == "1", "the first start must not need the internet"
    assert settings["PYTHONDONTWRITEBYTECODE"] == "1"
    assert settings["NN_MODEL_DIR"] in json.loads(last("VOLUME")), \
        "the model store must be a volume, or a visitor's models die with the container"
    assert "NN_MODEL_DIR" not in (last("ENTRYPOINT") or ""), \
        "the shipped models stay in the image (app/hosting.py, shipped_root), not in the store"

    pip = [a for k, a in instructions() if k == "RUN" and "pip install" in a]
    assert pip and all("-r requirements.txt" in a and "requirements-dev" not in a for a in pip)

    command = json.loads(last("CMD"))
    assert command[:3] == ["streamlit", "run", "streamlit_app.py"]
    for flag in ("--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true",
                 "--browser.gatherUsageStats=false"):
        assert flag in command
    assert last("EXPOSE") == "8501"


def test_every_copied_file_exists_and_reaches_the_build_context():
    rules = ignore_rules()
    image_files = set()
    for sources, _ in copies():
        for source in sources:
            assert glob.glob(str(ROOT / source)), f"COPY {source}: no such file in the project"
            reached = context_files(source, rules)
            assert reached, f"COPY {source}: .dockerignore leaves all of it out of the build context"
            image_files.update(p.relative_to(ROOT).as_posix() for p in reached)
    # what the app needs to start offline: the shipped models, the bundled samples, its settings
    for needed in ("model/mnist/pretrained.npz", "model/fashion-mnist/pretrained.npz",
                   "model/mnist/convnet.npz", "model/fashion-mnist/convnet.npz",
                   "core/data/mnist.npz", "core/data/fashion-mnist.npz", ".streamlit/config.toml",
                   "streamlit_app.py", "requirements.txt"):
        assert needed in image_files, f"the image would lack {needed}"


def test_files_let_back_in_are_named_without_wildcards_in_their_folders():
    """Docker 20.10's classic builder (Debian 12's docker.io, the engine docs/serving.md names)
    does not look inside a left-out folder for "!model/*/pretrained.npz": the build then fails
    with "file not found". Every "!" pattern names its folders plainly."""
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line.startswith("!"):
            folders = line.lstrip("!").strip("/").split("/")[:-1]
            assert not any(set("*?[") & set(part) for part in folders), line


def test_dockerignore_leaves_out_git_tests_and_generated_files():
    rules = ignore_rules()
    for left_out in (".git/HEAD", "tests/test_container.py", "benchmarks/results/load_protocol.md",
                     "benchmarks/speed.py", "tests/helpers/browser.py",
                     "artifacts/draw-1-empty.png",
                     "figures/mnist/weights.png", "model/mnist/nn_parameters.npz",
                     "model/mnist/a visitor's model.npz", ".streamlit/secrets.toml",
                     "core/__pycache__/model.cpython-311.pyc", "app/.state.py.x1y2.tmp",
                     ".hypothesis/examples/x", ".pytest_cache/v/x", ".venv/bin/python",
                     "requirements-dev.txt", "docs/serving.md"):
        assert ignored(left_out, rules), f".dockerignore lets {left_out} into the build context"
    # and nothing reaches the context that no COPY takes: the context is what the image holds
    sources = [source for sources, _ in copies() for source in sources]
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            relative = (Path(folder) / name).relative_to(ROOT).as_posix()
            if not ignored(relative, rules):
                assert any(relative == s or relative.startswith(s.rstrip("/") + "/")
                           or fnmatch.fnmatchcase(relative, s) for s in sources), \
                    f"{relative} reaches the build context, but no COPY takes it"


# -- always: the app started as the container starts it -------------------------------------------
def lay_out_image(app_dir, rules):
    """Copy what the Dockerfile's COPY lines put in WORKDIR into ``app_dir`` (.dockerignore applied)."""
    for sources, destination in copies():
        for source in sources:
            for path in (p for match in sorted(glob.glob(str(ROOT / source)))
                         for p in context_files(Path(match).relative_to(ROOT), rules)):
                source_root = ROOT / source if (ROOT / source).is_dir() else path.parent
                target = app_dir / destination
                target = target / path.relative_to(source_root) if destination.endswith("/") \
                    else target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def container_command(app_dir, port):
    """ENTRYPOINT + CMD as the image runs them, with WORKDIR moved to ``app_dir``, the server on
    127.0.0.1:``port`` instead of 0.0.0.0:8501, and this Python's streamlit."""
    workdir = last("WORKDIR").rstrip("/") + "/"
    entrypoint = [part.replace(workdir, f"{app_dir}/")
                  for part in json.loads(last("ENTRYPOINT") or "[]")]
    command = [{"--server.address=0.0.0.0": "--server.address=127.0.0.1",
                "--server.port=8501": f"--server.port={port}"}.get(part, part)
               for part in json.loads(last("CMD"))]
    assert command[0] == "streamlit"
    return entrypoint + [sys.executable, "-m", *command]


def open_page(url, page_name):
    """Open ``page_name`` as a visitor's browser does (tests/helpers/protocol.py's client);
    returns the texts of that first run. Fails on an exception or st.error in it."""
    pytest.importorskip("websockets")
    from tests.helpers.protocol import StreamlitSession

    async def visit():
        session = StreamlitSession(url, page_name, "container-test")
        await session.open()
        try:
            return (await session.load()).texts()
        finally:
            await session.close()
    # in a thread of its own: another test's event loop may own this thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, visit()).result()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_app_starts_as_the_image_starts_it(tmp_path):
    app_dir = tmp_path / "app"
    lay_out_image(app_dir, ignore_rules())
    # the image's folders under /data (the model store, the cache) become new, empty folders here
    settings = {name: str(tmp_path) + value if value.startswith("/data/") else value
                for name, value in environment().items()}
    store = Path(settings["NN_MODEL_DIR"])
    store.mkdir(parents=True)
    env = {**os.environ, **settings, "PYTHONUNBUFFERED": "1"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(container_command(app_dir, port), cwd=app_dir, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_healthy(url, time.monotonic() + 120, server), \
            f"the server did not become healthy:\n{log_path.read_text()[-3000:]}"
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
            assert response.read() == b"ok"
        texts = open_page(url, "draw")
    finally:
        stop_server(server)
    assert any("the pretrained model" in text for text in texts), \
        f"the Draw page found no pretrained model in the image: {texts[:5]}"
    # the shipped models are read from the image's model/ folder, never copied into the store
    assert not [p for p in store.rglob("*") if p.name.endswith(".npz") or p.name.endswith(".tmp")]
    for dataset in ("mnist", "fashion-mnist"):
        assert filecmp.cmp(app_dir / "model" / dataset / "pretrained.npz",
                           ROOT / "model" / dataset / "pretrained.npz", shallow=False)
    assert not list(app_dir.rglob("__pycache__")), "PYTHONDONTWRITEBYTECODE did not hold"


# -- where an engine runs: the image itself --------------------------------------------------------
def _engine():
    """The engine's command (a list) if `<engine> info` answers within a few seconds, else skip."""
    candidates = ([shlex.split(os.environ["NN_CONTAINER_ENGINE"])]
                  if os.environ.get("NN_CONTAINER_ENGINE") else [["podman"], ["docker"]])
    reasons = []
    for engine in candidates:
        if not shutil.which(engine[0]):
            reasons.append(f"{engine[0]}: not installed")
            continue
        try:
            result = subprocess.run([*engine, "info"], capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            reasons.append(f"{engine[0]} info: no answer within 15 s")
            continue
        if result.returncode == 0:
            return engine
        reasons.append(f"{engine[0]} info: {_last_line(result.stderr or result.stdout)}")
    pytest.skip("no container engine runs on this machine (" + "; ".join(reasons) + ")")


def _run(command, timeout):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _last_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-400:] if lines else "(no message)"


NETWORK_TROUBLE = ("no such host", "Temporary failure in name resolution", "Could not fetch URL",
                   "SSLError", "CERTIFICATE_VERIFY_FAILED", "connection refused", "i/o timeout")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_image_builds_starts_and_serves(tmp_path):
    engine = _engine()
    base = os.environ.get("NN_CONTAINER_BASE") or BASE_IMAGE
    build_args = shlex.split(os.environ.get("NN_CONTAINER_BUILD_ARGS", ""))
    run_args = shlex.split(os.environ.get("NN_CONTAINER_RUN_ARGS", ""))

    if _run([*engine, "image", "inspect", base], 60).returncode != 0:
        pulled = _run([*engine, "pull", base], 300)
        if pulled.returncode != 0:
            pytest.skip(f"the base image {base} cannot be had here: {_last_line(pulled.stderr)}")
    probe = _run([*engine, "run", "--rm", *run_args, base, "python", "-c", "print('ok')"], 120)
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        pytest.skip(f"{engine[0]} cannot start a container here: {_last_line(probe.stderr)}")

    name = f"nn-playground-test-{uuid.uuid4().hex[:8]}"
    image = f"localhost/{name}:latest"
    built = _run([*engine, "build", *build_args, "-t", image, str(ROOT)], 1200)
    if built.returncode != 0:
        output = built.stdout + built.stderr
        if any(marker in output for marker in NETWORK_TROUBLE):
            pytest.skip(f"the build could not reach PyPI from here: {_last_line(output)}")
        pytest.fail(f"{engine[0]} build failed:\n{output[-3000:]}")
    port = free_port()
    started = None
    try:
        started = _run([*engine, "run", "-d", "--name", name, *run_args, "-p", f"127.0.0.1:{port}:8501",
                        "-v", f"{name}:/data/models", image], 120)
        assert started.returncode == 0, f"{engine[0]} run failed: {started.stderr[-2000:]}"
        url = f"http://127.0.0.1:{port}"
        if not wait_healthy(url, time.monotonic() + 120):
            logs = _run([*engine, "logs", name], 30)
            pytest.fail(f"the container did not become healthy:\n{(logs.stdout + logs.stderr)[-3000:]}")
        # the image's own HEALTHCHECK command, run inside it
        check = _run([*engine, "exec", name, *healthcheck_command()], 60)
        assert check.returncode == 0, f"the HEALTHCHECK command failed: {check.stderr[-1000:]}"
        user = _run([*engine, "exec", name, "id", "-u"], 60).stdout.strip()
        assert user not in ("", "0"), f"the server runs as user {user!r}"
        writable = _run([*engine, "exec", name, "sh", "-c",
                         'test -w "$NN_MODEL_DIR" && test -w "$NN_CACHE_DIR"'], 60)
        assert writable.returncode == 0, "the server's user cannot write the model store or the cache"
        texts = open_page(url, "draw")
        assert any("the pretrained model" in text for text in texts), \
            f"the Draw page found no pretrained model in the image: {texts[:5]}"
        stopped = _run([*engine, "stop", "-t", "20", name], 60)
        assert stopped.returncode == 0
        code = _run([*engine, "inspect", "--format", "{{.State.ExitCode}}", name], 60).stdout.strip()
        assert code == "0", f"the server did not stop cleanly on the stop signal (exit code {code})"
    finally:
        if started is not None:
            _run([*engine, "rm", "-f", name], 60)
        _run([*engine, "volume", "rm", "-f", name], 60)
        _run([*engine, "rmi", "-f", image], 120)
