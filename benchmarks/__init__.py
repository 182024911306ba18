"""Benchmarks: each reports rows/s next to a baseline measured in the same run (``make bench``)."""
