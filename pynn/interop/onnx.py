"""Export a pynn model to ONNX (``pip install "pynn[onnx]"``).

Graph: input ``X`` of shape (N, n_in), then for every Dense layer ℓ

    u_ℓ = Gemm(z_{ℓ−1}, W_ℓ, b_ℓ, transB=1) = z_{ℓ−1} W_ℓᵀ + b_ℓ
    z_ℓ = φ_ℓ(u_ℓ)

with W_ℓ stored in pynn's (n_out, n_in) layout, and output ``Y`` of shape
(N, n_out), in the model's dtype (float32 or float64).  Every activation is
exactly pynn's (``pynn.activations``):

==========  =====================================================
identity    (nothing)
step        Cast(u > 0)                  I{u > 0} (0 at u = 0)
sign        Where(u > 0, 1, −1)          (−1 at u = 0; ONNX Sign gives 0)
sigmoid     Sigmoid                      1 / (1 + e^{−u})
tanh        Tanh
relu        Relu                         max(u, 0)
leaky_relu  LeakyRelu(α) in float32; Where(u > 0, u, α u) in float64
            (onnxruntime has no float64 LeakyRelu kernel)
softplus    Relu(u) + log1p(e^{−|u|}), with log1p(t) computed as
            t · log(1 + t) / ((1 + t) − 1) (t when 1 + t rounds to 1) so
            that it stays accurate for tiny t (ONNX has no log1p)
swish       u · σ(u), σ written out in pynn's two-branch form (ONNX
            Swish needs opset 24; onnxruntime fuses u · Sigmoid(u))
gaussian    Exp(−β · u · u)              e^{−β u²}
softmax     Softmax(axis=−1)             e^{u_i} / Σ_j e^{u_j} per row
==========  =====================================================
"""
import numpy as np

from pynn.interop._common import check_path, dense_layers, write_bytes

#: Opset written when ``opset`` is None: understood by onnxruntime ≥ 1.14.
DEFAULT_OPSET = 17
_MIN_OPSET = 13          # Softmax over one axis, Gemm with optional C


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("to_onnx needs the 'onnx' package: pip install "
                          "\"pynn[onnx]\" (or pip install onnx)") from None
    return onnx


class _Graph:
    """Accumulates nodes and initialisers with unique names."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.inits, self._n, self._scalars = [], [], 0, {}

    def name(self, hint):
        self._n += 1
        return f"{hint}_{self._n}"

    def scalar(self, value):
        """A shared scalar initialiser (created on first use)."""
        if value not in self._scalars:
            self._scalars[value] = self.const(value, "scalar")
        return self._scalars[value]

    def const(self, value, hint="c"):
        """An initialiser holding ``value`` in the graph's dtype."""
        name = self.name(hint)
        arr = np.asarray(value, dtype=self.dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(
            op_type, list(inputs), [out], name=out, **attrs))
        return out


def _stable_sigmoid(g, u):
    """σ(u) as pynn computes it: 1/(1+e^{−u}) for u ≥ 0, e^{u}/(1+e^{u}) else.

    Written out (rather than ``Sigmoid``) so that u·σ(u) keeps full relative
    accuracy for very negative u, where onnxruntime's fused x·Sigmoid(x)
    kernel does not.
    """
    e = g.op("Exp", [g.op("Neg", [g.op("Abs", [u])])])           # e^{−|u|}
    inv = g.op("Reciprocal", [g.op("Add", [e, g.scalar(1.0)])])   # 1/(1+e^{−|u|})
    return g.op("Where", [g.op("GreaterOrEqual", [u, g.scalar(0.0)]),
                          inv, g.op("Mul", [e, inv])])


