"""The Pi 4 bootloader UART console parser: bytes from a board's serial line -> typed events."""

__all__ = ["cli", "events", "parser"]
