"""Regularisers that act on activations: dropout, noise and sparsity.

``Dropout(rate)`` and ``GaussianNoise(std)`` go in a Model's layer list;
they act on the output of the Dense layer before them (or on the input when
first: that is the denoising autoencoder's input corruption).  Both act only
in training (``Trainer.fit``, or ``noise_seed=`` in ``Model.backward``);
``model(X)`` is deterministic.  Inside the compiled pass:

    inverted dropout   D = Z ⊙ M,  M_ij = 1/(1−p) with probability 1−p, else 0
    Gaussian noise     D = Z + σ ε,  ε ~ N(0, 1)

so E[D] = Z and nothing needs rescaling at inference.

``KLSparsity`` and ``L1Activity`` are activity penalties for a hidden Dense
layer (``Dense(..., activity_regularizer=...)``), added to the objective:

    KLSparsity(target=ρ, weight=β)   P = β Σ_j KL(ρ ‖ ρ̂_j),
        KL(ρ‖ρ̂) = ρ log(ρ/ρ̂) + (1−ρ) log((1−ρ)/(1−ρ̂)),
        ρ̂_j = the mean activation of unit j over the batch (Ng's sparse
        autoencoder; needs outputs in (0, 1), e.g. sigmoid)
    L1Activity(weight=λ)             P = λ · mean over the batch of Σ_j |z_j|

The loss reported for a batch is mean_i L_i + P.
"""
import numbers

import numpy as np

from pynn._network import Penalty


def _rate(value, name, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class Dropout:
    """Inverted dropout on the previous layer's output (training only)."""

    def __init__(self, rate):
        rate = _rate(rate, "rate")
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1), got {rate!r}")
        self.rate = rate

    def __repr__(self):
        return f"Dropout({self.rate:g})"


class GaussianNoise:
    """Additive N(0, std²) noise on the previous layer's output (training only)."""

    def __init__(self, std):
        std = _rate(std, "std")
        if std < 0:
            raise ValueError(f"std must be ≥ 0, got {std!r}")
        self.std = std

    def __repr__(self):
        return f"GaussianNoise({self.std:g})"


class KLSparsity:
    """Sparsity penalty β Σ_j KL(ρ ‖ ρ̂_j) on a hidden layer's mean activation."""

    code = Penalty.KL_SPARSITY
    needs_unit_interval = True      # ρ̂ must be a mean activation in (0, 1)

    def __init__(self, target=0.05, weight=1.0):
        target, weight = _rate(target, "target"), _rate(weight, "weight")
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1), got {target!r}")
        if weight < 0:
            raise ValueError(f"weight must be ≥ 0, got {weight!r}")
        self.target, self.weight = target, weight

    def __repr__(self):
        return f"KLSparsity(target={self.target:g}, weight={self.weight:g})"


class L1Activity:
    """Penalty λ · mean over the batch of Σ_j |z_j| on a hidden layer."""

    code = Penalty.L1_ACTIVITY
    target = 0.0

    def __init__(self, weight=1e-3):
        weight = _rate(weight, "weight")
        if weight < 0:
            raise ValueError(f"weight must be ≥ 0, got {weight!r}")
        self.weight = weight

    def __repr__(self):
        return f"L1Activity(weight={self.weight:g})"
