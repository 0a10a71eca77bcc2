"""malina package."""
