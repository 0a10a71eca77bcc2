"""Bring a lab up on the docker engine and take it down again, whatever happens.

``LabRun`` is a context manager::

    with LabRun(load_lab("lab.yaml"), services=("kea", "backend"), boards=("pi-01",)) as run:
        run.address("kea"); run.container("kea").exec_run(...); run.bridge("server")

- Every network is ``internal`` with the subnets the lab names; a second run of the same lab at once moves
  to the next free /16 step (``Lab.shifted``), so runs never collide.
- Every container and network carries ``malina.run=<run-id>`` (plus the owning pid and host); they are
  removed on exit, on an exception, on Ctrl-C and on SIGTERM. Leftovers of a run whose process died are
  reaped by the next run (``reap_stale``) and by ``malina lab down --stale``.
"""

from __future__ import annotations

import atexit
import io
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from harness.lab import images as lab_images
from harness.lab import labtls, services
from harness.lab.keaversions import image_name
from harness.lab.model import Lab
from harness.lab.services import ContainerSpec
from harness.wait import wait_until

RUN_LABEL = "malina.run"
PID_LABEL = "malina.pid"
HOST_LABEL = "malina.host"
LAB_LABEL = "malina.lab"
INFRA = ("kea", "backend", "tftp", "files", "relay")
STANDBY = "kea-standby"  # started with "kea" when the lab has services.kea.ha
MAX_SHIFT = 40
SHM = Path("/dev/shm")
SHM_MIN_FREE = 4 << 30  # cards are sparse; a run writes about an image per board

Printer = Callable[[str], None]


class LabError(RuntimeError):
    """The lab could not be brought up (infrastructure failure)."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def docker_client(timeout: int = 120) -> docker.DockerClient:
    """A client for the local engine; a clear error when none answers."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # docker raises several unrelated types here
        raise LabError(
            f"no docker engine answers ({exc}); run `make setup` (it installs docker.io and starts dockerd)"
        ) from None
    return client


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # detached runs (`malina lab up`) belong to nobody's process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_run(client: docker.DockerClient, run_id: str) -> int:
    removed = 0
    for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        try:
            c.remove(force=True, v=True)
            removed += 1
        except NotFound:
            pass
        except APIError:
            time.sleep(0.5)
            try:
                c.remove(force=True, v=True)
                removed += 1
            except (NotFound, APIError):
                pass
    for n in client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
        bridge = (n.attrs.get("Options") or {}).get("com.docker.network.bridge.name")
        if bridge:
            forget_bridge(bridge)
        for _ in range(5):
            try:
                n.remove()
                removed += 1
                break
            except NotFound:
                break
            except APIError:
                time.sleep(0.5)
    return removed


def shm_cards(run_id: str) -> Path:
    return SHM / f"malina-{run_id}-cards"


def list_runs(client: docker.DockerClient) -> dict[str, dict[str, str]]:
    runs: dict[str, dict[str, str]] = {}
    for obj in [*client.containers.list(all=True, filters={"label": RUN_LABEL}),
                *client.networks.list(filters={"label": RUN_LABEL})]:
        labels: dict[str, str] = obj.attrs.get("Config", {}).get("Labels") or obj.attrs.get("Labels") or {}
        rid = labels.get(RUN_LABEL)
        if rid:
            runs.setdefault(rid, dict(labels))
    return runs


def reap_stale(client: docker.DockerClient, say: Printer = _say) -> list[str]:
    """Remove what runs of this host whose process is gone left behind."""
    host = socket.gethostname()
    reaped = []
    for rid, labels in list_runs(client).items():
        if labels.get(HOST_LABEL) != host:
            continue
        try:
            pid = int(labels.get(PID_LABEL, "0"))
        except ValueError:
            continue
        if not _pid_alive(pid):
            _remove_run(client, rid)
            shutil.rmtree(shm_cards(rid), ignore_errors=True)
            reaped.append(rid)
    live = set(list_runs(client))
    for d in SHM.glob("malina-*-cards") if SHM.is_dir() else []:
        rid = d.name.removeprefix("malina-").removesuffix("-cards")
        if rid not in live:  # its run has no container or network left: nobody can use the cards
            shutil.rmtree(d, ignore_errors=True)
    if reaped:
        say(f"lab: removed leftovers of dead runs {', '.join(reaped)}")
    return reaped


def remove_all(client: docker.DockerClient) -> list[str]:
    runs = list(list_runs(client))
    for rid in runs:
        _remove_run(client, rid)
        shutil.rmtree(shm_cards(rid), ignore_errors=True)
    return runs


def _iptables(*args: str) -> tuple[int, str]:
    try:
        proc = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, proc.stderr.strip()


