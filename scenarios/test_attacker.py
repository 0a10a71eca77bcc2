"""Scenario 13: attackers on the lab's own networks (issue 13, docs/SECURITY.md). With one board (pi-01 on the
sim) defined for install, two rogue containers (the lab's runtime image, labelled as the run's containers, so
teardown and reaping remove them) — one on another board's access port network (port3), one on the server
network — try, with real HTTP from inside, to mint a token (no hook secret: 401), to read the board's scenario and
report a fake success with its real token (leaked to them by the test: 403 from the wrong subnet, with the board's
own identity or another), and to flag the board (an options ask with its MAC on an unknown port: 401). A rogue
option 224 (an origin not in the image's allowlist) is given to the agent in the board's own container: refused,
exit 8, no request made. Nothing of the board moves apart from `refused` events; then it installs normally with
the same token and ends booted-ok, its card read back.

Second test: a rogue DHCP server on the victim's own access segment (a container on port1's network) answers the
installer's DHCP with its own option 224. Its answer and the lab's race, and a test cannot order a race: Kea is
killed right after the bootloader's DHCP (the netboot's TFTP does not need it), so the rogue's is the installer's
only answer — the case where the rogue wins. The agent refuses (exit 8, `INSTALL REFUSED` naming the rogue's
origin), the card stays blank, the backend hears nothing; with Kea back and the rogue gone the board installs in
the same attempt."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from docker.models.containers import Container

from harness.drivers.base import Backend, InfraFailure
from harness.lab.docker_lab import LabRun
from harness.lab.services import ContainerSpec
from harness.session import Session, SimSession, Target
from harness.strategy.boot import BootStrategy
from harness.wait import wait_until
from scenarios.checks import card_untouched

# run inside a rogue container: one HTTP request, prints the status code (urllib of the runtime image's Python)
HTTP = """
import sys, urllib.request, urllib.error
method, url, auth, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
req = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json", **({"Authorization": auth} if auth else {})})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""
ROGUE_ORIGIN = "http://10.90.1.66:8080"  # a rogue DHCP server's own install server: not in the allowlist
# run as a rogue container's command: a DHCP server on the victim's own segment that answers the installer's DHCP
# (user class "malina", option 77) at once with its own option 224; args: its URL, its address, the address it offers
ROGUE_DHCP = """
import ipaddress, socket, sys
from harness.dhcp.codec import Bootp, DhcpWireError, decode_bootp, encode_bootp
url, me, offer = sys.argv[1], ipaddress.IPv4Address(sys.argv[2]), ipaddress.IPv4Address(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.bind(("0.0.0.0", 67))
print("rogue dhcp: listening", flush=True)
while True:
    data, _ = s.recvfrom(4096)
    try:
        req = decode_bootp(data)
    except DhcpWireError:
        continue
    if req.op != 1 or req.message_type not in (1, 3) or b"malina" not in (req.option(77) or b""):
        continue
    kind = 2 if req.message_type == 1 else 5
    opts = [(53, bytes([kind])), (54, me.packed), (51, (600).to_bytes(4, "big")), (1, bytes([255, 255, 255, 0])),
            (3, me.packed), (224, url.encode())]
    reply = Bootp(op=2, xid=req.xid, chaddr=req.chaddr, flags=req.flags, yiaddr=offer, siaddr=me, options=opts)
    s.sendto(encode_bootp(reply, min_length=300), ("255.255.255.255", 68))
    print(f"rogue dhcp: {'OFFER' if kind == 2 else 'ACK'} {offer} with option 224 {url} to {req.mac.hex()}",
          flush=True)
"""


def _run(session: Session) -> LabRun:
    assert isinstance(session, SimSession), "sim_only: the rogue containers are docker containers of the run"
    return session.run


def _rogue(run: LabRun, name: str, net: str) -> Container:
    spec = ContainerSpec(role=name, image="runtime", command=["sleep", "infinity"], networks={net: None},
                         cap_add=["NET_ADMIN"], hostname=name)
    container = run.start_spec(spec, name=name)
    if net.startswith("port-"):  # an access port reaches the servers through the relay, as a board does
        port = run.lab.switch.port(net.removeprefix("port-"))
        rc, out = container.exec_run(["ip", "route", "replace", str(run.lab.networks.server.subnet),
                                      "via", str(port.gateway)])
        assert rc == 0, out
    return container


