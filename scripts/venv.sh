#!/usr/bin/env bash
# The Python venv at .venv: every requirement of requirements.in at the versions of requirements.lock, and
# malina itself (editable). Idempotent: skipped while requirements.in, requirements.lock and pyproject.toml
# are unchanged since the last install. Needs only python3 with venv (Debian: python3-venv) and the package
# index pip is configured with; `make lint` and `make lock` need nothing more.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="$PWD/.venv"
STAMPS="$PWD/build/stamps"
mkdir -p "$STAMPS"

say() { printf 'venv: %s\n' "$*" >&2; }

PY=${PYTHON:-python3}
want=$(cat requirements.in requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
    say "creating the venv at .venv"
    "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMPS/venv" 2>/dev/null || true)" != "$want" ]; then
    say "installing Python packages (pinned by requirements.lock)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.in -c requirements.lock
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
    echo "$want" > "$STAMPS/venv"
else
    say "up to date"
fi
