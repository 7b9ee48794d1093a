"""Benchmarks: each prints figures and ratios from one run on this machine. They are not
tests and are not part of the platform's packages (``python -m bench NAME``)."""
