"""The simulated Pi 4 EEPROM bootloader: BOOT_ORDER state machine, DHCP and TFTP as it speaks them, UART text."""

__all__ = ["config", "console", "core", "dhcp", "dora", "events", "fakes", "sd", "tftp", "timing", "uartlog"]