@pytest.fixture
def rogues(lab_session: Session, board: Target) -> Iterator[dict[str, Container]]:
    run = _run(lab_session)
    made: dict[str, Container] = {}
    others = [p.name for p in run.lab.switch.ports if p.name != board.board.port]
    other = "port3" if "port3" in others else others[0]  # another board's port (pi-03's on the sim)
    try:
        made["access"] = _rogue(run, "rogue-access", f"port-{other}")
        made["server"] = _rogue(run, "rogue-server", "server")
        yield made
    finally:
        for name, c in made.items():
            run.containers.pop(f"rogue-{name}", None)
            c.remove(force=True)  # ours; the run's teardown or reaping would remove it too (its labels)


def _http(c: Container, method: str, url: str, *, auth: str = "", body: dict[str, Any] | None = None) -> int:
    rc, out = c.exec_run(["python", "-c", HTTP, method, url, auth, json.dumps(body) if body else ""])
    assert rc == 0, out
    return int(out.decode().strip().splitlines()[-1])


def _options_query(session: Session, board: Target, port_name: str, mac: str) -> str:
    subs = session.lab.switch.option82(session.lab.switch.port(port_name))
    q = {f"sub82_{k}": v.hex() for k, v in subs.items()} | {"mac": mac.replace(":", "").lower()}
    return f"{session.lab.services.backend.url}/v1/dhcp/options?{urllib.parse.urlencode(q)}"


def _mint_as_the_hook(session: Session, board: Target) -> str:
    """The token DHCP hands pi-01 (the hook's own ask, with the run's secret): what an attacker would steal."""
    url = _options_query(session, board, board.board.port, board.board.mac)
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {_run(session).hook_secret}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        opts = json.loads(resp.read())
    assert "224" in opts, opts
    return str(opts["224"])


def _snapshot(backend: Backend, name: str) -> dict[str, Any]:
    m = backend.machine(name)
    attempt = m.get("last_attempt") or {}
    return {k: m.get(k) for k in ("state", "boot_mode", "flagged", "attempts", "mac", "serial")} | {
        "attempt": {k: attempt.get(k) for k in ("state", "bytes_written")}}


@pytest.mark.sim_only
def test_attackers_are_refused_and_the_victim_installs(board: Target, lab_session: Session, backend: Backend,
                                                       strategy: BootStrategy,
                                                       rogues: dict[str, Container]) -> None:
    name, ident = board.name, {"serial": board.board.serial, "mac": board.board.mac}
    install_url = _mint_as_the_hook(lab_session, board)
    before, kinds = _snapshot(backend, name), _kinds(backend, name)
    seen, before_refused = len(kinds), kinds.count("refused")
    assert before["attempt"]["state"] == "pending", before
    fake_success = {"status": "success", "sha256": "0" * 64, "bytes_written": 1 << 20}
    spoofed = urllib.parse.urlencode(ident)  # even with the board's own identity: wrong subnet
    other = urllib.parse.urlencode({"serial": "deadbeef", "mac": "02:00:00:00:00:99"})
    unknown_port = _options_query(lab_session, board, "port4", board.board.mac)
    unknown_port = unknown_port.replace("sub82_1=", "sub82_1=00", 1)  # a circuit id no port has
    for where, c in rogues.items():
        # mint a token for pi-01's port without the hook's secret, with a wrong one, and flag pi-01 on a bad port
        assert _http(c, "GET", _options_query(lab_session, board, board.board.port, board.board.mac)) == 401, where
        assert _http(c, "GET", _options_query(lab_session, board, board.board.port, board.board.mac),
                     auth="Bearer " + "x" * 43) == 401, where
        assert _http(c, "GET", unknown_port) == 401, where
        # the leaked real token: scenario, netplan, progress, fake success, booted — all 403 from here
        for query in (spoofed, other):
            assert _http(c, "POST", f"{install_url}?{query}") == 403, (where, query)
            assert _http(c, "GET", f"{install_url}/netplan?{query}") == 403, (where, query)
            assert _http(c, "POST", f"{install_url}/result?{query}", body=fake_success) == 403, (where, query)
            assert _http(c, "POST", f"{install_url}/booted?{query}") == 403, (where, query)

    # nothing moved but `refused` events (one per forged agent call; the 401s leave no trace at all)
    assert _snapshot(backend, name) == before
    kinds = _kinds(backend, name)
    assert len(kinds) - seen == 16 and kinds.count("refused") - before_refused == 16, kinds

    # a rogue DHCP server's option 224: the agent in pi-01's own image refuses its origin (exit 8, no request)
    agent = _run(lab_session).container(f"board-{name}")
    rc, out = agent.exec_run(["malina-agent", "install", "--url", f"{ROGUE_ORIGIN}/v1/install/stolen"])
    assert rc == 8 and b"INSTALL REFUSED" in out, (rc, out)
    assert _snapshot(backend, name) == before

    # the victim installs normally, with the very token the attackers held
    with strategy.install(tftp_server=str(lab_session.lab.services.tftp.address)):
        strategy.attach()
        assert strategy.report.facts["install_url"] == install_url
        m = backend.wait_state(name, {"booted-ok"}, timeout=30.0)
        assert m["boot_mode"] == "local" and not m["flagged"] and m["attempts"] == 1, m
        assert m["last_attempt"]["bytes_written"] == lab_session.image["size"]
        # verified by reading the card back: the agent's console line of the read-back, the attempt's own record
        assert m["last_attempt"]["state"] in ("configured", "booted-ok"), m["last_attempt"]
        console = lab_session.current(board).console.log()
        assert b"read back from the card" in console, "the card was read back before success was reported"



