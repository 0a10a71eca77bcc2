"""Packaging tells the truth: requirements.in has one section per part of pyproject.toml ([project]
dependencies and each extra) with the same requirements, everything is pinned in requirements.lock, each part
(backend, harness, plugin, test kit, benchmarks) imports only what its extra declares, and the backend image's
requirements reach neither pytest nor scapy. The image itself is checked in tests/lab/test_images.py."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from harness.lab.images import extra_requirements

REPO = Path(__file__).resolve().parents[2]
LOCAL = {"harness", "backend", "fixtures", "scenarios", "testkit", "bench", "__future__"}
# Imported directly but may be declared through the package built on it: FastAPI pins its Starlette (the
# harness, which has no FastAPI, declares Starlette itself), pysnmp its pyasn1 (the SNMP stand-in of the power
# driver test speaks BER with it). Distribution names.
VIA = {"starlette": "fastapi", "pyasn1": "pysnmp"}


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict[str, object]:
    return dict(tomllib.loads((REPO / "pyproject.toml").read_text())["project"])


def _pyproject_parts() -> dict[str, list[str]]:
    """[project] dependencies as "base" and every extra, without the extras' references to other extras."""
    project = _project()
    extras: dict[str, list[str]] = dict(project.get("optional-dependencies") or {})  # type: ignore[call-overload]
    parts = {"base": list(project["dependencies"])}  # type: ignore[call-overload]
    for extra, reqs in extras.items():
        parts[extra] = [r for r in reqs if _name(r) != "malina"]
    return parts


def _requirements_in_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (REPO / "requirements.in").read_text().splitlines():
        header = re.fullmatch(r"#\s*\[([\w-]+)\]\s*", line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif line.strip() and not line.startswith("#"):
            assert current is not None, f"requirements.in: {line!r} is outside a [section]"
            current.append(line.strip())
    return sections


def _canonical(reqs: list[str]) -> set[str]:
    return {str(Requirement(r)).lower().replace("_", "-") for r in reqs}


def test_requirements_in_has_the_sections_and_requirements_of_pyproject() -> None:
    ours, theirs = _requirements_in_sections(), _pyproject_parts()
    assert sorted(ours) == sorted(theirs), "requirements.in sections vs pyproject parts"
    for part, reqs in theirs.items():
        assert _canonical(ours[part]) == _canonical(reqs), f"[{part}]: requirements.in vs pyproject.toml"


def test_every_requirement_is_locked() -> None:
    locked = {_name(line) for line in (REPO / "requirements.lock").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    wanted = {_name(r) for reqs in _requirements_in_sections().values() for r in reqs}
    assert wanted <= locked, f"in requirements.in, not in requirements.lock: {sorted(wanted - locked)}"


def _third_party_imports(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in LOCAL and m not in sys.stdlib_module_names}


def _imported_distributions(*folders: str) -> set[str]:
    dists = importlib.metadata.packages_distributions()
    files = [p for folder in folders for p in sorted((REPO / folder).rglob("*.py"))]
    modules = _third_party_imports(files) - {p.stem for p in files}  # a test folder's own helper modules
    unknown = {m for m in modules if m not in dists}
    assert not unknown, f"imported by {folders} but installed by no distribution: {sorted(unknown)}"
    return {_name(dists[m][0]) for m in modules}


def _declared(extra: str | None) -> set[str]:
    reqs = extra_requirements(extra) if extra else list(_project()["dependencies"])  # type: ignore[call-overload]
    return {_name(r) for r in reqs}


def test_each_part_imports_only_what_its_extra_declares() -> None:
    for folders, extra in [(("backend",), "backend"), (("harness",), "harness"),
                           (("fixtures", "scenarios"), "plugin"), (("testkit", "bench", "tests"), "dev")]:
        declared = _declared(extra)
        missing = {d for d in _imported_distributions(*folders) if d not in declared and VIA.get(d) not in declared}
        assert not missing, f"{'/, '.join(folders)}/ import(s) {sorted(missing)}, not in the [{extra}] extra"


def _closure(reqs: list[str]) -> set[str]:
    """Every distribution installing ``reqs`` brings in (from the venv's metadata, markers evaluated)."""
    seen: set[str] = set()
    pending = [(Requirement(r), "") for r in reqs]
    while pending:
        req, extra = pending.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = _name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for sub in importlib.metadata.requires(req.name) or []:
            sub_req = Requirement(sub)
            if sub_req.marker is None or sub_req.marker.evaluate({"extra": ""}):
                pending.append((sub_req, ""))
            else:
                pending += [(sub_req, e) for e in req.extras if sub_req.marker.evaluate({"extra": e})]
    return {k.split("[")[0] for k in seen}


def test_the_backend_image_requirements_reach_neither_pytest_nor_scapy() -> None:
    backend = _closure(extra_requirements("backend"))
    assert {"fastapi", "uvicorn", "sqlalchemy", "psycopg-binary", "pydantic-settings"} <= backend
    assert not backend & {"pytest", "scapy", "docker", "paramiko", "allure-pytest"}, sorted(backend)
    harness = _closure(extra_requirements("harness"))
    assert "scapy" in harness and "pytest" not in harness, sorted(harness)
    assert {"pytest", "allure-pytest", "scapy"} <= _closure(extra_requirements("plugin"))
