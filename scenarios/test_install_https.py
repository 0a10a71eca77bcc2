"""Scenario 14: TLS end to end (issue 13.3). The lab is lab.yaml with ``services.backend.tls`` and
``services.files.tls`` (``harness.lab.labtls.with_tls``): the run makes its own CA, the backend and the image server
serve https with certificates for their lab addresses, Kea's hook and the TFTP gate call the backend over https
against that CA, the boards' netboot image carries it (``/etc/malina/ca.pem``) with the https origin as the only
one option 224 may name, and the harness's own clients verify against it.

1. A board installs over https: option 224 in the DHCP answer is the backend's https URL, the agent sets its clock
   from the backend's ``Date`` (the lab offers no NTP in option 42) before its first verified call, fetches the
   scenario and the image over https, reads the card back, and the installed system's booted call (verified
   against the CA the installer put on the card) ends the attempt ``booted-ok`` after one attempt. The servers'
   own logs show TLS (uvicorn on https, the image server's https request line); a plain-http request to either
   port is dropped unanswered.
2. A board whose image carries another CA refuses the backend: ``INSTALL FAILED: the backend's TLS certificate
   is not trusted`` on its console, nothing written to its card, the backend never hears from it (its attempt
   stays ``pending``, the machine stays in install)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import allure
import httpx
import pytest

from fixtures.plugin import server_trace
from harness.drivers.base import DhcpTrace
from harness.lab.agenttrust import CA_FILE
from harness.lab.labtls import with_tls
from harness.lab.model import Lab
from harness.lab.tlsca import LabCa
from harness.session import SimSession, Target
from harness.strategy.boot import BootStrategy
from harness.wait import wait_until
from scenarios.checks import acks, card_untouched, option

pytestmark = [pytest.mark.sim_only, pytest.mark.docker]

TLS_REFUSED = rb"malina: INSTALL FAILED: the backend's TLS certificate is not trusted[^\r\n]*"


@pytest.fixture(scope="module")
def https_session(lab: Lab, docker_engine: object) -> Iterator[SimSession]:
    """A lab of its own: the session's lab.yaml with https for the backend and the image server."""
    with SimSession(with_tls(lab, name="sim-https")) as session:
        assert session.ca_file is not None and session.ca_file.is_file()
        yield session


def _plain_http_is_dropped(host: str, port: int) -> str:
    """A plain-http request to an https port: the connection is accepted and dropped without an answer in clear
    (not refused: something listens there, and it speaks TLS only)."""
    try:
        response = httpx.get(f"http://{host}:{port}/", timeout=5.0)
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError(f"http://{host}:{port}/ answered in clear: HTTP {response.status_code}")


def test_install_over_https(https_session: SimSession, tmp_path: Path) -> None:
    session = https_session
    lab = session.lab
    backend_url, files = lab.services.backend.url, lab.services.files
    tftp = str(lab.services.tftp.address)
    assert backend_url.startswith("https://") and session.image["url"].startswith(f"{files.url}/"), session.image
    name = lab.boards[0].name
    session.define(name, mode="install")
    with server_trace(session, tmp_path) as trace, session.target(name) as target:
        strategy = BootStrategy(target)
        try:
            strategy.install(tftp_server=tftp).close()
        finally:
            strategy.attach()
        console = target.console.slice(strategy.report.console_start).decode("utf-8", "replace")
        _check_dhcp(trace, target, backend_url, tftp)

    # the agent: the https URL, its clock from the backend's Date before the first verified call, the read-back
    install_url = strategy.report.facts["install_url"]
    assert install_url.startswith(f"{backend_url}/v1/install/"), install_url
    origin = f"https://{lab.services.backend.address}:{lab.services.backend.port}"
    url_at = console.find(f"install URL {install_url}")
    clock_at = console.find(f"clock set from the backend's Date header ({origin})")
    assert 0 <= url_at < clock_at, console[-3000:]
    assert "read back from the card" in console and "INSTALL OK" in console, console[-3000:]

    # the backend: verified, one attempt, and the installed system's https booted call arrived
    m = session.backend.wait_state(name, {"booted-ok"}, timeout=30.0)
    assert m["boot_mode"] == "local" and not m["flagged"] and m["attempts"] == 1, m
    assert m["last_attempt"]["bytes_written"] == session.image["size"]

    # the servers spoke TLS: uvicorn says so, the image server logged the board's https download
    image_path = urlsplit(session.image["url"]).path
    assert "Uvicorn running on https://" in session.run.logs("backend")
    files_log = session.run.logs("files")
    assert f'"GET {image_path} HTTP/1.1" 200' in files_log, files_log[-2000:]
    assert any(line.startswith("https ") and f"GET {image_path} " in line for line in files_log.splitlines())
    # and nothing else: plain http to either port is dropped, and the image server logs the failed handshake
    dropped = {role: _plain_http_is_dropped(str(getattr(lab.services, role).address),
                                            getattr(lab.services, role).port) for role in ("backend", "files")}
    wait_until("the image server logging the refused plain-http request",
               lambda: "tls handshake from " in session.run.logs("files"), timeout=10.0,
               describe=lambda: session.run.logs("files")[-2000:], error=AssertionError)
    allure.attach("\n".join(f"{k}: {v}" for k, v in dropped.items()), name="plain http to the https ports",
                  attachment_type=allure.attachment_type.TEXT)


def _check_dhcp(trace: DhcpTrace, target: Target, backend_url: str, tftp: str) -> None:
    """Option 224 of the install answer is the backend's https URL (the hook reached the backend over https with
    the lab CA: without it, its failure policy would have sent 66 = 0.0.0.0 and no 224)."""
    got = acks(trace, target)
    first = got[0]
    assert option(first, 66) == tftp, trace.table(target.board.mac)
    url224 = option(first, 224)
    assert url224 is not None and url224.startswith(f"{backend_url}/v1/install/"), trace.table(target.board.mac)
    assert option(got[-1], 66) == "0.0.0.0", trace.table(target.board.mac)  # after the install: boot local


def test_a_board_with_another_ca_refuses_the_backend(https_session: SimSession) -> None:
    session = https_session
    lab = session.lab
    board = lab.boards[1] if len(lab.boards) > 1 else lab.boards[0]
    session.define(board.name, mode="install")
    stranger = LabCa.create("not the lab's CA")
    with session.target(board.name, image_files={CA_FILE: stranger.pem}) as target:
        assert target.card is not None
        strategy = BootStrategy(target)
        try:
            strategy.off()
            strategy.power_on()
            strategy.dhcp(expect_tftp=str(lab.services.tftp.address))
            strategy.tftp()
            url = strategy.installer()  # option 224 is in the image's allowlist: the origin is the lab's
            assert url.startswith(f"{lab.services.backend.url}/v1/install/"), url
            refused = target.console.expect(TLS_REFUSED.decode(), 60.0)
        finally:
            strategy.attach()
        line = refused.match.group(0).decode("utf-8", "replace")
        assert "curl exit 60" in line and "the card is not touched" in line, line
        assert card_untouched(target.card), "the card was written by a board that refused the backend"

    # the backend never heard from the board: no scenario served, nothing reported, not marked good
    m = session.backend.machine(board.name)
    assert m["boot_mode"] == "install" and m["last_attempt"]["state"] == "pending", m
    assert not m["last_attempt"].get("bytes_written"), m
    events = session.backend.history(board.name)["events"]
    assert [e for e in events if e["kind"] in ("state", "installed", "interrupted")] == [], events
    assert not [e for e in events if "from the installer" in str(e["message"])], events
