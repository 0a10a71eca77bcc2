"""The install-attempt state machine.

    pending → netbooting → writing → verifying → configured → booted-ok
        └──────────┴───────────┴──────────┴───────────┴──→ failed

Progress may skip forward among pending/netbooting/writing/verifying (an agent need not report every
phase) but never goes back; ``configured`` is reached from ``verifying`` (progress) or from
``writing``/``verifying`` by a verified success result; ``booted-ok`` only from ``configured``
once the result was a verified success.
``booted-ok`` and ``failed`` are final. Anything else is an illegal transition (HTTP 409).
"""

from __future__ import annotations

ORDER = ("pending", "netbooting", "writing", "verifying", "configured", "booted-ok")
FINAL = frozenset({"booted-ok", "failed"})
# An attempt in one of these states can be handed out again to a DHCP ask of its machine.
INSTALLING = frozenset({"pending", "netbooting", "writing", "verifying"})
ALL = frozenset((*ORDER, "failed"))


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str, why: str = "") -> None:
        self.current = current
        self.target = target
        msg = f"illegal transition {current} → {target}"
        super().__init__(f"{msg}: {why}" if why else msg)


def check_progress(current: str, phase: str) -> None:
    """A progress report moving the attempt to ``phase`` (staying in the same phase is fine)."""
    if current in FINAL or current not in ALL:
        raise IllegalTransition(current, phase, "the attempt is over")
    if phase not in ORDER[1:5]:
        raise IllegalTransition(current, phase, "not a progress phase")
    cur, new = ORDER.index(current), ORDER.index(phase)
    if new < cur:
        raise IllegalTransition(current, phase, "progress never goes back")
    if phase == "configured" and current not in ("verifying", "configured"):
        raise IllegalTransition(current, phase, "configured comes after verifying")


def check_result(current: str, status: str, has_result: bool) -> None:
    """The final result report (success → configured, failure → failed)."""
    if current in FINAL or has_result:
        raise IllegalTransition(current, "configured" if status == "success" else "failed",
                                "the result was already reported")
    if status == "success" and current not in ("writing", "verifying", "configured"):
        raise IllegalTransition(current, "configured", "nothing was written yet")


def check_booted(current: str, result_status: str | None) -> None:
    if current != "configured" or result_status != "success":
        raise IllegalTransition(current, "booted-ok", "only a verified, configured install can boot")


def check_cancel(current: str) -> None:
    if current in FINAL:
        raise IllegalTransition(current, "failed", "the attempt is over")
