"""The installer agent's failure paths inside the simulated Pi (issue 5: "every path is tested there").

Success and hash mismatch run in ``scenarios/``; here the unchanged overlay agent runs after a real simulated
netboot (DHCP through the relay and the Kea hook, TFTP, hand-over to ``/usr/bin/malina-installer``) on a
card file bind-mounted at ``/dev/mmcblk0``, and each test checks the console (the bootloader through the
console parser, the agent through its ``malina: `` lines), the backend's record and the card file:

- backend unreachable from the board while the installer runs (after the DHCP ACK with option 224): exit 4,
  the card byte-identical, the backend never saw the scenario GET;
- the backend container stopped between the installer's DHCP ACK (option 224) and its scenario GET: exit 4,
  the card byte-identical, the attempt still pending;
- power cut in the middle of the write (the board's CPU is throttled for the write so that the cut falls
  inside it deterministically): head zeroed, body half-written, attempt unfinished; the next power-on
  netboots and installs again, up to booted-ok and a configured card;
- truncated download (raw short read, and a cut xz stream): exit 6, reported, head zeroed, not looped;
- a card smaller than the image: exit 5, nothing written (card byte-identical), reported;
- a card that lies (a FUSE card on the host, ``testkit.pacedcard``, mounted on the card file that the board's
  container bind-mounts at ``/dev/mmcblk0``; it flips a bit of the rootfs on read): the read-back fails, exit
  6, head zero, the backend's attempt ``failed`` with the mismatch, never ``configured``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from fixtures.plugin import StrategyFactory
from harness.console.parser import parse_bytes
from harness.drivers.backend import HttpBackend
from harness.drivers.base import DhcpTrace
from harness.lab import boardspec
from harness.session import SimSession, Target
from harness.sim.media.cardfs import ext4_read, root_partition
from harness.strategy.boot import BANNER, INSTALL_FAILED, BootStrategy
from scenarios.checks import acks, boot_modes, events_of, firmware_starts, option
from testkit.pacedcard import Lie, PacedCard

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.sim_only]

MiB = 1 << 20
FINISHED = r"malina: installer finished with status (?P<rc>\d+)"
WRITE_START = r"malina: image (?P<url>https?://\S+) \((?P<size>\d+) bytes"  # announced after the scenario checks
PROGRESS = r"malina: writing (?P<done>\d+)/(?P<total>\d+) MiB"
LEASE_224 = r"malina-dhcp: lease \S+ on \S+, option 224 present"
IMAGE_VERIFIED = b"malina: image verified"
INSTALL_OK = b"malina: INSTALL OK"
UNFINISHED = {"pending", "netbooting", "writing", "verifying"}
GOOD = {"configured", "booted-ok"}


# -- helpers ----------------------------------------------------------------------------------------------------
def _tftp_ip(session: SimSession) -> str:
    return str(session.lab.services.tftp.address)


def _container(session: SimSession, target: Target) -> Container:
    return session.run.container(f"board-{target.name}")


def _exec(c: Container, *cmd: str) -> str:
    rc, out = c.exec_run(list(cmd))
    text = out.decode("utf-8", "replace")
    assert rc == 0, f"{cmd} in {c.name}: exit {rc}: {text}"
    return text


def _read(path: Path, start: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(start)
        return f.read(size)


def _netboot_to_installer(s: BootStrategy, session: SimSession) -> str:
    """Power on, network boot with the lab's TFTP server, up to the installer's ``install URL`` line."""
    s.off()
    s.power_on()
    s.dhcp(expect_tftp=_tftp_ip(session))
    s.tftp()
    return s.installer()


def _failure(target: Target, s: BootStrategy) -> tuple[str, str]:
    """The agent's ``INSTALL FAILED`` line and the text of the console since the strategy started."""
    m = target.console.expect(INSTALL_FAILED, s.timeouts["writing"], deaths=())
    return m.match.group(0).decode("utf-8", "replace"), _text(target, s)


def _exit_status(target: Target) -> int:
    m = target.console.expect(FINISHED, 60.0, deaths=())
    return int(m.match.group("rc"))


def _text(target: Target, s: BootStrategy) -> str:
    return target.console.slice(s.report.console_start).decode("utf-8", "replace")


