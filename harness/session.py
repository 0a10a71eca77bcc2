"""A lab session: the lab's services and boards, each behind its driver, for the fixtures, the demo and the
benchmarks.

``open_session(lab, workdir=...)`` gives a ``SimSession`` for a ``kind: sim`` lab (it brings the docker lab
up: relay, Kea with the hook, backend, TFTP and file servers, then boards on demand) or a ``RackSession`` for a
``kind: rack`` lab (the services already run beside the rack; nothing is started). Both offer the same things,
each typed by its driver protocol (``harness.drivers.base``), so a caller never depends on which driver it got:

- ``backend`` (``Backend``: ``HttpBackend``), ``kea`` (``Kea``: ``DockerKea`` / ``AgentKea``), ``tftp``
  (``Tftp``: ``DirTftp``), ``image`` (what the backend hands out as the install image), ``ssh_public_key``;
- ``target(name, port=None) -> Target``: one board with its console (``Console``), power (``Power``) and SSH
  (``Ssh``) (labgrid's *target*: resources + drivers), on a sim lab a freshly started board container (``port``
  plugs it into another switch port, as a board moved by hand); a context manager that closes its console;
- ``trace(point, pcap)``: a DHCP capture (``"server"``: relayed traffic with option 82; ``"port-<name>"``: a
  board's own side);
- ``define(name, mode=..., image=...)``: (re)defines a machine in the backend, clearing its history.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.drivers.backend import HttpBackend, machines_for_lab
from harness.drivers.base import Backend, Console, DhcpTrace, InfraFailure, Kea, Power, Ssh, Tftp
from harness.drivers.console import SerialConsole
from harness.drivers.dhcptrace import ScapyTrace
from harness.drivers.kea import AgentKea, DockerKea
from harness.drivers.power import SimPower, power_for
from harness.drivers.ssh import SshConnection, ensure_keypair
from harness.drivers.tftp import DirTftp
from harness.lab.model import Board, Lab
from harness.wait import wait_until

Printer = Callable[[str], None]

log = logging.getLogger(__name__)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _file_reader(path: Path) -> Callable[[], str]:
    """A log file's text when read (empty while it does not exist yet)."""

    def read() -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    return read


@dataclass
class Target:
    """One board as a scenario sees it: ``with session.target(name) as target:`` closes its console at the end
    (the log stays readable; the session still releases the board)."""

    board: Board
    lab: Lab
    console: Console
    power: Power
    ssh_key: Path
    card: Path | None = None  # sim only: the card image file
    port: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.board.name

    @property
    def ssh_host(self) -> str:
        return self.board.ssh.host or str(self.board.install.address.ip)

    def ssh(self, timeout: float = 60.0) -> Ssh:
        """A connected SSH session on the board (a context manager that closes it)."""
        conn = SshConnection(self.ssh_host, self.board.ssh.user, self.ssh_key, port=self.board.ssh.port)
        return conn.connect(timeout)

    def card_digest(self) -> str | None:
        if self.card is None:
            return None
        with self.card.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    def card_head(self, size: int = 512) -> bytes | None:
        if self.card is None:
            return None
        with self.card.open("rb") as f:
            return f.read(size)

    def close(self) -> None:
        self.console.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Session:
    """What both kinds of lab offer (see the module docstring)."""

    lab: Lab
    workdir: Path
    backend: Backend
    kea: Kea
    tftp: Tftp
    image: dict[str, Any]
    ssh_key: Path
    ssh_public_key: str
    ca_file: Path | None = None  # the CA of the lab's https services (None: plain http, or the system's CAs)

    def __init__(self, say: Printer = _say) -> None:
        self.say = say
        self.targets: dict[str, Target] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for t in list(self.targets.values()):
            t.close()
        self.targets.clear()

    def machine_spec(self, name: str, *, image: dict[str, Any] | None = None, port: str | None = None,
                     mode: str = "install") -> dict[str, Any]:
        board = self.lab.board(name)
        if port is not None:
            board = board.model_copy(update={"port": port})
        lab = self.lab.model_copy(update={"boards": [board]})
        spec = machines_for_lab(lab, [board], image or self.image, [self.ssh_public_key])[0]
        spec["boot_mode"] = mode
        return spec

    def define(self, name: str, *, mode: str = "install", image: dict[str, Any] | None = None,
               port: str | None = None) -> dict[str, Any]:
        """Define the machine afresh: a changed definition resets its attempts, flag and token; an unchanged one
        is reset explicitly (reinstall / set-local)."""
        spec = self.machine_spec(name, image=image, port=port, mode=mode)
        log.info("backend %s: define %s (mode %s)", self.backend.url, name, mode)
        self.backend.put_machine(spec)
        if mode == "install":
            self.backend.reinstall(name)
        else:
            self.backend.set_local(name)
        return self.backend.machine(name)

    def forget(self, name: str) -> None:
        """Make the backend not know the machine's port (it keeps the record under another port id)."""
        spec = self.machine_spec(name)
        spec["sub82_1"] = (b"unplugged-" + name.encode()).hex()
        log.info("backend %s: forget the port of %s", self.backend.url, name)
        self.backend.put_machine(spec)

    def target(self, name: str, *, port: str | None = None) -> Target:
        raise NotImplementedError

    def current(self, target: Target) -> Target:
        """The board's target now: a scenario may have re-created it (``target(name, ...)``) since ``target``."""
        return self.targets.get(target.name, target)

    def release(self, target: Target) -> None:
        """Close ``target`` and the board's current target when a scenario re-created it since."""
        current = self.targets.pop(target.name, None)
        target.close()
        if current is not None and current is not target:
            current.close()

    def trace(self, point: str, pcap: Path) -> DhcpTrace:
        raise NotImplementedError


