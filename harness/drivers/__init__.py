"""Drivers of the lab's neighbours (console, power, SSH, backend, Kea, TFTP, DHCP trace) and their protocols."""

__all__ = ["backend", "base", "console", "dhcptrace", "kea", "power", "ssh", "tftp"]
