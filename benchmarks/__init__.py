"""Benchmarks: python -m benchmarks.speed [--quick] (see README.md)."""
