"""Benchmarks: dslib (numpy and torch backends) side by side with PyTorch eager. Run `benchmarks/run.py`."""
