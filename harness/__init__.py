"""malina's lab library: lab model and docker lab, simulated Pi 4, drivers, console parser, boot strategy."""

__all__ = ["cli", "console", "demo", "drivers", "lab", "leases", "session", "sim", "strategy", "wait"]
