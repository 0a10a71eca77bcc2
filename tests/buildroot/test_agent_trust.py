"""Whom the agent trusts (issue 13.3): the origin allowlist of option 224, https verified against the image's CA
file, and the clock set before the first https call (the Pi has no RTC)."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.lab.tlsca import LabCa
from harness.sim.media.osimage import OsImage, read_rootfs_file
from testkit.agent import AGENT_TREE, run_agent
from testkit.agent_backend import BackendStub

TRUST = AGENT_TREE / "usr" / "lib" / "malina" / "trust.sh"
COMMON = AGENT_TREE / "usr" / "lib" / "malina" / "common.sh"


def _card(board: dict[str, str], size: int = 64 * 1024 * 1024) -> Path:
    card = Path(board["MALINA_DISK"])
    with card.open("wb") as f:
        f.truncate(size)
    return card


def _origin_of(url: str) -> str:
    r = subprocess.run(["bash", "-c", f'. "{COMMON}"; . "{TRUST}"; origin_of "$1"', "-", url],
                       capture_output=True, text=True, check=False)
    return r.stdout if r.returncode == 0 else "FAIL"


@pytest.mark.parametrize(("url", "origin"), [
    ("http://10.89.0.3:8080/v1/install/t", "http://10.89.0.3:8080"),
    ("HTTP://Backend.Lab/v1/install/t", "http://backend.lab:80"),
    ("https://backend.lab/x?y#z", "https://backend.lab:443"),
    ("https://10.89.0.3:08443", "https://10.89.0.3:8443"),
    ("http://[fd00::3]:8080/x", "http://[fd00::3]:8080"),
    ("http://evil@10.89.0.3:8080/x", "FAIL"),  # user info: "10.89.0.3:8080" would be a lie
    ("ftp://10.89.0.3/x", "FAIL"),
    ("http://10.89.0.3:80:80/x", "FAIL"),
])
def test_origin_of(url: str, origin: str) -> None:
    assert _origin_of(url) == origin


def _allow_only(board: dict[str, str], *origins: str) -> None:
    Path(board["MALINA_ORIGINS_FILE"]).write_text("".join(f"{o}\n" for o in origins))


@pytest.mark.parametrize("listed", [
    [],                                  # an empty list trusts nobody
    ["http://127.0.0.1:1"],              # another port
    ["https://127.0.0.1:{port}"],        # another scheme
    ["http://localhost:{port}"],         # another host name for the same address
    None,                                # no list at all
])
def test_origin_not_allowed_no_install_nothing_fetched(board: dict[str, str], backend: BackendStub,
                                                       plain_image: OsImage, listed: list[str] | None) -> None:
    card = _card(board)
    before = card.read_bytes()
    backend.set_scenario(image_url=backend.serve("plain.img.xz", plain_image.path), sha256=plain_image.sha256,
                         size=plain_image.size, compression="xz")
    if listed is None:
        Path(board["MALINA_ORIGINS_FILE"]).unlink()
    else:
        _allow_only(board, *(o.format(port=backend.port) for o in listed))
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 8, r.stderr
    assert f"INSTALL REFUSED: install URL origin http://127.0.0.1:{backend.port} is not in" in r.stderr
    assert backend.state.requests == [] and backend.state.results == []  # nothing fetched, nothing reported
    assert card.read_bytes() == before


def test_option_224_from_dhcp_is_checked_too(board: dict[str, str], backend: BackendStub, tmp_path: Path) -> None:
    """The URL of a rogue DHCP answer (the udhcpc script's file) is refused like any other."""
    env_file = tmp_path / "dhcp.env"
    env_file.write_text("opt224=" + b"http://10.66.6.6:8080/v1/install/rogue".hex() + "\n")
    _card(board)
    r = run_agent(dict(board, MALINA_DHCP_ENV=str(env_file)), "install")
    assert r.returncode == 8, r.stderr
    assert "origin http://10.66.6.6:8080 is not in" in r.stderr


@pytest.fixture(scope="module")
def lab_ca() -> LabCa:
    return LabCa.create("malina test lab")


def _tls_backend(ca: LabCa, tmp_path: Path, name: str) -> BackendStub:
    cert, key = ca.issue("127.0.0.1").write(tmp_path / name, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return BackendStub(tls=ctx)


@pytest.fixture
def tls_board(board: dict[str, str], tmp_path: Path, lab_ca: LabCa) -> Iterator[dict[str, str]]:
    """The board with the lab CA baked in, a clock that reads 1970 until the agent sets it (a PATH shim of
    ``date`` for the agent's ``date -u +%s``) and a set-time command that records when it was called."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(lab_ca.pem)
    shims = tmp_path / "shims"
    shims.mkdir()
    clock = tmp_path / "clock"
    (shims / "date").write_text(
        "#!/bin/bash\n"
        f'if [[ "$*" == "-u +%s" && ! -e {clock} ]]; then echo 0; else exec /bin/date "$@"; fi\n')
    (shims / "date").chmod(0o755)
    settime = tmp_path / "settime"
    settime.write_text(f'#!/bin/bash\necho "$1" > {clock}\n')
    settime.chmod(0o755)
    yield dict(board, MALINA_CA_FILE=str(ca), PATH=f"{shims}:{board['PATH']}", MALINA_SET_TIME_CMD=str(settime))


def test_https_install_with_the_lab_ca_clock_set_first(tls_board: dict[str, str], lab_ca: LabCa, tmp_path: Path,
                                                       plain_image: OsImage) -> None:
    clock = tmp_path / "clock"
    seen: list[tuple[str, bool]] = []
    with _tls_backend(lab_ca, tmp_path, "good") as tls:
        tls.state.on_request = lambda what: seen.append((what, clock.exists()))
        tls.set_scenario(image_url=tls.serve("plain.img.xz", plain_image.path), sha256=plain_image.sha256,
                         size=plain_image.size, compression="xz")
        _allow_only(tls_board, tls.base)
        _card(tls_board)
        r = run_agent(tls_board, "install", "--url", tls.url)
        assert r.returncode == 0, r.stderr
        assert tls.state.results[-1]["status"] == "success"
    assert "clock set from the backend's Date header (https://127.0.0.1:" in r.stderr
    # the installed OS verifies its booted call against the same CA: the image's CA goes onto the card with the unit
    # that uses it (an OS's own store does not know a lab's CA)
    card = Path(tls_board["MALINA_DISK"])
    assert read_rootfs_file(card, plain_image.root_offset, "/etc/malina/ca.pem") == lab_ca.pem
    unit = read_rootfs_file(card, plain_image.root_offset, "/etc/systemd/system/malina-booted.service").decode()
    assert "--cacert /etc/malina/ca.pem" in unit
    # the Date was read first (HEAD /v1/health, before the clock was set); every call after it came with the clock set
    assert seen[0] == ("HEAD /v1/health", False)
    calls = [(what, was_set) for what, was_set in seen if what.startswith(("GET", "POST"))]
    assert calls and calls[0][0].startswith("POST /v1/install/tok?") and all(was_set for _, was_set in calls)
    assert clock.read_text().strip().startswith("@")


def test_ntp_from_option_42_is_tried_first(tls_board: dict[str, str], lab_ca: LabCa, tmp_path: Path) -> None:
    """An NTP server from DHCP option 42 that does not answer: said on the console, then the Date header."""
    env_file = tmp_path / "dhcp.env"
    env_file.write_text("ntpsrv=127.0.0.1\n")
    shims = Path(tls_board["PATH"].split(":", 1)[0])
    (shims / "ntpd").write_text("#!/bin/bash\nexit 1\n")  # no NTP server here
    (shims / "ntpd").chmod(0o755)
    with _tls_backend(lab_ca, tmp_path, "ntp") as tls:
        _allow_only(tls_board, tls.base)
        _card(tls_board)
        r = run_agent(dict(tls_board, MALINA_DHCP_ENV=str(env_file)), "install", "--url", tls.url)
    lines = r.stderr.splitlines()
    ntp = next(i for i, line in enumerate(lines) if "NTP server 127.0.0.1 did not answer" in line)
    date = next(i for i, line in enumerate(lines) if "clock set from the backend's Date header" in line)
    assert ntp < date


def test_server_certificate_from_another_ca_is_refused(tls_board: dict[str, str], tmp_path: Path) -> None:
    other = LabCa.create("someone else's CA")
    card = _card(tls_board)
    before = card.read_bytes()
    with _tls_backend(other, tmp_path, "rogue") as rogue:
        rogue.set_scenario(image_url=f"{rogue.base}/files/x", sha256="00" * 32, size=1, compression="none")
        _allow_only(tls_board, rogue.base)  # even an allowed origin must prove itself with the lab CA
        r = run_agent(tls_board, "install", "--url", rogue.url)
        assert r.returncode == 4, r.stderr
        # the peer's certificate could not be verified: said as such, not as an unreachable backend
        assert "INSTALL FAILED: the backend's TLS certificate is not trusted" in r.stderr
        assert "curl exit 60" in r.stderr
        assert [req for req in rogue.state.requests if req.startswith("GET")] == []
        assert rogue.state.results == []
    assert card.read_bytes() == before


def test_package_installs_the_trust_files_where_the_agent_and_the_sim_look() -> None:
    """One set of paths: the package's install hook (from its BR2 symbols), the agent's defaults, the sim board."""
    from harness.lab.agenttrust import CA_FILE, ORIGINS_FILE

    pkg = AGENT_TREE.parent / "package" / "malina-agent"
    mk = (pkg / "malina-agent.mk").read_text()
    config = (pkg / "Config.in").read_text()
    common = COMMON.read_text()
    for symbol, path in (("ALLOWED_ORIGINS", ORIGINS_FILE), ("CA_FILE", CA_FILE)):
        assert f"config BR2_PACKAGE_MALINA_AGENT_{symbol}\n\tstring" in config
        assert f"$(BR2_PACKAGE_MALINA_AGENT_{symbol})" in mk
        assert f"$(TARGET_DIR){path}" in mk
    assert f'"MALINA_ORIGINS_FILE={ORIGINS_FILE}"' in common and f'"MALINA_CA_FILE={CA_FILE}"' in common
    assert "MALINA_AGENT_POST_INSTALL_TARGET_HOOKS += MALINA_AGENT_INSTALL_TRUST" in mk
