"""The project's style rules as tests: the same checks as ``make lint`` (testkit.style: ruff, mypy strict on
the folders pyproject's [tool.mypy] names, shellcheck on every shell script)."""

from __future__ import annotations

import pytest

from testkit import style


@pytest.mark.parametrize("check", list(style.CHECKS))
def test_clean(check: str) -> None:
    proc = style.run(check)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_sees_the_scripts() -> None:
    files = style.shell_files()
    assert {".ci/run", "scripts/setup.sh", "scripts/venv.sh"} <= set(files)
    assert any(f.startswith("buildroot/agent/usr/bin/") for f in files), files
