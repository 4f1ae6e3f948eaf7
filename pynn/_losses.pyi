"""Loss kernels (compiled: csrc/_losses.pyx)."""
import enum
import numpy as np
from numpy.typing import NDArray

class Loss(enum.IntEnum):
    SQUARED_ERROR: int
    BINARY_CROSS_ENTROPY: int
    CROSS_ENTROPY: int
    MULTILABEL_CROSS_ENTROPY: int

def loss_delta(loss: int, out_act: int, param: float, u: NDArray[np.floating],
               y: NDArray[np.floating], t: NDArray[np.floating],
               delta_out: NDArray[np.floating] | None = ...) -> float: ...
