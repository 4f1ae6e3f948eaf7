"""pynn: fast feed-forward neural networks on the CPU.

Compiled Cython kernels (``pynn._blas``, ``_activations``, ``_losses``,
``_network``, ``_train``, ``_rules``) under a thin Python layer: Model/MLP
and Trainer for multilayer perceptrons, the classic rules (Perceptron,
LMS/ADALINE, generalized delta, Hebbian/Oja, MADALINE/MRII), threshold-logic networks
(``pynn.logic``), autoencoders and stacked pretraining.
"""
try:
    from pynn import _blas  # noqa: F401  (the compiled kernels)
except ImportError as exc:                      # pragma: no cover
    raise ImportError(
        f"pynn's compiled modules are missing ({exc}). This usually means "
        "Python found the pynn source folder (e.g. the current directory is "
        "a pynn checkout) instead of the installed package: run from "
        "another folder, use the `pynn` command, or build in place with "
        "`pip install -e .`.") from exc

from pynn.layers import RBF, Dense
from pynn.model import MLP, Model
from pynn.regularization import Dropout, GaussianNoise, KLSparsity, L1Activity
from pynn.exceptions import DivergenceError, NotFittedError
from pynn.trainer import StopTraining, Trainer
from pynn.rules import LMS, Adaline, GeneralizedDelta, Hebbian, Perceptron
from pynn.madaline import Madaline
from pynn.rbf import RBFModel, RBFNetwork
from pynn.history import History
from pynn.autoencoder import Autoencoder, pretrain_stack
from pynn import (activations, datasets, init, logic, losses, optimizers,
                  schedules, stopping)
from pynn.io import load_model as load
from pynn import architecture

from pynn._version import __version__

__all__ = [
    "Dense", "RBF", "RBFModel", "RBFNetwork", "Model", "MLP", "Dropout", "GaussianNoise", "KLSparsity",
    "L1Activity", "Trainer", "History", "StopTraining", "Autoencoder",
    "pretrain_stack", "Perceptron", "LMS", "Adaline", "GeneralizedDelta",
    "Hebbian", "Madaline", "DivergenceError", "NotFittedError", "load",
    "activations", "architecture", "datasets", "init", "logic", "losses",
    "optimizers", "schedules", "stopping", "__version__",
]
