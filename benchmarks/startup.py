"""Time from `streamlit run streamlit_app.py` to a usable page, in a real browser.

    python -m benchmarks.startup [--repeats 3]

Each repeat starts a fresh server on a free port of 127.0.0.1 (offline, bundled data unless
NN_DATA_DIR is set), then measures: the server answering its health check, the Home page's title
visible in Chromium, and the Draw page's canvas ready to draw on. Prints a Markdown table.
"""
import argparse
import os
import statistics
import subprocess
import time

from tests.helpers.browser import (CHROMIUM, CHROMIUM_ARGS, free_port, stop_server,
                                streamlit_process, wait_healthy)


def one_run(browser):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NN_OFFLINE": os.environ.get("NN_OFFLINE", "1")}
    start = time.monotonic()
    server = streamlit_process(port, env, subprocess.DEVNULL)
    try:
        if not wait_healthy(url, start + 60, poll=0.05):
            raise RuntimeError("the server did not answer within 60 s")
        healthy = time.monotonic() - start
        page = browser.new_page()
        page.goto(url + "/")
        page.get_by_role("heading", name="Watch a neural network learn").wait_for(timeout=60_000)
        page.get_by_text("What the network sees").wait_for(timeout=60_000)   # sample grid drawn
        home = time.monotonic() - start
        page.goto(url + "/draw")
        page.locator("canvas.upper-canvas").wait_for(timeout=60_000)
        draw = time.monotonic() - start
        page.close()
        return healthy, home, draw
    finally:
        stop_server(server)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        runs = [one_run(browser) for _ in range(args.repeats)]
        browser.close()
    names = ["server answers /_stcore/health", "Home page title and sample grid visible",
             "then Draw page canvas ready (cumulative)"]
    print("| from `streamlit run` to | median | min | max |")
    print("|---|---|---|---|")
    for i, name in enumerate(names):
        values = [r[i] for r in runs]
        print(f"| {name} | {statistics.median(values):.2f} s | {min(values):.2f} s | {max(values):.2f} s |")


if __name__ == "__main__":
    main()
