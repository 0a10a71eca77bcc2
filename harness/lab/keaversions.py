"""The Kea releases the lab runs and what differs between them, in one place.

Each release comes from one Debian suite's ``kea-dhcp4-server`` (its image: ``hook/Dockerfile`` built with
that suite). The default is the current Debian stable's Kea. What the harness must know per release:

- how the control API is reached: Kea 2.2 and 2.6 through kea-ctrl-agent (which forwards to kea-dhcp4's
  UNIX socket); Kea 3.0 from kea-dhcp4's own HTTP control socket (the agent is deprecated there). Both answer
  ``POST /`` with ``{"command", "service": ["dhcp4"], "arguments"}`` and a one-element list, so clients
  (the harness's Kea driver, the backend's cache flush) are the same for all three;
- the logger option's spelling: ``output_options`` (2.2 knows only it), ``output-options`` (2.6+, where the
  underscore form is deprecated).
"""

from __future__ import annotations

from typing import Literal, get_args

KeaVersion = Literal["2.2", "2.6", "3.0"]
KEA_VERSIONS: tuple[KeaVersion, ...] = get_args(KeaVersion)
DEFAULT_KEA_VERSION: KeaVersion = "2.6"  # Debian 13 (trixie), the current stable
SUITES: dict[KeaVersion, str] = {"2.2": "bookworm", "2.6": "trixie", "3.0": "forky"}


def has_ctrl_agent(version: KeaVersion) -> bool:
    """Whether the lab runs kea-ctrl-agent beside kea-dhcp4 (else kea-dhcp4 serves HTTP itself)."""
    return version != "3.0"


def image_name(version: KeaVersion, *, hook: bool) -> str:
    """The ``harness.lab.images.SPECS`` key of the Kea image of ``version`` (with or without the hook)."""
    return f"{'kea-hook' if hook else 'kea'}-{version}"
