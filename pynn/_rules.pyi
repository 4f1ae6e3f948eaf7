"""Classic learning-rule kernels (compiled: csrc/_rules.pyx).

One nogil loop runs whole epochs of the perceptron, LMS, generalized delta
and Hebbian rules over float32 or float64 buffers (X, T, W, b all of one
dtype, C-contiguous).  See the .pyx docstring for the update equations.
"""
import enum

import numpy as np
from numpy.typing import NDArray

class Rule(enum.IntEnum):
    PERCEPTRON_STEP: int
    PERCEPTRON_SIGN: int
    LMS: int
    DELTA_SIGMOID: int
    DELTA_TANH: int
    HEBB: int
    ANTI_HEBB: int
    OJA: int

class Status(enum.IntEnum):
    MAX_EPOCHS: int
    CONVERGED: int
    DIVERGED: int

def fit_epochs(rule: int, X: NDArray[np.floating],
               T: NDArray[np.floating] | None,
               W: NDArray[np.floating], b: NDArray[np.floating],
               lr: float, max_epochs: int, batch: bool = False,
               fit_bias: bool = True, order: NDArray[np.intp] | None = None,
               shuffle: bool = False,
               seed: int | np.random.Generator | None = 0, tol: float = -1.0,
               sample_weight: NDArray[np.floating] | None = None,
               ) -> tuple[int, int, NDArray[np.float64], NDArray[np.float64]]:
    """Train W (n_out, n_in) and b (n_out,) in place (shuffling with
    ``np.random.default_rng(seed)`` exactly as its ``shuffle`` does, sample
    weights scaling each sample's step); returns
    (n_epochs, status, per-epoch statistic, per-epoch ‖W‖_F)."""
    ...

def forward(X: NDArray[np.floating], W: NDArray[np.floating],
            b: NDArray[np.floating],
            U_out: NDArray[np.float64]) -> NDArray[np.float64]:
    """U_out = X Wᵀ + b, each entry summed in double as in training."""
    ...
