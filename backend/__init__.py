"""malina's provisioning backend: options for the Kea hook, install scenarios for the installer agent."""

__version__ = "0.1.0"
