"""Benchmarks; figures go to docs/PERFORMANCE.md."""
