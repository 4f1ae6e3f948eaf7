"""Activation kernels (compiled: csrc/_activations.pyx)."""
import enum
import numpy as np
from numpy.typing import NDArray

class Activation(enum.IntEnum):
    IDENTITY: int
    STEP: int
    SIGN: int
    SIGMOID: int
    TANH: int
    RELU: int
    LEAKY_RELU: int
    SOFTPLUS: int
    SWISH: int
    GAUSSIAN: int
    SOFTMAX: int

def forward(act: int, param: float, u: NDArray[np.floating],
            z_out: NDArray[np.floating]) -> NDArray[np.floating]: ...
def backward(act: int, param: float, u: NDArray[np.floating],
             z: NDArray[np.floating], g_inout: NDArray[np.floating]) -> NDArray[np.floating]: ...
