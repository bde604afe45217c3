"""A real browser for the console's tests: Debian's headless Chromium driven by Selenium with
Debian's chromedriver, and axe-core (from the cache folder, `deploy/local/install-browser.sh`)
injected into each page for an accessibility scan. Selenium blocks, so a test runs it in a
thread while the services keep serving on the event loop."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE_VERSION = "4.14.1"  # as deploy/local/install-browser.sh installs it
REPO = Path(__file__).resolve().parents[3]
ARTEFACTS = REPO / ".local" / "test-artefacts" / "console"
SERIOUS = ("serious", "critical")
# WCAG 2.1 A and AA, what Dutch government websites must meet
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_script() -> Path:
    cache = Path(os.environ.get("SIGNAALPUNT_CACHE_DIR", REPO / ".cache"))
    return cache / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"


def missing() -> list[str]:
    wanted = [CHROMIUM, CHROMEDRIVER, axe_script()]
    return [str(p) for p in wanted if not p.exists()]


@contextmanager
def chromium(tmp: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # no sandbox as root; no background connections (the machine's network is closed)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def serious_violations(driver: WebDriver) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations of impact serious or critical on the current page."""
    driver.execute_script(axe_script().read_text())
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done({violations: r.violations}))"
        ".catch(e => done({error: String(e)}));",
        AXE_TAGS,
    )
    if "error" in result:
        pytest.fail(f"axe-core did not run: {result['error']}")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
