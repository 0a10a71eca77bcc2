"""The Raspberry Pi 4 EEPROM bootloader's option 97 (client machine identifier): the one builder of its GUID,
for the simulated bootloader, the lab probe and the hook's test clients.

Reference: tests/data/pi4/SPEC.md section (a); bracketed keys ([DOC-BL], …) name the sources listed at the
end of SPEC.md.
"""

from __future__ import annotations

import struct

# DHCP_OPTION97's default: the "RPi4" fourcc as a number, 0x34695052 [DOC-BL, RN 2020-03-11]
OPTION97_RPI4 = 0x34695052


def setting_for_prefix(prefix: bytes) -> int:
    """The DHCP_OPTION97 value that puts ``prefix`` (4 bytes) first in the GUID, in this order on the wire."""
    if len(prefix) != 4:
        raise ValueError(f"an option-97 prefix is 4 bytes, got {len(prefix)}")
    return int.from_bytes(prefix, "big")


def option97(serial: int, revision: int, mac: bytes, setting: int = OPTION97_RPI4) -> bytes:
    """Option 97's 17 bytes: type 0 + a 16-byte GUID.

    ``setting`` is ``DHCP_OPTION97``: the default is the ``RPi4`` fourcc, 0 the old layout (the serial
    four times), any other value a custom 4-byte prefix in place of the fourcc [DOC-BL].
    Byte order follows the newest observation (a 2023 CM4 [W-CMP16]): the fourcc
    big-endian ("4iPR" on the wire), the board revision little-endian, the MAC's 4 least significant bytes
    in wire order. The serial's byte order is not observed in the new layout (only its first byte);
    little-endian is used, as in the old layout, where the late-2019 capture [W-E58] shows it little-endian.
    """
    if len(mac) != 6:
        raise ValueError("mac must be 6 bytes")
    serial_le = struct.pack("<I", serial & 0xFFFFFFFF)
    if setting == 0:
        guid = serial_le * 4
    else:
        guid = struct.pack(">I", setting & 0xFFFFFFFF) + struct.pack("<I", revision & 0xFFFFFFFF) + mac[2:] + serial_le
    return b"\x00" + guid
