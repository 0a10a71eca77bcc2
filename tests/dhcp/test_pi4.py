"""harness.dhcp.pi4: the Pi 4's option 97. The layouts are checked byte for byte against real captures in
tests/sim/test_bootloader_discover.py; here the settings and the test clients' GUIDs."""

from __future__ import annotations

import pytest

from harness.dhcp.pi4 import OPTION97_RPI4, option97, setting_for_prefix
from testkit.hooklab import pi_guid

MAC = bytes.fromhex("dca632000001")


def test_the_default_setting_is_the_fourcc_the_firmware_sends() -> None:
    # DHCP_OPTION97's default 0x34695052 is "RPi4" read as a little-endian number: "4iPR" on the wire
    assert setting_for_prefix(b"4iPR") == OPTION97_RPI4
    raw = option97(0x6E87A417, 0xC03111, MAC)
    assert raw == b"\x00" + b"4iPR" + bytes.fromhex("1131c000") + MAC[2:] + bytes.fromhex("17a4876e")


def test_custom_prefix_and_old_layout() -> None:
    assert option97(1, 2, MAC, setting_for_prefix(b"ABCD"))[1:5] == b"ABCD"
    assert option97(0x6E87A417, 0xC03111, MAC, 0) == b"\x00" + bytes.fromhex("17a4876e") * 4
    with pytest.raises(ValueError):
        setting_for_prefix(b"RPi")
    with pytest.raises(ValueError):
        option97(1, 2, MAC[:5])


def test_the_hook_clients_guid_comes_from_the_same_builder() -> None:
    assert pi_guid() == option97(0x6E87A417, 0xC03111, MAC, setting_for_prefix(b"RPi4"))
    assert pi_guid("4iPR") == option97(0x6E87A417, 0xC03111, MAC)
    assert pi_guid("RPi3")[1:5] == b"RPi3" and len(pi_guid("RPi3")) == 17
