"""The import direction of the repository's Python (docs/ARCHITECTURE.md, "Layers"):

    scenarios, bench  →  fixtures  →  harness (session, strategy → lab, console → drivers | sim)
    harness.dhcp (the DHCP wire codec) is a leaf every layer may import; it imports nothing else of harness
    backend and hook stand alone

Every module's imports are read with ``ast`` (function-local and TYPE_CHECKING imports included: they are
dependencies too) and checked against ``RULES``: a module under an importer prefix must not import a name under
one of its forbidden prefixes, unless ``ALLOWED`` names that pair with its reason.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# importer prefix -> (forbidden prefixes, why)
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "backend": (("harness", "fixtures", "scenarios", "tests", "bench", "testkit"),
                "the backend is deployed on its own; the harness drives it from outside"),
    "hook": (("harness", "backend", "fixtures", "scenarios", "tests", "bench", "testkit"),
             "the hook's tools stand alone"),
    "harness": (("fixtures", "scenarios", "tests", "bench", "testkit"),
                "the harness is the library the plugin and tests use"),
    "fixtures": (("scenarios", "tests", "bench", "testkit"), "the plugin serves scenarios, not the other way round"),
    "testkit": (("tests", "scenarios", "bench"), "tests and benchmarks share code through testkit, not the reverse"),
    "scenarios": (("tests", "bench"), "system tests use the plugin and the harness only"),
    "bench": (("tests", "scenarios"), "benchmarks share code through the harness, not through tests"),
    "harness.session": (("harness.strategy", "harness.demo", "harness.cli"), "the strategy and the CLIs sit on it"),
    "harness.lab": (("harness.session", "harness.strategy", "harness.drivers", "harness.demo", "harness.cli"),
                    "the lab starts containers; sessions and drivers use it"),
    "harness.console": (("harness.lab", "harness.sim", "harness.drivers", "harness.session", "harness.strategy",
                         "harness.demo"), "the parser reads bytes and nothing else"),
    "harness.drivers": (("harness.lab", "harness.sim", "harness.session", "harness.strategy", "harness.demo",
                         "harness.cli"), "drivers talk to real or simulated neighbours over their interfaces"),
    "harness.sim": (("harness.lab", "harness.drivers", "harness.session", "harness.strategy", "harness.demo",
                     "harness.cli", "harness.console"),
                    "the sim runs inside containers from plain config files; the lab starts it, never the reverse"),
    "harness.wait": (("harness", "backend", "fixtures", "scenarios", "tests", "bench", "testkit"),
                     "the wait helper is a leaf every layer may import, the sim in its containers too"),
    "harness.dhcp": (("harness",), "the DHCP wire codec is a leaf (bytes in, bytes out) that every layer uses"),
    "harness.emurack": (("harness.session", "harness.strategy", "harness.drivers", "harness.demo", "harness.cli",
                         "fixtures"),
                        "the emulated rack is hardware: the harness reaches it only as a real rack (tty, RFC 2217, "
                        "SNMP, SSH)"),
}

# (importer prefix, imported prefix) -> why the rule does not apply
ALLOWED: dict[tuple[str, str], str] = {
    ("harness.drivers", "harness.lab.model"): "drivers are built from lab.yaml's description (plain pydantic data: "
                                              "a board's MAC, PoE port, backend URL), not from the docker lab",
    ("harness.dhcp", "harness.dhcp"): "the codec's own modules",
}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Every module (or ``module.name``) that ``source`` imports, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [base if a.name == "*" else f"{base}.{a.name}" for a in node.names]
    return found


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that go against ``RULES``, as readable lines."""
    out = []
    for name in imported_names(module, source, is_package=is_package):
        for importer, (forbidden, why) in RULES.items():
            if not _under(module, importer):
                continue
            for bad in forbidden:
                if _under(name, bad) and not any(_under(module, a) and _under(name, b) for a, b in ALLOWED):
                    out.append(f"{module} imports {name}: {importer} must not import {bad} ({why})")
    return out


def _python_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "*.py"], cwd=REPO, capture_output=True, check=True,
                         timeout=60).stdout
    return [REPO / n for n in out.decode().split("\0") if n and (REPO / n).is_file()]


def test_no_import_goes_against_the_layers() -> None:
    files = _python_files()
    assert len(files) > 100
    found = []
    for path in files:
        rel = path.relative_to(REPO)
        found += violations(module_name(rel), path.read_text(), is_package=path.name == "__init__.py")
    assert not found, "imports against docs/ARCHITECTURE.md's layers:\n" + "\n".join(found)


def test_the_checker_catches_a_forbidden_import() -> None:
    # the sim reaching into the lab, directly, lazily, relatively, or via "from package import module"
    assert violations("harness.sim.media.cards", "from harness.lab.model import Board\n")
    assert violations("harness.sim.board.x", "def f():\n    import harness.session\n")
    assert violations("harness.sim.board.x", "from ...lab import model\n")
    assert violations("harness.sim.board", "from ...lab import docker_lab\n", is_package=True)
    assert violations("harness.sim.x", "from harness import lab\n")
    assert violations("backend.app", "from harness.drivers.backend import HttpBackend\n")
    assert violations("harness.session", "from fixtures.plugin import lab\n")
    assert violations("fixtures.plugin", "import scenarios.checks\n")
    assert violations("harness.drivers.power", "from harness.lab.docker_lab import LabRun\n")
    assert violations("harness.wait", "from harness.drivers.base import InfraFailure\n")
    # what the layers allow
    assert not violations("harness.sim.relay.agent", "from harness.wait import Deadline\n")
    assert not violations("harness.drivers.ssh", "from harness.wait import wait_until\n")
    assert violations("harness.dhcp.codec", "from harness.sim.relay import packet\n")
    assert violations("harness.dhcp.pi4", "from harness.lab.model import Board\n")
    # what the layers allow
    assert not violations("harness.dhcp.frames", "from harness.dhcp.codec import DhcpWireError\n")
    assert not violations("harness.sim.relay.packet", "from harness.dhcp.codec import Bootp\n")
    assert not violations("harness.drivers.dhcptrace", "from harness.dhcp import codec\n")
    assert not violations("testkit.hooklab.lab", "from harness.dhcp.pi4 import option97\n")
    assert not violations("harness.drivers.power", "from harness.lab.model import Board\n")
    assert not violations("harness.lab.boardspec", "from harness.sim.board.config import BoardConfig\n")
    assert not violations("harness.sim.board.firmware", "from harness.sim.bootloader import core\n")
    assert not violations("scenarios.test_x", "from fixtures.plugin import lab\nimport harness.session\n")
    assert not violations("harness.drivers.backend", "from backend.labimport import machines_from_doc\n")


def test_every_package_says_what_it_is_for_and_lists_its_modules() -> None:
    for init in [*sorted((REPO / "harness").rglob("__init__.py")), REPO / "fixtures" / "__init__.py"]:
        tree = ast.parse(init.read_text())
        doc = ast.get_docstring(tree) or ""
        rel = init.parent.relative_to(REPO)
        assert doc and doc != "malina package." and "\n" not in doc.strip(), f"{rel}: one line saying what it is for"
        exported = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                         and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)), None)
        assert exported is not None, f"{rel}/__init__.py has no __all__"
        modules = {p.stem for p in init.parent.glob("*.py") if not p.name.startswith("_")}
        modules |= {p.parent.name for p in init.parent.glob("*/__init__.py")}
        assert set(exported) == modules, f"{rel}: __all__ {sorted(exported)} != modules {sorted(modules)}"
