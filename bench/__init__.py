"""Benchmarks (not tests): each module is run as `python -m bench.<name>`; see docs/benchmarks.md."""
