"""FANN 2.2 text files (``FANN_FLO_2.1``): export and import.

FANN (libfann) evaluates neuron j of a layer as

    s_j · Σ_i w_ji z_i  =: v_j,  clamped to |v_j| ≤ 150 / s_j,   z_j = f(v_j)

where the sum runs over the neuron's connections (one of them from the
previous layer's *bias neuron*, whose value is always 1), s_j is the
neuron's activation steepness and f its activation function:

=========================  ==============================  ===============
FANN function (code)       f(v)                            pynn activation
=========================  ==============================  ===============
LINEAR (0)                 v                               identity
THRESHOLD (1)              0 if v < 0 else 1               step (†)
THRESHOLD_SYMMETRIC (2)    −1 if v < 0 else 1              sign (†)
SIGMOID (3)                1 / (1 + e^{−2v})               sigmoid
SIGMOID_SYMMETRIC (5)      2 / (1 + e^{−2v}) − 1 = tanh v  tanh
GAUSSIAN (7)               e^{−v²}                         gaussian
=========================  ==============================  ===============

So pynn's σ(u) is SIGMOID with s = 1/2, tanh(u) is SIGMOID_SYMMETRIC with
s = 1, and e^{−βu²} is GAUSSIAN with s = 1 and weights scaled by √β.  An
identity layer is LINEAR with the small steepness s = 2^−20 and weights
scaled by 2^20 (exact in binary floating point), so that the clamp lies at
|u| ≤ 150·2^20 ≈ 1.6·10⁸ instead of 150.  FANN 2.2 has no relu, leaky relu,
softplus, swish or softmax (a file with relu's code 18 loads in libfann 2.2
but computes garbage), so those are refused.

(†) FANN's threshold units output 1 at v = 0, pynn's step and sign do not
(step(0) = 0, sign(0) = −1).  Hidden threshold layers are therefore written
negated: FANN computes THRESHOLD(−u) = 1 − step(u) (THRESHOLD_SYMMETRIC(−u)
= −sign(u)), and the next layer's weights absorb the affine map
(W z + b = −W z′ + (b + W·1)), so the network is exact at u = 0 too — up
to the rounding of the folded bias b + W·1, which can only show where a
second threshold layer right after it sees u = 0 exactly.  At the output layer this is impossible, and
step/sign outputs are refused.  The importer applies the same rule in
reverse.

A float32 model is meant for libfloatfann (``#include <floatfann.h>``,
``-lfloatfann``; plain ``fann.h``/``-lfann`` is the float build too), a float64
model for libdoublefann.  Values are written in shortest round-trip decimal,
so libfann reads back exactly the model's numbers (then scaled as above).
"""
import re

import numpy as np

from pynn.rbf import refuse_rbf
from pynn.interop._common import (build_model, check_path, dense_layers,
                                  finite_floats, read_text, write_text)

LINEAR, THRESHOLD, THRESHOLD_SYMMETRIC, SIGMOID = 0, 1, 2, 3
SIGMOID_SYMMETRIC, GAUSSIAN = 5, 7
_FANN_NAMES = [
    "LINEAR", "THRESHOLD", "THRESHOLD_SYMMETRIC", "SIGMOID", "SIGMOID_STEPWISE",
    "SIGMOID_SYMMETRIC", "SIGMOID_SYMMETRIC_STEPWISE", "GAUSSIAN",
    "GAUSSIAN_SYMMETRIC", "GAUSSIAN_STEPWISE", "ELLIOT", "ELLIOT_SYMMETRIC",
    "LINEAR_PIECE", "LINEAR_PIECE_SYMMETRIC", "SIN_SYMMETRIC", "COS_SYMMETRIC",
    "SIN", "COS"]
#: Steepness of exported identity (LINEAR) units; weights are divided by it.
LINEAR_STEEPNESS = 2.0 ** -20
_MAX_NEURONS = 10 ** 7

