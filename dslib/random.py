"""Random numbers: one seeded generator for the whole library (`dslib.manual_seed`).

Random tensors are drawn with NumPy's PCG64 generator on every device and then moved, so the same
seed gives the same initial weights on 'numpy', 'torch' and 'cuda'. Dropout masks on the torch devices
use a torch.Generator seeded from the same seed (drawing there is much faster for large tensors).
"""

from __future__ import annotations

import numpy as np


class Generator:
    def __init__(self, seed: int = 0):
        self.manual_seed(seed)

    def manual_seed(self, seed: int):
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.np = np.random.Generator(np.random.PCG64(self.seed))
        self._torch = {}
        return self

    def torch_generator(self, tdevice):
        """A torch.Generator on `tdevice`, seeded from this generator's seed."""
        key = str(tdevice)
        g = self._torch.get(key)
        if g is None:
            import torch

            g = torch.Generator(device=tdevice)
            g.manual_seed(self.seed + 7919)
            self._torch[key] = g
        return g

    def get_state(self) -> dict:
        return {"seed": self.seed, "bit_generator": self.np.bit_generator.state}

    def set_state(self, state: dict):
        self.seed = state["seed"]
        self.np.bit_generator.state = state["bit_generator"]


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed dslib's default generator (weights init, randn, dropout, data shuffling)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed
