"""genann text files (github codeplea/genann): export and import.

genann's file (``genann_write`` / ``genann_read``) is whitespace-separated
text: four integers ``inputs hidden_layers hidden outputs``, then every
weight as a decimal double, neuron by neuron, layer by layer (input→first
hidden, hidden→hidden, …, last hidden→outputs).  A neuron with n inputs
has n + 1 weights: first its bias weight w_0, then w_1 … w_n, and genann
computes

    sum = w_0 · (−1) + Σ_k w_k z_k,    z = act(sum)

so pynn's bias is b = −w_0.  Every hidden layer has the same width
``hidden``; with ``hidden_layers = 0`` the inputs feed the outputs directly.
The activations are not stored in the file: genann uses its sigmoid
1/(1 + e^{−a}) for every layer unless the program sets
``ann->activation_hidden`` / ``ann->activation_output`` to
``genann_act_linear`` (pynn identity) or ``genann_act_threshold`` (a > 0:
pynn step).  genann's default sigmoid is a 4096-entry lookup table on
[−15, 15] (``genann_act_sigmoid_cached``, nearest entry: off by up to
~1e-3); set ``genann_act_sigmoid`` for the exact 1/(1 + e^{−a}) (which
returns exactly 0 or 1 beyond |a| > 45).
"""
import re

import numpy as np

from pynn.rbf import refuse_rbf
from pynn.interop._common import (build_model, check_path, dense_layers,
                                  finite_floats, read_text, write_text)

_GENANN_ACTS = ("sigmoid", "identity", "step")
_MAX_WEIGHTS = 10 ** 8


def to_genann(model, path):
    """Write ``model`` as a genann file (see the module docstring).

    Parameters
    ----------
    model : pynn.Model
        All hidden layers of one width and one activation; activations
        sigmoid (genann's default), identity (``genann_act_linear``) or
        step (``genann_act_threshold``), which the C program must select
        itself when not sigmoid.
    path : str or os.PathLike
        Written atomically; weights as shortest round-trip decimals, so
        genann's ``%le`` reads the model's exact values.
    """
    refuse_rbf(model, "genann")
    layers = dense_layers(model)
    path = check_path(path)
    hidden = layers[:-1]
    for i, l in enumerate(layers):
        if l.activation not in _GENANN_ACTS:
            raise ValueError(f"model.layers[{i}]: genann has no {l.activation!r} "
                             "activation (only sigmoid, linear = identity and "
                             "threshold = step)")
    if len({l.W.shape[0] for l in hidden}) > 1:
        raise ValueError("genann needs every hidden layer to have the same "
                         f"width, got {[l.W.shape[0] for l in hidden]}")
    if len({l.activation for l in hidden}) > 1:
        raise ValueError("genann has one activation for all hidden layers, got "
                         f"{[l.activation for l in hidden]}")
    n_in, n_out = layers[0].W.shape[1], layers[-1].W.shape[0]
    width = hidden[0].W.shape[0] if hidden else 0
    parts = [f"{n_in} {len(hidden)} {width} {n_out}"]
    for l in layers:
        block = np.concatenate([-l.b.astype(np.float64)[:, None],
                                l.W.astype(np.float64)], axis=1)
        parts.extend(repr(float(v)) for v in block.ravel())
    write_text(path, " ".join(parts))


def from_genann(path, hidden="sigmoid", output="sigmoid", dtype="float64"):
    """Read a genann file into a pynn Model.

    Layer ℓ's row j is ``w_0, w_1 … w_n`` in the file, and becomes
    ``b_j = −w_0``, ``W_j = (w_1 … w_n)`` (genann computes
    ``act(−w_0 + Σ_k w_k z_k)``).

    Parameters
    ----------
    path : str or os.PathLike
        Only parsed as numbers; nothing in it is executed.
    hidden, output : {"sigmoid", "identity", "step"}
        The activations the genann program used (the file does not record
        them; genann's default is sigmoid for both).
    dtype : {"float32", "float64"}
        Of the returned model (genann itself computes in double).

    Raises
    ------
    ValueError
        A truncated, malformed or inconsistent file (wrong number of
        weights, bad header, NaN, trailing data); the message starts with
        the path.
    """
    from pynn._validation import check_dtype
    for arg, act in (("hidden", hidden), ("output", output)):
        if act not in _GENANN_ACTS:
            raise ValueError(f"{arg} must be one of {_GENANN_ACTS}, got {act!r}")
    dtype = check_dtype(dtype)
    path = check_path(path)
    tokens = read_text(path, "genann").split()
    if len(tokens) < 4 or not all(re.fullmatch(r"\d{1,9}", t) for t in tokens[:4]):
        raise ValueError(f"{path}: not a genann file: it must start with four "
                         "non-negative integers (inputs hidden_layers hidden "
                         "outputs)")
    n_in, n_layers, width, n_out = (int(t) for t in tokens[:4])
    if n_in < 1 or n_out < 1 or (n_layers > 0 and width < 1):
        raise ValueError(f"{path}: header {n_in} {n_layers} {width} {n_out} "
                         "needs inputs ≥ 1, outputs ≥ 1 and hidden ≥ 1 when "
                         "there are hidden layers")
    sizes = [n_in] + [width] * n_layers + [n_out]
    shapes = [(sizes[i + 1], sizes[i] + 1) for i in range(len(sizes) - 1)]
    total = sum(r * c for r, c in shapes)
    if total > _MAX_WEIGHTS:
        raise ValueError(f"{path}: header asks for {total} weights")
    if len(tokens) - 4 != total:
        raise ValueError(f"{path}: the header {n_in} {n_layers} {width} {n_out} "
                         f"means {total} weights, the file has {len(tokens) - 4}"
                         + (" (truncated?)" if len(tokens) - 4 < total else ""))
    weights = finite_floats(tokens[4:], path, "weights")
    layers, at = [], 0
    for i, (rows, cols) in enumerate(shapes):
        block = weights[at:at + rows * cols].reshape(rows, cols)
        at += rows * cols
        act = output if i == len(shapes) - 1 else hidden
        layers.append((block[:, 1:], -block[:, 0], act, None))
    return build_model(layers, dtype)