# The training settings libfann 2.2 writes for a new network (ignored when
# running it); kept so that the file reads like one libfann saved itself.
_HEADER = """\
learning_rate=0.700000
connection_rate=1.000000
network_type=0
learning_momentum=0.000000
training_algorithm=2
train_error_function=1
train_stop_function=0
cascade_output_change_fraction=0.010000
quickprop_decay=-0.000100
quickprop_mu=1.750000
rprop_increase_factor=1.200000
rprop_decrease_factor=0.500000
rprop_delta_min=0.000000
rprop_delta_max=50.000000
rprop_delta_zero=0.100000
cascade_output_stagnation_epochs=12
cascade_candidate_change_fraction=0.010000
cascade_candidate_stagnation_epochs=12
cascade_max_out_epochs=150
cascade_min_out_epochs=50
cascade_max_cand_epochs=150
cascade_min_cand_epochs=50
cascade_num_candidate_groups=2
bit_fail_limit=3.5e-01
cascade_candidate_limit=1.0e+03
cascade_weight_multiplier=4.0e-01
cascade_activation_functions_count=10
cascade_activation_functions=3 5 7 8 10 11 14 15 16 17 
cascade_activation_steepnesses_count=4
cascade_activation_steepnesses=2.5e-01 5.0e-01 7.5e-01 1.0e+00 
"""


# ------------------------------------------------------------------ export
def _fann_unit(layer, is_output):
    """(FANN code, steepness s, weight factor k, negate) for a pynn layer.

    The file holds k·W and k·b; with ``negate`` they are also negated.
    """
    act = layer.activation
    if act == "identity":
        return LINEAR, LINEAR_STEEPNESS, 1.0 / LINEAR_STEEPNESS, False
    if act == "sigmoid":
        return SIGMOID, 0.5, 1.0, False
    if act == "tanh":
        return SIGMOID_SYMMETRIC, 1.0, 1.0, False
    if act == "gaussian":
        return GAUSSIAN, 1.0, float(np.sqrt(layer.param)), False
    if act in ("step", "sign"):
        if is_output:
            raise ValueError(
                f"FANN cannot express a {act} output layer exactly: its "
                f"threshold units output {'1' if act == 'step' else '+1'} at "
                f"u = 0, pynn's {act} outputs {'0' if act == 'step' else '-1'}"
                " (hidden step/sign layers are exported exactly)")
        return (THRESHOLD if act == "step" else THRESHOLD_SYMMETRIC), 1.0, 1.0, True
    raise ValueError(
        f"FANN 2.2 has no {act!r} activation (it offers linear, threshold, "
        "sigmoid, tanh = sigmoid_symmetric and gaussian); libfann 2.2 would "
        "load a relu file but compute garbage, so it is not written")


def _fmt(x, dtype):
    """Shortest decimal that reads back as exactly x in ``dtype``."""
    return str(dtype.type(x))


def to_fann(model, path):
    """Write ``model`` as a FANN 2.2 network file (``FANN_FLO_2.1``).

    libfann loads it with ``fann_create_from_file(path)``; ``fann_run``
    then computes the same outputs as ``model(X)``, using the mapping of
    this module's docstring: per layer, FANN's v = s·Σ w z with
    (function, s, file weights) = (SIGMOID, 1/2, W), (SIGMOID_SYMMETRIC,
    1, W), (GAUSSIAN, 1, √β·W), (LINEAR, 2^−20, 2^20·W), and hidden step /
    sign as negated THRESHOLD / THRESHOLD_SYMMETRIC with the next layer
    compensating (z = 1 − z′, resp. z = −z′).

    Parameters
    ----------
    model : pynn.Model
        Its layers' activations must be identity, sigmoid, tanh or
        gaussian, or step/sign in hidden layers; anything else raises
        ValueError naming the layer.
    path : str or os.PathLike
        Written atomically.  Load a float32 model with libfloatfann (or
        libfann), a float64 model with libdoublefann.
    """
    refuse_rbf(model, "FANN")
    layers = dense_layers(model)
    path = check_path(path)
    dt = np.dtype(model.dtype)
    rows = []                    # per layer: the file's (W, b), float64
    units = []
    shift = None                 # previous layer's negation: z = c + d·z′
    for i, layer in enumerate(layers):
        try:
            code, s, k, negate = _fann_unit(layer, i == len(layers) - 1)
        except ValueError as exc:
            raise ValueError(f"model.layers[{i}]: {exc}") from None
        W = layer.W.astype(np.float64)
        b = layer.b.astype(np.float64)
        if shift is not None:    # W z + b with z = c + d z′
            c, d = shift
            b = b + W.sum(axis=1) * c
            W = W * d
        W, b = k * W, k * b
        if negate:
            W, b = -W, -b
        shift = ((1.0, -1.0) if code == THRESHOLD else (0.0, -1.0)) if negate else None
        if not (np.isfinite(W.astype(dt)).all() and np.isfinite(b.astype(dt)).all()):
            raise ValueError(f"model.layers[{i}]: weights too large for FANN "
                             f"once scaled by {k:g}")
        rows.append((W, b))
        units.append((code, s))
    write_text(path, _fann_text(layers, rows, units, dt))


