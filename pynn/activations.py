"""Activation functions: the name-keyed registry of φ in z = φ(u).

Each entry maps a name to the code of the compiled kernel in
``pynn._activations`` and the default of its one parameter.  The kernels
compute z = φ(u) and the backward pass g ← J_φ(u)ᵀ g in place; see that
module's docstring for the formulas and the conventions at kinks.

======================  =============================  ===========================
name                    φ(u)                           φ′(u)
======================  =============================  ===========================
identity                u                              1
step                    I{u > 0}                       0 (no useful gradient)
sign                    +1 if u > 0 else −1            0
sigmoid                 1 / (1 + e^{−u})               z (1 − z)
tanh                    tanh u                         1 − z²
relu                    max(u, 0)                      I{u > 0} (0 at u = 0)
leaky_relu (α=0.01)     u if u > 0 else α u            1 if u > 0 else α
softplus                log(1 + e^u)                   σ(u) = 1 − e^{−z}
swish                   u σ(u)                         σ(u) + z (1 − σ(u))
gaussian (β=1)          e^{−β u²}                      −2 β u z
softmax                 e^{u_i} / Σ_j e^{u_j} (rows)   J = diag(z) − z zᵀ
======================  =============================  ===========================
"""
from dataclasses import dataclass

import numpy as np

from pynn import _activations
from pynn._activations import Activation
from pynn._registry import Registry


@dataclass(frozen=True)
class ActivationSpec:
    """A registry entry: kernel code, parameter name and default."""
    name: str
    code: int
    param_name: str = ""
    default_param: float = 0.0
    elementwise: bool = True
    # (low, high): closed bounds of the output range, for loss compatibility.
    output_range: tuple = (-np.inf, np.inf)


ACTIVATIONS = Registry("activation")
for _spec in [
    ActivationSpec("identity", Activation.IDENTITY),
    ActivationSpec("step", Activation.STEP, output_range=(0, 1)),
    ActivationSpec("sign", Activation.SIGN, output_range=(-1, 1)),
    ActivationSpec("sigmoid", Activation.SIGMOID, output_range=(0, 1)),
    ActivationSpec("tanh", Activation.TANH, output_range=(-1, 1)),
    ActivationSpec("relu", Activation.RELU, output_range=(0, np.inf)),
    ActivationSpec("leaky_relu", Activation.LEAKY_RELU, "alpha", 0.01),
    ActivationSpec("softplus", Activation.SOFTPLUS, output_range=(0, np.inf)),
    ActivationSpec("swish", Activation.SWISH),
    ActivationSpec("gaussian", Activation.GAUSSIAN, "beta", 1.0,
                   output_range=(0, 1)),
    ActivationSpec("softmax", Activation.SOFTMAX, elementwise=False,
                   output_range=(0, 1)),
]:
    ACTIVATIONS.register(_spec)


def get_activation(name):
    """Return the registry entry for ``name``; ValueError lists valid names."""
    if isinstance(name, ActivationSpec):
        return name
    return ACTIVATIONS.lookup(name, "activation")


def _as_2d(u, dtype):
    u = np.asarray(u)
    dtype = dtype or (u.dtype if u.dtype in (np.float32, np.float64)
                      else np.float64)
    arr = np.ascontiguousarray(np.atleast_1d(u), dtype=dtype)
    return arr.reshape(-1, arr.shape[-1]) if arr.size else arr.reshape(0, 1), arr.shape


def apply(name, u, param=None, dtype=None):
    """z = φ(u) with the compiled kernel (softmax over the last axis)."""
    spec = get_activation(name)
    u2, shape = _as_2d(u, dtype)
    z = np.empty_like(u2)
    _activations.forward(spec.code, _param(spec, param), u2, z)
    return z.reshape(shape)


def derivative(name, u, param=None, dtype=None):
    """φ′(u) elementwise (not defined for softmax: use ``backward``)."""
    spec = get_activation(name)
    if not spec.elementwise:
        raise ValueError(f"{spec.name} is not elementwise; use backward()")
    u2, shape = _as_2d(u, dtype)
    z = apply(spec, u2, param)
    g = np.ones_like(u2)
    _activations.backward(spec.code, _param(spec, param), u2, z, g)
    return g.reshape(shape)


def backward(name, u, g, param=None, dtype=None):
    """J_φ(u)ᵀ g: the gradient with respect to u given g = ∂L/∂z."""
    spec = get_activation(name)
    u2, shape = _as_2d(u, dtype)
    g2 = np.ascontiguousarray(g, dtype=u2.dtype).reshape(u2.shape).copy()
    z = apply(spec, u2, param)
    _activations.backward(spec.code, _param(spec, param), u2, z, g2)
    return g2.reshape(shape)


def _param(spec, param):
    return spec.default_param if param is None else float(param)
