"""The bootloader state machine against fake neighbours: BOOT_ORDER walk, retries, option 66 = 0.0.0.0,
TFTP prefix probing and the DORA itself (real frames to and from a fake DHCP server)."""

from __future__ import annotations

import pytest

from harness.sim.bootloader.config import EepromError, mode_step, parse_eeprom, render_eeprom
from harness.sim.bootloader.core import Bootloader, Halted, Identity, Netboot, SdBooted, kernel_cmdline
from harness.sim.bootloader.events import Recorder
from harness.sim.bootloader.fakes import FakeCard, FakeClock, FakeDhcpServer, FakeNetwork, FakeTftp

MAC = bytes.fromhex("dca632000001")
SERIAL = 0x6E87A417
FACTOR = 0.05
TREE = {
    "6e87a417/start4.elf": b"S" * 3000,
    "6e87a417/fixup4.dat": b"F" * 10,
    "6e87a417/config.txt": b"[all]\n",
    "6e87a417/cmdline.txt": b"console=serial0,115200 malina.url=x\n",
    "6e87a417/kernel8.img": b"K" * 5000,
}
SD_FILES = {"start4.elf": b"s", "fixup4.dat": b"f",
            "cmdline.txt": b"console=serial0,115200 root=LABEL=writable\n"}


def make(
    eeprom: str = "",
    *,
    option66: bytes | None = b"10.89.0.4",
    tree: dict[str, bytes] | None = None,
    card: FakeCard | None = None,
    answer: bool = True,
    max_passes: int | None = 3,
) -> tuple[Bootloader, Recorder, FakeNetwork, FakeCard]:
    cfg = parse_eeprom(eeprom)
    clock = FakeClock()
    uart = Recorder()
    server = FakeDhcpServer(clock, option66=option66, answer=answer)
    net = FakeNetwork(server, FakeTftp(dict(TREE if tree is None else tree)), cfg, uart, MAC, FACTOR)
    card = card or FakeCard()
    boot = Bootloader(cfg, Identity(MAC, SERIAL, 0xC03111), net, card, uart, clock, FACTOR,
                      max_passes=max_passes)
    return boot, uart, net, card


def modes(uart: Recorder) -> list[tuple[str, int, int]]:
    return [(f["name"], f["nibble"], f["remaining"]) for f in uart.of("boot_mode")]


def test_defaults() -> None:
    cfg = parse_eeprom("")
    assert cfg.boot_order == 0xF12 and cfg.net_boot_max_retries == 1
    assert (cfg.dhcp_timeout_ms, cfg.dhcp_req_timeout_ms, cfg.tftp_file_timeout_ms) == (45000, 4000, 30000)
    assert cfg.tftp_prefix == 0 and cfg.dhcp_option97 == 0x34695052


def test_parse_full_config_and_minimums() -> None:
    cfg = parse_eeprom(
        "[all]\n# comment\nBOOT_UART=1\nBOOT_ORDER=0xf21\nNET_BOOT_MAX_RETRIES=3\nTFTP_PREFIX=1\n"
        "TFTP_PREFIX_STR=pxe/\nDHCP_TIMEOUT=1000\nDHCP_REQ_TIMEOUT=100\nTFTP_FILE_TIMEOUT=6000\n"
        "DHCP_OPTION97=0\nSOMETHING_NEW=5\n"
    )
    assert cfg.boot_order == 0xF21 and cfg.net_boot_max_retries == 3 and cfg.boot_uart == 1
    assert cfg.tftp_prefix == 1 and cfg.tftp_prefix_str == "pxe/"
    assert cfg.dhcp_timeout_ms == 5000 and cfg.dhcp_req_timeout_ms == 500  # documented minimums
    assert cfg.tftp_file_timeout_ms == 6000 and cfg.dhcp_option97 == 0
    assert cfg.raw["SOMETHING_NEW"] == "5"


@pytest.mark.parametrize("text", ["BOOT_ORDER=xyz\n", "NET_BOOT_MAX_RETRIES=many\n", "garbage line\n",
                                  "lower=1\n", "TFTP_PREFIX=7\n"])
def test_bad_config_is_a_clear_error(text: str) -> None:
    with pytest.raises(EepromError, match="line 1"):
        parse_eeprom(text)


