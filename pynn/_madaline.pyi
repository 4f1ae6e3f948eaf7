"""MADALINE/MRII kernels (compiled: csrc/_madaline.pyx).

Whole epochs of Madaline Rule II over float32 or float64 buffers (X, T, W,
b of one dtype, C-contiguous); see the .pyx docstring for the rule.
"""
import enum

import numpy as np
from numpy.typing import NDArray

class Logic(enum.IntEnum):
    OR: int
    AND: int
    MAJORITY: int

class Status(enum.IntEnum):
    MAX_EPOCHS: int
    CONVERGED: int
    DIVERGED: int

def fit_mrii(code: int, X: NDArray[np.floating], T: NDArray[np.floating],
             W: NDArray[np.floating], b: NDArray[np.floating], lr: float,
             max_epochs: int, pairs: bool = True,
             ) -> tuple[int, int, NDArray[np.float64]]:
    """Train W (H, n_in) and b (H,) in place; returns
    (n_epochs, status, per-epoch output errors)."""
    ...

def forward(code: int, X: NDArray[np.floating], W: NDArray[np.floating],
            b: NDArray[np.floating],
            U_out: NDArray[np.float64]) -> NDArray[np.int8]:
    """U_out = X Wᵀ + b (double); returns y = L(sign(U)) as ±1 int8."""
    ...
