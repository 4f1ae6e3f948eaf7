"""pynn: fast feed-forward neural networks on the CPU.

Compiled Cython kernels (``pynn._blas``, ``_activations``, ``_losses``,
``_network``) under a thin Python layer.  See DESIGN.md for the contract.
"""
from pynn.layers import Dense
from pynn.model import MLP, Model
from pynn import activations, init, losses

__version__ = "0.1.0"

__all__ = ["Dense", "MLP", "Model", "activations", "init", "losses",
           "__version__"]
