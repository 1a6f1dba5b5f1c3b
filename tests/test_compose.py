"""compose.yaml and docs/haproxy.cfg, the class's replicas behind a balancer (docs/serving.md).

No container engine runs on the project's machine, so the compose file itself is checked here by
its structure: what it promises a teacher (replicas in hosted mode sharing one store, reached only
through the balancer; the balancer's configuration the one tests/test_load_balancer.py runs).
Where `docker compose` or `docker-compose` is installed (.ci/run installs Debian's), its
`config` checks the file against the Compose schema too (without an engine); where HAProxy is
installed, `haproxy -c` checks the balancer's file as the container will read it.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
HAPROXY_CFG = ROOT / "docs" / "haproxy.cfg"


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def image_setting(name):
    """A setting of the Dockerfile's ENV (NAME=value), or None."""
    match = re.search(rf"\b{name}=(\S+)", (ROOT / "Dockerfile").read_text())
    return match.group(1) if match else None


def cfg_lines():
    return [line.split("#")[0].strip() for line in HAPROXY_CFG.read_text().splitlines()]


def test_replicas_of_the_image_share_one_store_and_are_reached_only_through_the_balancer():
    services = compose()["services"]
    app, balancer = services["app"], services["balancer"]
    assert app["build"] == "." and app.get("init") is True
    assert app["deploy"]["replicas"] >= 2
    assert "ports" not in app, "a replica published directly would be reached without affinity"
    assert image_setting("NN_HOSTED") == "1" and "NN_HOSTED" not in app.get("environment", {})
    store = image_setting("NN_MODEL_DIR")
    volumes = [v.split(":") for v in app["volumes"]]
    assert [v for v in volumes if v[1] == store and v[0] in compose()["volumes"]], \
        f"the replicas must share a named volume at the store ({store})"
    assert not [v for v in volumes if v[1].startswith("/app")], \
        "the shipped models come from the image (/app/model), never from a volume"
    assert balancer["image"].startswith("haproxy:")
    mounts = dict(reversed(v.split(":")[:2]) for v in balancer["volumes"])
    assert mounts["/usr/local/etc/haproxy/haproxy.cfg"] == "./docs/haproxy.cfg"
    (published,) = balancer["ports"]
    bind = next(line for line in cfg_lines() if line.startswith("bind "))
    assert published.rsplit(":", 1)[1] == bind.rsplit(":", 1)[1], \
        "compose publishes a port the balancer does not listen on"
    assert balancer["depends_on"]["app"]["condition"] == "service_healthy"


def test_the_balancer_holds_each_visitor_to_a_replica_and_passes_the_websocket():
    lines = cfg_lines()
    assert any(re.match(r"cookie \S+ insert\b", line) for line in lines), "no affinity cookie"
    assert "option redispatch" in lines, "a visitor of a stopped replica must be sent elsewhere"
    assert any(re.match(r"timeout tunnel (\d+h|\d{4,}s)", line) for line in lines), \
        "the WebSocket needs a long tunnel timeout"
    assert "http-check send meth GET uri /_stcore/health" in lines
    (template,) = [line for line in lines if line.startswith("server-template ")]
    _, _, slots, address, *_ = template.split()
    assert address == "app:8501", "the compose service's name and the image's port"
    assert int(slots) >= compose()["services"]["app"]["deploy"]["replicas"]


def test_haproxy_accepts_the_configuration():
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy"
                                          if Path("/usr/sbin/haproxy").exists() else None)
    if haproxy is None:
        pytest.skip("HAProxy is not installed (Debian: apt-get install haproxy)")
    check = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def compose_command():
    """`docker compose` (the plugin), else `docker-compose` (Debian 12's 1.29), else None."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        return [docker, "compose"]
    return [shutil.which("docker-compose")] if shutil.which("docker-compose") else None


def test_docker_compose_accepts_the_file():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here, so "
                    "compose.yaml is checked by its structure only")
    check = subprocess.run([*command, "-f", str(COMPOSE), "config", "--quiet"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
