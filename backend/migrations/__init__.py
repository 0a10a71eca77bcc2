"""Alembic migrations of the backend (a package so that a wheel install carries them)."""
