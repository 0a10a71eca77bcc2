"""Benchmarks (make bench-<name>)."""
