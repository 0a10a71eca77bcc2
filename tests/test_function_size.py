"""No Python function in the library parts (harness/, backend/, fixtures/) is longer than 80 lines: a longer one
is a function doing several jobs (issue 12). Nested functions count on their own and inside their parent."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("harness", "backend", "fixtures")
MAX_LINES = 80


def long_functions(source: str, filename: str = "<source>", limit: int = MAX_LINES) -> list[str]:
    """``file:line name (N lines)`` for every function of ``source`` longer than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = (node.end_lineno or node.lineno) - start + 1
            if lines > limit:
                found.append(f"{filename}:{node.lineno} {node.name} ({lines} lines)")
    return found


def _tracked_python() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--", *(f"{f}/*.py" for f in FOLDERS)], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [REPO / line for line in out.splitlines() if line and (REPO / line).is_file()]


def test_no_function_is_over_80_lines() -> None:
    files = _tracked_python()
    assert len(files) > 50, files  # the listing found the library
    too_long = [hit for path in files
                for hit in long_functions(path.read_text(), str(path.relative_to(REPO)))]
    assert too_long == []


def test_the_checker_counts_decorators_and_nested_functions() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(79))
    ok = f"def f():\n{body}\n"
    assert long_functions(ok) == []  # 80 lines
    assert long_functions("@decorator\n" + ok) == ["<source>:2 f (81 lines)"]
    nested = "def outer():\n    def inner():\n" + "\n".join(f"        y{i} = {i}" for i in range(80)) + "\n"
    assert long_functions(nested) == ["<source>:1 outer (82 lines)", "<source>:2 inner (81 lines)"]
