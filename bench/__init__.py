"""Performance benchmarks (not tests): run them as ``python -m bench.<name>``."""
