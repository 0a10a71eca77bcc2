"""The simulated top-of-rack switch: a DHCP relay agent (RFC 3046 option 82) that also forwards IPv4."""

__all__ = ["agent", "config", "net", "packet"]
