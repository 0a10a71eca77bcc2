"""The simulated bootloader under each boot-local method (issue 19), against fake neighbours at real-hardware
timing (time factor 1): what it prints in every format generation, that the console parser reads it back, that
the tftp-deny lines are the bootloader image's own formats [STR], and how long it takes to reach SD.

- ``opt66-zero`` (and the default, whose 0.0.0.0 the sim meets first): ``NET … tftp 0.0.0.0`` then
  ``NETBOOT init failed`` — assumed (no evidence of what a Pi 4 does with 0.0.0.0 [SPEC.md (a)]);
- ``tftp-deny``: the real TFTP server answers error 1 to every read: ``TFTP 1: File not found`` lines, then
  ``Firmware not found`` and the next try / mode — documented [F1850, DOC-FLOW, DOC-BL].
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from harness.console.parser import parse_text
from harness.sim.bootloader.config import parse_eeprom
from harness.sim.bootloader.core import Bootloader, Identity, Netboot, Outcome, SdBooted
from harness.sim.bootloader.events import Recorder, Tee
from harness.sim.bootloader.fakes import FakeCard, FakeClock, FakeDhcpServer, FakeNetwork, FakeTftp
from harness.sim.bootloader.uartlog import GENERATIONS, open_console

DATA = Path(__file__).resolve().parents[1] / "data" / "pi4"
MAC = bytes.fromhex("dca632000001")
SERIAL = 0x6E87A417
INSTALLER_TREE = {"6e87a417/start4.elf": b"S" * 3000, "6e87a417/fixup4.dat": b"F" * 10,
                  "6e87a417/config.txt": b"[all]\n", "6e87a417/cmdline.txt": b"console=serial0,115200\n",
                  "6e87a417/kernel8.img": b"K" * 5000}
# What the DHCP answer says and what the TFTP server serves the board, per method, while it must boot local.
# The gate closed = the server has nothing for it (every read: error 1 "File not found", as tftpgate answers).
METHODS = {
    "opt66-zero": (b"0.0.0.0", INSTALLER_TREE),  # gate open, but 0.0.0.0 names no server
    "tftp-deny": (b"10.89.0.4", {}),
    "opt66-zero+tftp-deny": (b"0.0.0.0", {}),
}


def run(method: str, generation: str, eeprom: str = "", siaddr: str = "0.0.0.0"
        ) -> tuple[Outcome, Recorder, str, list[float], FakeTftp]:
    """Power-on to the hand-over at time factor 1, the board in local by ``method``."""
    option66, tree = METHODS[method]
    cfg = parse_eeprom(eeprom)
    clock = FakeClock()
    stream = io.BytesIO()
    recorder = Recorder()
    sd_at: list[float] = []

    class Stopwatch:
        def event(self, name: str, /, **fields: object) -> None:
            if name == "boot_mode" and fields.get("name") == "SD" and not sd_at:
                sd_at.append(clock.now)

    uart = Tee([open_console(generation, stream, clock=lambda: clock.now), recorder, Stopwatch()])
    tftp = FakeTftp(dict(tree))
    net = FakeNetwork(FakeDhcpServer(clock, option66=option66, siaddr=siaddr), tftp, cfg, uart, MAC, 1.0)
    card = FakeCard({"start4.elf": b"s", "fixup4.dat": b"f"})
    outcome = Bootloader(cfg, Identity(MAC, SERIAL, 0xC03111), net, card, uart, clock, 1.0, max_passes=1).boot()
    return outcome, recorder, stream.getvalue().decode(), sd_at, tftp


def boot_local(method: str, generation: str, eeprom: str = "") -> tuple[Recorder, str, float, FakeTftp]:
    """Power-on to SD at time factor 1; the events, the UART text, board seconds to ``Boot mode: SD``."""
    outcome, recorder, text, sd_at, tftp = run(method, generation, eeprom)
    assert isinstance(outcome, SdBooted), outcome
    assert sd_at, "never reached the SD boot mode"
    return recorder, text, sd_at[0], tftp


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_falls_back_to_sd_in_two_network_tries(method: str, generation: str) -> None:
    recorder, text, seconds, tftp = boot_local(method, generation)
    events = parse_text(text)
    summary = events[-1]
    assert summary["modes"] == ["NETWORK", "NETWORK", "SD"]  # NET_BOOT_MAX_RETRIES=1: two tries [DOC-BL]
    starts = [e for e in events if e["event"] == "start_firmware"]
    assert len(starts) == 1  # the card's start4.elf only: nothing was loaded over TFTP
    # real-hardware timing (harness/sim/bootloader/timing.py): power-on 2.3 s, per try link 2.8 s + the first
    # DHCP answer 8 s, the 5 s pause between the tries, the 2 s LED pattern before SD: about 31 s
    assert 25.0 <= seconds <= 40.0, f"{method}: {seconds:.1f} s to the SD boot mode at real-hardware timing"
    if method == "tftp-deny":
        errors = [e for e in events if e["event"] == "tftp_error"]
        assert errors and {(e["code"], e["message"]) for e in errors} == {(1, "File not found")}
        assert [e["event"] for e in events].count("firmware_not_found") == 2
        gets = [e["path"] for e in events if e["event"] == "tftp_get"]
        assert gets[:3] == ["6e87a417/start4.elf", "6e87a417/start.elf", "config.txt"], gets  # prefix cleared
        assert tftp.files == {} and len(tftp.requests) == len(gets)  # every read was asked, none served
    else:
        assert tftp.requests == [], "0.0.0.0: the TFTP server is never asked"
        assert [e["event"] for e in events].count("netboot_failed") == 2
        nets = [e for e in events if e["event"] == "net_config"]
        assert nets and all(e["tftp"] == "0.0.0.0" for e in nets)
    assert recorder.of("boot_mode")[-1] == {"name": "SD", "nibble": 1, "remaining": 0xF}


def _format_regex(fmt: str) -> re.Pattern[str]:
    """A printf format of the bootloader image [STR] as a regex over one printed line."""
    out, i = "", 0
    conversions = {"s": r".+", "d": r"-?\d+", "u": r"\d+", "x": r"[0-9a-f]+", "02x": r"[0-9a-f]{2}",
                   "i": r"\d+\.\d+\.\d+\.\d+", "e": r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"}
    for m in re.finditer(r"%(02x|[sduxie])", fmt):
        out += re.escape(fmt[i:m.start()]) + conversions[m.group(1)]
        i = m.end()
    return re.compile("^" + out + re.escape(fmt[i:]) + "$")


def test_tftp_deny_lines_are_the_images_own_formats() -> None:
    """Each line the tftp-deny path adds matches a format string of the 2021-07-06 image [STR]."""
    strings = (DATA / "pi4-bootloader-strings-2021-07-06.txt").read_text()
    formats = [line.split(None, 1)[1] for line in strings.splitlines() if re.match(r"^\s*\d+\s+\S", line)]
    wanted = {"TFTP_GET: %e %i %s", "TFTP %d: %s", "Firmware not found", "Boot mode: %s (%02x) order %x"}
    assert wanted <= set(formats)
    _, text, _, _ = boot_local("tftp-deny", "2022")
    patterns = [_format_regex(f) for f in wanted]
    path_lines = [line for line in text.splitlines()
                  if line.startswith(("TFTP_GET", "TFTP ", "Firmware not", "Boot mode"))]
    assert path_lines, text
    for line in path_lines:
        assert any(p.match(line) for p in patterns), f"not a format of the image: {line!r}"
    # and as the real logs print them: TFTP_GET followed by an empty line (netboot-success-01.log)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("TFTP_GET:"):
            assert lines[i + 1] == "", lines[i:i + 3]
    real = (DATA / "logs" / "netboot-success-01.log").read_text()
    assert re.search(r"^TFTP_GET: [0-9a-f:]{17} [\d.]+ 6e87a417/start4\.elf$", real, re.M)
    assert re.search(r"^TFTP_GET: [0-9a-f:]{17} [\d.]+ 6e87a417/start4\.elf$", text, re.M)


def test_the_default_is_no_slower_than_either_method() -> None:
    times = {method: boot_local(method, "2024")[2] for method in METHODS}
    fastest = min(times["opt66-zero"], times["tftp-deny"])
    assert times["opt66-zero+tftp-deny"] <= 1.1 * fastest, times


def test_what_if_a_release_ignored_0000_the_default_still_falls_back() -> None:
    """The reason the default closes the TFTP gate too: a (hypothetical, sim-only ``SIM_OPTION66_ZERO=ignore``)
    release that skipped option 66 = 0.0.0.0 and took the DHCP server's next-server (siaddr) would netboot the
    installer by ``opt66-zero`` alone; by ``opt66-zero+tftp-deny`` it is refused and falls back to SD."""
    what_if = "SIM_OPTION66_ZERO=ignore\n"
    alone = run("opt66-zero", "2022", what_if, siaddr="10.89.0.4")[0]
    assert isinstance(alone, Netboot) and alone.server == "10.89.0.4", alone
    outcome, _, text, sd_at, tftp = run("opt66-zero+tftp-deny", "2022", what_if, siaddr="10.89.0.4")
    assert isinstance(outcome, SdBooted) and sd_at and sd_at[0] <= 40.0, outcome
    assert "TFTP 1: File not found" in text and "Firmware not found" in text
    assert tftp.requests and all(server == "10.89.0.4" for server, _, _ in tftp.requests)
    # a real release (no what-if key) with the same DHCP answer: 0.0.0.0 wins, nothing is asked over TFTP
    outcome, _, _, _, tftp = run("opt66-zero", "2022", "", siaddr="10.89.0.4")
    assert isinstance(outcome, SdBooted) and tftp.requests == []
