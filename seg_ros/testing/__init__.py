"""Synthetic scenes and tiny contract models for tests and benchmarks (no weights needed)."""
