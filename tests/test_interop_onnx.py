"""ONNX export checked by the real other side: onnx.checker and onnxruntime."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn.interop import to_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ACTIVATIONS = ["identity", "step", "sign", "sigmoid", "tanh", "relu",
               "leaky_relu", "softplus", "swish", "gaussian", "softmax"]
RTOL = {"float32": 1e-6, "float64": 1e-12}
# Input scales: exact zeros, ordinary, saturating, large and tiny magnitudes.
SCALES = [0.0, 1.0, 30.0, 1e4, 1e-30]


def run_onnx(proto, X):
    onnx.checker.check_model(proto, full_check=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(["Y"], {"X": X})[0]


def max_rel_diff(model, proto, seed=0):
    """Largest |onnxruntime − pynn| / max|pynn| over batches at each scale."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for scale in SCALES:
        X = (rng.normal(size=(64, model.n_inputs)) * scale).astype(model.dtype)
        X[::7, 0] = 0.0                               # exact zeros inside rows
        want, got = model(X), run_onnx(proto, X)
        assert got.dtype == model.dtype and got.shape == want.shape
        scale_out = max(np.max(np.abs(want)), np.finfo(model.dtype).tiny)
        worst = max(worst, np.max(np.abs(got - want)) / scale_out)
    return worst


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_activation_matches_onnxruntime(act, dtype):
    output = "softmax" if act == "softmax" else act
    hidden = "tanh" if act == "softmax" else act
    model = pynn.MLP([5, 7, 6, 3], hidden=hidden, output=output, dtype=dtype,
                     seed=1)
    assert max_rel_diff(model, to_onnx(model)) <= RTOL[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_parameters_and_kinks(dtype):
    # Non-default α and β; W = I and b = 0 make u = x, so exact zeros reach
    # the kinks of step (0 at 0), sign (−1 at 0, where ONNX Sign gives 0).
    layers = [pynn.Dense(4, 4, "leaky_relu", 0.3), pynn.Dense(4, 4, "gaussian", 2.5),
              pynn.Dense(4, 4, "sign"), pynn.Dense(4, 4, "step")]
    model = pynn.Model(layers, dtype=dtype, seed=0)
    assert max_rel_diff(model, to_onnx(model)) <= RTOL[dtype]
    for layer in model.layers:
        layer.W = np.eye(4)
        layer.b = np.zeros(4)
    X = np.array([[0.0, -0.0, 1e-30, -1e-30]], dtype=dtype)
    got = run_onnx(to_onnx(model), X)
    np.testing.assert_array_equal(got, model(X))
    sign = pynn.Model([pynn.Dense(4, 4, "sign")], dtype=dtype)
    sign.layers[0].W = np.eye(4)
    np.testing.assert_array_equal(run_onnx(to_onnx(sign), X), [[-1, -1, 1, -1]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_autoencoder_tied_and_dropout(dtype):
    ae = pynn.Autoencoder([8, 5, 3], hidden="sigmoid", output="identity",
                          tied=True, dtype=dtype, seed=2)
    assert max_rel_diff(ae, to_onnx(ae)) <= RTOL[dtype]
    model = pynn.Model([pynn.Dense(6, 9, "relu"), pynn.Dropout(0.5),
                        pynn.GaussianNoise(0.3), pynn.Dense(9, 2, "softmax")],
                       dtype=dtype, seed=3)
    proto = to_onnx(model)
    assert [n.op_type for n in proto.graph.node].count("Gemm") == 2
    assert max_rel_diff(model, proto) <= RTOL[dtype]


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_opsets_and_file(tmp_path, opset):
    model = pynn.MLP([3, 4, 2], hidden="softplus", output="swish", seed=4)
    path = tmp_path / "m.onnx"
    proto = to_onnx(model, path, opset=opset)
    assert proto.opset_import[0].version == opset
    loaded = onnx.load(str(path))
    assert loaded == proto
    assert max_rel_diff(model, loaded) <= RTOL["float32"]


def test_graph_is_one_gemm_per_layer_in_pynn_layout():
    model = pynn.MLP([3, 4, 2], hidden="relu", output="identity",
                     dtype="float64", seed=5)
    proto = to_onnx(model)
    gemms = [n for n in proto.graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 2
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for node, layer in zip(gemms, model.layers):
        assert [a.i for a in node.attribute if a.name == "transB"] == [1]
        np.testing.assert_array_equal(inits[node.input[1]], layer.W)
        np.testing.assert_array_equal(inits[node.input[2]], layer.b)


def test_bad_arguments():
    model = pynn.MLP([2, 2], seed=0)
    with pytest.raises(TypeError, match="model must be a pynn.Model"):
        to_onnx("not a model")
    for bad in (12, 10**6, 17.0, True):
        with pytest.raises(ValueError, match="opset"):
            to_onnx(model, opset=bad)
    with pytest.raises(TypeError, match="path"):
        to_onnx(model, path=3.5)
    model.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        to_onnx(model)


def test_import_pynn_imports_no_optional_dependency(tmp_path):
    code = ("import sys, pynn, pynn.interop; "
            "bad = [m for m in ('onnx', 'onnxruntime', 'torch', 'sklearn', "
            "'skl2onnx') if m in sys.modules]; print(bad); assert not bad")
    # The same pynn as this test's, not a source folder in the cwd.
    root = str(pathlib.Path(pynn.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------- estimators
def _estimator_data(kind, seed=0):
    """(X, y) for a binary, multi-class (str / int) or multi-label problem."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4))
    score = X @ rng.normal(size=(4, 3))
    if kind == "binary":
        y = np.where(score[:, 0] > 0, "yes", "no")
    elif kind == "str":
        y = np.array(["ant", "bee", "cat"])[score.argmax(axis=1)]
    elif kind == "int":
        y = np.array([-7, 3, 40])[score.argmax(axis=1)]
    elif kind == "float":
        y = np.array([-1.0, 3.0, 40.0])[score.argmax(axis=1)]
    elif kind == "bool":
        y = score[:, 1] > 0
    else:                                            # multi-label indicator
        y = (score > 0).astype(int)
    return X, y


def run_outputs(proto, X, names, full_check=True):
    onnx.checker.check_model(proto, full_check=full_check)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == names
    return sess.run(names, {sess.get_inputs()[0].name: X})


def _fit_classifier(kind, dtype, **kw):
    from pynn.sklearn import MLPClassifier
    X, y = _estimator_data(kind)
    est = MLPClassifier((6,), activation="tanh", max_iter=300, random_state=0,
                        dtype=dtype, **kw)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return est, X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["binary", "str", "int", "multilabel",
                                  "float", "bool"])
def test_classifier_label_and_probabilities(kind, dtype):
    pytest.importorskip("sklearn")
    est, X = _fit_classifier(kind, dtype)
    rng = np.random.default_rng(1)
    X = np.vstack([X, rng.normal(size=(40, 4)) * 30, np.zeros((3, 4))])
    X = X.astype(dtype)
    label, proba = run_outputs(to_onnx(est), X, ["label", "probabilities"])
    want_label, want_proba = est.predict(X), est.predict_proba(X)
    assert proba.dtype == dtype and proba.shape == want_proba.shape
    np.testing.assert_allclose(proba, want_proba, rtol=0, atol=RTOL[dtype])
    assert label.shape == want_label.shape
    np.testing.assert_array_equal(label, want_label)
    if kind in ("int", "float", "bool"):
        assert label.dtype == {"int": np.int64, "float": np.float64,
                               "bool": np.bool_}[kind]
    if kind == "multilabel":
        assert label.dtype == np.int64 and set(np.unique(label)) <= {0, 1}
    if kind == "binary":
        np.testing.assert_array_equal(proba[:, 0], 1 - proba[:, 1])
    # Both labels occur, so the test can tell a constant label from the right one.
    assert len(np.unique(want_label)) >= 2


def test_binary_threshold_is_strict_and_argmax_takes_first():
    pytest.importorskip("sklearn")
    # p = 0.5 exactly (all-zero weights) is the first class, as predict says;
    # equal softmax outputs (all-zero weights) give the first class too.
    for kind in ("binary", "int"):
        est, X = _fit_classifier(kind, "float64")
        for c in est.coefs_ + est.intercepts_:
            c[...] = 0.0
        label, proba = run_outputs(to_onnx(est), X[:5], ["label", "probabilities"])
        np.testing.assert_array_equal(label, est.predict(X[:5]))
        assert (label == est.classes_[0]).all()


def test_regressor_exports_output():
    pytest.importorskip("sklearn")
    from pynn.sklearn import MLPRegressor
    X, _ = _estimator_data("int")
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2] ** 2]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(hidden_layer_sizes=(5,), activation="relu", max_iter=50,
                           random_state=0).fit(X, Y)
    (got,) = run_outputs(to_onnx(est), X, ["Y"])
    np.testing.assert_allclose(got, est.predict(X), rtol=1e-12, atol=1e-12)


def test_unfitted_estimator_is_refused():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError
    from pynn.sklearn import MLPClassifier
    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier())


@pytest.mark.parametrize("kind", ["binary", "str", "int", "multilabel"])
def test_same_outputs_as_skl2onnx(kind):
    """skl2onnx's export (zipmap=False) of scikit-learn's MLPClassifier
    holding the same weights has the same output names and gives the same
    labels and probabilities.  Multi-label runs in float32: skl2onnx uses
    ai.onnx.ml Binarizer there, which onnxruntime has only for float."""
    pytest.importorskip("sklearn")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.neural_network import MLPClassifier as SkMLP
    import warnings
    dtype = "float32" if kind == "multilabel" else "float64"
    tensor_type = FloatTensorType if kind == "multilabel" else DoubleTensorType
    est, X = _fit_classifier(kind, dtype)
    X = X.astype(dtype)
    _, y = _estimator_data(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkMLP((6,), activation="tanh", max_iter=1, random_state=0).fit(X, y)
    sk.coefs_ = [np.array(c) for c in est.coefs_]
    sk.intercepts_ = [np.array(b) for b in est.intercepts_]
    theirs = skl2onnx.to_onnx(sk, initial_types=[("X", tensor_type([None, 4]))],
                              options={id(sk): {"zipmap": False}},
                              target_opset=17)
    names = ["label", "probabilities"]
    assert [o.name for o in theirs.graph.output] == names
    # skl2onnx declares a multi-label label of rank 1 (it is (N, n_labels)),
    # which full_check's shape inference rejects; so only the plain check.
    sk_label, sk_proba = run_outputs(theirs, X, names, full_check=False)
    label, proba = run_outputs(to_onnx(est), X, names)
    np.testing.assert_array_equal(sk.predict(X), est.predict(X))
    np.testing.assert_array_equal(label, sk_label)
    assert label.dtype == sk_label.dtype and proba.dtype == sk_proba.dtype
    np.testing.assert_allclose(proba, sk_proba, rtol=0, atol=RTOL[dtype])


def test_estimator_with_nan_weights_is_refused():
    pytest.importorskip("sklearn")
    est, _ = _fit_classifier("binary", "float64")
    est.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        to_onnx(est)
