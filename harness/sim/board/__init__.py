"""The simulated Pi 4 board container: controller (power API, console), firmware run, installed OS, shims."""

__all__ = ["config", "controller", "firmware", "forkstart", "installed_os", "link", "power_api"]