def _fann_text(layers, rows, units, dt):
    sizes = [layers[0].W.shape[1]] + [l.W.shape[0] for l in layers]
    out = ["FANN_FLO_2.1", f"num_layers={len(sizes)}"]
    out.append(_HEADER.rstrip("\n"))
    out.append("layer_sizes=" + "".join(f"{n + 1} " for n in sizes))
    out.append("scale_included=0")
    neurons = ["(0, 0, 0.0) "] * (sizes[0] + 1)
    for (W, _), (code, s) in zip(rows, units):
        neurons += [f"({W.shape[1] + 1}, {code}, {_fmt(s, dt)}) "] * W.shape[0]
        neurons.append("(0, 0, 0.0) ")                     # the bias neuron
    out.append("neurons (num_inputs, activation_function, activation_steepness)="
               + "".join(neurons))
    conns, first = [], 0          # first: index of the previous layer's neuron 0
    for W, b in rows:
        n_prev = W.shape[1]
        for j in range(W.shape[0]):
            conns += [f"({first + i}, {_fmt(w, dt)}) " for i, w in enumerate(W[j])]
            conns.append(f"({first + n_prev}, {_fmt(b[j], dt)}) ")
        first += n_prev + 1
    out.append("connections (connected_to_neuron, weight)=" + "".join(conns))
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ import
class ShortcutNetwork:
    """A FANN shortcut network: every layer sees all earlier layers.

    ``z_ℓ = φ_ℓ(W_ℓ [x; z_1; …; z_{ℓ−1}] + b_ℓ)``.  pynn's Model has no
    skip connections, so :func:`from_fann` returns this small NumPy
    evaluator for FANN_NETTYPE_SHORTCUT files.

    Attributes
    ----------
    layers : list of (W, b, activation, param)
        W of shape (n_out, n_in + Σ earlier widths); activation a pynn name.
    dtype : numpy.dtype
    """

    def __init__(self, layers, dtype):
        self.layers, self.dtype = layers, np.dtype(dtype)

    @property
    def n_inputs(self):
        return self.layers[0][0].shape[1]

    def forward(self, X):
        """Outputs (n, n_out) for inputs X (n, n_inputs), in ``dtype``."""
        from pynn import activations
        from pynn._validation import check_X
        z = check_X(X, self.n_inputs, self.dtype)
        for W, b, act, param in self.layers:
            u = z @ W.T + b
            out = activations.apply(act, u, param, dtype=self.dtype)
            z = np.concatenate([z, out], axis=1)
        return out

    __call__ = forward

    def __repr__(self):
        widths = [self.n_inputs] + [W.shape[0] for W, _, _, _ in self.layers]
        return f"ShortcutNetwork({widths}, dtype={self.dtype.name})"


_NUMBER = r"[-+0-9.eEinfINFaA]+"
_NEURON = re.compile(rf"\((\d+), (\d+), ({_NUMBER})\) ?")
_CONNECTION = re.compile(rf"\((\d+), ({_NUMBER})\) ?")


