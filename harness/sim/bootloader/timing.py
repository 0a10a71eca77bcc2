"""Every delay the simulated Pi 4 models, in seconds of board time at time factor 1, with its source.

The board multiplies each by the lab's ``time_factor`` (lab.yaml; 0.05 in ``make test``), like the EEPROM
timeouts (DHCP_TIMEOUT, TFTP_FILE_TIMEOUT, ... in ``config.py``: the documented defaults [DOC-BL]). One
table, so that a rack's timeouts can be checked against what a real board takes. Bracketed keys name the
sources of tests/data/pi4/SPEC.md; "inferred" marks a value that no log pins down.

A dead TFTP server (no answer at all) costs TFTP_FILE_TIMEOUT (30 s by default [DOC-BL]; "Increase TFTP
timeout to 30s" [RN 2019-09-25]) per file, each RRQ repeated every ``RRQ_RETRY_S``; the loader moves on to
the next file when one times out (the capture repeats the second file's RRQ, ``<serial>/start.elf``, for
20 s [W-E74]). The files are those an empty server is asked for (``core.SELF_UPDATE_PROBES`` and around it:
8 [F1850]), so a dead server costs 8 x 30 s = 240 s per attempt before the next try or boot mode.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delay:
    name: str
    seconds: float
    what: str
    source: str


TABLE = (
    Delay("POWER_ON_S", 2.3, "banner -> first 'Boot mode:'", "sd-boot-timestamped-01.log 0.61 -> 2.39 [E654]"),
    Delay("PORT_POWER_S", 1.0, "'Reset USB port-power 1000 ms' (2022 builds, R1.1-R1.3 boards)",
          "the line itself [NST]; [RN 2020-07-31]"),
    Delay("USB_HUB_S", 1.0, "on-board USB hub after the first 'Boot mode:' (2022+ builds)",
          "2.62 'HUB init' -> 3.71 'SD HOST' [E654]; network-install keyboard probe ~1 s [E559]"),
    Delay("LINK_S", 2.8, "'wait for link' -> 'Link ready'", "2.40 -> 5.21 on a CM4 [CMP43]"),
    Delay("LINK_TO_DHCP_S", 8.0, "'Link ready' -> the first DHCP answer",
          "10.40 -> 18.54 [E687] (a Pi 5); a Pi 4 sends its second DISCOVER at +8 s [W-E58-timing]: on both "
          "traces the first DISCOVER goes unanswered; the sim sends once the answer can come"),
    Delay("TFTP_BYTES_PER_S", 1.7e6, "bootloader TFTP throughput (start4.elf, 2.7 MB, in ~1.6 s)",
          "'2.7 MB, 1.7 MB/s ... start4.elf' [E87]"),
    Delay("FIRMWARE_TO_KERNEL_SD_S", 3.0, "'Starting start4.elf' -> kernel, SD boot",
          "MESS 24.09 -> 27.15 [handover-start4-uart2ndstage-to-kernel-01.log]"),
    Delay("FIRMWARE_TO_KERNEL_NET_S", 5.7, "'Starting start4.elf' -> kernel, network boot (start4.elf's reads)",
          "start4.elf served 18:17:14.655, the kernel 18:17:20.363 [E87]"),
    Delay("MODE_SWITCH_S", 2.0, "LED error pattern between boot modes", "'every few seconds' [E140], inferred"),
    Delay("TFTP_RETRY_PAUSE_S", 5.0, "pause before a network retry after a TFTP failure",
          "'wait 5 seconds before retrying' [RN 2020-06-03]"),
    Delay("RRQ_RETRY_S", 2.0, "an unanswered RRQ is sent again", "2.0 s spacing [W-E74]"),
    Delay("ARP_RETRY_S", 1.0, "an unanswered ARP request is sent again", "inferred"),
    Delay("CARD_POLL_S", 1.0, "SD CARD DETECT: how often the sim looks for an inserted card", "inferred"),
)
_BY_NAME = {d.name: d.seconds for d in TABLE}

POWER_ON_S = _BY_NAME["POWER_ON_S"]
PORT_POWER_S = _BY_NAME["PORT_POWER_S"]
USB_HUB_S = _BY_NAME["USB_HUB_S"]
LINK_S = _BY_NAME["LINK_S"]
LINK_TO_DHCP_S = _BY_NAME["LINK_TO_DHCP_S"]
TFTP_BYTES_PER_S = _BY_NAME["TFTP_BYTES_PER_S"]
FIRMWARE_TO_KERNEL_SD_S = _BY_NAME["FIRMWARE_TO_KERNEL_SD_S"]
FIRMWARE_TO_KERNEL_NET_S = _BY_NAME["FIRMWARE_TO_KERNEL_NET_S"]
MODE_SWITCH_S = _BY_NAME["MODE_SWITCH_S"]
TFTP_RETRY_PAUSE_S = _BY_NAME["TFTP_RETRY_PAUSE_S"]
RRQ_RETRY_S = _BY_NAME["RRQ_RETRY_S"]
ARP_RETRY_S = _BY_NAME["ARP_RETRY_S"]
CARD_POLL_S = _BY_NAME["CARD_POLL_S"]


def transfer_s(size: int) -> float:
    """Board seconds a real bootloader takes to read ``size`` bytes over TFTP [E87]."""
    return max(0, size) / TFTP_BYTES_PER_S
