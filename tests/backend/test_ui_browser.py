"""The web page (``/ui``) in a real headless Chromium against ``malina backend serve`` on 127.0.0.1: no data
without a token, the machines with their state and flags, a progress bar that moves as the agent reports (no
reload), actions that reach the backend (checked through the admin API), machine-provided text shown as text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import allure
import httpx
import pytest
from backend_helpers import HOOK_AUTH, READ, WRITE, auth, board_identity, machine, port_query, serve
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from testkit.browser import RackPage, chromium, wait_for

pytestmark = pytest.mark.timeout(120)
LOOPBACK = "127.0.0.0/8"  # the test server is called from 127.0.0.1: the machines' port subnet here


@pytest.fixture(scope="module")
def backend_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("ui")
    # a loop guard that trips on the third ask, so that a test can flag a machine quickly
    with serve(f"sqlite:///{tmp / 'malina.db'}", tmp / "serve.log", MALINA_LOOP_GUARD_COUNT="2") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium("127.0.0.1") as driver:
        yield driver


@pytest.fixture
def page(browser: WebDriver, backend_url: str) -> RackPage:
    """The page in a fresh tab state: nothing in session storage."""
    rack = RackPage(browser, backend_url)
    rack.open()
    browser.execute_script("sessionStorage.clear()")
    rack.open()
    return rack


def _admin(url: str, method: str, path: str, token: str = WRITE, **kwargs: Any) -> Any:
    resp = httpx.request(method, f"{url}/v1/admin{path}", headers=auth(token), timeout=10, **kwargs)
    assert resp.status_code < 300, resp.text
    return resp.json()


def _install_token(url: str, n: int) -> str:
    """Ask DHCP options for port ``n`` (a machine in install): the token of the attempt it starts."""
    answer = httpx.get(f"{url}/v1/dhcp/options", params=port_query(n), headers=HOOK_AUTH, timeout=10).json()
    return str(answer["224"]).rsplit("/", 1)[1]


def _progress_at(page: RackPage, name: str, written: int) -> Callable[[], tuple[int, int, str] | None]:
    def probe() -> tuple[int, int, str] | None:
        shown = page.progress(name)
        return shown if shown[0] == written else None

    return probe


def _attach(page: RackPage, name: str) -> None:
    allure.attach(page.screenshot(), name, attachment_type=allure.attachment_type.PNG)


def test_no_data_without_a_token(page: RackPage, backend_url: str) -> None:
    _admin(backend_url, "POST", "/machines", json=machine("ui-secret", 11))
    shell = httpx.get(f"{backend_url}/ui", timeout=10)
    assert shell.status_code == 200 and "ui-secret" not in shell.text
    assert "default-src 'none'" in shell.headers["content-security-policy"]
    assert page.driver.find_element(By.ID, "login").is_displayed()
    assert page.names() == []
    page.sign_in("not-the-token")
    wait_for("the refusal", lambda: "refused" in page.text("login-error"))
    assert page.names() == [] and page.driver.find_element(By.ID, "login").is_displayed()
    page.sign_in(READ)
    wait_for("the machines", lambda: "ui-secret" in page.names())
    page.sign_out()
    assert page.names() == [] and page.driver.find_element(By.ID, "login").is_displayed()


def test_machines_state_flags_and_text_as_text(page: RackPage, backend_url: str) -> None:
    _admin(backend_url, "POST", "/machines", json=machine("ui-looping", 12, boot_mode="local"))
    _admin(backend_url, "POST", "/machines", json=machine("ui-failing", 13, subnet=LOOPBACK))
    for _ in range(3):  # a local machine asking over and over trips the loop guard: flagged
        httpx.get(f"{backend_url}/v1/dhcp/options", params=port_query(12), headers=HOOK_AUTH, timeout=10)
    token = _install_token(backend_url, 13)
    # an installer's error is free text: the page must show it, never run it
    evil = '<img src=x id="pwned" onerror="document.title=\'pwned\'">'
    resp = httpx.post(f"{backend_url}/v1/install/{token}/result", json={"status": "failure", "error": evil},
                      params=board_identity(13), timeout=10)
    assert resp.status_code == 200, resp.text
    page.sign_in(READ)
    wait_for("the flagged machine", lambda: page.card("ui-looping").get_attribute("data-flag") == "loop")
    assert "flagged: loop" in page.field("ui-looping", ".flag")
    assert "loop guard" in page.field("ui-looping", ".reason")
    assert page.field("ui-looping", ".mode") == "local"
    wait_for("the failed attempt", lambda: page.field("ui-failing", ".state") == "failed")
    assert page.field("ui-failing", ".attempt-error") == evil
    assert page.driver.find_elements(By.ID, "pwned") == [] and page.driver.title != "pwned"
    assert "attempt 1" in page.field("ui-failing", ".facts")
    page.card("ui-failing").find_element(By.CSS_SELECTOR, "button.history-toggle").click()
    wait_for("the history", lambda: "attempt 1 started" in page.field("ui-failing", ".history"))
    _attach(page, "rack page: flags and a failed attempt")


def test_progress_moves_without_a_reload(page: RackPage, backend_url: str) -> None:
    _admin(backend_url, "POST", "/machines", json=machine("ui-writing", 14, subnet=LOOPBACK))
    token = _install_token(backend_url, 14)
    agent = f"{backend_url}/v1/install/{token}"
    board = board_identity(14)
    assert httpx.post(agent, params=board, timeout=10).status_code == 200  # the scenario: netbooting
    page.sign_in(READ)
    wait_for("the install", lambda: page.progress("ui-writing")[0] >= 0)
    page.driver.execute_script("window.__sameDocument = 42")  # gone if the page reloads
    total = 8_000_000
    for written in (1_000_000, 5_000_000):
        body = {"phase": "writing", "bytes_written": written, "bytes_total": total, "rate_bps": 1_000_000.0}
        assert httpx.post(f"{agent}/progress", json=body, params=board, timeout=10).status_code == 200
        shown = wait_for(f"{written} bytes on the page", _progress_at(page, "ui-writing", written))
        assert shown[1] == total, shown
        assert f"ETA {(total - written) // 1_000_000}s" in shown[2] and "1.0 MB/s" in shown[2], shown
    width = page.card("ui-writing").find_element(By.CSS_SELECTOR, ".bar").get_attribute("aria-valuenow")
    assert width == "62.5"
    assert page.driver.execute_script("return window.__sameDocument") == 42
    _attach(page, "rack page: an install in progress")


def test_actions_reach_the_backend(page: RackPage, backend_url: str) -> None:
    _admin(backend_url, "POST", "/machines", json=machine("ui-action", 15, boot_mode="local"))
    page.sign_in(READ)  # no write token: the page refuses to act and the backend is untouched
    wait_for("the machine", lambda: "ui-action" in page.names())
    page.act("ui-action", "reinstall")
    wait_for("the refusal", lambda: "needs the write token" in page.field("ui-action", ".action-result"))
    assert _admin(backend_url, "GET", "/machines/ui-action", READ)["boot_mode"] == "local"
    page.sign_out()
    page.sign_in(READ, READ)  # the read token as write token: the backend says 403
    wait_for("the machine", lambda: "ui-action" in page.names())
    page.act("ui-action", "reinstall")
    wait_for("the 403", lambda: "refused" in page.field("ui-action", ".action-result"))
    page.sign_out()
    page.sign_in(READ, WRITE)
    wait_for("the machine", lambda: "ui-action" in page.names())
    page.act("ui-action", "reinstall")
    wait_for("reinstall done", lambda: "reinstall: done" in page.field("ui-action", ".action-result"))
    assert _admin(backend_url, "GET", "/machines/ui-action", READ)["boot_mode"] == "install"
    wait_for("the new boot mode on the page", lambda: page.field("ui-action", ".mode") == "install")
    page.act("ui-action", "set-local")
    wait_for("set-local done", lambda: "set-local: done" in page.field("ui-action", ".action-result"))
    assert _admin(backend_url, "GET", "/machines/ui-action", READ)["boot_mode"] == "local"
    kinds = [event["kind"] for event in _admin(backend_url, "GET", "/machines/ui-action/history", READ)["events"]]
    assert kinds[-2:] == ["reinstall", "set-local"], kinds


def test_the_page_fits_a_phone(browser: WebDriver, page: RackPage) -> None:
    page.sign_in(READ)
    wait_for("the machines", lambda: len(page.names()) >= 1)
    browser.set_window_size(390, 844)
    try:
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than a phone's screen"
        _attach(page, "rack page on a phone")
    finally:
        browser.set_window_size(1280, 900)
