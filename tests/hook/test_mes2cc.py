"""The hook's message compiler (hook/tools/mes2cc.py): parsing, errors, and C++ that compiles against Kea."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "hook" / "tools" / "mes2cc.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mes2cc", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mes2cc"] = module
    spec.loader.exec_module(module)
    return module


mes2cc = _load()

GOOD = """# comment
$NAMESPACE isc::demo

% DEMO_ONE first message with %1 and %2
Explanation text, ignored.

% DEMO_TWO a "quoted" \\ backslash
"""


def test_parse_good_file() -> None:
    mes = mes2cc.parse(GOOD, "demo.mes")
    assert mes.namespace == "isc::demo"
    assert [(m.ident, m.text) for m in mes.messages] == [
        ("DEMO_ONE", "first message with %1 and %2"),
        ("DEMO_TWO", 'a "quoted" \\ backslash'),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("% lower_case text\n", "bad message identifier"),
        ("% DUP a\n% DUP b\n", "duplicate message identifier DUP"),
        ("% GAP uses %1 and %3\n", "are not %1..%N"),
        ("% EMPTY\n", "has no text"),
        ("$PREFIX X\n% A b\n", "unknown or malformed directive"),
        ("$NAMESPACE 1bad\n% A b\n", "bad namespace"),
        ("% A b\n$NAMESPACE x\n", "must come before"),
        ("# only comments\n", "no messages"),
    ],
)
def test_parse_errors_name_the_line(text: str, error: str) -> None:
    with pytest.raises(mes2cc.MesError, match=re.escape(error)):
        mes2cc.parse(text, "bad.mes")


def test_generated_cpp_compiles_and_registers(tmp_path: Path) -> None:
    src = tmp_path / "demo_messages.mes"
    src.write_text(GOOD)
    rc = subprocess.run([sys.executable, str(TOOL), str(src), "-o", str(tmp_path / "gen")],
                        capture_output=True, text=True, timeout=60)
    assert rc.returncode == 0, rc.stderr
    header = (tmp_path / "gen" / "demo_messages.h").read_text()
    assert "extern const isc::log::MessageID DEMO_ONE;" in header
    main = tmp_path / "main.cc"
    main.write_text(
        '#include "demo_messages.h"\n#include <log/message_dictionary.h>\n'
        "#include <log/message_initializer.h>\n"
        "#include <iostream>\n"
        "int main() {\n"
        "  isc::log::MessageInitializer::loadDictionary();\n"
        "  auto d = isc::log::MessageDictionary::globalDictionary();\n"
        "  std::cout << d->getText(isc::demo::DEMO_TWO) << '|' << d->getText(\"DEMO_ONE\");\n}\n"
    )
    exe = tmp_path / "demo"
    build = subprocess.run(
        ["g++", "-std=c++17", "-I/usr/include/kea", f"-I{tmp_path / 'gen'}", str(main),
         str(tmp_path / "gen" / "demo_messages.cc"), "-o", str(exe), "-lkea-log", "-lkea-exceptions"],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert out.stdout == 'a "quoted" \\ backslash|first message with %1 and %2'


def test_cli_error_exit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mes"
    bad.write_text("% DUP a\n% DUP b\n")
    rc = subprocess.run([sys.executable, str(TOOL), str(bad), "-o", str(tmp_path)],
                        capture_output=True, text=True, timeout=60)
    assert rc.returncode == 1
    assert "bad.mes:2: duplicate message identifier DUP" in rc.stderr
    assert not (tmp_path / "bad.h").exists()
