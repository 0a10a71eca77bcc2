"""Synthetic inputs for what the real logs do not cover: glued lines, CRLF, garbage, tabs, errors, login."""

from __future__ import annotations

from typing import Any

import pytest

from harness.console.parser import ConsoleParser, parse_bytes, parse_text

Events = list[dict[str, Any]]


def kinds(events: Events) -> list[str]:
    return [e["event"] for e in events]


NETBOOT_2021 = (
    "RPi: BOOTLOADER release VERSION:c258ef8f DATE: 2021/11/22 TIME: 11:23:32 BOOTMODE: 0x00000006 part: 0 "
    "BUILD_TIMESTAMP=1625568293 0x97533126 0x00c03140 0x000c5fe0\n"
    "Boot mode: NETWORK (02) order f1\n"
    "NET_BOOT: dc:a6:32:09:f8:c4 wait for link TFTP: 0.0.0.0\n"
    "DHCP src: 02:00:00:00:00:01 10.89.2.1\n"
    "YI_ADDR 10.89.2.50\n"
    "OPTIONS:-\n"
    "\top: 53 len:   1 DHCP recv OFFER (2) expect OFFER\n"
    "\top: 54 len:   4 10.89.2.1\n"
    "\top: 66 len:   9 10.89.2.1[66]: 10.89.2.1\n"
    "\n"
    "NET 10.89.2.50 255.255.255.0 gw 0.0.0.0 tftp 10.89.2.1\n"
    "TFTP_GET: 02:00:00:00:00:01 10.89.2.1 97533126/start4.elf\n"
    "\n"
    "TFTP 1: File not found\n"
    "TFTP_GET: 02:00:00:00:00:01 10.89.2.1 start4.elf\n"
    "\n"
    "TFTP 1: File not found\n"
    "Firmware not found\n"
    "Boot mode: SD (01) order f\n"
    "Starting start4.elf @ 0xfec00200 partition 0\n"
    "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd083]\n"
    "[    0.000000] Linux version 6.6.0\n"
    "\n"
    "malina-01 login: "
)


def test_full_sequence_2021_format() -> None:
    ev = parse_text(NETBOOT_2021)
    assert kinds(ev) == [
        "banner", "boot_mode", "dhcp_reply", "net_config", "tftp_get", "tftp_error", "tftp_get", "tftp_error",
        "firmware_not_found", "boot_mode", "start_firmware", "kernel", "login_prompt", "summary",
    ]
    banner = ev[0]
    assert (banner["serial"], banner["boardrev"], banner["date"]) == ("97533126", "c03140", "2021/11/22")
    assert ev[5] == {"event": "tftp_error", "code": 1, "message": "File not found"}
    assert ev[11]["line"] == "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd083]"
    assert ev[12]["host"] == "malina-01"
    s = ev[-1]
    assert s["boot_order"] == "0xf12"
    assert s["modes"] == ["NETWORK", "SD"]
    assert s["tftp_paths"] == ["97533126/start4.elf", "start4.elf"]


def test_2020_09_banner_with_two_trailing_values_and_unpadded_serial() -> None:
    line = ("RPi: BOOTLOADER release VERSION:c305221a DATE: Sep  3 2020 TIME: 13:11:46 BOOTMODE: 0x00000006 "
            "part: 0 BUILD_TIMESTAMP=1599135103 0x0bb4b4cf 0x00c03111\n")
    (banner, _summary) = parse_text(line)
    assert banner["serial"] == "0bb4b4cf"
    assert banner["boardrev"] == "c03111"


def test_crlf_and_tabs_and_spaces_give_the_same_events() -> None:
    lf = parse_text(NETBOOT_2021)
    crlf = parse_text(NETBOOT_2021.replace("\n", "\r\n"))
    spaces = parse_text(NETBOOT_2021.replace("\t", "        "))
    assert crlf == lf
    assert spaces == lf


def test_glued_timestamp_and_non_monotonic_prefixes() -> None:
    text = (
        "  2.37 VC-JTAG unlocked\n"
        "  2.12 RPi: BOOTLOADER release VERSION:3858f977 DATE: 2024/12/07 TIME: 12:39:28\n"
        "  2.02 BOOTMODE: 0x06 partition 0 build-ts BUILD_TIMESTAMP=1733575168 serial 2ac43544 boardrev"
        " d03115 stc 2502366\n"
        "  7.52 Boot mode: NETWORK (02) order f1\n"
        " 18.54 DHCP src: 08:00:27:62:1e:81 10.14.0.1\n"
        " 18.55 YI_ADDR 10.14.0.198\n"
        " 18.55 OPTIONS:-\n"
        "\top: 53 len:   1 DHCP recv ACK (5) expect ACK 18.61\n"
        "\top:  1 len:   4 255.255.255.0 18.65\n"
        "\top:  3 len:   4 10.14.0.1 18.66 NET 10.14.0.198 255.255.255.0 gw 0.0.0.0 tftp 10.14.0.1\n"
        " 18.92\n"
        " 17.10 TFTP_GET: 08:00:27:62:1e:81 10.14.0.1 2ac43544/start4.elf\n"
    )
    ev = parse_text(text)
    assert kinds(ev) == ["banner", "boot_mode", "dhcp_reply", "net_config", "tftp_get", "summary"]
    reply = ev[2]
    assert reply["type"] == "ACK"
    assert reply["yiaddr"] == "10.14.0.198"
    assert reply["options"] == {"53": "DHCP recv ACK (5) expect ACK", "1": "255.255.255.0", "3": "10.14.0.1"}
    assert ev[3]["tftp"] == "10.14.0.1"
    assert ev[-1]["boot_order"] == "0xf12"
    assert ev[-1]["serial"] == "2ac43544"


