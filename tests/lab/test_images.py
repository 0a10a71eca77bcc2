"""Each lab image carries only its role's part of malina: the backend image the provisioning service and the
`backend` extra (no harness, no pytest, no scapy), the runtime image the harness and the `harness` extra (no
backend, no pytest). Checked inside throwaway containers without a network."""

from __future__ import annotations

import json

import docker
import pytest

from harness.lab import images

pytestmark = pytest.mark.docker

LIST_DISTRIBUTIONS = ("import importlib.metadata as m, json; "
                      "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))")


def _run(client: docker.DockerClient, tag: str, script: str) -> str:
    out: bytes = client.containers.run(tag, ["sh", "-c", script], remove=True, network_mode="none")
    return out.decode()


def _distributions(client: docker.DockerClient, tag: str) -> set[str]:
    last = _run(client, tag, f'python -c "{LIST_DISTRIBUTIONS}"').strip().splitlines()[-1]
    return {name.replace("_", "-") for name in json.loads(last)}


def test_the_backend_image_carries_the_backend_and_its_extra_only(docker_engine: docker.DockerClient) -> None:
    tag = images.ensure_image(docker_engine, "backend")
    installed = _distributions(docker_engine, tag)
    assert {"fastapi", "uvicorn", "httptools", "sqlalchemy", "alembic", "psycopg", "pydantic-settings"} <= installed
    assert not installed & {"pytest", "scapy", "docker", "paramiko", "pyserial", "tftpy", "allure-pytest"}, installed
    assert _run(docker_engine, tag, "ls /opt/malina").split() == ["backend"]
    usage = _run(docker_engine, tag, "malina-backend --help")
    assert "serve" in usage and "usage: malina" in usage, usage


def test_the_runtime_image_carries_the_harness_without_pytest_or_the_backend(
        docker_engine: docker.DockerClient) -> None:
    tag = images.ensure_image(docker_engine, "runtime")
    installed = _distributions(docker_engine, tag)
    assert {"scapy", "tftpy", "pydantic", "pyyaml"} <= installed
    assert not installed & {"pytest", "allure-pytest", "fastapi", "sqlalchemy"}, installed
    assert _run(docker_engine, tag, "ls /opt/malina").split() == ["harness"]
