"""The package's declared dependencies agree with requirements.in / requirements.lock (the set-up installs
from those, offline but for PyPI), and cover what the pytest plugin and the harness import."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict[str, object]:
    return dict(tomllib.loads((REPO / "pyproject.toml").read_text())["project"])


def _declared() -> set[str]:
    project = _project()
    deps = list(project["dependencies"])  # type: ignore[call-overload]
    for extra in dict(project.get("optional-dependencies") or {}).values():  # type: ignore[call-overload]
        deps += list(extra)
    return {_name(d) for d in deps}


def test_every_declared_dependency_is_in_requirements_in_and_locked() -> None:
    wanted = {_name(line) for line in (REPO / "requirements.in").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    locked = {_name(line) for line in (REPO / "requirements.lock").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    declared = _declared()
    assert declared <= wanted, f"in pyproject.toml, not in requirements.in: {sorted(declared - wanted)}"
    assert declared <= locked, f"in pyproject.toml, not in requirements.lock: {sorted(declared - locked)}"
    assert wanted <= declared, f"in requirements.in, not declared in pyproject.toml: {sorted(wanted - declared)}"


# import name -> distribution name, where they differ
DISTRIBUTION = {"allure": "allure-pytest", "yaml": "pyyaml", "serial": "pyserial", "sqlalchemy": "sqlalchemy",
                "psycopg": "psycopg"}


def _third_party_imports(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    local = {"harness", "backend", "fixtures", "scenarios", "testkit", "__future__"}
    return {m for m in found if m not in local and m not in sys.stdlib_module_names}


def test_what_the_plugin_and_the_harness_import_is_a_runtime_dependency() -> None:
    runtime = {_name(d) for d in _project()["dependencies"]}  # type: ignore[attr-defined]
    files = sorted((REPO / "fixtures").rglob("*.py")) + sorted((REPO / "harness").rglob("*.py"))
    imported = {DISTRIBUTION.get(m, m).lower().replace("_", "-") for m in _third_party_imports(files)}
    assert imported <= runtime, f"imported but not in [project] dependencies: {sorted(imported - runtime)}"
    assert {"pytest", "allure-pytest", "pytest-xdist", "pysnmp"} <= runtime
