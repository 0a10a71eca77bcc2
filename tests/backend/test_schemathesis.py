"""Property-based run of every operation of the served OpenAPI schema (schemathesis, in-process ASGI, on
SQLite): no 5xx, and every response conforms to the schema (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from backend_helpers import WRITE, machine
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend import migrate
from backend.app import create_app
from backend.config import Settings
from backend.db import Database
from backend.schemas import MachineIn
from backend.service import Service

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'st.db'}",
        public_url="http://10.89.0.3:8080",
        tftp_server="10.89.0.4",
        read_token="read-token-123-0123456789abcdef0123",
        write_token=WRITE,
        kea_control_url=None,
    )
    db = Database(settings.db_url)
    migrate.upgrade(db.engine)
    svc = Service(db, settings)
    svc.add(MachineIn.model_validate(machine()))
    yield create_app(settings, svc)
    svc.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("authorized", [True, False], ids=["with-write-token", "anonymous"])
def test_no_server_errors_and_schema_conformance(
    app: FastAPI, authorized: bool, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {WRITE}"} if authorized else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    seen: dict[str, set[int]] = {}

    for op in operations:

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            run()
        except Unsatisfiable:
            # no invalid request exists for an operation without parameters or body
            raw = op.definition.raw
            assert mode == GenerationMode.NEGATIVE and not raw.get("parameters") and "requestBody" not in raw
            seen.setdefault(op.label, set())
    assert set(seen) == {op.label for op in operations}
    assert all(code < 500 for codes in seen.values() for code in codes)
    assert sum(len(codes) for codes in seen.values()) >= len(operations)
    if authorized and mode == GenerationMode.POSITIVE:  # generated data gets past validation somewhere
        assert any(code < 300 for codes in seen.values() for code in codes)
