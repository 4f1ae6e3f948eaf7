"""Weight initialisers: how a Dense layer's weight matrix W (n_out × n_in)
is drawn before training.  Biases always start at 0.

======================  =======================================================
name                    distribution of each weight
======================  =======================================================
``glorot_normal``       W ~ N(0, σ²), σ² = 2 / (n_in + n_out)   (the default)
``glorot_uniform``      W ~ U(−a, a), a = √(6 / (n_in + n_out))
``he_normal`` (``he``)  W ~ N(0, σ²), σ² = 2 / n_in              (for ReLU nets)
``he_uniform``          W ~ U(−a, a), a = √(6 / n_in)
======================  =======================================================

Glorot (Xavier) scaling keeps the variance of activations and of gradients
roughly constant from layer to layer for tanh/sigmoid units (Glorot and
Bengio, 2010); He scaling doubles it for ReLU units, which zero half their
inputs (He et al., 2015).  U(−a, a) has variance a²/3, so each uniform
variant has the same variance as its normal one.

An initialiser is any callable ``f(rng, n_out, n_in) -> ndarray`` of shape
(n_out, n_in); ``Model(..., init=f)`` accepts one directly.
"""
from __future__ import annotations

from typing import Callable, Union

import numpy as np

__all__ = ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
           "INITIALIZERS", "get_initializer"]

Initializer = Callable[[np.random.Generator, int, int], np.ndarray]


def glorot_normal(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """W ~ N(0, 2 / (n_in + n_out)), shape (n_out, n_in)."""
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in))


def glorot_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """W ~ U(−a, a) with a = √(6 / (n_in + n_out)), shape (n_out, n_in)."""
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_out, n_in))


def he_normal(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """W ~ N(0, 2 / n_in), shape (n_out, n_in)."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def he_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """W ~ U(−a, a) with a = √(6 / n_in), shape (n_out, n_in)."""
    a = np.sqrt(6.0 / n_in)
    return rng.uniform(-a, a, size=(n_out, n_in))


INITIALIZERS: dict[str, Initializer] = {
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "he": he_normal,
    "he_uniform": he_uniform,
}


def get_initializer(name: Union[str, Initializer]) -> Initializer:
    """Return the initialiser called ``name`` (a callable is returned as is).

    Raises
    ------
    ValueError
        If ``name`` is not a key of ``INITIALIZERS``; the message lists the
        valid names.
    """
    if callable(name):
        return name
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; valid names: "
                         f"{', '.join(sorted(INITIALIZERS))}")
    return INITIALIZERS[name]
