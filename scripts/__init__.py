"""Operational scripts (benchmarks) run from the repository root."""
