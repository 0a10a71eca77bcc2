"""The Kea driver: the lab's containerised kea-dhcp4 (docker SDK) or a Kea that already runs beside a rack
(its control agent only).

Both talk to Kea's control API on ``control_port``: kea-ctrl-agent on Kea 2.x, kea-dhcp4's own HTTP control
socket on Kea 3.0 (``POST /`` with ``{"command", "service": ["dhcp4"], "arguments"}``; both answer a list). A Kea error
answer is a ``ProductFailure`` carrying Kea's text; an agent that does not answer is an ``InfraFailure``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
from docker.errors import APIError
from docker.models.containers import Container

from harness.drivers.base import InfraFailure, Kea, ProductFailure
from harness.wait import wait_until

EMPTY = 3  # Kea's "empty" result (e.g. no leases): not an error

log = logging.getLogger(__name__)


class AgentKea(Kea):
    """A Kea reached through its control agent; the harness does not manage its process."""

    def __init__(self, control_url: str, *, log_path: Path | None = None, timeout_s: float = 10.0) -> None:
        self.control_url = control_url
        self.log_path = log_path
        self.timeout_s = timeout_s

    def command(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        log.debug("kea %s: %s", self.control_url, command)  # debug: wait_ready polls with status-get
        body: dict[str, Any] = {"command": command, "service": ["dhcp4"]}
        if arguments is not None:
            body["arguments"] = arguments
        try:
            resp = httpx.post(self.control_url, json=body, timeout=self.timeout_s)
            answers = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise InfraFailure(f"Kea control agent {self.control_url}: {command}: {exc}") from None
        answer = answers[0] if isinstance(answers, list) and answers else answers
        if not isinstance(answer, dict):
            raise InfraFailure(f"Kea control agent {self.control_url}: {command}: odd answer {answers!r}")
        if answer.get("result") not in (0, EMPTY):
            raise ProductFailure(f"Kea refused {command}: {answer.get('text')}")
        return answer

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(f"Kea control agent {self.control_url}: an answer to status-get", lambda: self.command("status-get"),
                   timeout=timeout, interval=0.3, retry_on=(InfraFailure,), error=InfraFailure)

    def reload(self, config: dict[str, Any] | None = None) -> None:
        log.info("kea %s: %s", self.control_url, "config-reload" if config is None else "config-set")
        if config is None:
            self.command("config-reload")
        else:
            self.command("config-set", config)

    def start(self) -> None:
        raise InfraFailure(f"the Kea at {self.control_url} is not managed by the harness: start it where it runs")

    def stop(self) -> None:
        raise InfraFailure(f"the Kea at {self.control_url} is not managed by the harness: stop it where it runs")

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def leases(self) -> list[dict[str, Any]]:
        """Leases through the lease_cmds hook; [] when Kea has no such command (the hook is not loaded)."""
        try:
            answer = self.command("lease4-get-all")
        except ProductFailure:
            return []
        return list((answer.get("arguments") or {}).get("leases", []))


class DockerKea(AgentKea):
    """The lab's Kea container (kea-dhcp4, and kea-ctrl-agent beside it on Kea 2.x)."""

    def __init__(self, container: Container, control_url: str, *, timeout_s: float = 10.0,
                 after_start: Any = None) -> None:
        super().__init__(control_url, timeout_s=timeout_s)
        self.container = container
        self.after_start = after_start

    def start(self) -> None:
        log.info("kea container %s: start", self.container.name)
        try:
            self.container.start()
        except APIError as exc:
            raise InfraFailure(f"starting the Kea container: {exc}") from None
        if self.after_start is not None:
            self.after_start(self.container)
        self.wait_ready()

    def stop(self) -> None:
        log.info("kea container %s: stop", self.container.name)
        try:
            self.container.stop(timeout=5)
        except APIError as exc:
            raise InfraFailure(f"stopping the Kea container: {exc}") from None

    def log(self) -> str:
        try:
            raw: bytes = self.container.logs()
        except APIError as exc:
            raise InfraFailure(f"reading the Kea container's log: {exc}") from None
        return raw.decode("utf-8", "replace")
