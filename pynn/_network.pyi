"""MLP forward/backward kernels (compiled: csrc/_network.pyx)."""
import enum
import numpy as np
from numpy.typing import NDArray

class BackwardMode(enum.IntEnum):
    GRADIENT: int
    SGD_UPDATE: int
    INPUT_GRADIENT: int
    LOSS_ONLY: int
    ONLINE_STEP: int

class LayerKind(enum.IntEnum):
    DENSE: int
    RBF: int

class Penalty(enum.IntEnum):
    NO_PENALTY: int
    KL_SPARSITY: int
    L1_ACTIVITY: int

class Layout:
    sizes: NDArray[np.intp]
    acts: NDArray[np.intc]
    act_params: NDArray[np.float64]
    w_offsets: NDArray[np.intp]
    b_offsets: NDArray[np.intp]
    w_trans: NDArray[np.intc]
    dropout: NDArray[np.float64]
    noise: NDArray[np.float64]
    penalty: NDArray[np.intc]
    penalty_weight: NDArray[np.float64]
    penalty_target: NDArray[np.float64]
    kinds: NDArray[np.intc]
    regions: NDArray[np.intp]
    n_params: int
    def __init__(self, sizes, acts, act_params, w_offsets=..., b_offsets=...,
                 n_params=..., w_trans=..., dropout=..., noise=..., penalty=...,
                 penalty_weight=..., penalty_target=..., kinds=...) -> None: ...
    @property
    def stochastic(self) -> bool: ...
    def workspace_size(self, batch: int) -> int: ...

def forward(layout: Layout, params: NDArray[np.floating], X: NDArray[np.floating],
            work: NDArray[np.floating], seed: int | None = ...) -> NDArray[np.floating]: ...
def backward(layout: Layout, params: NDArray[np.floating], X: NDArray[np.floating],
             T: NDArray[np.floating], loss: int, mode: int, lr: float,
             grads: NDArray[np.floating] | None, out: NDArray[np.floating] | None,
             work: NDArray[np.floating], seed: int | None = ...) -> float: ...

def set_fused_sgd(enabled: bool) -> bool: ...
def set_fused_defer_min(n: int) -> int: ...
def fused_sgd_qualifies(layout: Layout, loss: int) -> bool: ...
