"""Identity values: hex ids, MACs, serials and the option-97 GUID in both byte orders."""

from __future__ import annotations

import pytest

from backend.identity import (
    IdentityError,
    norm_hex,
    norm_mac,
    norm_serial,
    opaque_to_hex,
    parse_guid,
    port_key,
)


def test_hex_is_normalised() -> None:
    assert norm_hex("47:69:31-2F") == "4769312f"
    assert norm_hex("") == ""


@pytest.mark.parametrize("bad", ["abc", "zz", "0x12", "4g"])
def test_bad_hex_is_refused(bad: str) -> None:
    with pytest.raises(IdentityError, match="hex"):
        norm_hex(bad)


def test_hex_length_is_bounded() -> None:
    with pytest.raises(IdentityError, match="longer than 255"):
        norm_hex("00" * 256)


def test_lab_ids_become_the_hex_the_hook_sends() -> None:
    assert opaque_to_hex("Gi1/0/1") == b"Gi1/0/1".hex()
    assert opaque_to_hex("hex:00000DE9") == "00000de9"
    with pytest.raises(IdentityError):
        opaque_to_hex("hex:")


@pytest.mark.parametrize(
    "raw", ["DC-A6-32-00-00-01", "dca632000001", "dca6.3200.0001", " dc:a6:32:00:00:01 "]
)
def test_mac_spellings(raw: str) -> None:
    assert norm_mac(raw) == "dc:a6:32:00:00:01"


@pytest.mark.parametrize("bad", ["dc:a6:32:00:00", "dc:a6:32:00:00:01:02", "xx:a6:32:00:00:01"])
def test_bad_mac(bad: str) -> None:
    with pytest.raises(IdentityError, match="MAC"):
        norm_mac(bad)


def test_serials_from_bootloader_and_cpuinfo_agree() -> None:
    assert norm_serial("6E87A417") == "6e87a417"
    assert norm_serial("100000006e87a417") == "6e87a417"
    assert norm_serial("0x6e87a417") == "6e87a417"
    assert norm_serial("a417") == "0000a417"
    with pytest.raises(IdentityError):
        norm_serial("6e87a41g")


def _guid(fourcc: bytes, serial: bytes) -> str:
    return (b"\x00" + fourcc + bytes.fromhex("41a03100") + bytes.fromhex("32000001") + serial).hex()


@pytest.mark.parametrize("fourcc", [b"RPi4", b"4iPR"])
def test_guid_both_fourcc_orders(fourcc: bytes) -> None:
    g = parse_guid(_guid(fourcc, bytes.fromhex("6e87a417")))
    assert g.fourcc == fourcc.decode()
    assert g.matches_mac("dc:a6:32:00:00:01")
    assert not g.matches_mac("dc:a6:32:00:00:02")
    assert g.matches_serial("6e87a417")
    assert g.matches_serial("17a4876e")  # serial byte order unverified: both accepted
    assert not g.matches_serial("6e87a418")


def test_guid_mac_bytes_reversed_also_match() -> None:
    raw = (b"\x00RPi4" + bytes(4) + bytes.fromhex("32000001")[::-1] + bytes(4)).hex()
    assert parse_guid(raw).matches_mac("dc:a6:32:00:00:01")


def test_old_layout_serial_four_times() -> None:
    g = parse_guid((b"\x00" + bytes.fromhex("6e87a417") * 4).hex())
    assert g.fourcc == "serial4x"
    assert g.mac_lsb is None
    assert g.matches_serial("6e87a417")
    assert g.matches_mac("dc:a6:32:00:00:99")  # no MAC bytes to compare


def test_custom_prefix_carries_nothing_to_check() -> None:
    g = parse_guid((b"\x00ABCD" + bytes(range(12))).hex())
    assert g.serial_raw is None and g.mac_lsb is None
    assert g.matches_serial("00000000")


@pytest.mark.parametrize("bad", ["00", "01" + "00" * 16, "00" * 18])
def test_bad_guid_length(bad: str) -> None:
    with pytest.raises(IdentityError, match="17 bytes"):
        parse_guid(bad)


def test_port_key_separates_fields() -> None:
    assert port_key("aa", "bb", "") != port_key("aabb", "", "")