class SimSession(Session):
    """The docker lab (``kind: sim``)."""

    def __init__(self, lab: Lab, *, workdir: Path | None = None, say: Printer = _say,
                 image_size_mib: int = 64) -> None:
        super().__init__(say)
        from harness.lab.docker_lab import LabRun

        self.requested = lab
        self.image_size_mib = image_size_mib
        self.run = LabRun(lab, workdir=workdir, say=say)
        self.lab = lab

    def __enter__(self) -> SimSession:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def open(self) -> None:
        from harness.sim.media.osimage import build_image
        from harness.sim.media.tftptree import standin_tree

        run = self.run
        run.__enter__()
        self.lab = run.lab
        self.workdir = run.workdir
        b = self.lab.services.backend
        self.ca_file = run.ca_file  # an https lab: the run's CA, which every client of its services verifies against
        self.backend = HttpBackend(b.url, b.read_token, b.write_token, ca_file=self.ca_file)
        kea = self.lab.services.kea
        self.kea = DockerKea(run.container("kea"), f"http://{kea.address}:{kea.control_port}/")
        self.tftp = DirTftp(self.workdir / "tftp", _file_reader(self.workdir / "logs" / "tftp" / "tftp.jsonl"))
        self.ssh_key = self.workdir / "ssh" / "id_ed25519"
        self.ssh_public_key = ensure_keypair(self.ssh_key).strip()
        self.say(f"lab: building the {self.image_size_mib} MiB test Ubuntu image")
        img = build_image(self.workdir / "files", size=self.image_size_mib * 1024 * 1024, compress=True)
        self.image = {"url": f"{self.lab.services.files.url}/{img.path.name}", "sha256": img.sha256,
                      "size": img.size, "compression": "xz"}
        self.image_raw = img.raw
        tree = standin_tree({"progress_interval": "1"})
        for board in self.lab.boards:
            self.tftp.stage(board.serial, tree)
        self.backend.wait_healthy(60.0)
        machines = [self.machine_spec(bd.name) for bd in self.lab.boards]
        self.backend.import_machines(machines)
        self.say(f"lab: {len(machines)} machines defined in the backend; TFTP trees staged")

    def close(self) -> None:
        super().close()
        self.run.down()

    def target(self, name: str, *, port: str | None = None, card: bytes | Path | None = None,
               image_files: dict[str, bytes] | None = None) -> Target:
        """Start (or restart) the board's container, powered off, with a blank card unless ``card`` is given
        (an image file or bytes to start from), and connect its console. ``image_files`` replace files of its
        netboot image (e.g. another CA: ``harness.lab.agenttrust.CA_FILE``)."""
        from harness.lab import boardspec

        old = self.targets.pop(name, None)
        if old is not None:
            old.close()
        self.run.stop_board(name)
        board = self.lab.board(name)
        path = boardspec.card_path(self.workdir, board)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            if isinstance(card, Path):
                with card.open("rb") as src:
                    shutil.copyfileobj(src, f, 1 << 20)
            elif card is not None:
                f.write(card)
            f.truncate(boardspec.CARD_SIZE)
        log.info("board %s: starting its container on port %s", name, port or board.port)
        self.run.start_board(name, port=port, files=image_files)
        plugged = board if port is None else board.model_copy(update={"port": port})
        logdir = self.workdir / "logs" / "console"
        logdir.mkdir(parents=True, exist_ok=True)
        console = SerialConsole(boardspec.console_url(self.lab, board), log_path=logdir / f"{name}.log")
        power = SimPower(boardspec.power_url(self.lab, board))

        def answering() -> bool:  # the controller starts its power API and console server with the container
            power.state()
            console.open()
            return True

        wait_until(f"board {name}: power API and console answering", answering, timeout=30, retry_on=(InfraFailure,),
                   error=InfraFailure)
        t = Target(plugged, self.lab, console, power, self.ssh_key, card=path, port=plugged.port)
        self.targets[name] = t
        return t

    def release(self, target: Target) -> None:
        super().release(target)
        with contextlib.suppress(Exception):
            self.run.stop_board(target.name)

    def installed_card(self, name: str) -> Path:
        """A card image as the installer would have left it for this board (see ``harness.sim.media.cards``)."""
        from harness.sim.media.cards import preinstalled_card

        board = self.lab.board(name)
        return preinstalled_card(self.image_raw, self.workdir / "cards" / f"{name}.installed.img",
                                 hostname=board.install.hostname, address=str(board.install.address),
                                 dns=[str(d) for d in board.install.dns], gateway=str(self.lab.port_of(board).gateway),
                                 ssh_public_key=self.ssh_public_key)

    def trace(self, point: str, pcap: Path) -> DhcpTrace:
        return ScapyTrace(self.run.bridge(point), pcap)

    def stop_service(self, role: str) -> None:
        log.info("lab service %s: stop", role)
        self.run.container(role).stop(timeout=2)

    def start_service(self, role: str) -> None:
        log.info("lab service %s: start", role)
        c = self.run.container(role)
        c.start()
        if role in ("backend", "tftp", "files", "kea"):
            self.run.reroute(c)
        if role == "backend":
            self.backend.wait_healthy(60.0)


