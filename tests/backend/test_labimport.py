"""The import format and lab.yaml: parsed into admin-API machines, with errors naming board and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from backend_helpers import SHA

from backend.labimport import ImportError_, load, machines_from_doc

REPO = Path(__file__).resolve().parents[2]
IMAGE = {"url": "http://10.89.0.5:8081/ubuntu.img.xz", "sha256": SHA, "size": 4096}


def test_repo_lab_yaml_with_image_from_the_command_line() -> None:
    machines = load(REPO / "lab.yaml", {"image": IMAGE})
    doc = yaml.safe_load((REPO / "lab.yaml").read_text())
    assert [m.name for m in machines] == [b["name"] for b in doc["boards"]]
    first = machines[0]
    board = doc["boards"][0]
    port = next(p for p in doc["switch"]["ports"] if p["name"] == board["port"])
    assert first.sub82_1 == port["circuit_id"].encode().hex()
    assert first.sub82_2 == doc["switch"]["remote_id"].encode().hex()
    assert first.mac == board["mac"] and first.serial == board["serial"]
    assert first.install is not None
    assert str(first.install.network.address) == board["install"]["address"]
    assert str(first.install.network.gateway) == port["subnet"].replace("0/24", "1")
    assert str(first.subnet) == port["subnet"]  # the port's subnet binds the install tokens
    assert first.install.image.compression == "xz"
    second = machines[1]
    pport = next(p for p in doc["switch"]["ports"] if p["name"] == doc["boards"][1]["port"])
    if "vendor_specific" in pport:
        assert second.sub82_9 == pport["vendor_specific"].removeprefix("hex:").lower()


def test_lab_yaml_without_image_says_how_to_give_one() -> None:
    with pytest.raises(ImportError_, match=r"boards\[0\] \(pi-01\).*unknown image 'ubuntu-test'"):
        load(REPO / "lab.yaml")


def test_plain_format_with_defaults_and_named_images() -> None:
    doc = {
        "defaults": {"ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nz ops"], "network": {"dns": ["10.89.0.3"]}},
        "images": {"jammy": IMAGE},
        "boards": [
            {
                "name": "a1",
                "mac": "DC-A6-32-00-00-10",
                "serial": "100000001234abcd",
                "port": {"circuit_id": "hex:0001", "remote_id": "sw1", "vendor_specific": "hex:0a0b"},
                "install": {
                    "hostname": "a1",
                    "image": "jammy",
                    "network": {"address": "10.1.0.5/24", "gateway": "10.1.0.1"},
                },
            },
            {"name": "a2", "boot_mode": "local", "port": {"circuit_id": "p2"}},
            {"name": "a3", "port": {"circuit_id": "p3", "subnet": "10.3.0.0/22"},
             "install": {"hostname": "a3", "image": "jammy", "network": {"address": "10.3.1.5/24"}}},
        ],
    }
    a1, a2, a3 = machines_from_doc(doc)
    assert str(a1.subnet) == "10.1.0.0/24" and a2.subnet is None and str(a3.subnet) == "10.3.0.0/22"
    assert (a1.sub82_1, a1.sub82_2, a1.sub82_9) == ("0001", b"sw1".hex(), "0a0b")
    assert a1.mac == "dc:a6:32:00:00:10" and a1.serial == "1234abcd"
    assert a1.install is not None and a1.install.ssh_authorized_keys == ["ssh-ed25519 AAAAC3Nz ops"]
    assert [str(d) for d in a1.install.network.dns] == ["10.89.0.3"]
    assert a2.boot_mode == "local" and a2.install is None and a2.sub82_2 == ""


def test_all_problems_reported_with_board_names(tmp_path: Path) -> None:
    doc = {
        "boards": [
            {"name": "ok", "port": {"circuit_id": "x"}, "boot_mode": "local"},
            {"name": "b1", "port": {}, "boot_mode": "local"},
            {"name": "b2", "mac": "nope", "port": {"circuit_id": "y"}, "boot_mode": "local"},
            {
                "name": "b3",
                "port": {"circuit_id": "z"},
                "install": {
                    "hostname": "b3",
                    "image": {**IMAGE, "sha256": "12"},
                    "network": {"address": "10.0.0.5/24"},
                },
            },
        ]
    }
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ImportError_) as exc:
        load(path)
    text = str(exc.value)
    assert "boards[1] (b1).port: a port needs circuit_id" in text
    assert "boards[2] (b2): mac: not a MAC address" in text
    assert "boards[3] (b3): install.image.sha256" in text
    assert "(ok)" not in text


def test_duplicate_names_and_not_a_document(tmp_path: Path) -> None:
    b = {"name": "x", "port": {"circuit_id": "p"}, "boot_mode": "local"}
    with pytest.raises(ImportError_, match="more than once: x"):
        machines_from_doc({"boards": [b, {**b, "port": {"circuit_id": "q"}}]})
    with pytest.raises(ImportError_, match="'boards:' list"):
        machines_from_doc(["x"])
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ImportError_, match="not valid JSON"):
        load(bad)