def test_render_round_trips() -> None:
    text = render_eeprom({"BOOT_ORDER": "0xf12", "NET_BOOT_MAX_RETRIES": 1})
    cfg = parse_eeprom(text)
    assert cfg.boot_order == 0xF12 and cfg.boot_uart == 1


def test_order_prints_remaining_nibbles() -> None:
    steps = (mode_step(0xF12, 0), mode_step(0xF12, 1))
    assert [(s.nibble, s.remaining) for s in steps] == [(2, 0xF1), (1, 0xF)]
    assert (mode_step(0xF56412, 0).remaining) == 0xF5641


def test_netboot_success_hands_over_with_files() -> None:
    boot, uart, net, _ = make()
    out = boot.boot()
    assert isinstance(out, Netboot)
    assert out.server == "10.89.0.4" and out.prefix == "6e87a417/"
    assert out.files["kernel8.img"] == TREE["6e87a417/kernel8.img"]
    assert modes(uart) == [("NETWORK", 2, 0xF1)]
    assert net.server.sent_types() == [1, 3]  # DISCOVER, REQUEST: a full DORA
    replies = uart.of("dhcp_reply")
    assert [(r["reply"].type_name, r["expect"]) for r in replies] == [("OFFER", "OFFER"), ("ACK", "ACK")]
    assert uart.of("net_config")[0] == {"ip": "10.90.1.100", "mask": "255.255.255.0", "gw": "10.90.1.1",
                                        "tftp": "10.89.0.4"}
    assert uart.names().index("start_firmware") > uart.names().index("arp")


def test_tftp_request_sequence_probes_then_loads() -> None:
    boot, uart, net, _ = make()
    boot.boot()
    reqs = [(p, probe) for _, p, probe in net.tftp.requests]
    assert reqs[0] == ("6e87a417/start4.elf", True)  # probe, aborted with "Early terminate"
    assert reqs[1] == ("6e87a417/config.txt", False)
    # between config.txt and start4.elf: the 2024 loader's self-update and recovery probes, in its order
    # [USB214] (tests/data/pi4/SPEC.md); companions (pieeprom.upd, the fixups) only after a file that exists
    probed = [p for p, probe in reqs[2:] if probe]
    assert probed == [f"6e87a417/{n}" for n in ("vl805.sig", "pieeprom.sig", "recover4.elf", "recovery.elf")]
    assert reqs[2 + len(probed)] == ("6e87a417/start4.elf", False)
    loads = [p for p, probe in reqs if not probe]
    assert loads.index("6e87a417/start4.elf") < loads.index("6e87a417/fixup4.dat") < loads.index(
        "6e87a417/kernel8.img")
    errors = uart.of("tftp_error")
    assert errors and all(e["code"] == 1 and e["message"] == "File not found" for e in errors)
    gets = [f["path"] for f in uart.of("tftp_get")]
    assert "6e87a417/kernel8.img" not in gets  # start4.elf's reads are silent with BOOT_UART only


def test_without_self_update_only_recovery_files_are_probed() -> None:
    boot, _, net, _ = make("ENABLE_SELF_UPDATE=0")
    boot.boot()
    reqs = [(p, probe) for _, p, probe in net.tftp.requests]
    assert [p for p, probe in reqs[2:] if probe][:2] == ["6e87a417/recover4.elf", "6e87a417/recovery.elf"]
    assert not any("pieeprom" in p or "vl805" in p for p, _ in reqs)


def test_prefix_cleared_when_serial_dir_is_absent() -> None:
    tree = {k.split("/", 1)[1]: v for k, v in TREE.items()}
    boot, _, net, _ = make(tree=tree)
    out = boot.boot()
    assert isinstance(out, Netboot) and out.prefix == ""
    first = [p for _, p, _ in net.tftp.requests][:3]
    assert first == ["6e87a417/start4.elf", "6e87a417/start.elf", "config.txt"]


