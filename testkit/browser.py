"""The backend's web page in a real headless browser: Debian's ``chromium`` driven through ``chromedriver``
(packages ``chromium`` and ``chromium-driver``, installed by scripts/setup.sh) with selenium.

Nothing is fetched at run time: the driver's path is given, so Selenium Manager (which would download one) is never
started, and Chromium runs with its background traffic off and a resolver that resolves nothing but the page's own
address (loopback, or the lab backend's address).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

T = TypeVar("T")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    # no traffic of its own: no extensions, updates, sync, safe-browsing lists, metrics, first-run pages
    "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--no-first-run", "--no-default-browser-check", "--no-pings",
)
# One card as the operator sees it: its state badge, and its progress bar's values when the bar is shown.
SNAPSHOT = """
const card = [...document.querySelectorAll("#machines article.machine")]
    .find((node) => node.dataset.machine === arguments[0]);
if (!card) return null;
const state = card.querySelector(".state").textContent;
const bar = card.querySelector(".progress");
if (bar.hidden) return [state, -1, -1, ""];
return [state, Number(bar.dataset.bytesWritten ?? -1), Number(bar.dataset.bytesTotal ?? -1),
        bar.querySelector(".progress-text").textContent];
"""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run `make setup` (Debian packages chromium, chromium-driver)")
    return path


@contextmanager
def chromium(host: str, width: int = 1280, height: int = 900) -> Iterator[WebDriver]:
    """A headless Chromium window of ``width`` by ``height`` pixels that resolves ``host`` (the page's address) and
    no other name or address; quit afterwards."""
    options = Options()
    options.binary_location = _binary("chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(_binary("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.1) -> T:
    """``probe()``'s first truthy value; fails naming ``what`` (and the last value) after ``timeout`` seconds. A
    probe that finds the page changing under it (a card re-rendered) is asked again."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        try:
            last = probe()
        except (NoSuchElementException, StaleElementReferenceException):
            last = None
        if last:
            return last
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what} (last: {last!r})"
        time.sleep(interval)


class RackPage:
    """The ``/ui`` page of one backend, as an operator uses it."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def open(self) -> None:
        self.driver.get(f"{self.base_url}/ui")
        wait_for("the page's script", lambda: self.driver.find_element(By.ID, "login").is_displayed()
                 or self.driver.find_element(By.ID, "machines").is_displayed())

    def sign_in(self, read_token: str, write_token: str = "") -> None:
        self.driver.find_element(By.ID, "read-token").send_keys(read_token)
        if write_token:
            self.driver.find_element(By.ID, "write-token").send_keys(write_token)
        self.driver.find_element(By.ID, "login-submit").click()

    def sign_out(self) -> None:
        self.driver.find_element(By.ID, "signout").click()

    def text(self, element_id: str) -> str:
        return self.driver.find_element(By.ID, element_id).text

    def names(self) -> list[str]:
        return [card.get_attribute("data-machine") or "" for card in
                self.driver.find_elements(By.CSS_SELECTOR, "#machines article.machine")]

    def card(self, name: str) -> WebElement:
        for card in self.driver.find_elements(By.CSS_SELECTOR, "#machines article.machine"):
            if card.get_attribute("data-machine") == name:
                return card
        raise NoSuchElementException(f"no card of {name}")

    def field(self, name: str, css: str) -> str:
        return self.card(name).find_element(By.CSS_SELECTOR, css).text

    def progress(self, name: str) -> tuple[int, int, str]:
        """(bytes written, bytes total, the progress line) as the card shows them now; (-1, -1, "") when the card
        shows no progress bar."""
        _, written, total, text = self.snapshot(name)
        return written, total, text

    def snapshot(self, name: str) -> tuple[str, int, int, str]:
        """(state, bytes written, bytes total, progress line) of a card, read in one script run: the page's own
        script cannot update the card halfway through the read. No card: ("", -1, -1, "")."""
        got = self.driver.execute_script(SNAPSHOT, name)
        return (str(got[0]), int(got[1]), int(got[2]), str(got[3])) if got else ("", -1, -1, "")

    def act(self, name: str, action: str) -> None:
        """Click an action button twice (the page asks for a second click to confirm)."""
        button = self.card(name).find_element(By.CSS_SELECTOR, f"button[data-action='{action}']")
        button.click()
        wait_for(f"the {action} button to ask for confirmation", lambda: "Confirm" in button.text)
        button.click()

    def screenshot(self) -> bytes:
        return self.driver.get_screenshot_as_png()
