"""Type stubs for the compiled module pynn._checks (csrc/_checks.pyx)."""
import numpy as np
import numpy.typing as npt

def all_finite(a: npt.NDArray[np.float32] | npt.NDArray[np.float64]) -> bool: ...
