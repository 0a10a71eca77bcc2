"""malina's lab library: lab model and docker lab, simulated Pi 4, drivers, DHCP codec, console parser, strategy."""

__all__ = ["backendleases", "boards", "bootlocal", "cli", "console", "demo", "deskrelay", "dhcp", "drivers", "emurack",
           "lab", "leases", "rackservices", "session", "sim", "strategy", "wait"]
