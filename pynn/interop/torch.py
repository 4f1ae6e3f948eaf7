"""PyTorch ``nn.Sequential`` ⇄ pynn Model (``pip install torch``).

A Dense layer ``z = φ(W z_prev + b)`` is ``nn.Linear(n_in, n_out)`` with
``weight = W`` (PyTorch's layout is pynn's: (n_out, n_in)) and
``bias = b``, followed by φ:

==========  ===========================================================
pynn        torch
==========  ===========================================================
identity    (no module)
sigmoid     nn.Sigmoid
tanh        nn.Tanh
relu        nn.ReLU
leaky_relu  nn.LeakyReLU(negative_slope=α)
swish       nn.SiLU                  u·σ(u)
softmax     nn.Softmax(dim=-1)
softplus    PynnSoftplus             max(u, 0) + log1p(e^{−|u|}) (torch's
                                     nn.Softplus switches to u above its
                                     threshold, 20 by default)
step        PynnStep                 I{u > 0}
sign        PynnSign                 +1 if u > 0 else −1
gaussian    PynnGaussian(β)          e^{−βu²}
==========  ===========================================================

``from_torch`` also accepts nn.Identity, nn.Dropout (a no-op at inference)
and nn.Softplus with beta = 1 (equal to pynn's softplus except above its
threshold t, where it differs by less than e^{−t}).
"""
import numpy as np

from pynn.interop._common import build_model, dense_layers

_MODULES = {}


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch/from_torch need PyTorch: pip install "
                          "torch") from None
    if not _MODULES:
        _MODULES.update(_define_modules(torch))
    return torch


def _define_modules(torch):
    """The activation modules torch lacks, defined once torch is imported."""
    nn = torch.nn

    class PynnStep(nn.Module):
        """z = I{u > 0} (pynn's step: 0 at u = 0)."""
        def forward(self, u):
            return (u > 0).to(u.dtype)

    class PynnSign(nn.Module):
        """z = +1 if u > 0 else −1 (pynn's sign: −1 at u = 0)."""
        def forward(self, u):
            return torch.where(u > 0, 1.0, -1.0).to(u.dtype)

    class PynnSoftplus(nn.Module):
        """z = max(u, 0) + log1p(e^{−|u|}), exact for every finite u."""
        def forward(self, u):
            return torch.relu(u) + torch.log1p(torch.exp(-u.abs()))

    class PynnGaussian(nn.Module):
        """z = e^{−β u²}."""
        def __init__(self, beta=1.0):
            super().__init__()
            self.beta = float(beta)

        def forward(self, u):
            return torch.exp(-self.beta * u * u)

        def extra_repr(self):
            return f"beta={self.beta}"

    return {"step": PynnStep, "sign": PynnSign, "softplus": PynnSoftplus,
            "gaussian": PynnGaussian}


def _module_for(torch, act, param):
    nn = torch.nn
    simple = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
              "swish": nn.SiLU}
    if act in simple:
        return simple[act]()
    if act == "leaky_relu":
        return nn.LeakyReLU(negative_slope=param)
    if act == "softmax":
        return nn.Softmax(dim=-1)
    if act == "gaussian":
        return _MODULES["gaussian"](param)
    return _MODULES[act]()


def to_torch(model):
    """An ``nn.Sequential`` computing ``model(X)`` (see the module table).

    Parameters
    ----------
    model : pynn.Model

    Returns
    -------
    torch.nn.Sequential
        In the model's dtype (float32 or float64), on the CPU, in eval mode;
        its parameters are copies (training one does not change the other).
    """
    from pynn.rbf import refuse_rbf
    refuse_rbf(model, "torch.nn.Linear")
    torch = _torch()
    layers = dense_layers(model)
    dtype = torch.float32 if model.dtype == np.float32 else torch.float64
    mods = []
    for l in layers:
        lin = torch.nn.Linear(l.W.shape[1], l.W.shape[0], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(l.W))
            lin.bias.copy_(torch.from_numpy(l.b))
        mods.append(lin)
        if l.activation != "identity":
            mods.append(_module_for(torch, l.activation, l.param))
    return torch.nn.Sequential(*mods).eval()


def _activation_of(torch, mod, where):
    """(pynn name, param) for a torch activation module, or ValueError."""
    nn = torch.nn
    for cls, name in ((nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"),
                      (nn.ReLU, "relu"), (nn.SiLU, "swish")):
        if type(mod) is cls:
            return name, None
    if type(mod) is nn.LeakyReLU:
        return "leaky_relu", float(mod.negative_slope)
    if type(mod) is nn.Softmax:
        if mod.dim not in (-1, 1):
            raise ValueError(f"{where}: Softmax(dim={mod.dim}); pynn's softmax "
                             "is over the features (dim=-1)")
        return "softmax", None
    if type(mod) is nn.Softplus:
        if mod.beta != 1:
            raise ValueError(f"{where}: Softplus(beta={mod.beta}); pynn's "
                             "softplus has beta = 1")
        return "softplus", None
    for name, cls in _MODULES.items():
        if type(mod) is cls:
            return name, (mod.beta if name == "gaussian" else None)
    raise ValueError(f"{where}: {type(mod).__name__} has no pynn equivalent "
                     "(supported: Linear, Identity, Dropout, Sigmoid, Tanh, "
                     "ReLU, LeakyReLU, SiLU, Softmax, Softplus, and "
                     "pynn.interop's PynnStep/PynnSign/PynnSoftplus/PynnGaussian)")


def from_torch(module, dtype=None):
    """A pynn Model from an ``nn.Sequential`` of Linear and activations.

    Each Linear (with or without bias) becomes a Dense layer with
    ``W = weight``, ``b = bias`` (0 without); the activation module after it,
    if any, its φ (identity otherwise).  nn.Identity and nn.Dropout are
    skipped (Dropout does nothing at inference).

    Parameters
    ----------
    module : torch.nn.Sequential
    dtype : {"float32", "float64"}, optional
        Default: float64 if the first Linear's weight is float64, else
        float32.

    Returns
    -------
    pynn.Model
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError("module must be a torch.nn.Sequential, got "
                        f"{type(module).__name__}")
    layers = []
    for i, mod in enumerate(module):
        where = f"module[{i}]"
        if type(mod) in (torch.nn.Identity, torch.nn.Dropout):
            continue
        if type(mod) is torch.nn.Linear:
            W = mod.weight.detach().cpu().to(torch.float64).numpy().copy()
            b = (mod.bias.detach().cpu().to(torch.float64).numpy().copy()
                 if mod.bias is not None else np.zeros(W.shape[0]))
            if layers and layers[-1][0].shape[0] != W.shape[1]:
                raise ValueError(f"{where}: Linear takes {W.shape[1]} inputs but "
                                 f"the previous layer gives {layers[-1][0].shape[0]}")
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise ValueError(f"{where}: NaN or infinite parameters")
            layers.append([W, b, "identity", None])
            continue
        act, param = _activation_of(torch, mod, where)
        if not layers or layers[-1][2] != "identity":
            raise ValueError(f"{where}: {type(mod).__name__} must follow a "
                             "Linear (pynn applies one activation per layer)")
        layers[-1][2:] = [act, param]
    if not layers:
        raise ValueError("module contains no Linear layer")
    if dtype is None:
        first = next(m for m in module if type(m) is torch.nn.Linear)
        dtype = "float64" if first.weight.dtype == torch.float64 else "float32"
    return build_model([tuple(l) for l in layers], dtype)