def _activation(g, act, param, u):
    """Nodes computing z = φ(u) for pynn activation ``act``; returns z."""
    if act == "identity":
        return u
    if act in ("sigmoid", "tanh", "relu"):
        return g.op({"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[act], [u])
    if act == "softmax":
        return g.op("Softmax", [u], axis=-1)
    if act == "step":
        return g.op("Cast", [g.op("Greater", [u, g.scalar(0.0)])],
                    to=g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype))
    if act == "sign":
        return g.op("Where", [g.op("Greater", [u, g.scalar(0.0)]), g.scalar(1.0),
                              g.scalar(-1.0)])
    if act == "leaky_relu":
        if g.dtype == np.float32:
            return g.op("LeakyRelu", [u], alpha=float(param))
        return g.op("Where", [g.op("Greater", [u, g.scalar(0.0)]), u,
                              g.op("Mul", [u, g.scalar(param)])])
    if act == "swish":
        return g.op("Mul", [u, _stable_sigmoid(g, u)])
    if act == "gaussian":
        return g.op("Exp", [g.op("Mul", [g.op("Mul", [u, u]),
                                         g.scalar(-param)])])
    if act == "softplus":
        t = g.op("Exp", [g.op("Neg", [g.op("Abs", [u])])])     # e^{−|u|} ∈ (0, 1]
        w = g.op("Add", [t, g.scalar(1.0)])              # 1 + t, rounded
        d = g.op("Sub", [w, g.scalar(1.0)])              # (1 + t) − 1
        # log1p(t) = t · log(w) / d (exact up to rounding; d = 0 ⇒ log1p(t) = t)
        safe_d = g.op("Where", [g.op("Equal", [d, g.scalar(0.0)]), g.scalar(1.0), d])
        ratio = g.op("Div", [g.op("Mul", [t, g.op("Log", [w])]), safe_d])
        log1p = g.op("Where", [g.op("Equal", [d, g.scalar(0.0)]), t, ratio])
        return g.op("Add", [g.op("Relu", [u]), log1p])
    raise ValueError(f"activation {act!r} has no ONNX export")   # pragma: no cover


def to_onnx(model, path=None, opset=None):
    """Export ``model`` as an ONNX graph ``Y = f(X)``.

    Each Dense layer becomes ``u = Gemm(z, W, b, transB=1) = z Wᵀ + b``
    followed by the nodes of its activation φ, which reproduce pynn's
    equations exactly (see the table in this module's docstring: step is
    I{u > 0}, sign is +1 if u > 0 else −1, softplus is
    max(u, 0) + log1p(e^{−|u|}), swish u·σ(u), gaussian e^{−βu²}, softmax
    over each row).  Dropout and GaussianNoise are inference no-ops and are
    left out.

    Parameters
    ----------
    model : pynn.Model
        Any Model, MLP or Autoencoder (a tied decoder is exported with its
        effective weights).
    path : str or os.PathLike, optional
        When given, the serialised model is also written there.
    opset : int, optional
        ONNX operator-set version of the default domain (default
        ``DEFAULT_OPSET`` = 17; at least 13, at most what the installed
        ``onnx`` supports).

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (N, n_in) and output ``Y`` (N, n_out), both of the
        model's dtype (FLOAT for float32, DOUBLE for float64).
    """
    onnx = _require_onnx()
    layers = dense_layers(model)
    max_opset = onnx.defs.onnx_opset_version()
    if opset is None:
        opset = min(DEFAULT_OPSET, max_opset)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not _MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"opset must be an integer in [{_MIN_OPSET}, "
                         f"{max_opset}], got {opset!r}")
    if path is not None:
        path = check_path(path)
    g = _Graph(onnx, model.dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    z = "X"
    for i, layer in enumerate(layers):
        u = g.op("Gemm", [z, g.const(layer.W, f"W{i}"), g.const(layer.b, f"b{i}")],
                 hint=f"u{i}", transB=1)
        z = _activation(g, layer.activation, layer.param, u)
    g.nodes.append(onnx.helper.make_node("Identity", [z], ["Y"], name="output"))
    graph = onnx.helper.make_graph(
        g.nodes, "pynn_model",
        [onnx.helper.make_tensor_value_info("X", elem, ["N", layers[0].W.shape[1]])],
        [onnx.helper.make_tensor_value_info("Y", elem, ["N", layers[-1].W.shape[0]])],
        initializer=g.inits)
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", int(opset))],
        producer_name="pynn", doc_string=repr(model))
    proto.ir_version = min(proto.ir_version, _ir_version_for(onnx, opset))
    if path is not None:
        write_bytes(path, proto.SerializeToString())
    return proto


def _ir_version_for(onnx, opset):
    """The oldest IR version that supports ``opset`` (wider runtime support)."""
    for ir, ops in sorted(((v[1], v[2]) for v in onnx.helper.VERSION_TABLE)):
        if ops >= opset:
            return ir
    return onnx.IR_VERSION                                # pragma: no cover
