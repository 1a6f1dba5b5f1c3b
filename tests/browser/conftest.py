"""Shared fixtures for the browser tests: a real `streamlit run` server and a Chromium page.

Without /usr/bin/chromium these tests are skipped, except in CI (env CI set), where they fail.
Screenshots go to artifacts/ (gitignored).
"""
import importlib
import os
import shutil
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, ServerError, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _require_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install chromium for the browser tests")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """Start the app on a free port (offline, models in a temp copy of model/); yield its URL."""
    _require_chromium()
    model_dir = tmp_path_factory.mktemp("model")
    if (ROOT / "model").is_dir():
        shutil.copytree(ROOT / "model", model_dir, dirs_exist_ok=True)
    try:
        server, url = start_server(tmp_path_factory.mktemp("server") / "streamlit.log",
                                   env={"NN_MODEL_DIR": str(model_dir)})
    except ServerError as e:
        pytest.fail(str(e))
    try:
        yield url
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    """screenshot("name") saves artifacts/<name>.png and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
