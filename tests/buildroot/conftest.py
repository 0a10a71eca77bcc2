"""Fixtures for the Buildroot tree and installer-agent tests: test OS images, a stand-in backend on
127.0.0.1, stand-in card files and the environment that points the unchanged agent at them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.sim.media.osimage import MiB, OsImage, build_image
from testkit.agent import MAC, SERIAL
from testkit.agent_backend import BackendStub

HOST_TOOLS = ["curl", "jq", "xz", "debugfs", "mkfs.ext4", "mtype", "mcopy", "mkfs.vfat", "sfdisk",
              "shellcheck", "openssl", "od", "timeout"]


@pytest.fixture(scope="session", autouse=True)
def host_tools() -> None:
    missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"host tools missing (install them, see scripts/setup.sh): {', '.join(missing)}")


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("osimages")


@pytest.fixture(scope="session")
def plain_image(image_dir: Path) -> OsImage:
    return build_image(image_dir, name="plain", layout="plain", compress=True, bmap=True, data_bytes=2 * MiB)


@pytest.fixture(scope="session")
def current_image(image_dir: Path) -> OsImage:
    return build_image(image_dir, name="current", layout="current", compress=False, bmap=True, seed=2)


@pytest.fixture
def backend() -> Iterator[BackendStub]:
    """The stand-in backend; after the test, no progress or result body may have been one the real backend
    refuses (422: the report would be lost on a real rack)."""
    with BackendStub() as b:
        yield b
    assert b.state.rejected == [], f"the backend would refuse these reports: {b.state.rejected}"
    assert b.state.unidentified == [], f"agent calls without the board's identity: {b.state.unidentified}"


@pytest.fixture
def board(tmp_path: Path, backend: BackendStub) -> dict[str, str]:
    """The environment of a simulated board: its identity files, card, run dir, the stand-in backend's origin as
    the image's only allowed one (``allow`` adds more); nothing from the host."""
    origins = tmp_path / "allowed-origins"
    origins.write_text(f"# the image's allowlist\n{backend.base}\n")
    serial = tmp_path / "serial-number"
    serial.write_bytes(b"10000000" + SERIAL.encode() + b"\0")
    conf = tmp_path / "agent.conf"
    conf.write_text("# test board\nMALINA_PROGRESS_INTERVAL=1\n")
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("console=serial0,115200 quiet\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALINA_")}
    env.update({
        "MALINA_CONF": str(conf),
        "MALINA_CMDLINE_FILE": str(cmdline),
        "MALINA_DISK": str(tmp_path / "card.img"),
        "MALINA_SERIAL_FILE": str(serial),
        "MALINA_CPUINFO_FILE": "/nonexistent",
        "MALINA_MAC": MAC,
        "MALINA_IFACE": "malina-test0",
        "MALINA_RUN_DIR": str(tmp_path / "run"),
        "MALINA_LEASE_FILE": str(tmp_path / "no-lease"),
        "MALINA_HTTP_RETRIES": "0",
        "MALINA_RESULT_RETRIES": "1",
        "MALINA_CONNECT_TIMEOUT": "2",
        "MALINA_REBOOT_CMD": f"touch {tmp_path / 'rebooted'}",
        "MALINA_ORIGINS_FILE": str(origins),
        "MALINA_CA_FILE": str(tmp_path / "no-ca.pem"),
    })
    return env