def _assert_netbooted_installer(s: BootStrategy) -> None:
    """Console parser: this power-on booted the installer from the network and no installed system came up."""
    events = s.console_events()
    assert boot_modes(events)[:1] == ["NETWORK"], boot_modes(events)
    assert "NETWORK" in firmware_starts(events), events
    assert events_of(events, "kernel"), f"no installer kernel on the console: {events}"
    assert not events_of(events, "login_prompt"), "a failed install must not boot a system"


def _assert_stays_put(target: Target, session: SimSession, backend: HttpBackend, attempts: int) -> None:
    """Not looped: the installer stays with its error, the board does not reboot, no new attempt starts."""
    mark = target.console.mark()
    time.sleep(max(3.0, 40 * session.lab.lab.time_factor))
    quiet = target.console.slice(mark)
    assert BANNER.encode() not in quiet, quiet.decode("utf-8", "replace")
    assert not [e for e in parse_bytes(quiet) if e["event"] in ("banner", "boot_mode", "start_firmware")]
    assert backend.machine(target.name)["attempts"] == attempts


def _old_card(session: SimSession, target: Target, size: int) -> bytes:
    """A card that held another OS: the installed card's first MiB (a valid MBR), then an old-data pattern."""
    head = _read(session.installed_card(target.name), 0, MiB)
    assert head[510:512] == b"\x55\xaa", "the installed card has no MBR signature"
    pattern = b"OLD-OS-DATA-" * (MiB // 12 + 1)
    body = (pattern[:MiB] * (size // MiB + 1))[: size - MiB]
    return head + body


@contextmanager
def _cpu_share(c: Container, fraction: float) -> Iterator[None]:
    """Throttle the board's container (a slow Pi) to ``fraction`` of one CPU; unthrottled afterwards."""
    c.update(cpu_period=100_000, cpu_quota=max(1_000, int(100_000 * fraction)))
    try:
        yield
    finally:
        c.update(cpu_period=100_000, cpu_quota=-1)


def _stage(session: SimSession, name: str, data: bytes) -> str:
    """Put a file on the lab's file server; its URL."""
    path = session.workdir / "files" / name
    path.write_bytes(data)
    return f"{session.lab.services.files.url}/{name}"


# -- tests ------------------------------------------------------------------------------------------------------
def test_backend_unreachable_from_the_installer_leaves_the_card_untouched(
        board: Target, lab_session: SimSession, backend: HttpBackend, dhcp_trace: DhcpTrace,
        boot_strategy: StrategyFactory) -> None:
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    assert target.card is not None
    before = target.card_digest()
    assert _read(target.card, 510, 2) == b"\x55\xaa"
    backend_ip = str(lab_session.lab.services.backend.address)
    c = _container(lab_session, target)
    # the path from the board to the backend breaks (Kea's own calls to the backend still work, so DHCP
    # keeps handing out the install URL): every connection from the board to it fails at once
    _exec(c, "ip", "route", "add", "unreachable", f"{backend_ip}/32")
    s = boot_strategy(target)
    url = _netboot_to_installer(s, lab_session)
    assert url.startswith(f"{lab_session.lab.services.backend.url}/v1/install/"), url
    line, text = _failure(target, s)
    s.attach()
    assert "backend unreachable" in line and "the card is not touched" in line, line
    assert _exit_status(target) == 4, text[-3000:]
    assert not re.search(WRITE_START, text), "the agent started a write without its scenario"
    _assert_netbooted_installer(s)
    # DHCP: the option 224 the agent used came in an ACK (server side of the relay)
    urls = [option(p, 224) for p in acks(dhcp_trace, target) if 224 in p.options]
    assert url in urls, (url, urls)
    # the card: byte for byte what it was
    assert target.card_digest() == before, "the card changed although the backend was unreachable"
    # backend: the scenario was never fetched (the attempt is still pending), nothing is marked good
    m = backend.machine(target.name)
    assert m["boot_mode"] == "install" and not m["flagged"], m
    assert m["last_attempt"]["state"] == "pending", m["last_attempt"]
    assert m["last_attempt"]["state"] not in GOOD
    _assert_stays_put(target, lab_session, backend, m["attempts"])


def test_power_cut_mid_write_then_the_next_boot_installs_again(
        board: Target, lab_session: SimSession, backend: HttpBackend, boot_strategy: StrategyFactory) -> None:
    size = int(lab_session.image["size"])
    raw = lab_session.image_raw
    target = lab_session.target(board.name, card=_old_card(lab_session, target=board, size=size + MiB))
    assert target.card is not None
    old_tail = _read(target.card, size - MiB, MiB)
    assert old_tail != _read(raw, size - MiB, MiB)
    c = _container(lab_session, target)
    s = boot_strategy(target)
    _netboot_to_installer(s, lab_session)
    with _cpu_share(c, 0.1):  # from here on the board is slow: the write takes many seconds, the cut lands in it
        target.console.expect(WRITE_START, s.timeouts["writing"], deaths=[INSTALL_FAILED])
        done = total = 0
        while done < 2:  # a progress line with some MiB of the body on the card
            m = target.console.expect(PROGRESS, s.timeouts["writing"],
                                      deaths=[INSTALL_FAILED, re.escape(IMAGE_VERIFIED.decode())])
            done, total = int(m.match.group("done")), int(m.match.group("total"))
        target.power.off()
    assert target.power.state() == "off"
    s.attach()
    text = _text(target, s)
    assert 0 < done < total == size // MiB, (done, total)
    assert IMAGE_VERIFIED not in text.encode() and INSTALL_OK not in text.encode(), text[-3000:]
    _assert_netbooted_installer(s)
    # the card: head zero (unbootable), the body written as far as the progress said, the rest still old
    assert _read(target.card, 0, MiB) == bytes(MiB), "a power cut mid-write left a boot sector on the card"
    written = done * MiB
    assert _read(target.card, MiB, written - MiB) == _read(raw, MiB, written - MiB), "the body was not written"
    assert _read(target.card, size - MiB, MiB) == old_tail, "the write had ended before the power cut"
    # backend: the attempt is unfinished, nothing good, still to install
    mach = backend.machine(target.name)
    assert mach["boot_mode"] == "install" and not mach["flagged"], mach
    assert mach["last_attempt"]["state"] in UNFINISHED, mach["last_attempt"]

    # the next power-on: the card does not boot, the network does, the installer writes it again
    again = boot_strategy(target)
    ssh = again.install(tftp_server=_tftp_ip(lab_session))
    again.attach()
    try:
        assert ssh.run("hostname").stdout.strip() == target.board.install.hostname
    finally:
        ssh.close()
    events = again.console_events()
    first_sd = next(i for i, e in enumerate(events) if e["event"] == "boot_mode" and e["mode"] == "SD")
    assert boot_modes(events[:first_sd])[0] == "NETWORK" and "NETWORK" in firmware_starts(events[:first_sd])
    assert events_of(events, "login_prompt")[-1]["host"] == target.board.install.hostname
    second = target.console.slice(again.report.console_start)
    assert re.search(PROGRESS.encode(), second) or IMAGE_VERIFIED in second
    assert b"progress report" not in second, "the backend refused the restarted installer's progress"
    done_m = backend.wait_state(target.name, {"booted-ok"}, timeout=60.0)
    assert done_m["boot_mode"] == "local" and not done_m["flagged"], done_m
    assert done_m["last_attempt"]["bytes_written"] == size
    assert _read(target.card, 0, MiB) == _read(raw, 0, MiB)
    assert _read(target.card, size - MiB, MiB) != old_tail, "the second install did not rewrite the card"
    root = root_partition(target.card)
    assert ext4_read(target.card, root, "/etc/hostname") == f"{target.board.install.hostname}\n".encode()


@pytest.mark.parametrize("variant", ["raw", "xz"])
def test_truncated_download_fails_reported_head_zeroed_not_looped(
        board: Target, lab_session: SimSession, backend: HttpBackend, boot_strategy: StrategyFactory,
        variant: str) -> None:
    tag = secrets.token_hex(4)
    if variant == "raw":
        cut = 40 * MiB
        url = _stage(lab_session, f"truncated-{tag}.img", _read(lab_session.image_raw, 0, cut))
        compression = "none"
    else:
        xz = (lab_session.workdir / "files" / Path(str(lab_session.image["url"])).name).read_bytes()
        cut = len(xz) // 2
        url = _stage(lab_session, f"truncated-{tag}.img.xz", xz[:cut])
        compression = "xz"
    staged = lab_session.workdir / "files" / url.rsplit("/", 1)[1]
    try:
        _truncated_install(board, lab_session, backend, boot_strategy, variant, url, compression, cut)
    finally:
        staged.unlink(missing_ok=True)


def _truncated_install(board: Target, lab_session: SimSession, backend: HttpBackend,
                       boot_strategy: StrategyFactory, variant: str, url: str, compression: str, cut: int) -> None:
    size = int(lab_session.image["size"])
    short = {**lab_session.image, "url": url, "compression": compression}
    lab_session.define(board.name, mode="install", image=short)
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    assert target.card is not None
    assert _read(target.card, 510, 2) == b"\x55\xaa"
    s = boot_strategy(target)
    _netboot_to_installer(s, lab_session)
    start = target.console.expect(WRITE_START, s.timeouts["writing"], deaths=[INSTALL_FAILED])
    assert start.match.group("url").decode() == url
    line, text = _failure(target, s)
    s.attach()
    if variant == "raw":
        assert f"short image: got {cut} of {size} bytes" in line, line
    else:
        assert "download failed" in line, line
    assert _exit_status(target) == 6, text[-3000:]
    assert IMAGE_VERIFIED not in text.encode()
    _assert_netbooted_installer(s)
    # card: the head is zero, so the card does not boot and the Pi falls back to netboot
    assert _read(target.card, 0, MiB) == bytes(MiB), "a failed install left a boot sector on the card"
    # backend: the failure was reported, with the agent's reason
    m = backend.wait_state(target.name, {"failed"}, timeout=30.0)
    last = m["last_attempt"]
    assert m["attempts"] == 1 and m["boot_mode"] == "install" and not m["flagged"], m
    expected = "short image" if variant == "raw" else "download failed"
    assert expected in (last["error"] or ""), last
    if variant == "raw":
        assert last["bytes_written"] == cut, last
    _assert_stays_put(target, lab_session, backend, 1)


def test_card_too_small_nothing_written_failure_reported(
        board: Target, lab_session: SimSession, backend: HttpBackend, boot_strategy: StrategyFactory) -> None:
    size = int(lab_session.image["size"])
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    assert target.card is not None
    small = 32 * MiB
    assert small < size
    os.truncate(target.card, small)  # the container sees the same file: a smaller card, still powered off
    before = target.card_digest()
    assert _read(target.card, 510, 2) == b"\x55\xaa"
    s = boot_strategy(target)
    _netboot_to_installer(s, lab_session)
    line, text = _failure(target, s)
    s.attach()
    assert f"card too small: /dev/mmcblk0 has {small} bytes, the image needs {size}" in line, line
    assert "the card is not touched" in line, line
    assert _exit_status(target) == 5, text[-3000:]
    # the agent announces the write before its checks; no byte of it may follow
    assert not re.search(PROGRESS, text) and IMAGE_VERIFIED not in text.encode(), text[-3000:]
    _assert_netbooted_installer(s)
    assert target.card.stat().st_size == small
    assert target.card_digest() == before, "the card changed although it is too small for the image"
    m = backend.machine(target.name)
    assert m["boot_mode"] == "install" and not m["flagged"], m
    assert m["last_attempt"]["state"] not in GOOD, m["last_attempt"]
    _assert_stays_put(target, lab_session, backend, m["attempts"])
    # the failure reaches the backend, with the reason and nothing written
    m = backend.wait_state(target.name, {"failed"}, timeout=30.0)  # the exit-5 report reaches the backend
    assert "failure report not delivered" not in _text(target, s)
    last: dict[str, Any] = m["last_attempt"]
    assert "card too small" in (last["error"] or ""), last
    assert last["bytes_written"] == 0, last


def test_backend_stopped_while_the_installer_runs_nothing_written(
        board: Target, lab_session: SimSession, backend: HttpBackend, dhcp_trace: DhcpTrace,
        boot_strategy: StrategyFactory) -> None:
    """The backend container is stopped after the installer's own DHCP ACK (option 224) and before its scenario
    GET: the board is slowed down for the installer and the backend is killed at the DHCP script's lease line.
    The scenario GET fails (exit 4) or, when it beat the kill, the netplan GET does
    (exit 5): nothing written, nothing good."""
    target = lab_session.target(board.name, card=lab_session.installed_card(board.name))
    before = target.card_digest()
    c = _container(lab_session, target)
    s = boot_strategy(target)
    s.off()
    s.power_on()
    s.dhcp(expect_tftp=_tftp_ip(lab_session))  # the bootloader's ACK: option 66 = TFTP, option 224 issued
    s.tftp()
    try:
        with _cpu_share(c, 0.05):
            target.console.expect(LEASE_224, s.timeouts["installer"], deaths=[INSTALL_FAILED])
            # killed, not stopped: at once, while the slowed installer is between its lease and its first calls
            # (docker pause of the board, tried first, sometimes fails: "unable to freeze")
            lab_session.run.container("backend").kill()
            line, text = _failure(target, s)
            rc = _exit_status(target)
        s.attach()
    finally:
        lab_session.start_service("backend")
    # The installer's first backend call after the lease line is the scenario GET; on a loaded machine it can beat
    # the pause, and then the next call (the netplan GET) is the one that finds the backend gone. Either way
    # nothing may be written.
    got_scenario = "cannot GET the netplan file" in line
    if got_scenario:
        assert rc == 5, text[-3000:]
    else:
        assert "backend unreachable" in line, line
        assert rc == 4, text[-3000:]
    assert "the card is not touched" in line, line
    assert not re.search(WRITE_START, text), text[-3000:]
    _assert_netbooted_installer(s)
    got = acks(dhcp_trace, target)
    assert len(got) >= 2, dhcp_trace.table(target.board.mac)  # the bootloader's and the installer's
    assert 224 in got[0].options and 224 in got[-1].options, dhcp_trace.table(target.board.mac)
    assert f"malina: install URL {option(got[-1], 224)}" in text, text[-3000:]
    assert target.card_digest() == before, "the card changed while the backend was down"
    mach = backend.machine(target.name)
    assert mach["boot_mode"] == "install" and not mach["flagged"], mach
    # the scenario GET never reached the backend (pending), or it did and nothing after it (netbooting)
    assert mach["last_attempt"]["state"] == ("netbooting" if got_scenario else "pending"), mach["last_attempt"]


def test_a_lying_card_fails_its_read_back_and_the_attempt_ends_failed(
        board: Target, lab_session: SimSession, backend: HttpBackend, boot_strategy: StrategyFactory,
        tmp_path: Path) -> None:
    """The card at /dev/mmcblk0 is a FUSE file on the host that flips a bit of the rootfs's superblock on read:
    the write and its stream hash succeed, the read-back (page cache dropped) gets the flipped bit."""
    flip = root_partition(lab_session.image_raw).start + 1024
    path = boardspec.card_path(lab_session.workdir, lab_session.lab.board(board.name))
    lab_session.run.stop_board(board.name)  # its container holds the plain card file; the next one gets the FUSE one
    with PacedCard(tmp_path, size=boardspec.CARD_SIZE, rate=None, lie=Lie(flip_at=flip), mount_on=path) as card:
        try:
            target = lab_session.target(board.name)  # bind-mounts the card path: the FUSE card
            s = boot_strategy(target)
            _netboot_to_installer(s, lab_session)
            line, text = _failure(target, s)
            s.attach()
            assert _exit_status(target) == 6, text[-3000:]
            with card.backing.open("rb") as f:
                head = f.read(MiB)
        finally:
            lab_session.run.stop_board(board.name)  # the container's bind mount keeps the FUSE mount busy
    assert "read-back mismatch: card returned" in line, line
    assert f"for {lab_session.image['size']} bytes, expected {lab_session.image['sha256']}" in line, line
    assert IMAGE_VERIFIED not in text.encode() and INSTALL_OK not in text.encode(), text[-3000:]
    assert "malina: image written:" in text, "the write itself (and its stream hash) should have succeeded"
    _assert_netbooted_installer(s)
    assert head == bytes(MiB), "a card that failed its read-back was left with a head"
    m = backend.wait_state(board.name, {"failed"}, timeout=30.0)
    last: dict[str, Any] = m["last_attempt"]
    assert m["boot_mode"] == "install" and not m["flagged"], m
    assert "read-back mismatch" in (last["error"] or ""), last
    assert last["state"] == "failed" and last["state"] not in GOOD, last
