"""The docker container spec of one simulated board (called by ``harness.lab.docker_lab.LabRun``).

It lives in the lab, not in ``harness.sim``: the lab starts the sim's containers and hands each board its
config as plain data (``board.json``), so the sim never imports the lab (docs/ARCHITECTURE.md, "Layers").

``board_spec(run, board) -> ContainerSpec`` is pure apart from creating the card image file when it does
not exist yet. Contract with the lab code:

- ``run`` needs only ``run.lab`` (the possibly shifted ``Lab``: every address is read from it) and
  ``run.workdir`` (the run's host directory).
- **Card**: ``<run.workdir>/cards/<board>.img`` is bind-mounted read-write at ``/dev/mmcblk0``. If the file
  does not exist, an empty (all-zero, sparse) card of ``CARD_SIZE`` bytes is created; put an image there
  before the board starts to begin with a pre-installed card. The file outlives power cycles and the
  container; the harness inspects it on the host (``card_path``).
- **Networks**: the board's switch port first (``port-<port>``: it becomes ``eth0``, carries the board MAC;
  docker's address from ``.224/28`` is removed by the controller at start, as a Pi has no address before
  DHCP), then ``mgmt`` at a fixed address (``mgmt_address``): power API ``http://<mgmt>:7000``
  (``power_url``) and serial console ``socket://<mgmt>:7001`` (``console_url``).
- Image ``board``; command ``python -m harness.sim.board --config /etc/malina/board.json``; capabilities
  NET_ADMIN (addresses, routes), NET_RAW (AF_PACKET DHCP, ARP), SYS_ADMIN (hostname of the installed OS).
- Files: ``/etc/malina/board.json`` (``harness.sim.board.config.BoardConfig``) and ``/etc/malina/eeprom.conf``
  (the EEPROM config in ``rpi-eeprom-config`` text form, from lab.yaml's ``eeprom``); the agent's allowlist of
  option-224 origins and, in an https lab, the run's CA (``harness.lab.agenttrust``), as the image's
  malina-agent package installs them.
- The board starts powered **off**: the harness connects the console, then ``POST /power/on``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Protocol

from harness.lab.agenttrust import agent_trust_files
from harness.lab.model import Board, Lab
from harness.lab.services import ContainerSpec
from harness.sim.board.config import BoardConfig
from harness.sim.bootloader.config import render_eeprom

CARD_SIZE = 512 * 1024 * 1024
CARD_IN_CONTAINER = "/dev/mmcblk0"
BOARD_JSON = "/etc/malina/board.json"
EEPROM_CONF = "/etc/malina/eeprom.conf"
POWER_PORT = 7000
CONSOLE_PORT = 7001
MGMT_HOST_OFFSET = 100  # board i of lab.yaml is mgmt .100+i


class RunLike(Protocol):
    @property
    def lab(self) -> Lab: ...

    @property
    def workdir(self) -> Path: ...


def mgmt_address(lab: Lab, board: Board) -> ipaddress.IPv4Address:
    index = [b.name for b in lab.boards].index(board.name)
    addr = lab.networks.mgmt.subnet.network_address + MGMT_HOST_OFFSET + index
    if addr not in lab.networks.mgmt.subnet or addr >= lab.networks.mgmt.docker_gateway:
        raise ValueError(f"board {board.name}: no mgmt address left in {lab.networks.mgmt.subnet}")
    return addr


def power_url(lab: Lab, board: Board) -> str:
    return f"http://{mgmt_address(lab, board)}:{POWER_PORT}"


def console_url(lab: Lab, board: Board) -> str:
    return f"socket://{mgmt_address(lab, board)}:{CONSOLE_PORT}"


def card_path(workdir: Path, board: Board) -> Path:
    return workdir / "cards" / f"{board.name}.img"


def ensure_card(path: Path, size: int = CARD_SIZE) -> Path:
    """An empty card (no MBR: the bootloader's SD mode fails on it) unless one is already there."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            f.truncate(size)
    return path


def board_config(lab: Lab, board: Board) -> BoardConfig:
    return BoardConfig(
        name=board.name,
        mac=board.mac,
        serial=board.serial,
        revision=board.revision,
        uart_format=board.uart_format,
        time_factor=lab.lab.time_factor,
        eeprom_file=EEPROM_CONF,
        card=CARD_IN_CONTAINER,
        iface="eth0",
        mgmt_ip=str(mgmt_address(lab, board)),
        power_port=POWER_PORT,
        console_port=CONSOLE_PORT,
    )


def board_spec(run: RunLike, board: Board, *, ca_pem: bytes | None = None) -> ContainerSpec:
    """``ca_pem``: the CA the board's netboot image carries (an https lab's run CA; None: none)."""
    lab = run.lab
    if board.kind != "sim":
        raise ValueError(f"board {board.name} is a {board.kind!r} board; only 'sim' boards have containers")
    cfg = board_config(lab, board)
    card = ensure_card(card_path(Path(run.workdir), board))
    return ContainerSpec(
        role=f"board-{board.name}",
        image="board",
        command=["python", "-m", "harness.sim.board", "--config", BOARD_JSON],
        networks={f"port-{board.port}": None, "mgmt": str(mgmt_address(lab, board))},
        cap_add=["NET_ADMIN", "NET_RAW", "SYS_ADMIN"],
        files={
            BOARD_JSON: cfg.to_json().encode(),
            EEPROM_CONF: render_eeprom(dict(board.eeprom)).encode(),
            **agent_trust_files(lab, ca_pem),  # the allowlist (and CA) the image's malina-agent package installs
        },
        binds={str(card.resolve()): f"{CARD_IN_CONTAINER}:rw"},
        mac_address=board.mac,
        hostname=board.name,
    )