def test_option66_zero_fails_network_and_falls_back_to_sd() -> None:
    card = FakeCard(files=SD_FILES)
    boot, uart, net, _ = make(option66=b"0.0.0.0", card=card)
    out = boot.boot()
    assert isinstance(out, SdBooted)
    # NET_BOOT_MAX_RETRIES=1: two network attempts, each a full DORA, then SD
    assert modes(uart) == [("NETWORK", 2, 0xF1), ("NETWORK", 2, 0xF1), ("SD", 1, 0xF)]
    assert net.dhcp_runs == 2 and net.tftp.requests == []
    assert [c["tftp"] for c in uart.of("net_config")] == ["0.0.0.0", "0.0.0.0"]
    assert uart.names().count("netboot_failed") == 2


@pytest.mark.parametrize("retries,attempts", [(0, 1), (1, 2), (4, 5)])
def test_net_boot_max_retries_honoured(retries: int, attempts: int) -> None:
    boot, uart, net, _ = make(f"NET_BOOT_MAX_RETRIES={retries}\n", answer=False, max_passes=1)
    out = boot.boot()
    assert isinstance(out, Halted)
    assert [m for m in modes(uart) if m[0] == "NETWORK"] == [("NETWORK", 2, 0xF1)] * attempts
    assert net.dhcp_runs == attempts
    # each DHCP phase retransmits DISCOVER on the backoff inside DHCP_TIMEOUT, never sends a REQUEST
    assert set(net.server.sent_types()) == {1}
    assert len(net.server.sent) == attempts * 3


def test_restart_loops_back_to_the_first_mode() -> None:
    boot, uart, _, card = make("NET_BOOT_MAX_RETRIES=0\n", option66=b"0.0.0.0", max_passes=2)
    out = boot.boot()
    assert isinstance(out, Halted)
    assert modes(uart) == [("NETWORK", 2, 0xF1), ("SD", 1, 0xF)] * 2
    assert card.reads == 2
    assert uart.of("restart") == [{"count": 1, "max": -1}]


def test_boot_order_0x2_goes_to_sd_card_detect() -> None:
    def insert(c: FakeCard) -> None:
        if c.reads >= 3:
            c.files = SD_FILES

    card = FakeCard(on_read=insert)
    boot, uart, _, _ = make("BOOT_ORDER=0x2\nNET_BOOT_MAX_RETRIES=0\n", option66=b"0.0.0.0", card=card)
    out = boot.boot()
    assert isinstance(out, SdBooted)
    assert modes(uart) == [("NETWORK", 2, 0), ("SD", 0, 0)]
    assert uart.names().count("insert_sd") == 2  # waits for a card, then boots it


def test_unknown_nibbles_are_tried_as_sd() -> None:
    boot, uart, _, _ = make("BOOT_ORDER=0xf9a\n", card=FakeCard(files=SD_FILES))
    out = boot.boot()
    assert isinstance(out, SdBooted)
    assert uart.of("unknown_mode") == [{"nibble": 0xA}]
    assert modes(uart) == [("SD", 1, 0xF9)]


def test_sd_first_order_boots_the_card_without_network() -> None:
    boot, uart, net, _ = make("BOOT_ORDER=0xf21\n", card=FakeCard(files=SD_FILES, prefix="current/"))
    out = boot.boot()
    assert isinstance(out, SdBooted) and out.boot.prefix == "current/"
    assert modes(uart) == [("SD", 1, 0xF2)] and net.dhcp_runs == 0
    assert [f["path"] for f in uart.of("file_read")] == ["current/start4.elf", "current/fixup4.dat"]


def test_card_without_firmware_reports_not_found() -> None:
    boot, uart, _, _ = make("BOOT_ORDER=0xf1\n", card=FakeCard(files={"config.txt": b""}), max_passes=1)
    assert isinstance(boot.boot(), Halted)
    assert "firmware_not_found" in uart.names()


def test_max_restarts_resets_with_a_new_banner() -> None:
    boot, uart, _, _ = make("BOOT_ORDER=0xf1\nMAX_RESTARTS=1\n", max_passes=5)
    out = boot.boot()
    assert isinstance(out, Halted)
    assert uart.names().count("restart_limit") >= 1
    assert uart.names().count("banner") >= 2


def test_stop_nibble_halts() -> None:
    boot, uart, _, _ = make("BOOT_ORDER=0xe\n")
    out = boot.boot()
    assert isinstance(out, Halted) and "boot_stopped" in uart.names()


