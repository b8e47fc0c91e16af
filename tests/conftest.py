"""Shared pytest fixtures for the whole suite.

- Every test starts from the same random state (dslib, NumPy and torch seeded with 0) and dslib's
  default dtype float32, so a test's outcome never depends on which tests ran before it.
- `device`: runs a test once per dslib device: "numpy", "torch", and "cuda" (skipped, with the reason,
  where torch sees no GPU).
- Hypothesis runs without its per-example deadline: timings on a shared 2-core machine are too noisy.
- Under pytest-xdist each worker gets its share of the cores for torch's threads (no oversubscription).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

import dslib

settings.register_profile("dslib", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dslib"))

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    _threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    torch.set_num_threads(_threads)
    threadpool_limits(_threads)  # NumPy's BLAS: spinning threads of two workers on 2 cores slow both

CUDA = dslib.cuda_is_available()

DEVICES = [
    "numpy",
    "torch",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not CUDA, reason="no CUDA GPU (torch.cuda.is_available() is False)"),
        ],
    ),
]


@pytest.fixture(autouse=True)
def _fresh_random_state():
    """Seed every generator with 0 before each test; restore the default dtype after it."""
    dslib.manual_seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
    dslib.set_default_dtype(dslib.float32)


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """A dslib device name: "numpy", "torch" or "cuda" (the last only where a GPU exists)."""
    return request.param
