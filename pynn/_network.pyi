"""MLP forward/backward kernels (compiled: csrc/_network.pyx)."""
import enum
import numpy as np
from numpy.typing import NDArray

class BackwardMode(enum.IntEnum):
    GRADIENT: int
    SGD_UPDATE: int
    INPUT_GRADIENT: int
    LOSS_ONLY: int

class Layout:
    sizes: NDArray[np.intp]
    acts: NDArray[np.intc]
    act_params: NDArray[np.float64]
    w_offsets: NDArray[np.intp]
    b_offsets: NDArray[np.intp]
    def __init__(self, sizes, acts, act_params) -> None: ...
    @property
    def n_params(self) -> int: ...
    def workspace_size(self, batch: int) -> int: ...

def forward(layout: Layout, params: NDArray[np.floating], X: NDArray[np.floating],
            work: NDArray[np.floating]) -> NDArray[np.floating]: ...
def backward(layout: Layout, params: NDArray[np.floating], X: NDArray[np.floating],
             T: NDArray[np.floating], loss: int, mode: int, lr: float,
             grads: NDArray[np.floating] | None, out: NDArray[np.floating] | None,
             work: NDArray[np.floating]) -> float: ...
