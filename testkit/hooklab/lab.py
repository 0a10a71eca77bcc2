"""A docker lab for the hook: real kea-dhcp4 + the hook, a stand-in backend and a relay/client container.

Built on ``harness.lab.docker_lab.LabRun`` (internal networks, labels, teardown). Used by the integration
tests (``tests/hook``) and the benchmark (``bench/hook.py``)::

    with HookLab.up(load_lab("lab.yaml"), params={"request-timeout-ms": 500}) as hl:
        hl.set_mode("install")
        [res] = hl.exchange([hl.client(1)])
        res["offer"]["224"]          # hex of option 224 in the OFFER

- Kea (the ``kea-hook-<version>`` image of the lab's ``services.kea.version``) runs the lab's generated config
  (``harness.lab.keaconfig``) with the hook
  parameters overridden by ``params``; ``reconfigure()`` swaps them live with ``config-set``.
- ``backend`` is ``stub_backend.py`` at the lab's backend address (modes: see that file).
- ``client`` holds the relay's address and every port's giaddr; ``dhcp_client.py`` sends the relayed packets.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.dhcp.codec import build_option82
from harness.dhcp.frames import parse_mac
from harness.dhcp.pi4 import option97, setting_for_prefix
from harness.lab import keaconfig, services
from harness.lab.docker_lab import LabRun, put_files
from harness.lab.model import Lab
from harness.lab.services import ContainerSpec

HERE = Path(__file__).resolve().parent
TOOLS = "/opt/hooktest"
BENCH_SUBNET = "10.200.0.0/16"   # only in Kea's config: replies go to giaddr, never to these addresses
BENCH_POOL = "10.200.0.10 - 10.200.255.250"
DNS_SINK_PORT = 53   # the stand-in backend also swallows DNS queries (a resolver that never answers)
# The board whose option 97 the test clients send (pi-01 of lab.yaml)
PI_SERIAL, PI_REVISION, PI_MAC = 0x6E87A417, 0xC03111, parse_mac("dc:a6:32:00:00:01")


def pi_guid(fourcc: str = "RPi4") -> bytes:
    """Option 97 of a Pi 4 bootloader (``harness.dhcp.pi4``) with ``fourcc`` first, in this order on the wire
    ("RPi4", its byte-swapped "4iPR" as the firmware sends it, or anything else for a non-Pi client)."""
    return option97(PI_SERIAL, PI_REVISION, PI_MAC, setting_for_prefix(fourcc.encode()))


def sub(code: int, payload: bytes) -> bytes:
    """One option-82 sub-option TLV (concatenate several for option 82's value)."""
    return build_option82([(code, payload)])


class HookLab:
    def __init__(self, run: LabRun, params: dict[str, Any], threads: int) -> None:
        self.run = run
        self.lab: Lab = run.lab
        self.params = params
        self.threads = threads
        self._spec_no = 0

    # -- bring-up -------------------------------------------------------------------------------------------
    @classmethod
    @contextmanager
    def up(cls, lab: Lab, *, params: dict[str, Any] | None = None, threads: int = 4) -> Iterator[HookLab]:
        with LabRun(lab, services=()) as run:
            hl = cls(run, dict(params or {}), threads)
            hl._start()
            yield hl

    def hook_parameters(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        merged = keaconfig.hook_parameters(self.lab)
        merged.update(self.params if params is None else params)
        return merged

    def dhcp4_config(self, params: dict[str, Any] | None = None, *, with_hook: bool = True,
                     bench_relays: tuple[str, ...] = (), log_severity: str | None = None,
                     dhcp4_globals: dict[str, Any] | None = None, floor: bool = False,
                     floor_points: list[str] | None = None) -> dict[str, Any]:
        """The lab's Kea config with these hook parameters; bench_relays adds a /16 subnet for load
        generators relaying from those addresses (a fresh config-set also empties the memfile leases);
        log_severity replaces the loggers' severity (the bench's WARN); dhcp4_globals are set in ``Dhcp4``;
        floor loads the bench's floor library (hook/floor/floor.cc) instead of the hook, at ``floor_points`` (its
        "hook-points" parameter) when given."""
        config = keaconfig.dhcp4_config(self.lab, with_hook=with_hook, threads=self.threads)
        dhcp4 = config["Dhcp4"]
        dhcp4.update(dhcp4_globals or {})
        if log_severity is not None:
            for logger in dhcp4.get("loggers", []):
                logger["severity"] = log_severity
        if bench_relays:
            dhcp4["subnet4"].append({
                "id": 100, "subnet": BENCH_SUBNET, "pools": [{"pool": BENCH_POOL}],
                "relay": {"ip-addresses": list(bench_relays)},
            })
        if floor:
            library: dict[str, Any] = {"library": keaconfig.FLOOR_PATH}
            if floor_points is not None:
                library["parameters"] = {"hook-points": list(floor_points)}
            dhcp4["hooks-libraries"] = [library]
        elif with_hook:
            dhcp4["hooks-libraries"][0]["parameters"] = self.hook_parameters(params)
        return config

    def _start(self) -> None:
        lab = self.lab
        backend = lab.services.backend
        stub = ContainerSpec(
            role="backend",
            image="runtime",
            command=["python", f"{TOOLS}/stub_backend.py", "--port", str(backend.port),
                     "--tftp", str(lab.services.tftp.address), "--public", backend.url,
                     "--dns-sink", str(DNS_SINK_PORT)],
            networks={"server": str(backend.address)},
            files={f"{TOOLS}/stub_backend.py": (HERE / "stub_backend.py").read_bytes()},
        )
        self.run.start_spec(stub)
        kea = services.kea_spec(lab, with_hook=True, hook_secret=self.run.hook_secret)  # the stub ignores it
        kea.files["/etc/kea/kea-dhcp4.conf"] = (
            json.dumps(self.dhcp4_config(), indent=2) + "\n"
        ).encode()
        self.run.start_spec(kea)
        client = ContainerSpec(
            role="client",
            image="runtime",
            command=["sleep", "infinity"],
            networks={"server": str(lab.services.relay.address)},
            cap_add=["NET_ADMIN", "NET_RAW"],
            files={f"{TOOLS}/dhcp_client.py": (HERE / "dhcp_client.py").read_bytes()},
        )
        self.run.start_spec(client)
        for port in lab.switch.ports:
            rc, out = self.run.exec("client", ["ip", "addr", "add", f"{port.gateway}/32", "dev", "eth0"])
            if rc != 0:
                raise RuntimeError(f"adding giaddr {port.gateway} to the client failed: {out}")
        self.run.wait_tcp(str(backend.address), backend.port)
        self.run.wait_tcp(self.kea_address, lab.services.kea.control_port)
        self.wait_kea_ready()

    @property
    def kea_address(self) -> str:
        return str(self.lab.services.kea.address)

    @property
    def backend_url(self) -> str:
        return self.lab.services.backend.url

    def wait_kea_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "DHCP4_STARTED" in self.kea_logs():
                return
            time.sleep(0.3)
        raise RuntimeError(f"kea-dhcp4 did not start:\n{self.kea_logs()[-4000:]}")

    # -- the stand-in backend -------------------------------------------------------------------------------
    def _http(self, method: str, url: str, data: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def set_mode(self, mode: str, delay_ms: int = 100) -> None:
        self._http("POST", f"{self.backend_url}/_mode", {"mode": mode, "delay_ms": delay_ms})

    def backend_requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http("GET", f"{self.backend_url}/_requests")
        return result

    def reset_backend(self) -> None:
        self._http("POST", f"{self.backend_url}/_reset", {})

    # -- Kea ------------------------------------------------------------------------------------------------
    def command(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to dhcp4 (through kea-ctrl-agent on Kea 2.x, kea-dhcp4's HTTP socket on 3.0); its answer."""
        msg: dict[str, Any] = {"command": command, "service": ["dhcp4"]}
        if arguments is not None:
            msg["arguments"] = arguments
        port = self.lab.services.kea.control_port
        answer = self._http("POST", f"http://{self.kea_address}:{port}/", msg, timeout=30.0)
        assert isinstance(answer, list) and answer, answer
        first: dict[str, Any] = answer[0]
        return first

    def reconfigure(self, params: dict[str, Any], *, with_hook: bool = True,
                    bench_relays: tuple[str, ...] = (), log_severity: str | None = None,
                    dhcp4_globals: dict[str, Any] | None = None, floor: bool = False,
                    floor_points: list[str] | None = None) -> None:
        """Swap the hook parameters in the running server (config-set: the hook is unloaded and loaded).
        Only valid parameters: Kea 2.2 cannot recover from a hook that fails to load on a live reload."""
        answer = self.command("config-set", self.dhcp4_config(params, with_hook=with_hook,
                                                              bench_relays=bench_relays, log_severity=log_severity,
                                                              dhcp4_globals=dhcp4_globals, floor=floor,
                                                              floor_points=floor_points))
        if answer.get("result") != 0:
            raise RuntimeError(f"config-set failed: {answer}")
        self.params = dict(params)

    def hook_stats(self) -> dict[str, int]:
        """The hook's exact counters (remote-options-stats): backend-calls, cache-hits, failure-policy, ..."""
        answer = self.command("remote-options-stats")
        if answer.get("result") != 0:
            raise RuntimeError(f"remote-options-stats failed: {answer}")
        counters: dict[str, int] = answer["arguments"]
        return counters

    def kea_statistics(self, prefix: str = "") -> dict[str, int | float]:
        """Kea statistics (statistic-get-all) whose names start with prefix, latest values."""
        answer = self.command("statistic-get-all")
        out: dict[str, int | float] = {}
        for name, samples in (answer.get("arguments") or {}).items():
            if name.startswith(prefix) and samples:
                out[name] = samples[0][0]
        return out

    def kea_logs(self) -> str:
        return self.run.logs("kea")

    def wait_log_count(self, text: str, count: int, timeout: float = 10.0) -> None:
        """Waits until Kea's log holds text at least count times."""
        deadline = time.monotonic() + timeout
        while self.kea_logs().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text} logged {self.kea_logs().count(text)} times, expected {count}")
            time.sleep(0.2)

    @contextmanager
    def silent_dns(self) -> Iterator[None]:
        """Kea's resolver pointed at the stand-in backend's DNS sink (it never answers: glibc would wait
        5 s per attempt, 2 attempts); the original resolv.conf is put back afterwards."""
        sink = str(self.lab.services.backend.address)
        script = ("cp /etc/resolv.conf /tmp/resolv.conf.orig && "
                  f"printf 'nameserver {sink}\noptions timeout:5 attempts:2\n' > /etc/resolv.conf")
        rc, out = self.run.exec("kea", ["sh", "-c", script])
        if rc != 0:
            raise RuntimeError(f"pointing Kea's resolver at the DNS sink failed: {out}")
        try:
            yield
        finally:
            self.run.exec("kea", ["sh", "-c", "cat /tmp/resolv.conf.orig > /etc/resolv.conf"])

    # -- clients --------------------------------------------------------------------------------------------
    def client(self, n: int, *, port: int = 0, guid: str | None = "RPi4", user_class: str | None = None,
               opt82: bytes | None = None, with_82: bool = True, request: bool = True) -> dict[str, Any]:
        """One simulated client: unique MAC and circuit-id from n, relayed through switch port `port`."""
        p = self.lab.switch.ports[port]
        subs = self.lab.switch.option82(p)
        if opt82 is None:
            opt82 = sub(1, subs[1] + f"/{n}".encode()) + sub(2, subs[2])
        options: dict[str, str] = {}
        if with_82:
            options["82"] = opt82.hex()
        if guid is not None:
            options["97"] = pi_guid(guid).hex()
        if user_class is not None:
            options["77"] = (bytes([len(user_class)]) + user_class.encode()).hex()
        mac = f"dc:a6:32:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
        return {"name": f"client-{n}", "giaddr": str(p.gateway), "mac": mac, "options": options,
                "request": request}

    def exchange(self, exchanges: list[dict[str, Any]], *, parallel: bool = False,
                 timeout: float = 5.0) -> list[dict[str, Any]]:
        self._spec_no += 1
        path = f"/tmp/spec-{self._spec_no}.json"
        spec = {"server": self.kea_address, "timeout": timeout, "parallel": parallel, "exchanges": exchanges}
        put_files(self.run.container("client"), {path: json.dumps(spec).encode()})
        rc, out = self.run.exec("client", ["python", f"{TOOLS}/dhcp_client.py", path])
        if rc != 0:
            raise RuntimeError(f"dhcp_client failed ({rc}): {out[-3000:]}")
        results: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])["results"]
        return results


def option_text(options: dict[str, str] | None, code: int) -> str | None:
    """An option's value as text (None when absent)."""
    if not options or str(code) not in options:
        return None
    return bytes.fromhex(options[str(code)]).decode("latin-1")
