"""lab.yaml validation: good files load, bad ones name the file, the line and the field."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from harness.lab.model import LabConfigError, load_lab, parse_lab
from testkit.labtext import config_error, line_of

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "lab.yaml").read_text()



def test_default_lab_loads() -> None:
    lab = load_lab(REPO / "lab.yaml")
    assert lab.lab.kind == "sim"
    assert [b.name for b in lab.boards] == ["pi-01", "pi-02", "pi-03"]
    port = lab.port_of(lab.board("pi-02"))
    assert port.gateway == ipaddress.IPv4Address("10.90.2.1")
    assert lab.switch.option82(port) == {1: b"Gi1/0/2", 2: b"tor-a-01", 9: bytes.fromhex("00000de90401aa")}


def test_bad_mac_names_file_line_and_field() -> None:
    text = TEXT.replace('mac: "dc:a6:32:00:00:02"', 'mac: "dc:a6:32:zz:00:02"')
    msg = config_error(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, 'dc:a6:32:zz')}: boards[1].mac:"), msg
    assert "not a MAC address" in msg


def test_unknown_field_is_rejected_with_its_line() -> None:
    text = TEXT.replace("    revision: \"c03111\"", "    revison: \"c03111\"")
    msg = config_error(text)
    assert f"lab.yaml:{line_of(text, 'revison')}: boards[0].revison: Extra inputs are not permitted" in msg


def test_board_on_unknown_port() -> None:
    msg = config_error(TEXT.replace("port: port3", "port: port9"))
    assert "port 'port9' is not one of switch.ports" in msg


def test_install_address_outside_port_subnet() -> None:
    msg = config_error(TEXT.replace("address: 10.90.1.50/24", "address: 10.90.7.50/24"))
    assert "not in its port's subnet 10.90.1.0/24" in msg


def test_install_address_in_pool_is_rejected() -> None:
    msg = config_error(TEXT.replace("address: 10.90.1.50/24", "address: 10.90.1.150/24"))
    assert "collides with the DHCP pool" in msg


def test_duplicate_serial() -> None:
    msg = config_error(TEXT.replace('serial: "9ffefdef"', 'serial: "6e87a417"'))
    assert "same serial 6e87a417" in msg


def test_yaml_syntax_error_has_a_line() -> None:
    text = TEXT.replace("  tftp: {address: 10.89.0.4}", "  tftp: {address: 10.89.0.4")
    msg = config_error(text)
    assert msg.startswith("lab.yaml:") and "YAML syntax error" in msg


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert "must be a YAML mapping" in config_error("- just\n- a list\n")
    with pytest.raises(LabConfigError, match="cannot read the lab file"):
        load_lab(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LabConfigError, match="not UTF-8"):
        load_lab(binary)


def test_overlapping_subnets() -> None:
    msg = config_error(TEXT.replace("subnet: 10.90.4.0/24", "subnet: 10.90.3.0/24"))
    assert "overlap" in msg


def test_shifted_moves_every_lab_address_together() -> None:
    lab = load_lab(REPO / "lab.yaml")
    moved = lab.shifted(3)
    assert str(moved.networks.server.subnet) == "10.92.0.0/24"
    assert str(moved.services.kea.address) == "10.92.0.2"
    assert str(moved.switch.ports[1].subnet) == "10.93.2.0/24"
    assert str(moved.boards[0].install.address) == "10.93.1.50/24"
    assert [str(d) for d in moved.boards[0].install.dns] == ["10.92.0.3"]
    assert moved.boards[0].mac == lab.boards[0].mac
    assert moved.switch.ports[0].circuit_id == lab.switch.ports[0].circuit_id
    assert lab.shifted(0) is lab


def test_kea_version_default_and_choices() -> None:
    """services.kea.version: the current Debian stable's Kea by default; 2.2, 2.6, 3.0 (quoted or not)."""
    assert parse_lab(TEXT.replace('    version: "2.6"\n', ""), "lab.yaml").services.kea.version == "2.6"
    for written, version in (('"2.2"', "2.2"), ("3.0", "3.0"), ("2.6", "2.6")):
        lab = parse_lab(TEXT.replace('version: "2.6"', f"version: {written}"), "lab.yaml")
        assert lab.services.kea.version == version
    assert load_lab(REPO / "lab.yaml").with_kea_version("3.0").services.kea.version == "3.0"


@pytest.mark.parametrize("written", ['"2.4"', "3", '"latest"', "3.1"])
def test_unknown_kea_version_is_a_clear_error(written: str) -> None:
    text = TEXT.replace('version: "2.6"', f"version: {written}")
    msg = config_error(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, f'version: {written}')}: services.kea.version:"), msg
    assert "'2.2', '2.6' or '3.0'" in msg, msg
    with pytest.raises(LabConfigError, match=r"services\.kea\.version"):
        load_lab(REPO / "lab.yaml").with_kea_version("2.4")