def test_missing_kernel_after_start4_hangs() -> None:
    tree = dict(TREE)
    del tree["6e87a417/kernel8.img"]
    boot, uart, _, _ = make(tree=tree)
    out = boot.boot()
    assert isinstance(out, Halted) and "kernel8.img" in out.reason
    assert "start_firmware" in uart.names()


def test_no_start4_is_firmware_not_found_then_sd() -> None:
    boot, uart, _, _ = make(tree={}, card=FakeCard(files=SD_FILES))
    out = boot.boot()
    assert isinstance(out, SdBooted)
    assert uart.names().count("firmware_not_found") == 2


def test_empty_tftp_server_is_asked_for_eight_files_per_try() -> None:
    """[F1850]: eight ``TFTP 1: File not found`` before ``Firmware not found``; then the network is stopped and
    cancelled [NST] before the next try."""
    boot, uart, net, _ = make(tree={}, card=FakeCard(files=SD_FILES))
    boot.boot()
    names = uart.names()
    first = names.index("firmware_not_found")
    assert names[:first].count("tftp_error") == 8
    assert len({p for _, p, _ in net.tftp.requests}) == 8
    assert names[first + 1] == "network_stop" and names[first + 2] == "boot_mode"  # no "NETBOOT init failed"


def test_dead_tftp_server_costs_the_file_timeout_per_file() -> None:
    """No answer at all: TFTP_FILE_TIMEOUT (30 s) for each of the 8 files, two tries (timing.py)."""
    boot, uart, net, _ = make(tree={}, card=FakeCard(files=SD_FILES))
    net.tftp.timeout_paths = {p for p in ("6e87a417/start4.elf", "6e87a417/start.elf", "config.txt", "vl805.sig",
                                          "pieeprom.sig", "recover4.elf", "recovery.elf", "start4.elf")}
    clock = boot.clock
    assert isinstance(clock, FakeClock)
    net.tftp.clock, net.tftp.file_timeout = clock, 30 * FACTOR  # TFTP_FILE_TIMEOUT [DOC-BL]
    boot.boot()
    assert uart.names().count("tftp_timeout") == 16
    assert 2 * 8 * 30 * FACTOR <= clock.now <= 2 * 8 * 30 * FACTOR + 60 * FACTOR


def test_real_timing_to_the_first_dhcp_answer_and_the_kernel() -> None:
    """At real-hardware timing (timing.py): the link 2.8 s and the first DHCP answer 8 s after it; a netboot
    reaches the kernel about 5.7 s after ``Starting start4.elf`` and the TFTP reads take their bytes' time."""
    cfg = parse_eeprom("")
    clock = FakeClock()
    stamps: list[tuple[str, float]] = []

    class Stamped(Recorder):
        def event(self, name: str, /, **fields: object) -> None:
            stamps.append((name, clock.now))
            super().event(name, **fields)

    uart = Stamped()
    server = FakeDhcpServer(clock, option66=b"10.89.0.4")
    net = FakeNetwork(server, FakeTftp(dict(TREE)), cfg, uart, MAC, 1.0)
    boot = Bootloader(cfg, Identity(MAC, SERIAL, 0xC03111), net, FakeCard(), uart, clock, 1.0, max_passes=1)
    out = boot.boot()
    assert isinstance(out, Netboot)
    at = dict(stamps)
    assert at["dhcp_reply"] - at["link_up"] >= 8.0
    assert clock.now - at["start_firmware"] >= 5.7


def test_tftp_ip_overrides_option66() -> None:
    boot, _, _, _ = make("TFTP_IP=10.89.0.9\n", tree={})
    boot.max_passes = 1
    boot.boot()
    servers = {s for s, _, _ in boot.network.tftp.requests}  # type: ignore[attr-defined]
    assert servers == {"10.89.0.9"}


def test_kernel_cmdline_rewrites_serial0() -> None:
    line = kernel_cmdline("console=serial0,115200 root=/dev/mmcblk0p2", MAC)
    assert "console=ttyS0,115200" in line and "serial0" not in line
    assert line.startswith("coherent_pool=1M 8250.nr_uarts=1") and "DC:A6:32:00:00:01" in line
