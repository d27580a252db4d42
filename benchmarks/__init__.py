"""Load benchmarks: the proxy against a fake upstream, each in its own OS process.

Run with `make bench` or `python -m benchmarks.load`; see benchmarks/README.md.
"""
