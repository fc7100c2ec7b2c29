"""Landed benchmarks: `python -m bench` (see bench/README.md). Never run as tests."""
