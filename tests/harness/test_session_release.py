"""Releasing a board whose target a scenario re-created (``session.target(name, ...)`` again): both the fixture's
target and the current one are closed, and the teardown attaches the current console's log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fixtures.plugin as plugin
from harness.lab.model import load_lab
from harness.session import Session, Target

REPO = Path(__file__).resolve().parents[2]


class FakeConsole:
    url = "fake://"

    def __init__(self, text: bytes) -> None:
        self.text, self.closed = text, 0

    def close(self) -> None:
        self.closed += 1

    def log(self) -> bytes:
        return self.text


class FakeSession(Session):
    """Targets like the sim's: ``target(name)`` again closes and replaces the board's previous target."""

    def __init__(self) -> None:
        super().__init__(say=lambda line: None)
        self.lab = load_lab(REPO / "lab.yaml")
        self.made = 0

    def target(self, name: str, *, port: str | None = None) -> Target:
        old = self.targets.pop(name, None)
        if old is not None:
            old.close()
        self.made += 1
        console = FakeConsole(f"console #{self.made}".encode())
        t = Target(self.lab.board(name), self.lab, console, None, Path("/k"))  # type: ignore[arg-type]
        self.targets[name] = t
        return t


def test_release_of_a_re_created_target_closes_the_current_one() -> None:
    s = FakeSession()
    first = s.target("pi-01")
    second = s.target("pi-01")  # the scenario's own
    assert s.current(first) is second
    s.release(first)
    assert second.console.closed == 1, "the scenario's target was left open"  # type: ignore[attr-defined]
    assert s.targets == {}
    s.release(first)  # twice (a scenario released it itself): harmless
    assert s.targets == {}


def test_release_does_not_drop_another_board() -> None:
    s = FakeSession()
    a, b = s.target("pi-01"), s.target("pi-02")
    s.release(a)
    assert list(s.targets) == ["pi-02"] and b.console.closed == 0  # type: ignore[attr-defined]


def test_teardown_attaches_the_current_console(monkeypatch: pytest.MonkeyPatch) -> None:
    attached: list[tuple[str, Any]] = []
    monkeypatch.setattr(plugin.allure, "attach", lambda body, name, attachment_type=None: attached.append(
        (name, body)))
    s = FakeSession()
    first = s.target("pi-01")
    s.target("pi-01")
    plugin.release_target(s, first)
    bodies = [body for _, body in attached]
    assert "console #2" in bodies, attached  # the scenario's console, where the test's boot happened
    assert s.targets == {}


def test_a_target_is_a_context_manager_that_closes_its_console() -> None:
    s = FakeSession()
    with s.target("pi-01") as t:
        assert t.console.closed == 0  # type: ignore[attr-defined]
    assert t.console.closed == 1  # type: ignore[attr-defined]
    assert t.console.log() == b"console #1", "the log stays readable after the block"
    assert s.current(t) is t, "the session still holds the board until it releases it"
