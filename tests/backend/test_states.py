"""The install state machine: every legal step passes, every illegal one raises."""

from __future__ import annotations

import pytest

from backend import states
from backend.states import IllegalTransition

LEGAL_PROGRESS = [
    ("pending", "netbooting"),
    ("pending", "writing"),
    ("netbooting", "netbooting"),
    ("netbooting", "writing"),
    ("writing", "writing"),
    ("writing", "verifying"),
    ("verifying", "configured"),
    ("configured", "configured"),
]
ILLEGAL_PROGRESS = [
    ("writing", "netbooting"),
    ("verifying", "writing"),
    ("configured", "verifying"),
    ("writing", "configured"),
    ("pending", "configured"),
    ("failed", "writing"),
    ("booted-ok", "configured"),
    ("pending", "pending"),
    ("pending", "booted-ok"),
    ("writing", "failed"),
]


@pytest.mark.parametrize(("cur", "new"), LEGAL_PROGRESS)
def test_legal_progress(cur: str, new: str) -> None:
    states.check_progress(cur, new)


@pytest.mark.parametrize(("cur", "new"), ILLEGAL_PROGRESS)
def test_illegal_progress(cur: str, new: str) -> None:
    with pytest.raises(IllegalTransition) as exc:
        states.check_progress(cur, new)
    assert f"{cur} → {new}" in str(exc.value)


@pytest.mark.parametrize("cur", ["writing", "verifying", "configured"])
def test_success_result_after_writing(cur: str) -> None:
    states.check_result(cur, "success", has_result=False)


@pytest.mark.parametrize("cur", ["pending", "netbooting"])
def test_success_result_before_writing_is_illegal(cur: str) -> None:
    with pytest.raises(IllegalTransition, match="nothing was written"):
        states.check_result(cur, "success", has_result=False)


@pytest.mark.parametrize("cur", ["pending", "netbooting", "writing", "verifying", "configured"])
def test_failure_result_from_any_live_state(cur: str) -> None:
    states.check_result(cur, "failure", has_result=False)


@pytest.mark.parametrize("cur", ["failed", "booted-ok"])
def test_no_result_after_the_end(cur: str) -> None:
    with pytest.raises(IllegalTransition):
        states.check_result(cur, "failure", has_result=False)


def test_second_result_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="already reported"):
        states.check_result("configured", "success", has_result=True)


def test_booted_only_after_verified_configure() -> None:
    states.check_booted("configured", "success")
    for cur, res in [
        ("configured", None),
        ("verifying", None),
        ("booted-ok", "success"),
        ("failed", "failure"),
    ]:
        with pytest.raises(IllegalTransition):
            states.check_booted(cur, res)