class RackSession(Session):
    """A rack (``kind: rack``): boards are connected, not started. Kea, backend and TFTP run beside the rack, or,
    with ``services.managed``, the session runs them itself from the build under test (``ManagedRun``) and
    takes them down at its end."""

    def __init__(self, lab: Lab, *, workdir: Path, say: Printer = _say) -> None:
        super().__init__(say)
        self.lab = lab
        self.workdir = workdir
        self.managed: Any = None  # harness.lab.managed.ManagedRun while the session runs the services
        self.image_raw: Path | None = None  # managed services without services.files.image: the test image
        b = lab.services.backend
        self.backend = HttpBackend(b.url, b.read_token, b.write_token)
        self.ssh_key = (Path(lab.source).parent / lab.boards[0].ssh.key) if lab.boards else workdir / "id"
        self.ssh_public_key = ensure_keypair(self.ssh_key).strip()
        if lab.services.managed is not None:
            return  # the rest comes up in open()
        kea = lab.services.kea
        self.kea = AgentKea(f"http://{kea.address}:{kea.control_port}/",
                            log_path=Path(kea.log) if kea.log else None)
        t = lab.services.tftp
        if t.root is None:
            raise InfraFailure("a rack lab needs services.tftp.root (the TFTP root as this host sees it)")
        self.tftp = DirTftp(Path(t.root), _file_reader(Path(t.log)) if t.log else None)
        image = lab.services.files.image
        if image is None:  # the model requires it on a rack; a lab built in code may still lack it
            raise InfraFailure("a rack lab needs services.files.image (the image the backend hands out)")
        self.image = image.spec()

    def __enter__(self) -> RackSession:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def open(self) -> None:
        """Managed services: start Kea, backend, TFTP and files from the build under test (or attach to the ones
        this run's ``python -m harness.rackservices`` started) and define the machines."""
        if self.lab.services.managed is None:
            return
        from harness import rackservices

        info = rackservices.attached(self.lab)
        if info is None:
            self.managed, info = rackservices.start(self.lab, self.workdir / "services", self.say)
        from harness.lab.docker_lab import docker_client

        kea = self.lab.services.kea
        self.kea = DockerKea(docker_client().containers.get(info.kea_container),
                             f"http://{kea.address}:{kea.control_port}/")
        self.tftp = DirTftp(Path(info.tftp_root), _file_reader(Path(info.tftp_log)))
        self.image = info.image
        self.image_raw = Path(info.image_raw) if info.image_raw else None
        self.backend.wait_healthy(60.0)
        self.backend.import_machines([self.machine_spec(bd.name) for bd in self.lab.boards])
        self.say(f"rack {self.lab.lab.name}: managed services of run {info.run_id} on "
                 f"{self.lab.services.managed.interface}")

    def close(self) -> None:
        super().close()
        if self.managed is not None:
            self.managed.down()
            self.managed = None

    def target(self, name: str, *, port: str | None = None, card: bytes | Path | None = None) -> Target:
        if port is not None or card is not None:
            raise InfraFailure("a rack board cannot be re-plugged or given a card by the harness")
        board = self.lab.board(name)
        console = SerialConsole(board.console.url, log_path=self.workdir / "console" / f"{name}.log")
        # a console server (ser2net) or a USB adapter may be re-opening the line just now: retry briefly
        def opened() -> bool:
            console.open()
            return True

        wait_until(f"board {name}: console {board.console.url} opening", opened, timeout=5.0, interval=0.2,
                   retry_on=(InfraFailure,), error=InfraFailure)
        key = Path(self.lab.source).parent / board.ssh.key
        t = Target(board, self.lab, console, power_for(board, sim_url=None), key, port=board.port)
        self.targets[name] = t
        return t

    def trace(self, point: str, pcap: Path) -> DhcpTrace:
        iface = self.lab.lab.capture_interface
        if iface is None:
            raise InfraFailure("a rack lab needs lab.capture_interface for DHCP traces")
        return ScapyTrace(iface, pcap)


def open_session(lab: Lab, *, workdir: Path | None = None, say: Printer = _say) -> Session:
    if lab.lab.kind == "sim":
        return SimSession(lab, workdir=workdir, say=say)
    return RackSession(lab, workdir=workdir or Path("build/rack"), say=say)