def _kinds(backend: Backend, name: str) -> list[str]:
    return [str(e["kind"]) for e in backend.history(name, 500)["events"]]


@pytest.mark.sim_only
def test_rogue_dhcp_on_the_victims_segment_is_refused(board: Target, lab_session: Session, backend: Backend,
                                                      strategy: BootStrategy) -> None:
    """A rogue DHCP server on pi-01's own access segment answers its installer's DHCP with its own option 224.
    The race with the lab's DHCP is settled for the test: Kea is killed right after the bootloader's DHCP (the
    netboot's TFTP does not need it), so the rogue's is the only answer the installer gets. The agent refuses
    its origin (exit 8, ``INSTALL REFUSED``), nothing is written, the backend hears nothing; with the rogue gone
    and Kea back, the board installs normally in the same attempt."""
    run = _run(lab_session)
    assert isinstance(lab_session, SimSession)
    port = run.lab.port_of(board.board)
    rogue_ip, offered = port.subnet.network_address + 66, port.subnet.network_address + 77
    rogue_url = f"http://{rogue_ip}:8080/v1/install/rogue-token"
    spec = ContainerSpec(role="rogue-dhcp", image="runtime", networks={f"port-{port.name}": str(rogue_ip)},
                         command=["python", "-c", ROGUE_DHCP, rogue_url, str(rogue_ip), str(offered)],
                         cap_add=["NET_ADMIN", "NET_RAW"], hostname="rogue-dhcp")
    rogue = run.start_spec(spec, name="rogue-dhcp")
    name = board.name
    try:
        wait_until("the rogue DHCP server listening", lambda: "listening" in rogue.logs().decode(), timeout=30.0,
                   error=AssertionError)
        strategy.off()
        strategy.power_on()
        strategy.dhcp(expect_tftp=str(run.lab.services.tftp.address))  # the bootloader's DHCP, answered by Kea
        run.container("kea").kill()
        try:
            before = _snapshot(backend, name)  # the attempt the bootloader's DHCP started
            strategy.tftp()
            refused = board.console.expect(r"malina: INSTALL REFUSED: install URL origin (?P<origin>\S+) is not in",
                                           60.0, deaths=[r"malina: install URL "])
            assert refused.match.group("origin").decode() == rogue_url.rsplit("/v1/", 1)[0], refused.match.group(0)
            assert f"OFFER {offered} with option 224 {rogue_url}" in rogue.logs().decode()
            assert board.card is not None and card_untouched(board.card)
            assert _snapshot(backend, name) == before  # the agent asked nothing of anyone
        finally:
            lab_session.start_service("kea")
            wait_until("Kea answering again", lambda: lab_session.kea.command("status-get"), timeout=30.0,
                       retry_on=(InfraFailure,), error=InfraFailure)
    finally:
        run.containers.pop("rogue-dhcp", None)
        rogue.remove(force=True)

    # the rogue gone, Kea back: the same attempt installs
    with strategy.install(tftp_server=str(run.lab.services.tftp.address)):
        strategy.attach()
        m = backend.wait_state(name, {"booted-ok"}, timeout=30.0)
        assert m["boot_mode"] == "local" and not m["flagged"] and m["attempts"] == 1, m
