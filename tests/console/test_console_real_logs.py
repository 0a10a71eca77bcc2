"""The parser on every real log in ``tests/data/pi4/logs`` (origins: ``tests/data/pi4/README.md``).

Expected values are read by hand from each log (see the log's own header for the board and BOOT_ORDER).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.console.parser import ConsoleParser, parse_bytes

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "tests" / "data" / "pi4" / "logs"

Events = list[dict[str, Any]]


def load(name: str) -> Events:
    path = LOGS / name
    assert path.is_file(), f"{path} missing"
    return parse_bytes(path.read_bytes())


def of(events: Events, kind: str) -> Events:
    return [e for e in events if e["event"] == kind]


def summary(events: Events) -> dict[str, Any]:
    assert events[-1]["event"] == "summary"
    assert of(events, "summary") == [events[-1]]
    return events[-1]


def test_every_log_is_covered() -> None:
    covered = {
        "boot-order-usb-first-after-reboot-01.log", "dhcp-no-usable-offer-next-mode-01.log",
        "eeprom-update-then-boot-01.log", "handover-start4-uart2ndstage-to-kernel-01.log",
        "netboot-ipv6-success-01.log", "netboot-offer-pxe-01.log", "netboot-success-01.log",
        "netboot-init-failed-fallback-sd-01.log",
        "related-pi5-netboot-dhcp-01.log", "related-pi5-netboot-tftp-01.log", "sd-boot-timestamped-01.log",
    }
    present = {p.name for p in LOGS.glob("*.log")}
    assert present, f"no logs in {LOGS}"
    assert present <= covered, f"logs without a test: {sorted(present - covered)}"


def test_boot_order_usb_first_2020_single_line_banner() -> None:
    ev = load("boot-order-usb-first-after-reboot-01.log")
    (banner,) = of(ev, "banner")
    assert banner["version"] == "c305221a"
    assert banner["date"] == "Sep  3 2020"
    assert banner["serial"] == "cbb4b4cf"
    assert banner["boardrev"] == "c03111"
    assert of(ev, "boot_mode") == [{"event": "boot_mode", "mode": "USB-MSD", "nibble": 4, "order": "f1"}]
    s = summary(ev)
    assert s["boot_order"] == "0xf14"
    assert s["modes"] == ["USB-MSD"]
    assert s["tftp_paths"] == []
    assert not of(ev, "dhcp_reply")


def test_dhcp_no_usable_offer_next_mode() -> None:
    ev = load("dhcp-no-usable-offer-next-mode-01.log")
    assert not of(ev, "banner")
    assert [(b["mode"], b["nibble"], b["order"]) for b in of(ev, "boot_mode")] == [
        ("NETWORK", 2, "f145"), ("NETWORK", 2, "f145"), ("BCM-USB-MSD", 5, "f14"),
    ]
    replies = of(ev, "dhcp_reply")
    assert [(r["server_mac"], r["server_ip"], r["type"], r["yiaddr"]) for r in replies] == [
        ("e4:5f:01:0d:24:96", "192.168.25.1", None, None)
    ] * 2
    kinds = [e["event"] for e in ev]
    assert kinds == ["boot_mode", "boot_mode", "usb_hub", "dhcp_reply", "dhcp_reply", "netboot_failed",
                     "boot_mode", "summary"]
    assert of(ev, "usb_hub") == [{"event": "usb_hub", "hub": "root port 1"}]  # the on-board hub [E559]
    s = summary(ev)
    assert s["boot_order"] == "0xf1452"
    assert s["modes"] == ["NETWORK", "NETWORK", "BCM-USB-MSD"]


def test_eeprom_update_2022_two_line_banner() -> None:
    ev = load("eeprom-update-then-boot-01.log")
    (banner,) = of(ev, "banner")
    assert banner["version"] == "0fc8fc8e"
    assert banner["date"] == "2022/12/07"
    assert banner["serial"] == "8eb25f41"
    assert banner["boardrev"] == "c03111"
    s = summary(ev)
    assert s["boot_order"] is None
    assert s["modes"] == []
    assert s["serial"] == "8eb25f41"


def test_handover_to_kernel() -> None:
    ev = load("handover-start4-uart2ndstage-to-kernel-01.log")
    (start,) = of(ev, "start_firmware")
    assert start["file"] == "start4.elf"
    assert start["address"] == "0xfec00200"
    assert start["partition"] == 0
    (kernel,) = of(ev, "kernel")
    assert kernel["line"] == "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd083]"
    kinds = [e["event"] for e in ev]
    assert kinds.index("start_firmware") < kinds.index("kernel")
    assert not of(ev, "login_prompt")
    assert summary(ev)["kernel"] is True


def test_netboot_ipv6() -> None:
    ev = load("netboot-ipv6-success-01.log")
    assert [(b["mode"], b["order"]) for b in of(ev, "boot_mode")] == [("NETWORK", "f")]
    (net,) = of(ev, "net_config")
    assert net == {"event": "net_config", "ip": "fd49:869:6f93::1000", "mask": None, "gw": None,
                   "tftp": "fd49:869:6f93::1"}
    gets = of(ev, "tftp_get")
    assert {g["server_ip"] for g in gets} == {"fd49:869:6f93::1"}
    assert {g["server_mac"] for g in gets} == {"dc:a6:32:6f:73:f4"}
    s = summary(ev)
    # the excerpt's first Boot mode line is the last non-f nibble of 0xf21, so the derived value is 0xf2
    assert s["boot_order"] == "0xf2"
    assert s["tftp_paths"] == ["ab5a4158/start4.elf", "ab5a4158/config.txt"]


def test_netboot_offer_pxe() -> None:
    ev = load("netboot-offer-pxe-01.log")
    (banner,) = of(ev, "banner")
    assert (banner["version"], banner["serial"], banner["boardrev"]) == ("d6d82cf9", "75633c6c", "d03114")
    assert banner["date"] == "Feb 16 2021"
    (reply,) = of(ev, "dhcp_reply")
    assert reply["server_mac"] == "00:0e:c6:e2:13:18"
    assert reply["server_ip"] == "192.168.128.1"
    assert reply["type"] == "OFFER"
    assert reply["yiaddr"] == "192.168.128.119"
    assert reply["siaddr"] == "192.168.128.1"
    assert list(reply["options"]) == ["53", "54", "51", "58", "59", "1", "28", "3", "60", "97", "43"]
    assert reply["options"]["1"] == "255.255.255.0"
    assert reply["options"]["28"] == "192.168.128.255"
    assert reply["options"]["43"] == ""
    assert list(reply["pxe_options"]) == ["6"]
    s = summary(ev)
    assert s["boot_order"] == "0xf142"
    assert s["dhcp_types"] == ["OFFER"]


def test_netboot_success_2021_offer_ack_tftp() -> None:
    ev = load("netboot-success-01.log")
    replies = of(ev, "dhcp_reply")
    assert [r["type"] for r in replies] == ["OFFER", "ACK"]
    for r in replies:
        assert (r["server_mac"], r["server_ip"], r["yiaddr"], r["siaddr"]) == (
            "ac:1f:6b:66:01:83", "192.168.20.1", "192.168.20.100", None)
        assert r["options"]["66"] == "192.168.20.105[66]: 192.168.20.105"
        assert "43" not in r["options"]
    # option 15 comes after an empty line and still belongs to the ACK
    assert "15" in replies[1]["options"] and "15" not in replies[0]["options"]
    nets = of(ev, "net_config")
    assert len(nets) == 2
    assert nets[0] == {"event": "net_config", "ip": "192.168.20.100", "mask": "255.255.255.0",
                       "gw": "0.0.0.0", "tftp": "192.168.20.105"}
    (get,) = of(ev, "tftp_get")
    assert (get["server_mac"], get["server_ip"]) == ("dc:a6:32:1b:1d:c6", "192.168.20.105")
    s = summary(ev)
    assert s["boot_order"] == "0x2"
    assert s["tftp_paths"] == ["6e87a417/start4.elf"]


def test_pi5_dhcp_glued_timestamps() -> None:
    ev = load("related-pi5-netboot-dhcp-01.log")
    assert [(b["mode"], b["order"]) for b in of(ev, "boot_mode")] == [("NETWORK", "f")]
    replies = of(ev, "dhcp_reply")
    assert [(r["server_ip"], r["type"], r["yiaddr"]) for r in replies] == [
        ("10.14.0.3", "OFFER", None),
        ("10.14.0.1", "OFFER", "10.14.0.198"),
        ("10.14.0.1", "ACK", "10.14.0.198"),
    ]
    proxy, router, _ = replies
    # the glued next-line timestamps are not part of the values
    assert proxy["options"] == {"53": "DHCP recv OFFER (2) expect OFFER", "54": "172.42.0.10", "60": "",
                                "97": "", "43": ""}
    assert list(proxy["pxe_options"]) == ["6", "10", "9"]
    assert router["options"]["1"] == "255.255.255.0"
    assert router["options"]["3"] == "10.14.0.1"
    assert summary(ev)["boot_order"] == "0xf2"


def test_pi5_tftp_double_slash_paths() -> None:
    ev = load("related-pi5-netboot-tftp-01.log")
    assert summary(ev)["tftp_paths"] == [
        "bd989ae1//config.txt", "bd989ae1//overlays/vc4-fkms-v3d-pi4.dtbo", "bd989ae1//overlays/dwc2.dtbo",
    ]
    assert {g["server_ip"] for g in of(ev, "tftp_get")} == {"10.14.0.3"}
    assert not of(ev, "tftp_error")


def test_sd_boot_2024_timestamped_bootsys() -> None:
    ev = load("sd-boot-timestamped-01.log")
    banners = of(ev, "banner")
    assert [b["stage"] for b in banners] == ["BOOTSYS", "BOOTLOADER"]
    for b in banners:
        assert (b["version"], b["date"], b["serial"], b["boardrev"]) == (
            "3858f977", "2024/12/07", "2ac43544", "d03115")
    assert of(ev, "boot_mode") == [{"event": "boot_mode", "mode": "SD", "nibble": 1, "order": "f4"}]
    assert summary(ev)["boot_order"] == "0xf41"


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.log")))
def test_streaming_in_small_chunks_matches_whole(name: str) -> None:
    data = (LOGS / name).read_bytes()
    parser = ConsoleParser()
    streamed: Events = []
    for i in range(0, len(data), 7):
        streamed += parser.feed_bytes(data[i:i + 7])
    streamed += parser.finish()
    assert streamed == parse_bytes(data)


def test_netboot_success_event_order() -> None:
    ev = load("netboot-success-01.log")
    assert [e["event"] for e in ev] == [
        "boot_mode", "link_status", "dhcp_reply", "dhcp_reply", "net_config", "net_config", "tftp_get", "summary",
    ]
    assert of(ev, "link_status") == [{"event": "link_status", "speed": 1000, "duplex": "full"}]
    offer = of(ev, "dhcp_reply")[0]
    assert offer["options"] == {"53": "DHCP recv OFFER (2) expect OFFER", "54": "192.168.20.1", "51": "",
                                "1": "255.255.255.0", "3": "192.168.20.1",
                                "66": "192.168.20.105[66]: 192.168.20.105"}
    assert summary(ev)["dhcp_types"] == ["OFFER", "ACK"]


def test_netboot_init_failed_stops_and_cancels_before_the_next_mode() -> None:
    """[NST]: no link -> the network stopped and the netboot cancelled, then the next boot mode; a warm boot of
    an R1.1 board resets the USB port power before the first mode."""
    ev = load("netboot-init-failed-fallback-sd-01.log")
    kinds = [e["event"] for e in ev]
    assert kinds == ["banner", "usb_port_power", "boot_mode", "netboot_cancel", "netboot_failed", "boot_mode",
                     "summary"]
    assert of(ev, "usb_port_power") == [{"event": "usb_port_power", "ms": 1000}]
    assert [b["mode"] for b in of(ev, "boot_mode")] == ["NETWORK", "SD"]
    (banner,) = of(ev, "banner")
    assert (banner["serial"], banner["boardrev"], banner["date"]) == ("6e87a417", "b03111", "2021/11/22")
    assert summary(ev)["boot_order"] == "0x2"


def test_hardware_lines_of_the_other_logs() -> None:
    """Link speed, hub, card and file lines where real logs print them."""
    assert of(load("netboot-offer-pxe-01.log"), "link_status") == [
        {"event": "link_status", "speed": 1000, "duplex": "full"}]
    assert of(load("netboot-ipv6-success-01.log"), "link_status") == [
        {"event": "link_status", "speed": 100, "duplex": "full"}]
    sd = load("sd-boot-timestamped-01.log")  # 2024 build: the hub right after "Boot mode: SD (01) order f4"
    kinds = [e["event"] for e in sd]
    assert kinds[kinds.index("boot_mode") + 1:kinds.index("boot_mode") + 3] == ["usb_hub", "usb_hub"]
    assert [h["hub"] for h in of(sd, "usb_hub")] == ["root port 1", "[01:00] 2.16 000000:01"]
    handover = load("handover-start4-uart2ndstage-to-kernel-01.log")
    assert of(handover, "file_read") == [{"event": "file_read", "path": "start4.elf", "size": 2249280},
                                         {"event": "file_read", "path": "fixup4.dat", "size": 5399}]
    pi5 = load("related-pi5-netboot-tftp-01.log")
    assert {"event": "file_read", "path": "bd989ae1//config.txt", "size": 2772} in of(pi5, "file_read")


def test_pi5_proxy_and_router_addresses() -> None:
    proxy, offer, ack = of(load("related-pi5-netboot-dhcp-01.log"), "dhcp_reply")
    assert (proxy["server_mac"], proxy["siaddr"], proxy["pxe_options"]) == (
        "08:00:27:00:d4:68", None, {"6": "", "10": "", "9": ""})
    assert (offer["server_mac"], offer["siaddr"]) == ("08:00:27:62:1e:81", "10.14.0.1")
    assert ack["options"] == {"53": "DHCP recv ACK (5) expect ACK"}


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.log")))
def test_every_log_gives_typed_events_and_the_cli_agrees(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    from typing import get_args, get_type_hints

    from harness.console.cli import main
    from harness.console.events import Event

    fields = {get_args(get_type_hints(t)["event"])[0]: set(get_type_hints(t)) for t in get_args(Event)}
    ev = load(name)
    for e in ev:
        assert set(e) == fields[e["event"]], e
    assert [e["event"] for e in ev].count("summary") == 1 and ev[-1]["event"] == "summary"
    assert main(["parse", str(LOGS / name), "--json"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == ev
