"""Scenario 7: what an operator sees of an install. The backend's web page (``/ui``), in a headless Chromium on
the harness host, follows the board's install as the agent reports it (state and bytes change on the page without
a reload), and ``/metrics`` counts the install, its phases and the options asks, beside the hook's counters read
from the lab's real Kea."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import allure
import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.drivers.base import Backend
from harness.session import Session, Target
from harness.strategy.boot import BootStrategy
from testkit.browser import RackPage, chromium, wait_for

INSTALLING = ("pending", "netbooting", "writing", "verifying")


@dataclass
class Watcher:
    """Samples one card of the page every 0.1 s in a thread of its own (the only thread using the browser while it
    runs): the card's state and the bytes its progress bar shows (-1 without a bar); a screenshot at the first
    bytes written."""

    page: RackPage
    name: str
    samples: list[tuple[str, int, int]] = field(default_factory=list)
    screenshot: bytes = b""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.1):
            state, written, total, _ = self.page.snapshot(self.name)
            if not self.samples or self.samples[-1] != (state, written, total):
                self.samples.append((state, written, total))
            if not self.screenshot and 0 < written < total:
                self.screenshot = self.page.screenshot()


def _scrape(url: str, token: str) -> dict[str, float]:
    """``/metrics`` as {sample name with its labels: value}, read by prometheus_client's parser."""
    resp = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def test_the_page_and_the_metrics_follow_an_install(board: Target, strategy: BootStrategy, lab_session: Session,
                                                     backend: Backend) -> None:
    service = lab_session.lab.services.backend
    before = _scrape(service.url, service.read_token)
    with chromium(str(service.address)) as driver:
        page = RackPage(driver, service.url)
        page.open()
        page.sign_in(service.read_token)
        wait_for(f"{board.name} on the page", lambda: board.name in page.names())
        driver.execute_script("window.__sameDocument = 7")  # gone if the page reloads
        watcher = Watcher(page, board.name)
        thread = threading.Thread(target=watcher.run, name="ui-watcher", daemon=True)
        thread.start()
        try:
            strategy.install(tftp_server=str(lab_session.lab.services.tftp.address)).close()
            backend.wait_state(board.name, {"booted-ok"}, timeout=30.0)
            wait_for("booted-ok on the page", lambda: watcher.samples and watcher.samples[-1][0] == "booted-ok",
                     timeout=15.0)
        finally:
            watcher.stop.set()
            thread.join(5)
        assert driver.execute_script("return window.__sameDocument") == 7, "the page reloaded"
        if watcher.screenshot:
            allure.attach(watcher.screenshot, "rack page during the install",
                          attachment_type=allure.attachment_type.PNG)
        allure.attach(page.screenshot(), "rack page after the install", attachment_type=allure.attachment_type.PNG)
    allure.attach("\n".join(map(str, watcher.samples)), "what the page showed, in order",
                  attachment_type=allure.attachment_type.TEXT)

    # The card followed the install as the agent reported it, without a reload: shown while installing, always
    # forward, the bar gone at booted-ok. How many installing samples it shows depends on the sim's speed: at the
    # default lab's timing the write and the read-back can fall between two of the page's 1 s polls, so one is the
    # floor here (the bar moving through reported bytes is tests/backend/test_ui_browser.py's job).
    installing = [(state, w, total) for state, w, total in watcher.samples if state in INSTALLING]
    assert installing, watcher.samples
    order = [INSTALLING.index(state) for state, _, _ in installing]
    written = [w for _, w, _ in installing]
    assert order == sorted(order) and written == sorted(written), watcher.samples
    assert all(w >= 0 and (total == 0 or w <= total) for _, w, total in installing), watcher.samples
    assert watcher.samples[-1] == ("booted-ok", -1, -1), watcher.samples

    # /metrics counted it, and reads the hook's counters from the lab's Kea
    after = _scrape(service.url, service.read_token)
    assert after['malina_installs_total{result="success"}'] == before['malina_installs_total{result="success"}'] + 1
    for phase in ("pending", "netbooting", "verifying", "configured"):  # writing only when a report came mid-write
        key = f'malina_install_phase_seconds_count{{phase="{phase}"}}'
        assert after[key] >= before[key] + 1, (phase, before[key], after[key])
    key = 'malina_options_requests_total{answer="install"}'
    assert after[key] > before[key]
    assert after['malina_machines{boot_mode="local",state="booted-ok"}'] >= 1
    assert after["malina_hook_up"] == 1, {k: v for k, v in after.items() if k.startswith("malina_hook")}
    assert after["malina_hook_backend_calls_total"] > before.get("malina_hook_backend_calls_total", 0)
    assert after["malina_hook_backend_in_flight_limit"] >= 1