def _fields(text, path):
    """The file's lines as {key: value} (keys before the first '=')."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") not in ("FANN_FLO_2.1", "FANN_FLO_2.0"):
        head = lines[0][:40] if lines else ""
        if head.startswith("FANN_FIX"):
            raise ValueError(f"{path}: a fixed-point FANN file ({head}); "
                             "save the network with fann_save, not "
                             "fann_save_to_fixed")
        raise ValueError(f"{path}: not a FANN_FLO_2.1 file (first line "
                         f"{head!r})")
    fields = {}
    for n, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: line {n} is not key=value")
        if key in fields:
            raise ValueError(f"{path}: {key!r} appears twice")
        fields[key] = value
    return fields


def _int_field(fields, key, path):
    value = fields.get(key)
    if value is None:
        raise ValueError(f"{path}: missing {key}= (truncated file?)")
    if not re.fullmatch(r"\d{1,9}", value.strip()):
        raise ValueError(f"{path}: {key} must be a non-negative integer, "
                         f"got {value[:40]!r}")
    return int(value)


def _entries(fields, key, pattern, path):
    value = fields.get(key)
    if value is None:
        raise ValueError(f"{path}: missing the '{key}' line (truncated file?)")
    value = value.strip()
    found = list(pattern.finditer(value))
    if "".join(m.group(0) for m in found).strip() != value:
        raise ValueError(f"{path}: malformed entries in the '{key}' line")
    return found


def _read_network(path):
    """Parse a FANN file into (network_type, layer sizes, neurons, connections)."""
    text = read_text(path, "FANN")
    fields = _fields(text, path)
    num_layers = _int_field(fields, "num_layers", path)
    try:
        rate = float(fields.get("connection_rate", "1"))
    except ValueError:
        raise ValueError(f"{path}: connection_rate is not a number") from None
    net_type = _int_field(fields, "network_type", path)
    if net_type not in (0, 1):
        raise ValueError(f"{path}: network_type must be 0 (layered) or 1 "
                         f"(shortcut), got {net_type}")
    sizes = fields.get("layer_sizes", "").split()
    if not re.fullmatch(r"(\d{1,9} )*\d{1,9} ?", fields.get("layer_sizes", "x")) \
            or len(sizes) != num_layers or num_layers < 2:
        raise ValueError(f"{path}: layer_sizes must list num_layers = "
                         f"{num_layers} (≥ 2) positive integers")
    sizes = [int(s) for s in sizes]
    if min(sizes) < 1 or sum(sizes) > _MAX_NEURONS:
        raise ValueError(f"{path}: layer_sizes {sizes} out of range")
    neurons = _entries(fields, "neurons (num_inputs, activation_function, "
                       "activation_steepness)", _NEURON, path)
    conns = _entries(fields, "connections (connected_to_neuron, weight)",
                     _CONNECTION, path)
    if len(neurons) != sum(sizes):
        raise ValueError(f"{path}: {len(neurons)} neurons listed, layer_sizes "
                         f"add up to {sum(sizes)}")
    n_con = np.array([int(m.group(1)) for m in neurons], dtype=np.int64)
    codes = np.array([int(m.group(2)) for m in neurons], dtype=np.int64)
    steep = finite_floats([m.group(3) for m in neurons], path, "steepness")
    if n_con.sum() != len(conns):
        raise ValueError(f"{path}: the neurons have {n_con.sum()} connections, "
                         f"{len(conns)} are listed")
    src = np.array([int(m.group(1)) for m in conns], dtype=np.int64)
    weights = finite_floats([m.group(2) for m in conns], path, "weights")
    if len(src) and src.max() >= sum(sizes):
        raise ValueError(f"{path}: a connection comes from neuron {src.max()}, "
                         f"but there are only {sum(sizes)}")
    return net_type, rate, sizes, n_con, codes, steep, src, weights


def _pynn_unit(code, path, where):
    """(pynn activation, param, weight factor per unit of s, affine c, d)."""
    if code == LINEAR:
        return "identity", None, 1.0, None
    if code == SIGMOID:
        return "sigmoid", None, 2.0, None
    if code == SIGMOID_SYMMETRIC:
        return "tanh", None, 1.0, None
    if code == GAUSSIAN:
        return "gaussian", 1.0, 1.0, None
    if code == THRESHOLD:
        return "step", None, -1.0, (1.0, -1.0)
    if code == THRESHOLD_SYMMETRIC:
        return "sign", None, -1.0, (0.0, -1.0)
    name = _FANN_NAMES[code] if 0 <= code < len(_FANN_NAMES) else (
        f"code {code}" + (" (LINEAR_PIECE_RECT, relu, exists only after FANN "
                          "2.2)" if code in (18, 19) else ""))
    raise ValueError(f"{path}: {where} uses FANN activation {name}, which "
                     "pynn has no exact equivalent of")


def from_fann(path, dtype="float32"):
    """Read a FANN 2.x network file (as written by ``fann_save``).

    Each layer's neurons must share one activation function (steepnesses
    may differ: neuron j's steepness s_j is folded into its weights, e.g.
    SIGMOID gives pynn sigmoid with weights 2·s_j·w).  THRESHOLD and
    THRESHOLD_SYMMETRIC hidden layers become step and sign layers with
    negated weights, the following layers compensating (FANN's threshold is
    1 at v = 0 and pynn's step is 0 there; see the module docstring).
    FANN's clamp |v| ≤ 150/s is not reproduced: outputs differ only where a
    linear unit's |v| exceeds it.

    Parameters
    ----------
    path : str or os.PathLike
        A ``FANN_FLO_2.1`` or ``FANN_FLO_2.0`` file.  The file is only
        parsed as numbers; nothing in it is executed.
    dtype : {"float32", "float64"}
        Of the returned model.

    Returns
    -------
    pynn.Model or ShortcutNetwork
        A Model for a layered network (network_type 0, also sparse ones:
        missing connections are zero weights); a :class:`ShortcutNetwork`
        for a shortcut network (network_type 1).

    Raises
    ------
    ValueError
        Truncated, malformed or inconsistent files (message starts with the
        path), fixed-point files, activations pynn cannot express exactly
        (stepwise approximations, Elliot, sin/cos, ...), a threshold output
        layer.
    """
    from pynn._validation import check_dtype
    dtype = check_dtype(dtype)
    net = _Network(check_path(path))
    layers = []
    # FANN's value of each earlier column is z = c + d·z′, z′ pynn's value
    # (c, d = 0, 1 except after a negated threshold layer).
    col_c, col_d = np.zeros(net.n_columns), np.ones(net.n_columns)
    for l in range(1, len(net.sizes)):
        act, param, factor, affine = net.activation(l)
        W, b = net.sums(l)
        n_in, n_out = W.shape[1], W.shape[0]
        # pynn's u = factor·s·Σ: sigmoid 2s (σ(2sΣ)), tanh, gaussian and
        # linear s, threshold −s (the layer is negated, see above).
        scale = factor * net.steepness(l)
        b = (b + W @ col_c[:n_in]) * scale
        W = W * col_d[:n_in] * scale[:, None]
        if affine is not None:
            col_c[n_in:n_in + n_out], col_d[n_in:n_in + n_out] = affine
        layers.append((W, b, act, param))
    if not np.isfinite([np.abs(W).max() for W, *_ in layers]).all():
        raise ValueError(f"{net.path}: weights overflow after scaling")
    if net.shortcut:
        cast = np.dtype(dtype)
        return ShortcutNetwork([(W.astype(cast), b.astype(cast), a, p or 0.0)
                                for W, b, a, p in layers], cast)
    return build_model([(W[:, -net.width[l]:], b, a, p) for l, (W, b, a, p)
                        in enumerate(layers)], dtype)


class _Network:
    """A parsed FANN file: neurons, connections and where each value sits.

    Neuron n of layer l is column ``column[n]`` of the concatenation
    [x; z_1; …] (−1 for bias neurons, which are the constant 1: the last
    neuron of every layer of a layered network, of the input layer only in
    a shortcut network).
    """

    def __init__(self, path):
        self.path = path
        (net_type, self.rate, self.sizes, self.n_con, self.codes, self.steep,
         self.src, self.weights) = _read_network(path)
        self.shortcut = net_type == 1
        sizes = self.sizes
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.width = [sizes[0] - 1] + [n - (0 if self.shortcut else 1)
                                       for n in sizes[1:]]
        if min(self.width) < 1:
            raise ValueError(f"{path}: layer_sizes {sizes} leave an empty layer")
        self.bias = {int(self.starts[l] + self.width[l]) for l in range(len(sizes))
                     if l == 0 or not self.shortcut}
        self.con_start = np.concatenate([[0], np.cumsum(self.n_con)])
        self.column = np.full(sum(sizes), -1, dtype=np.int64)
        self.n_columns = 0
        for l, w in enumerate(self.width):
            first = self.starts[l]
            self.column[first:first + w] = np.arange(self.n_columns, self.n_columns + w)
            self.n_columns += w
        for n in list(range(self.starts[1])) + sorted(self.bias):
            if n < sum(sizes) and self.n_con[n]:
                raise ValueError(f"{path}: input or bias neuron {n} has "
                                 "connections")

    def neurons(self, l):
        first = int(self.starts[l])
        return range(first, first + self.width[l])

    def steepness(self, l):
        s = self.steep[self.neurons(l)]
        if (s <= 0).any():
            raise ValueError(f"{self.path}: layer {l} has steepness {s.min()}; "
                             "only positive steepness is supported")
        return s

    def activation(self, l):
        """(pynn activation, param, factor, affine) of layer l, or ValueError."""
        codes = self.codes[self.neurons(l)]
        if (codes != codes[0]).any():
            raise ValueError(f"{self.path}: layer {l} mixes activation functions "
                             f"{sorted(set(codes.tolist()))}; pynn needs one "
                             "per layer")
        unit = _pynn_unit(int(codes[0]), self.path, f"layer {l}")
        if unit[3] is not None and l == len(self.sizes) - 1:
            raise ValueError(f"{self.path}: the output layer uses a threshold "
                             "function, which is 1 at v = 0 where pynn's "
                             "step/sign are not; pynn cannot read it exactly")
        return unit

    def sums(self, l):
        """Layer l's Σ as (W, b): W over all earlier columns, b the bias weights."""
        n_in = int(sum(self.width[:l]))
        prev = int(self.starts[l - 1])
        full = n_in + 1 if self.shortcut else self.width[l - 1] + 1
        W, b = np.zeros((self.width[l], n_in)), np.zeros(self.width[l])
        for j, neuron in enumerate(self.neurons(l)):
            lo, hi = self.con_start[neuron], self.con_start[neuron + 1]
            if self.rate >= 1:
                # libfann's fann_run then ignores the listed sources and reads
                # the first n_con neurons in order: anything else is
                # inconsistent.
                base = 0 if self.shortcut else prev
                if hi - lo != full or (self.src[lo:hi] != np.arange(
                        base, base + full)).any():
                    raise ValueError(
                        f"{self.path}: neuron {neuron}'s connections are not "
                        f"all {full} of the layers before it in libfann's "
                        "order, but connection_rate >= 1 says they are")
            for source, w in zip(self.src[lo:hi], self.weights[lo:hi]):
                if source in self.bias and (self.shortcut or source == prev +
                                            self.width[l - 1]):
                    b[j] += w
                    continue
                col = self.column[source]
                if col < 0 or col >= n_in or (not self.shortcut and
                                              col < n_in - self.width[l - 1]):
                    raise ValueError(f"{self.path}: neuron {neuron} is "
                                     f"connected to neuron {source}, which is "
                                     "not before it in the network")
                W[j, col] += w
        return W, b