def allow_intra_bridge(bridge: str) -> None:
    """Let a lab bridge carry routed traffic between its own ports.

    Docker's ``internal`` isolation drops bridged frames whose source is outside the network's subnet (with
    br_netfilter on); the relay forwards boards' packets (access subnets) onto the server network, so those
    must pass. The rule matches in- and out-interface = the same bridge: nothing can leave the bridge.
    """
    rule = ["DOCKER-USER", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
    if _iptables("-C", *rule)[0] != 0:
        rc, err = _iptables("-I", *rule)
        if rc != 0:
            raise LabError(f"cannot add the intra-bridge iptables rule for {bridge}: {err}")


def forget_bridge(bridge: str) -> None:
    while _iptables("-D", "DOCKER-USER", "-i", bridge, "-o", bridge, "-j", "ACCEPT")[0] == 0:
        pass


def put_files(container: Container, files: dict[str, bytes]) -> None:
    if not files:
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(content))
    container.put_archive("/", buf.getvalue())


class LabRun:
    """One bring-up of a lab on the local docker engine."""

    def __init__(
        self,
        lab: Lab,
        *,
        services: Iterable[str] = INFRA,
        boards: Iterable[str] = (),
        run_id: str | None = None,
        detached: bool = False,
        with_hook: bool | None = None,
        workdir: Path | None = None,
        client: docker.DockerClient | None = None,
        say: Printer = _say,
    ) -> None:
        self.requested = lab
        self.lab = lab
        self.roles = [s for s in INFRA if s in set(services)]
        unknown = set(services) - set(INFRA)
        if unknown:
            raise ValueError(f"unknown lab services {sorted(unknown)}; known: {INFRA}")
        if "kea" in self.roles and lab.services.kea.ha is not None:  # the HA pair's second server
            self.roles.insert(self.roles.index("kea") + 1, STANDBY)
        self.board_names = list(boards)
        for name in self.board_names:
            lab.board(name)  # KeyError early for a typo
        self.run_id = run_id or secrets.token_hex(4)
        # the Kea hook's bearer secret of this run (issue 13.1): Kea's hook and the backend get it as a file;
        # tests reach it here (run.hook_secret) or in workdir/secrets/hook.secret
        self.hook_secret = secrets.token_urlsafe(32)
        # lab.yaml services.*.tls: this run's CA and server certificates (made in up(), for the run's addresses)
        self.tls: labtls.LabTls | None = None
        self.detached = detached
        self.with_hook = with_hook
        self.say = say
        self.client = client or docker_client()
        self.workdir = (workdir or lab_images.REPO / "build" / "runs" / self.run_id).resolve()
        self.networks: dict[str, Network] = {}
        self.containers: dict[str, Container] = {}
        self.image_tags: dict[str, str] = {}
        self._closed = False
        self._old_handlers: dict[int, Any] = {}

    # -- labels and names -----------------------------------------------------------------------------------
    def labels(self) -> dict[str, str]:
        return {
            RUN_LABEL: self.run_id,
            PID_LABEL: "0" if self.detached else str(os.getpid()),
            HOST_LABEL: socket.gethostname(),
            LAB_LABEL: self.lab.lab.name,
        }

    def name(self, role: str) -> str:
        return f"malina-{self.run_id}-{role}"

    def network_names(self) -> list[str]:
        return ["server", "mgmt", *(f"port-{p.name}" for p in self.lab.switch.ports)]

    def subnet_of(self, net: str) -> ipaddress.IPv4Network:
        if net == "server":
            return self.lab.networks.server.subnet
        if net == "mgmt":
            return self.lab.networks.mgmt.subnet
        return self.lab.switch.port(net.removeprefix("port-")).subnet

    # -- context manager ------------------------------------------------------------------------------------
    def __enter__(self) -> LabRun:
        self._install_signal_handlers()
        atexit.register(self.down)
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._old_handlers[sig] = signal.signal(sig, on_term)
            except (ValueError, OSError):
                pass

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._old_handlers.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError, TypeError):
                pass
        self._old_handlers.clear()

    # -- bring-up -------------------------------------------------------------------------------------------
    def up(self) -> None:
        reap_stale(self.client, self.say)
        wanted = {self._image_key(r) for r in self.roles}
        if self.board_names:
            wanted.add("board")
        self.image_tags = lab_images.ensure_images(self.client, sorted(wanted), self.say)
        self._create_networks()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "tftp").mkdir(exist_ok=True)
        (self.workdir / "files").mkdir(exist_ok=True)
        (self.workdir / "logs" / "tftp").mkdir(parents=True, exist_ok=True)
        self._write_secret("hook.secret", self.hook_secret)
        self.tls = labtls.make(self.lab, self.workdir / "tls", f"malina lab {self.lab.lab.name} run {self.run_id}")
        self._cards_in_ram()
        for role in self.roles:
            self.start_spec(self._spec(role))
        for name in self.board_names:
            self.start_board(name)
        self.say(f"lab {self.lab.lab.name}: run {self.run_id} up ({', '.join(self.containers)})")

    def _image_key(self, role: str) -> str:
        if role in ("kea", STANDBY):
            hook = self.lab.services.kea.hook if self.with_hook is None else self.with_hook
            return image_name(self.lab.services.kea.version, hook=hook)
        return "backend" if role == "backend" else "runtime"

    def _spec(self, role: str) -> ContainerSpec:
        if role in ("kea", STANDBY):
            return services.kea_spec(self.lab, with_hook=self.with_hook, standby=role == STANDBY,
                                     hook_secret=self.hook_secret, tls=self.tls)
        if role == "backend":
            return services.backend_spec(self.lab, hook_secret=self.hook_secret, tls=self.tls)
        if role == "tftp":
            return services.tftp_spec(self.lab, self.workdir / "tftp", self.workdir / "logs" / "tftp", tls=self.tls)
        if role == "files":
            return services.files_spec(self.lab, self.workdir / "files", tls=self.tls)
        if role == "relay":
            return services.relay_spec(self.lab)
        raise ValueError(role)

    def _write_secret(self, name: str, value: str) -> Path:
        """A secret of this run in ``workdir/secrets`` (0600), for an operator or a test that needs it."""
        folder = self.workdir / "secrets"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / name
        path.touch(mode=0o600)
        path.write_text(value + "\n")
        return path

    def _create_networks(self) -> None:
        last_error = ""
        for step in range(MAX_SHIFT):
            self.lab = self.requested.shifted(step)
            try:
                for net in self.network_names():
                    self._create_network(net)
                if step:
                    self.say(f"lab: subnets of {self.requested.source} busy; this run uses them shifted by {step}")
                return
            except APIError as exc:
                last_error = str(exc.explanation or exc)
                for n in self.networks.values():
                    try:
                        n.remove()
                    except APIError:
                        pass
                self.networks.clear()
                if "overlap" not in last_error and "in use" not in last_error:
                    raise LabError(f"creating the lab networks failed: {last_error}") from None
        raise LabError(f"no free address step for the lab's subnets after {MAX_SHIFT} tries: {last_error}")

    def _create_network(self, net: str) -> None:
        subnet = self.subnet_of(net)
        gateway = subnet.broadcast_address - 1
        pool = IPAMPool(
            subnet=str(subnet),
            gateway=str(gateway),
            iprange=f"{subnet.network_address + 224}/28" if net.startswith("port-") else None,
        )
        bridge = f"mlb{self.run_id[:6]}{len(self.networks):02d}"
        self.networks[net] = self.client.networks.create(
            self.name(net),
            driver="bridge",
            internal=True,
            ipam=IPAMConfig(pool_configs=[pool]),
            labels={**self.labels(), "malina.net": net},
            options={"com.docker.network.bridge.name": bridge},
            check_duplicate=True,
        )
        allow_intra_bridge(bridge)

    def start_spec(self, spec: ContainerSpec, *, name: str | None = None) -> Container:
        """Create, configure and start a container from a spec (also used for boards and test clients)."""
        image = self.image_tags.get(spec.image) or lab_images.ensure_image(self.client, spec.image, self.say)
        self.image_tags[spec.image] = image
        cname = self.name(name or spec.role)  # docker names carry the run id: concurrent runs never collide
        nets = list(spec.networks.items())
        first_net, first_ip = nets[0]
        api = self.client.api
        endpoint = api.create_endpoint_config(ipv4_address=first_ip) if first_ip else api.create_endpoint_config()
        host_config = api.create_host_config(
            cap_add=spec.cap_add or None,
            sysctls=spec.sysctls or None,
            binds=[f"{h}:{c}" if ":" in c else f"{h}:{c}:rw" for h, c in spec.binds.items()] or None,
            init=True,
        )
        created = api.create_container(
            image,
            command=spec.command,
            name=cname,
            hostname=spec.hostname or spec.role,
            environment=spec.env,
            labels={**self.labels(), "malina.role": spec.role},
            host_config=host_config,
            networking_config=api.create_networking_config({self.networks[first_net].name: endpoint}),
            mac_address=spec.mac_address,
            detach=True,
        )
        container = self.client.containers.get(created["Id"])
        self.containers[spec.role if name is None else name] = container
        for net, ip in nets[1:]:
            self.networks[net].connect(container, ipv4_address=ip) if ip else self.networks[net].connect(container)
        put_files(container, spec.files)
        container.start()
        if spec.routes_via_relay:
            self._route_via_relay(container)
        return container

    def reroute(self, container: Container) -> None:
        """Re-add the route to the access subnets (after a restart of a server-side container)."""
        self._route_via_relay(container)

    def _route_via_relay(self, container: Container) -> None:
        via = str(self.lab.services.relay.address)
        for net in self.lab.access_supernet():
            rc, out = container.exec_run(["ip", "route", "replace", str(net), "via", via])
            if rc != 0:
                raise LabError(f"{container.name}: adding the route to {net} via the relay failed: {out!r}")

    def start_board(self, name: str, *, port: str | None = None, files: dict[str, bytes] | None = None) -> Container:
        """Start the board's container (powered off), on its own switch port or, to simulate a board moved by
        hand, on ``port``. Its card (``<workdir>/cards/<name>.img``) outlives the container. ``files`` replace
        what its netboot image carries (e.g. another CA at ``harness.lab.agenttrust.CA_FILE``)."""
        from harness.lab import boardspec  # imported late: it imports the sim, optional for infra-only runs

        board = self.lab.board(name)
        if port is not None and port != board.port:
            self.lab.switch.port(port)  # KeyError for a typo
            board = board.model_copy(update={"port": port})
        spec = boardspec.board_spec(self, board, ca_pem=self.tls.ca_pem if self.tls is not None else None)
        spec.files.update(files or {})
        return self.start_spec(spec, name=f"board-{name}")

    def stop_board(self, name: str) -> None:
        """Remove the board's container (a hard power cut); the card file stays."""
        container = self.containers.pop(f"board-{name}", None)
        if container is not None:
            try:
                container.remove(force=True)
            except NotFound:
                pass

    # -- accessors ------------------------------------------------------------------------------------------
    @property
    def ca_file(self) -> Path | None:
        """The run's CA on this host (lab.yaml ``services.*.tls``), for clients of its https services."""
        return self.tls.ca_file if self.tls is not None else None

    def container(self, role: str) -> Container:
        try:
            return self.containers[role]
        except KeyError:
            raise KeyError(f"run {self.run_id} has no container {role!r}; it has {sorted(self.containers)}") from None

    def address(self, role: str) -> str:
        if role == STANDBY and self.lab.services.kea.ha is not None:
            return str(self.lab.services.kea.ha.standby)
        return str(getattr(self.lab.services, role).address)

    def bridge(self, net: str) -> str:
        """The host interface of a lab network (for captures on the host)."""
        network = self.networks[net]
        network.reload()
        opts: dict[str, str] = network.attrs.get("Options") or {}
        return opts.get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"

    def ip_of(self, role: str, net: str) -> str:
        c = self.container(role)
        c.reload()
        nets: dict[str, Any] = c.attrs["NetworkSettings"]["Networks"]
        return str(nets[self.networks[net].name]["IPAddress"])

    def logs(self, role: str) -> str:
        raw: bytes = self.container(role).logs()
        return raw.decode("utf-8", "replace")

    def exec(self, role: str, cmd: list[str]) -> tuple[int, str]:
        rc, out = self.container(role).exec_run(cmd)
        return int(rc), out.decode("utf-8", "replace")

    def wait_tcp(self, host: str, port: int, timeout: float = 30.0) -> None:
        def accepts() -> bool:
            with socket.create_connection((host, port), timeout=1.0):
                return True

        wait_until(f"{host}:{port} accepting connections", accepts, timeout=timeout, retry_on=(OSError,),
                   error=LabError)

    # -- tear-down ------------------------------------------------------------------------------------------
    def _cards_in_ram(self) -> None:
        """Simulated SD cards live in RAM (``/dev/shm``) when it has room: the installer syncs every card it
        writes, and sixteen boards syncing to the host's disk at once would measure the disk, not the lab.
        ``<workdir>/cards`` is a symlink to the run's directory there (removed with the run)."""
        cards = self.workdir / "cards"
        ram = shm_cards(self.run_id)
        if cards.exists() or cards.is_symlink() or not SHM.is_dir():
            return
        try:
            st = os.statvfs(SHM)
            if st.f_bavail * st.f_frsize < SHM_MIN_FREE:
                return
            ram.mkdir(mode=0o700)
            cards.symlink_to(ram)
        except OSError:
            cards.unlink(missing_ok=True)

    def down(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            _remove_run(self.client, self.run_id)
            shutil.rmtree(shm_cards(self.run_id), ignore_errors=True)
        finally:
            self.containers.clear()
            self.networks.clear()
            self._restore_signal_handlers()
            atexit.unregister(self.down)
