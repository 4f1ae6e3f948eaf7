"""Weight initialisers (DESIGN.md §1): biases start at 0.

``glorot_normal``   W ~ N(0, 2 / (n_in + n_out))        (the notes' default)
``glorot_uniform``  W ~ U(−a, a), a = √(6 / (n_in + n_out))
``he_normal``       W ~ N(0, 2 / n_in)                   (for ReLU nets)
``he_uniform``      W ~ U(−a, a), a = √(6 / n_in)
"""
import numpy as np


def glorot_normal(rng, n_out, n_in):
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in))


def glorot_uniform(rng, n_out, n_in):
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_out, n_in))


def he_normal(rng, n_out, n_in):
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def he_uniform(rng, n_out, n_in):
    a = np.sqrt(6.0 / n_in)
    return rng.uniform(-a, a, size=(n_out, n_in))


INITIALIZERS = {
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "he": he_normal,
    "he_uniform": he_uniform,
}


def get_initializer(name):
    """Return the initialiser called ``name``; ValueError lists valid names."""
    if callable(name):
        return name
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; valid names: "
                         f"{', '.join(sorted(INITIALIZERS))}")
    return INITIALIZERS[name]
