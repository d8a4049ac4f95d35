"""Benchmarks: what a relationship costs, each measured against a minimal Temporal baseline.

Run them all with `make bench` (or `python -m bench.run [--quick] [--only NAME]`).
"""
