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

An RBF layer (``pynn.RBF``, z_j = exp(−β_j ‖z − c_j‖²)) becomes

    U = ReduceSum((Unsqueeze(z, 1) − C)², axis 2)     U_ij = ‖z_i − c_j‖²
    z′ = Exp(U · (−β))

with the centres C (k, n_in) and β = e^{s} (k,) as initialisers: the
squared distances are summed from differences, as pynn does where the
expanded form ‖z‖² − 2 z·c + ‖c‖² would cancel.  A fitted
``pynn.RBFNetwork`` exports its network (``model_``) as ``Y``.

A fitted ``pynn.sklearn.MLPClassifier`` gets, as skl2onnx gives
scikit-learn's, two outputs computed from the network output y:

=============  ==============================================================
probabilities  binary (one logistic unit p): [1 − p, p]; otherwise y
label          binary: classes_[I{p > 0.5}]; multi-class:
               classes_[argmax_k y_k] (first maximum); multi-label:
               I{y_k > 0.5} as int64
=============  ==============================================================

(skl2onnx calls them ``output_label`` and ``output_probability``.)  A fitted
``pynn.sklearn.MLPRegressor`` exports its network output as ``Y``.
"""
import sys

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

    def tensor(self, arr, hint):
        """An initialiser holding ``arr`` with its own element type."""
        name = self.name(hint)
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


def _rbf(g, z, C, beta):
    """Nodes of z′_j = exp(−β_j ‖z − c_j‖²) for z of shape (N, n_in)."""
    axes1 = g.tensor(np.array([1], np.int64), "axes")
    axes2 = g.tensor(np.array([2], np.int64), "axes")
    diff = g.op("Sub", [g.op("Unsqueeze", [z, axes1]), g.const(C, "C")])
    U = g.op("ReduceSum", [g.op("Mul", [diff, diff]), axes2], keepdims=0)
    return g.op("Exp", [g.op("Mul", [U, g.const(-beta, "neg_beta")])])


def _model_of(model):
    """A fitted RBFNetwork's ``model_``, else ``model`` itself."""
    rbf = sys.modules.get("pynn.rbf")
    if rbf is not None and isinstance(model, rbf.RBFNetwork):
        return model._model()          # NotFittedError if not fitted
    return model


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
    model : pynn.Model or fitted pynn.sklearn.MLPClassifier / MLPRegressor
        Any Model, MLP, Autoencoder or RBFModel (a tied decoder is exported
        with its effective weights; an RBF layer as exp(−β‖z − c‖²), see
        the module docstring), a fitted ``pynn.RBFNetwork`` (its
        ``model_``), or a fitted estimator of ``pynn.sklearn`` (its
        ``coefs_``/``intercepts_``, in the estimator's compute dtype).
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
        model's dtype (FLOAT for float32, DOUBLE for float64).  For an
        MLPClassifier the outputs are instead ``label`` and
        ``probabilities`` (N, n_classes), equal to ``predict`` and
        ``predict_proba``:  binary p ↦ [1 − p, p] and label
        classes_[I{p > 0.5}]; multi-class label classes_[argmax_k y_k];
        multi-label label I{y_k > 0.5} (int64, (N, n_labels)).  Numeric
        classes_ give an int64 (integers), float or bool label, others a
        string label.
    """
    onnx = _require_onnx()
    opset = _check_opset(onnx, opset)
    if path is not None:
        path = check_path(path)
    est = _sklearn_mlp(model)
    if est is None:
        model = _model_of(model)
        layers, dtype, doc = dense_layers(model), model.dtype, repr(model)
        kinds = [getattr(layer, "kind", 0) for layer in model.layers]
    else:
        (layers, dtype), doc = _estimator_layers(est), repr(est)
        kinds = [0] * len(layers)
    g = _Graph(onnx, dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    z = "X"
    for i, (layer, kind) in enumerate(zip(layers, kinds)):
        if kind == 1:                          # RBF: W = centres, b = log β
            z = _rbf(g, z, layer.W, np.exp(layer.b.astype(np.float64)))
            continue
        u = g.op("Gemm", [z, g.const(layer.W, f"W{i}"), g.const(layer.b, f"b{i}")],
                 hint=f"u{i}", transB=1)
        z = _activation(g, layer.activation, layer.param, u)
    if est is not None and hasattr(est, "classes_"):
        outputs = _classifier_outputs(g, est, z)
    else:
        outputs = [("Y", z, elem, ["N", layers[-1].W.shape[0]])]
    for name, value, _, _ in outputs:
        g.nodes.append(onnx.helper.make_node("Identity", [value], [name],
                                             name=f"output_{name}"))
    graph = onnx.helper.make_graph(
        g.nodes, "pynn_model",
        [onnx.helper.make_tensor_value_info("X", elem, ["N", layers[0].W.shape[1]])],
        [onnx.helper.make_tensor_value_info(n, t, shape)
         for n, _, t, shape in outputs],
        initializer=g.inits)
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", int(opset))],
        producer_name="pynn", doc_string=doc)
    proto.ir_version = min(proto.ir_version, _ir_version_for(onnx, opset))
    if path is not None:
        write_bytes(path, proto.SerializeToString())
    return proto


def _check_opset(onnx, opset):
    max_opset = onnx.defs.onnx_opset_version()
    if opset is None:
        opset = min(DEFAULT_OPSET, max_opset)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not _MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"opset must be an integer in [{_MIN_OPSET}, "
                         f"{max_opset}], got {opset!r}")
    return opset


def _sklearn_mlp(model):
    """``model`` if it is a pynn.sklearn MLPClassifier/MLPRegressor, else
    None (without importing scikit-learn: such an object exists only once
    ``pynn.sklearn`` is imported)."""
    mlp = sys.modules.get("pynn.sklearn._mlp")
    if mlp is None or not isinstance(model, (mlp.MLPClassifier, mlp.MLPRegressor)):
        return None
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(model)             # NotFittedError (a ValueError) if not
    return model


def _estimator_layers(est):
    """(LayerData list, dtype) of a fitted estimator: the activations of its
    pynn model, W = coefs_ᵀ and b = intercepts_ (what ``predict`` uses)."""
    model = getattr(est, "_model", None)
    if model is None:
        raise ValueError(f"model: this {type(est).__name__} has no pynn "
                         "network; fit it first")
    layers = dense_layers(model)
    if len(layers) != len(est.coefs_) or len(layers) != len(est.intercepts_):
        raise ValueError("model: coefs_/intercepts_ do not match its network")
    for layer, c, b in zip(layers, est.coefs_, est.intercepts_):
        W = np.array(np.asarray(c).T, dtype=model.dtype, order="C")
        b = np.array(b, dtype=model.dtype)
        if W.shape != layer.W.shape or b.shape != layer.b.shape:
            raise ValueError("model: coefs_/intercepts_ do not match its network")
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError("model has NaN or infinite parameters")
        layer.W, layer.b = W, b
    return layers, model.dtype


def _classes_tensor(classes):
    """classes_ as an array ONNX can hold: int64, float, bool or strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iu":
        return classes.astype(np.int64)
    if classes.dtype.kind in "fb":
        return classes
    return np.array([str(c) for c in classes], dtype=object)


def _classifier_outputs(g, est, y):
    """(name, value, element type, shape) of ``label`` and ``probabilities``."""
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    n_out = est.n_outputs_
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        label = g.op("Cast", [g.op("Greater", [y, g.scalar(0.5)])], to=tp.INT64)
        return [("label", label, tp.INT64, ["N", n_out]),
                ("probabilities", y, elem, ["N", n_out])]
    classes = _classes_tensor(est.classes_)
    if n_out == 1:
        if len(classes) != 2:
            raise ValueError(f"model: {len(classes)} classes with one output "
                             "unit cannot be exported")
        proba = g.op("Concat", [g.op("Sub", [g.scalar(1.0), y]), y], axis=1)
        index = g.op("Cast", [g.op("Greater", [y, g.scalar(0.5)])], to=tp.INT64)
        index = g.op("Squeeze", [index, g.tensor(np.array([1], np.int64), "axes")])
    else:
        proba = y
        index = g.op("ArgMax", [y], axis=1, keepdims=0, select_last_index=0)
    label = g.op("Gather", [g.tensor(classes, "classes"), index], axis=0)
    label_elem = tp.STRING if classes.dtype == object \
        else helper.np_dtype_to_tensor_dtype(classes.dtype)
    return [("label", label, label_elem, ["N"]),
            ("probabilities", proba, elem, ["N", len(classes)])]


def _ir_version_for(onnx, opset):
    """The oldest IR version that supports ``opset`` (wider runtime support)."""
    for ir, ops in sorted(((v[1], v[2]) for v in onnx.helper.VERSION_TABLE)):
        if ops >= opset:
            return ir
    return onnx.IR_VERSION                                # pragma: no cover
