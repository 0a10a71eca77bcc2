"""DHCPv4 on the wire (BOOTP, options, option 82, frames, the Pi 4's option 97): a leaf every layer may use."""

__all__ = ["codec", "frames", "pi4"]
