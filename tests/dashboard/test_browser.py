"""One real-browser test: `retailrl dashboard` on 127.0.0.1 with a temp registry, driven by headless Chromium
(Debian's chromium + chromium-driver through selenium): sign in, approve a candidate, check the registry.

Without Chromium the test is skipped locally, and fails when ``CI`` is set (CI must run it). With
``RETAILRL_DOCS_SCREENSHOTS=1`` it also saves one screenshot per page into ``docs/img/`` for docs/dashboard.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import PASSWORDS

from policies.registry import Registry

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1500,1100"]


def _require_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = (f"the browser test needs {missing} (apt-get install -y chromium chromium-driver; "
                   f"pip install selenium)")
        if os.environ.get("CI"):
            pytest.fail(message + ", but CI is set: CI must run it")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(populated_db, tmp_path):
    """`retailrl dashboard --port P --db URL` running on loopback; yields its base URL."""
    _require_browser()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RETAILRL_HOME": str(tmp_path / "home")}
    log = open(tmp_path / "dashboard.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "retailrl.cli.main", "dashboard", "--port", str(port),
                             "--db", populated_db], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"the dashboard did not start: {(tmp_path / 'dashboard.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait_text(driver, text: str, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text,
                                         f"text {text!r} never appeared")


def _wait_idle(driver, timeout: float = 60):
    """Wait until Streamlit has finished the current run (no 'Running...' status widget)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    time.sleep(0.3)
    WebDriverWait(driver, timeout).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))


def _type(driver, label: str, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    field = WebDriverWait(driver, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, f'[aria-label="{label}"]'))
    field.click()
    field.send_keys(text)
    field.send_keys(Keys.TAB)
    _wait_idle(driver)


def _click_button(driver, label: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    button = WebDriverWait(driver, 60).until(
        ec.element_to_be_clickable((By.XPATH, f'//button[normalize-space(.)="{label}"]')))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    _wait_idle(driver)


def _open_page(driver, page: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    xpath = f'//section[@data-testid="stSidebar"]//label[.//*[normalize-space(text())="{page}"]]'
    WebDriverWait(driver, 60).until(ec.element_to_be_clickable((By.XPATH, xpath))).click()
    _wait_idle(driver)


def _screenshot(driver, path: Path) -> Path:
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(str(path))
    return path


def test_sign_in_and_approve_in_a_real_browser(server, browser, populated_db, tmp_path):
    docs = os.environ.get("RETAILRL_DOCS_SCREENSHOTS") == "1"
    browser.get(server)
    _wait_text(browser, "Sign in with your registry account")
    assert "Overview" not in browser.find_element("tag name", "body").text  # nothing before sign-in
    if docs:
        _screenshot(browser, ROOT / "docs" / "img" / "dashboard-sign-in.png")
    _type(browser, "User name", "carol")
    _type(browser, "Password", PASSWORDS["carol"])
    _click_button(browser, "Sign in")
    _wait_text(browser, "Signed in as carol")
    if docs:
        for page in ("Overview", "Candidates", "Decisions", "Rollout", "Audit"):
            _open_page(browser, page)
            _wait_text(browser, page)
            time.sleep(1.0)  # let images finish drawing
            _screenshot(browser, ROOT / "docs" / "img" / f"dashboard-{page.lower()}.png")

    _open_page(browser, "Review")
    _wait_text(browser, "Approval requested by alice")  # linucb:1 is first: it waits for a decision
    _type(browser, "Comment (required to approve or reject; goes to the audit log)", "evidence holds up")
    if docs:
        _screenshot(browser, ROOT / "docs" / "img" / "dashboard-review.png")
    _click_button(browser, "Approve")
    _wait_text(browser, "linucb:1 approved.")
    shot = _screenshot(browser, tmp_path / "approved.png")
    assert shot.stat().st_size > 10_000
    if docs:
        shutil.copyfile(shot, ROOT / "docs" / "img" / "dashboard-review-approved.png")

    registry = Registry(populated_db)
    try:
        assert registry.get_version("linucb:1").state == "approved"
        last = registry.audit_log(entity_name="linucb:1")[-1]
        assert (last.actor, last.action) == ("carol", "approve")
        assert last.details["comment"] == "evidence holds up"
    finally:
        registry.close()
