"""The simulated Pi 4 board container: controller (power API, console), firmware run, installed OS, shims."""

__all__ = ["config", "controller", "firmware", "installed_os", "link", "power_api"]
