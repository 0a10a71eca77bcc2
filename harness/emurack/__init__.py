"""The emulated rack: simulated boards reached only as real ones (a pty, RFC 2217, SNMP PoE, a relay switch)."""

__all__ = ["faults", "hardware", "ptybridge", "rack", "rfc2217", "snmpagent"]
