#!/usr/bin/env python3
"""Compile a Kea message file (.mes) into a C++ header and source.

Debian ships no kea-msg-compiler, so the hook keeps its messages in a .mes file and generates
the C++ with this script. Accepted format (the subset Kea's own .mes files use):

    # comment
    $NAMESPACE a::b
    % MESSAGE_ID text with %1 placeholders
    explanation lines (ignored) up to the next "%" line

Output: <stem>.h declares `extern const isc::log::MessageID MESSAGE_ID;` inside the namespace;
<stem>.cc defines them and registers id/text pairs with an isc::log::MessageInitializer.
Errors (bad identifier, duplicate id, gap in placeholders, unknown directive) exit with status 1
and a message naming the file and line.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

IDENT = re.compile(r"^[A-Z][A-Z0-9_]*$")
NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$")
PLACEHOLDER = re.compile(r"%(\d+)")


class MesError(Exception):
    """A syntax error in the message file."""


@dataclass(frozen=True)
class Message:
    ident: str
    text: str


@dataclass(frozen=True)
class MessageFile:
    namespace: str
    messages: tuple[Message, ...]


def parse(text: str, name: str = "<mes>") -> MessageFile:
    namespace = ""
    messages: list[Message] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{name}:{number}"
        if not line or line.startswith("#"):
            continue
        if line.startswith("$"):
            parts = line.split()
            if parts[0] != "$NAMESPACE" or len(parts) != 2:
                raise MesError(f"{where}: unknown or malformed directive {line!r}")
            if not NAMESPACE.match(parts[1]):
                raise MesError(f"{where}: bad namespace {parts[1]!r}")
            if messages:
                raise MesError(f"{where}: $NAMESPACE must come before the first message")
            namespace = parts[1]
            continue
        if not line.startswith("%"):
            continue  # explanation text
        body = line[1:].strip()
        ident, _, msg = body.partition(" ")
        msg = msg.strip()
        if not IDENT.match(ident):
            raise MesError(f"{where}: bad message identifier {ident!r}")
        if ident in seen:
            raise MesError(f"{where}: duplicate message identifier {ident}")
        if not msg:
            raise MesError(f"{where}: message {ident} has no text")
        numbers = sorted({int(n) for n in PLACEHOLDER.findall(msg)})
        if numbers and numbers != list(range(1, numbers[-1] + 1)):
            raise MesError(f"{where}: message {ident} placeholders {numbers} are not %1..%N")
        seen.add(ident)
        messages.append(Message(ident, msg))
    if not messages:
        raise MesError(f"{name}: no messages")
    return MessageFile(namespace, tuple(messages))


def c_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append(f"\\{ord(ch):03o}" if ord(ch) < 0x100 else ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _open_ns(namespace: str) -> tuple[str, str]:
    parts = namespace.split("::") if namespace else []
    opening = "".join(f"namespace {p} {{\n" for p in parts)
    closing = "".join(f"}} // namespace {p}\n" for p in reversed(parts))
    return opening, closing


def render_header(mes: MessageFile, stem: str, source: str) -> str:
    guard = re.sub(r"[^A-Z0-9]", "_", stem.upper()) + "_H"
    opening, closing = _open_ns(mes.namespace)
    decls = "".join(f"extern const isc::log::MessageID {m.ident};\n" for m in mes.messages)
    return (
        f"// Generated from {source} by mes2cc.py. Do not edit.\n\n"
        f"#ifndef {guard}\n#define {guard}\n\n#include <log/message_types.h>\n\n"
        f"{opening}\n{decls}\n{closing}\n#endif // {guard}\n"
    )


def render_source(mes: MessageFile, stem: str, source: str) -> str:
    opening, closing = _open_ns(mes.namespace)
    defs = "".join(f'extern const isc::log::MessageID {m.ident} = "{m.ident}";\n' for m in mes.messages)
    values = "".join(f'    "{m.ident}", {c_string(m.text)},\n' for m in mes.messages)
    return (
        f"// Generated from {source} by mes2cc.py. Do not edit.\n\n"
        "#include <cstddef>\n#include <log/message_types.h>\n#include <log/message_initializer.h>\n"
        f'#include "{stem}.h"\n\n'
        f"{opening}\n{defs}\n{closing}\n"
        "namespace {\n\nconst char* values[] = {\n"
        f"{values}    NULL\n}};\n\n"
        "const isc::log::MessageInitializer initializer(values);\n\n} // namespace\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mes", type=Path, help="the .mes file")
    parser.add_argument("-o", "--outdir", type=Path, default=Path("."), help="output directory")
    args = parser.parse_args(argv)
    try:
        mes = parse(args.mes.read_text(encoding="utf-8"), str(args.mes))
    except (OSError, UnicodeDecodeError, MesError) as exc:
        print(f"mes2cc: {exc}", file=sys.stderr)
        return 1
    stem = args.mes.stem
    args.outdir.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".h", render_header(mes, stem, args.mes.name)),
                         (".cc", render_source(mes, stem, args.mes.name))):
        target = args.outdir / f"{stem}{suffix}"
        tmp = target.with_suffix(suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)  # never leave a half-written file behind
    return 0


if __name__ == "__main__":
    sys.exit(main())
