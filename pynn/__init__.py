"""pynn: fast feed-forward neural networks on the CPU.

Compiled Cython kernels (``pynn._blas``, ``_activations``, ``_losses``,
``_network``) under a thin Python layer.  See DESIGN.md for the contract.
"""
from pynn.layers import Dense
from pynn.model import MLP, Model
from pynn.regularization import Dropout, GaussianNoise, KLSparsity, L1Activity
from pynn.trainer import DivergenceError, StopTraining, Trainer
from pynn.history import History
from pynn.autoencoder import Autoencoder, pretrain_stack
from pynn import activations, datasets, init, losses, schedules
from pynn.io import load_model as load

__version__ = "0.1.0"

__all__ = ["Autoencoder", "pretrain_stack", "Dense", "MLP", "Model", "Dropout", "GaussianNoise", "KLSparsity",
           "L1Activity", "Trainer", "History", "DivergenceError",
           "StopTraining", "load", "activations", "datasets", "init", "losses",
           "schedules", "__version__"]
