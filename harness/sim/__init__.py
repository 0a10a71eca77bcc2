"""The simulated lab hardware: Pi 4 boards, their bootloader, the relay switch, TFTP server and media."""

__all__ = ["board", "bootloader", "fileserver", "media", "relay", "tftpgate", "tftpserver"]
