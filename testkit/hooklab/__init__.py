"""The hook's docker lab (Kea + hook, stand-in backend, relay/client) and the scripts it runs in containers.

``stub_backend.py`` and ``dhcp_client.py`` are not imported here: the lab copies them into its containers
and runs them there (``dhcp_client.py`` needs scapy, ``stub_backend.py`` only the standard library).
"""

from __future__ import annotations

from testkit.hooklab.lab import HookLab, option_text, pi_guid, sub

__all__ = ["HookLab", "option_text", "pi_guid", "sub"]
