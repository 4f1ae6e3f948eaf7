"""Helpers shared by the exporters and importers of ``pynn.interop``.

Exporters read a model through :func:`dense_layers` only: the list of its
Dense layers as plain arrays (Dropout and GaussianNoise do nothing at
inference, so they are not part of it).  Importers build a model with
:func:`build_model` and read files with :func:`read_text`, which never
executes anything from the file.
"""
import os

import numpy as np


class LayerData:
    """One Dense layer as arrays: ``z = φ(W z_prev + b)``.

    Attributes
    ----------
    W : ndarray (n_out, n_in), b : ndarray (n_out,)
        Copies, C-contiguous, of the model's dtype (a tied decoder's W is
        the owner's matrix transposed, as ``layer.W`` gives it).
    activation : str
        The pynn activation name.
    param : float
        The leaky-relu α or gaussian β (0 for other activations).
    """

    __slots__ = ("W", "b", "activation", "param")

    def __init__(self, W, b, activation, param):
        self.W, self.b, self.activation, self.param = W, b, activation, param


def dense_layers(model, argname="model"):
    """The Dense layers of a pynn Model as :class:`LayerData`, in order."""
    from pynn.model import Model
    if not isinstance(model, Model):
        raise TypeError(f"{argname} must be a pynn.Model (or MLP, "
                        f"Autoencoder), got {type(model).__name__}")
    out = []
    for layer in model.layers:
        W = np.array(layer.W, dtype=model.dtype, order="C")
        b = np.array(layer.b, dtype=model.dtype)
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError(f"{argname} has NaN or infinite parameters")
        name = layer.activation.name
        param = layer.activation_param if layer.activation.param_name else 0.0
        out.append(LayerData(W, b, name, float(param)))
    return out


def build_model(layers, dtype):
    """A pynn Model from (W, b, activation, param) tuples (param None: default).

    W has shape (n_out, n_in).  The values are copied into the new model.
    """
    import pynn
    dense = [pynn.Dense(W.shape[1], W.shape[0], act, param)
             for W, b, act, param in layers]
    model = pynn.Model(dense, dtype=dtype, seed=0)
    for layer, (W, b, _, _) in zip(model.layers, layers):
        layer.W = W
        layer.b = b
    return model


def check_path(path, argname="path"):
    """os.fspath(path) as str, or TypeError naming the argument."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{argname} must be a path (str or os.PathLike), got "
                        f"{type(path).__name__}") from None
    return os.fsdecode(path) if isinstance(path, bytes) else path


def write_bytes(path, data):
    """Write ``data`` to path atomically (temporary file, then rename; the
    same writer as ``pynn.io``), so a failure never leaves half a file."""
    from pynn.io import _write_atomic
    _write_atomic(check_path(path), lambda f: f.write(data))


def write_text(path, text):
    """Write ``text`` (ASCII) to path atomically."""
    write_bytes(path, text.encode("ascii"))


def read_text(path, what, max_bytes=1 << 28):
    """The file's text (ASCII), or ValueError starting with the path."""
    path = check_path(path)
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path}: larger than {max_bytes} bytes; not a "
                         f"{what} file")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a {what} file (it is not ASCII "
                         "text)") from None


def finite_floats(tokens, path, what):
    """Parse decimal tokens to float64; ValueError on anything else."""
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: {what}: {exc}") from None
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: {what} contains NaN or infinity")
    return values
