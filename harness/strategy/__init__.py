"""How a board is brought from power-off to an installed, SSH-ready system (the boot strategy)."""

__all__ = ["boot", "eeprom", "rackdiag"]
