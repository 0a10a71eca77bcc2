"""Interrupted installs (issue 18.6): an install that starts over mid-write, counted with its own cap.

A board reset or cut from power while the installer writes netboots again, and its installer asks for the same
attempt's scenario: the attempt starts over, nothing failed, so the attempt cap never sees it. A board whose
power supply fails during every write would reinstall forever; counting these restarts against
``MALINA_MAX_INTERRUPTIONS`` stops it: at the cap the machine goes to ``local`` and is flagged (kind
``interruptions``) until an operator's ``reinstall`` or a redefinition clears it. Pure text and arithmetic;
``backend.service`` carries it out in the scenario's transaction.
"""

from __future__ import annotations


def reached(count: int, cap: int) -> bool:
    """Whether ``count`` interruptions reach the cap (the machine is flagged at the cap-th one)."""
    return count >= cap


def where(state: str, written: int | None, total: int | None) -> str:
    """Where the install was when it was cut, for the history: its state and the progress last reported."""
    if written is None:
        return f"while {state}"
    of = f" of {total}" if total else ""
    return f"while {state} ({written}{of} bytes reported)"


def event_text(attempt: int, at: str, count: int, cap: int) -> str:
    return (f"attempt {attempt} interrupted {at}: the installer started again (interruption {count} of cap {cap}; "
            "power cut or reset mid-install)")


def flag_reason(count: int, cap: int) -> str:
    """The flag's reason; ``backend.metrics.flag_kind`` (and the web page) read ``interruption cap`` in it."""
    return (f"install interrupted {count} times mid-write (interruption cap {cap}): the board loses power or is "
            "reset during every write")
