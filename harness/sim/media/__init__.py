"""What the simulated boards read and write: test OS images, SD card files and their filesystems, TFTP trees."""

__all__ = ["cardfs", "cards", "firmware", "osimage", "tftptree"]