def test_binary_garbage_never_crashes_and_real_lines_survive() -> None:
    junk = bytes(range(256)) * 4
    data = junk + b"\n\xff\xfe\x00Boot mode: NETWORK (02) order f1\r\n" + junk
    data += b"\nNETBOOT init failed\n\x80\x81"
    ev = parse_bytes(data)
    assert kinds(ev) == ["boot_mode", "netboot_failed", "summary"]
    assert ev[-1]["boot_order"] == "0xf12"


def test_all_byte_values_as_text() -> None:
    ev = parse_text("".join(chr(i) for i in range(0x3000)))
    assert kinds(ev)[-1] == "summary"


def test_streaming_login_prompt_reported_without_newline_once() -> None:
    parser = ConsoleParser()
    assert parser.feed("[    1.0] Linux\nmalina-") == [{"event": "kernel", "line": "[    1.0] Linux"}]
    got = parser.feed("01 login: ")
    assert got == [{"event": "login_prompt", "host": "malina-01"}]
    assert parser.feed("\n") == []
    final = parser.finish()
    assert kinds(final) == ["summary"]
    assert parser.finish() == []


def test_dhcp_reply_emitted_when_next_unrelated_line_arrives() -> None:
    parser = ConsoleParser()
    assert parser.feed("DHCP src: 02:00:00:00:00:01 10.89.2.1\nOPTIONS:-\n"
                       "\top: 53 len:   1 DHCP recv NACK (6) expect ACK\n") == []
    out = parser.feed("Boot mode: SD (01) order f\n")
    assert kinds(out) == ["dhcp_reply", "boot_mode"]
    assert out[0]["type"] == "NACK"


def test_ansi_escapes_around_lines_and_login_prompt() -> None:
    text = ("\x1b[0m\x1b[1;32mBoot mode: SD (01) order f\x1b[0m\r\n"
            "\x1b[?25h\x1b[0;1;39mUbuntu 24.04 LTS pi-01 ttyS0\x1b[0m\r\n\r\n"
            "\x1b[0mpi-01 login: ")
    ev = parse_text(text)
    assert kinds(ev) == ["boot_mode", "login_prompt", "summary"]
    assert ev[1] == {"event": "login_prompt", "host": "pi-01"}


def test_hdmi_diagnostics_boot_line() -> None:
    ev = parse_text("   boot: mode NETWORK 2 order f2 retry 0/0 restart 0/-1\n")
    assert ev[0] == {"event": "boot_mode", "mode": "NETWORK", "nibble": 2, "order": "f2"}
    assert ev[-1]["boot_order"] == "0xf22"


def test_flush_emits_a_reply_on_a_quiet_console() -> None:
    parser = ConsoleParser()
    assert parser.feed("DHCP src: 02:00:00:00:00:01 10.89.2.1\nYI_ADDR 10.90.1.100\nOPTIONS:-\n"
                       "\top: 53 len:   1 DHCP recv OFFER (2) expect OFFER\n") == []
    (reply,) = parser.flush()
    assert (reply["event"], reply["yiaddr"], reply["type"]) == ("dhcp_reply", "10.90.1.100", "OFFER")
    assert parser.flush() == []
    assert kinds(parser.finish()) == ["summary"]


def test_kernel_reported_once_per_boot_on_a_live_feed() -> None:
    boot = ("RPi: BOOTLOADER release VERSION:0fc8fc8e DATE: 2022/12/07 TIME: 14:24:15\n"
            "BOOTMODE: 0x06 partition 0 build-ts BUILD_TIMESTAMP=1670423055 serial 8eb25f41 boardrev c03111 stc 1\n"
            "Boot mode: {mode}\n"
            "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd083]\n"
            "[    0.000000] Linux version 6.8.0\n")
    ev = parse_text(boot.format(mode="NETWORK (02) order f1") + boot.format(mode="SD (01) order f"))
    assert kinds(ev) == ["banner", "boot_mode", "kernel", "banner", "boot_mode", "kernel", "summary"]
    assert ev[-1]["modes"] == ["NETWORK", "SD"]
    assert ev[-1]["kernel"] is True


def test_events_have_exactly_their_typed_fields() -> None:
    """Every emitted dict has exactly the keys of its TypedDict in harness.console.events."""
    from typing import get_args, get_type_hints

    from harness.console.events import EVENT_NAMES, Event

    by_name = {get_args(get_type_hints(t)["event"])[0]: t for t in get_args(Event)}
    assert set(by_name) == set(EVENT_NAMES)
    texts = [NETBOOT_2021, NETBOOT_2021.replace("\n", "\r\n")]
    seen = set()
    for text in texts:
        for e in parse_text(text):
            assert set(e) == set(get_type_hints(by_name[e["event"]])), e
            seen.add(e["event"])
    assert seen >= {"banner", "boot_mode", "dhcp_reply", "tftp_get", "tftp_error", "summary"}


@pytest.mark.timeout(120)  # hang guard only: a quadratic buffer would take hours here
def test_endless_line_without_newlines_stays_bounded() -> None:
    """The EEPROM updater's '+++…' progress line or binary noise with no newline, fed in small chunks."""
    from harness.console.parser import MAX_LINE

    parser = ConsoleParser()
    chunk = b"+" * 63 + b"\xff"
    out = []
    for _ in range(4 * 1024 * 1024 // len(chunk)):
        out += parser.feed_bytes(chunk)
    assert out == []
    assert sum(len(p) for p in parser._parts) <= MAX_LINE
    out += parser.feed_bytes(b"\nBoot mode: SD (01) order f\nmalina-01 login: ")
    assert kinds(out) == ["boot_mode", "login_prompt"]
    assert kinds(parser.finish()) == ["summary"]
