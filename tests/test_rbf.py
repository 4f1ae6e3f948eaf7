"""RBF layers and networks: z_j = exp(−β_j ‖x − c_j‖²), β_j = e^{s_j}.

The compiled passes are checked against a NumPy float64 oracle of that
equation and against central differences (centres, log-widths, output
weights and inputs, several seeds); the estimator on the bump and ring
data; files, pickles and ONNX (run by onnxruntime) against the model.
"""
import copy
import os
import pickle
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pynn
from pynn import _network
from pynn.rbf import (RBFModel, RBFNetwork, bump_dataset, kmeans_plus_plus,
                      ring_dataset)

import oracle

H = oracle.FD_STEP
TOL = 1e-6
PAIRS = [("identity", "squared_error"), ("sigmoid", "binary_cross_entropy"),
         ("softmax", "cross_entropy"), ("tanh", "squared_error")]


def rbf_oracle(X, C, s):
    """exp(−e^{s_j} Σ_k (x_ik − c_jk)²) in float64, from differences."""
    X, C, s = (np.asarray(a, np.float64) for a in (X, C, s))
    U = ((X[:, None, :] - C[None]) ** 2).sum(axis=2)
    return np.exp(-np.exp(s) * U)


def model_oracle(model, X):
    """The RBFModel's output, in float64 NumPy."""
    rbf, rest = model.layers[0], model.layers[1:]
    z = rbf_oracle(X, rbf.W, rbf.b)
    for layer in rest:
        z = oracle.phi(layer.activation.name,
                       z @ layer.W.astype(np.float64).T + layer.b)
    return z


def make_case(out, loss, seed, n_in=3, k=4, n_out=3, batch=7):
    rng = np.random.default_rng(seed)
    model = RBFModel([pynn.RBF(n_in, k), pynn.Dense(k, n_out, out)],
                     dtype="float64", seed=seed)
    X = rng.uniform(-1, 1, (batch, n_in))
    model.layers[0].centers = X[rng.choice(batch, k, replace=False)] \
        + rng.normal(0, 0.3, (k, n_in))
    model.layers[0].beta = rng.uniform(0.5, 2.0, k)
    model.layers[1].W = rng.uniform(-1, 1, (n_out, k))
    model.layers[1].b = rng.uniform(-0.5, 0.5, n_out)
    if loss == "cross_entropy":
        T = rng.integers(0, n_out, batch)
    elif loss == "squared_error":
        T = rng.standard_normal((batch, n_out))
    else:
        T = rng.uniform(0, 1, (batch, n_out))
    return model, X, T


# ------------------------------------------------------------ forward


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-13), ("float32", 2e-6)])
def test_forward_matches_oracle(dtype, tol):
    model, X, _ = make_case("identity", "squared_error", seed=0)
    model = RBFModel([pynn.RBF(3, 4), pynn.Dense(4, 3)], dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    model.params = rng.uniform(-1, 1, model.n_params)
    got = model(X)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, model_oracle(model, X), rtol=tol, atol=tol)


def test_forward_without_cancellation():
    """Inputs of norm ~1000 a hair from their centres: ‖x‖² − 2x·c + ‖c‖²
    would lose every digit, the kernel keeps the oracle's accuracy."""
    rng = np.random.default_rng(2)
    C = 1000 + rng.uniform(-1, 1, (5, 4))
    X = np.repeat(C, 3, axis=0) + rng.normal(0, 1e-3, (15, 4))
    model = RBFModel([pynn.RBF(4, 5), pynn.Dense(5, 1)], dtype="float64")
    model.layers[0].centers = C
    model.layers[0].beta = np.full(5, 1e5)        # e^{−β U} ~ e^{−0.4}
    model.layers[1].W = np.eye(1, 5)
    model.layers[1].b = [0.0]
    want = rbf_oracle(X, C, model.layers[0].b)[:, :1]
    assert want.min() < 0.99 and want.max() > 0.01   # informative values
    np.testing.assert_allclose(model(X), want, rtol=1e-9)


@pytest.mark.parametrize("dtype,s", [("float32", 100.0), ("float64", 800.0)])
def test_overflowed_width_gives_a_dead_unit_not_nan(dtype, s):
    """e^{s} = ∞ in the dtype: the unit is 1 at its centre, 0 elsewhere,
    and contributes no gradient (no NaN anywhere)."""
    X = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, -1.0]])
    model = RBFModel([pynn.RBF(2, 2), pynn.Dense(2, 1)], dtype=dtype)
    model.layers[0].centers = [[0.0, 0.0], [1.0, 1.0]]
    model.layers[0].log_beta = [s, 0.0]
    model.layers[1].W = [[1.0, 0.0]]
    model.layers[1].b = [0.0]
    np.testing.assert_array_equal(model(X)[:, 0], [1.0, 0.0, 0.0])
    model.backward(X[1:], [1.0, 2.0])
    assert np.isfinite(model.grads).all()
    assert (model.layers[0].dW[0] == 0).all() and model.layers[0].db[0] == 0


def test_layout_regions_and_kinds():
    model, _, _ = make_case("identity", "squared_error", seed=0)
    lay = model._layout
    assert list(lay.kinds) == [_network.LayerKind.RBF, _network.LayerKind.DENSE]
    # centres (4·3), log β (4), W (3·4), b (3); only the Dense W is a weight
    assert lay.regions.tolist() == [[0, 12, 0], [12, 4, 0], [16, 12, 1],
                                    [28, 3, 0]]


@pytest.mark.parametrize("kinds,w_trans,match", [
    ([0, 1], None, "output layer"), ([1, 5], None, "kind"),
    ([1, 0], [1, 0], "tied")])
def test_layout_refuses(kinds, w_trans, match):
    with pytest.raises(ValueError, match=match):
        _network.Layout([2, 3, 1], [0, 0], [0, 0], kinds=kinds, w_trans=w_trans)


# ------------------------------------------------------------ gradients


def _fd_params(model, X, T, loss):
    return oracle.numeric_gradient(lambda: model.loss(X, T, loss),
                                   model.params, H)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("out,loss", PAIRS)
def test_gradients_match_finite_differences(out, loss, seed):
    model, X, T = make_case(out, loss, seed)
    model.backward(X, T, loss)
    g = model.grads.copy()
    num = _fd_params(model, X, T, loss)
    rbf, dense = model.layers
    n_c, k = rbf.n_out * rbf.n_in, rbf.n_out
    parts = {"centres": slice(0, n_c), "log beta": slice(n_c, n_c + k),
             "output": slice(n_c + k, None)}
    for name, part in parts.items():
        assert np.abs(g[part]).max() > 1e-4, name      # a real signal
        assert oracle.rel_error(g[part], num[part]) < TOL, name
    np.testing.assert_array_equal(rbf.dW.ravel(), g[parts["centres"]])
    np.testing.assert_array_equal(rbf.db, g[parts["log beta"]])
    # input gradient: row i is ∂L_i/∂x_i
    Xc = X.copy()
    gx = model.input_gradient(Xc, T, loss)
    num_x = oracle.numeric_gradient(
        lambda: Xc.shape[0] * model.loss(Xc, T, loss), Xc, H)
    assert oracle.rel_error(gx, num_x) < TOL


def test_gradient_with_respect_to_beta():
    """∂L/∂β_j = (∂L/∂s_j)/β_j, checked by differencing in β itself."""
    model, X, T = make_case("identity", "squared_error", seed=5)
    model.backward(X, T)
    rbf = model.layers[0]
    beta = rbf.beta.copy()
    num = np.empty_like(beta)
    for j in range(beta.size):
        values = []
        for sign in (1, -1):
            b = beta.copy()
            b[j] += sign * H
            rbf.beta = b
            values.append(model.loss(X, T))
        num[j] = (values[0] - values[1]) / (2 * H)
    rbf.beta = beta
    assert oracle.rel_error(rbf.db / beta, num) < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_stacked_rbf_input_gradient(seed):
    """Dense → RBF → Dense through the kernels: the RBF layer's input
    gradient carries the signal down to the first layer."""
    rng = np.random.default_rng(seed)
    sizes = [3, 4, 5, 2]
    tanh = pynn.activations.get_activation("tanh").code
    lay = _network.Layout(sizes, [tanh, 0, 0], [0, 0, 0], kinds=[0, 1, 0])
    p = rng.uniform(-1, 1, lay.n_params)
    X, T = rng.uniform(-1, 1, (6, 3)), rng.standard_normal((6, 2))
    work = np.empty(lay.workspace_size(6))

    def loss():
        return _network.backward(lay, p, X, T, 0, _network.BackwardMode.LOSS_ONLY,
                                 0.0, None, None, work) / X.shape[0]   # mean

    g = np.zeros_like(p)
    _network.backward(lay, p, X, T, 0, _network.BackwardMode.GRADIENT, 0.0, g,
                      None, work)
    num = oracle.numeric_gradient(loss, p, H)
    assert np.abs(g[:16]).max() > 1e-4          # first Dense layer learns
    assert oracle.rel_error(g, num) < TOL


def test_fused_sgd_step_equals_gradient_step():
    model, X, T = make_case("softmax", "cross_entropy", seed=3)
    model.backward(X, T, "cross_entropy")
    want = model.params - 0.3 * model.grads
    model.train_step(X, T, "cross_entropy", lr=0.3)
    np.testing.assert_allclose(model.params, want, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------ training


def test_trainer_fits_an_rbf_model():
    X, y = bump_dataset(200, seed=1)
    model = RBFModel([pynn.RBF(2, 3), pynn.Dense(3, 1)], dtype="float64",
                     seed=0)
    model.layers[0].centers = X[:3]
    before = model.loss(X, y)
    hist = pynn.Trainer(model, optimizer="adam", lr=0.02, batch_size=32,
                        epochs=150, seed=0).fit(X, y)
    assert hist.loss[-1] < 0.05 * before
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("optimizer,batch_size,lr", [
    ("sgd", 1, 0.05), ("momentum", 16, 0.05), ("rprop", None, None),
    ("lbfgs", None, None), ("adam", 8, 0.05)])
def test_every_optimizer_trains_and_threads_agree(optimizer, batch_size, lr):
    """Online SGD (the fused update), mini-batch and full-batch optimisers
    train an RBFModel; 1 and 2 threads give bit-identical parameters."""
    X, y = bump_dataset(200, seed=1)
    params = []
    for n_threads in (1, 2):
        model = RBFModel([pynn.RBF(2, 3), pynn.Dense(3, 1)], dtype="float64",
                         seed=0)
        model.layers[0].centers = X[:3]
        before = model.loss(X, y)
        hist = pynn.Trainer(model, optimizer=optimizer, lr=lr,
                            batch_size=batch_size, epochs=30, seed=0,
                            n_threads=n_threads).fit(X, y)
        assert hist.loss[-1] < 0.1 * before
        params.append(model.params.tobytes())
    assert params[0] == params[1]


def test_l2_leaves_centres_and_widths_alone():
    """With only the L2 term (targets equal to the output), the Dense W
    shrinks and the RBF parameters do not move."""
    X, _ = bump_dataset(50, seed=2)
    model = RBFModel([pynn.RBF(2, 3), pynn.Dense(3, 1)], dtype="float64",
                     seed=0)
    model.layers[0].centers = X[:3]
    model.layers[1].b = [0.0]
    y = model(X)[:, 0]
    rbf0 = model.params[:9].copy()
    pynn.Trainer(model, optimizer="sgd", lr=0.1, batch_size=None, epochs=1,
                 l2=0.5, shuffle=False).fit(X, y)
    np.testing.assert_array_equal(model.params[:9], rbf0)


def relative_mse(pred, y):
    return float(((pred - y) ** 2).mean() / y.var())


def test_two_stage_versus_end_to_end_on_the_bump():
    """4 centres on the 2-D bump: fixed centres and widths plus least
    squares leave ~0.5 of the variance (measured 0.51); training the
    centres and widths end to end reaches ~3e-5."""
    X, y = bump_dataset(400, seed=0)
    two = RBFNetwork(4, training="two_stage", seed=0).fit(X, y)
    e2e = RBFNetwork(4, seed=0).fit(X, y)
    Xt, yt = bump_dataset(400, seed=1)
    err_two, err_e2e = relative_mse(two.predict(Xt), yt), \
        relative_mse(e2e.predict(Xt), yt)
    assert 0.2 < err_two < 0.9
    assert err_e2e < 1e-3
    assert two.history_ is None and len(e2e.history_.loss) == 500


def test_two_stage_output_is_the_least_squares_solution():
    X, y = bump_dataset(100, seed=3)
    net = RBFNetwork(5, training="two_stage", seed=1).fit(X, y)
    rbf = net.model_.layers[0]
    Phi = rbf_oracle(X, rbf.W, rbf.b)
    A = np.c_[Phi, np.ones(len(X))]
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(net.predict(X), A @ sol, atol=1e-10)


def test_ring_one_radial_unit_separates():
    """One RBF unit fits the two rings (relative MSE measured 0.04), a
    one-unit tanh MLP cannot (0.97)."""
    X, y = ring_dataset(400, seed=0)
    net = RBFNetwork(1, seed=0).fit(X, y)
    err_rbf = relative_mse(net.predict(X), y)
    mlp = pynn.MLP([2, 1, 1], hidden="tanh", dtype="float64", seed=0)
    pynn.Trainer(mlp, optimizer="adam", lr=0.01, batch_size=None, epochs=500,
                 seed=0).fit(X, y)
    err_mlp = relative_mse(mlp(X)[:, 0], y)
    assert err_rbf < 0.15
    assert err_mlp > 0.5


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("training", ["two_stage", "end_to_end"])
def test_classifiers_on_the_rings(output, training):
    X, y = ring_dataset(300, seed=4)
    labels = np.where(y == 1, "inner", "outer")
    net = RBFNetwork(2, output=output, training=training, seed=0).fit(X, labels)
    assert list(net.classes_) == ["inner", "outer"]
    assert (net.predict(X) == labels).mean() > 0.95
    P = net.predict_proba(X)
    assert P.shape == (300, 2)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-12)


def test_softmax_three_classes():
    rng = np.random.default_rng(0)
    means = np.array([[0, 0], [3, 0], [0, 3]])
    y = rng.integers(0, 3, 300)
    X = means[y] + rng.normal(0, 0.4, (300, 2))
    net = RBFNetwork(3, output="softmax", seed=0).fit(X, y + 10)
    assert (net.predict(X) == y + 10).mean() > 0.95


def test_seeded_fits_are_identical():
    X, y = bump_dataset(100, seed=0)
    a = RBFNetwork(3, epochs=20, seed=7).fit(X, y)
    b = RBFNetwork(3, epochs=20, seed=7).fit(X, y)
    assert a.model_.params.tobytes() == b.model_.params.tobytes()


def test_kmeans_plus_plus_finds_separated_clusters():
    rng = np.random.default_rng(0)
    means = np.array([[0, 0], [10, 0], [0, 10]], float)
    X = np.repeat(means, 50, axis=0) + rng.normal(0, 0.1, (150, 2))
    C = kmeans_plus_plus(X, 3, seed=0)
    order = np.lexsort(C.T[::-1])
    want = np.array([X[i * 50:(i + 1) * 50].mean(axis=0) for i in range(3)])
    np.testing.assert_allclose(C[order], want[np.lexsort(want.T[::-1])],
                               atol=1e-12)
    np.testing.assert_array_equal(kmeans_plus_plus(X, 3, seed=5),
                                  kmeans_plus_plus(X, 3, seed=5))


def test_sample_init_uses_rows_of_X():
    X, y = bump_dataset(60, seed=0)
    net = RBFNetwork(4, init="sample", training="two_stage", seed=2).fit(X, y)
    C = net.centers_
    assert all(np.any(np.all(X == c, axis=1)) for c in C)


def test_fixed_beta():
    X, y = bump_dataset(60, seed=0)
    net = RBFNetwork(4, beta=2.5, training="two_stage", seed=0).fit(X, y)
    np.testing.assert_allclose(net.beta_, 2.5, rtol=1e-15)


# ------------------------------------------------------------ files, pickles


def test_save_load_round_trip(tmp_path):
    X, y = bump_dataset(100, seed=0)
    net = RBFNetwork(4, epochs=30, seed=0).fit(X, y)
    path = tmp_path / "rbf.npz"
    net.save(path)
    model = pynn.load(path)
    assert type(model) is RBFModel
    assert model(X).tobytes() == net.model_(X).tobytes()
    back = RBFNetwork.load(path)
    assert back.predict(X).tobytes() == net.predict(X).tobytes()
    assert back.predict(X).shape == (100,)
    # a plain RBFModel round-trips too
    m = RBFModel([pynn.RBF(2, 3), pynn.Dropout(0.2), pynn.Dense(3, 2, "tanh")],
                 dtype="float32", seed=3)
    m.save(tmp_path / "m.npz")
    m2 = pynn.load(tmp_path / "m.npz")
    assert m2.params.tobytes() == m.params.tobytes()
    assert m2(X).tobytes() == m(X).tobytes()
    with pytest.raises(ValueError, match="not a saved RBFNetwork"):
        RBFNetwork.load(tmp_path / "m.npz")


def test_classifier_round_trip(tmp_path):
    X, y = ring_dataset(100, seed=0)
    net = RBFNetwork(2, output="softmax", epochs=20, seed=0).fit(X, y.astype(int))
    net.save(tmp_path / "c.npz")
    back = RBFNetwork.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert back.predict(X).dtype.kind == "i"


def test_tampered_file_is_refused(tmp_path):
    from pynn import io
    X, y = ring_dataset(50, seed=0)
    net = RBFNetwork(2, output="softmax", epochs=5, seed=0).fit(X, y.astype(int))
    arch = net.model_.architecture()
    arch["rbf_network"]["classes"] = [0]
    with pytest.raises(ValueError, match="classes"):
        pynn.architecture.parse(arch)
    arch = net.model_.architecture()
    arch["layers"][0]["extra"] = 1
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        pynn.architecture.parse(arch)
    arch = net.model_.architecture()
    arch["class"] = "Model"
    del arch["rbf_network"]
    # without its RBFNetwork entry the file is a plain Model with an RBF
    # layer: valid, and it computes the same function
    plan = pynn.architecture.parse(arch)
    assert plan.cls is pynn.Model
    assert [type(layer).__name__ for layer in plan.stack] == ["RBF", "Dense"]
    assert io is not None


def test_pickle_and_deepcopy():
    X, y = bump_dataset(80, seed=0)
    net = RBFNetwork(3, epochs=10, seed=0).fit(X, y)
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert clone.predict(X).tobytes() == net.predict(X).tobytes()
        assert clone.model_ is not net.model_
    m = pickle.loads(pickle.dumps(net.model_))
    assert type(m) is RBFModel and m(X).tobytes() == net.model_(X).tobytes()
    # both continue training identically
    t1 = pynn.Trainer(m, optimizer="adam", lr=0.01, epochs=3, seed=1)
    t2 = pynn.Trainer(net.model_, optimizer="adam", lr=0.01, epochs=3, seed=1)
    t1.fit(X, y)
    t2.fit(X, y)
    assert m.params.tobytes() == net.model_.params.tobytes()
    unfitted = pickle.loads(pickle.dumps(RBFNetwork(2)))
    assert unfitted.model_ is None


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"n_centers": 0}, ValueError, "n_centers"),
    ({"n_centers": -2}, ValueError, "n_centers"),
    ({"n_centers": 1.5}, TypeError, "n_centers"),
    ({"n_centers": True}, TypeError, "n_centers"),
    ({"n_centers": 2, "beta": 0}, ValueError, "beta"),
    ({"n_centers": 2, "beta": -1.0}, ValueError, "beta"),
    ({"n_centers": 2, "beta": float("nan")}, ValueError, "beta"),
    ({"n_centers": 2, "output": "relu"}, ValueError, "output"),
    ({"n_centers": 2, "init": "random"}, ValueError, "init"),
    ({"n_centers": 2, "training": "greedy"}, ValueError, "training"),
    ({"n_centers": 2, "lr": 0}, ValueError, "lr"),
    ({"n_centers": 2, "epochs": 0}, ValueError, "epochs"),
    ({"n_centers": 2, "dtype": "int8"}, ValueError, "dtype"),
    ({"n_centers": 2, "seed": -1}, ValueError, "seed"),
])
def test_bad_hyper_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        RBFNetwork(**kwargs)


def test_bad_data():
    X, y = bump_dataset(20, seed=0)
    net = RBFNetwork(3, epochs=5)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X"):
        net.fit(bad, y)
    with pytest.raises(ValueError, match="X"):
        net.fit(np.empty((0, 2)), [])
    with pytest.raises(ValueError, match="y"):
        net.fit(X, y[:-1])
    yb = y.copy()
    yb[0] = np.inf
    with pytest.raises(ValueError, match="y"):
        net.fit(X, yb)
    with pytest.raises(ValueError, match="n_centers"):
        RBFNetwork(30).fit(X, y)
    with pytest.raises(ValueError, match="two classes"):
        RBFNetwork(2, output="sigmoid").fit(X, np.arange(20) % 3)
    with pytest.raises(ValueError, match="at least two classes"):
        RBFNetwork(2, output="softmax").fit(X, np.zeros(20))
    with pytest.raises(pynn.NotFittedError):
        RBFNetwork(2).predict(X)
    net.fit(X, y)
    with pytest.raises(ValueError, match="X"):
        net.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="X"):
        net.predict(bad)
    # non-contiguous, read-only input is fine
    ro = np.asfortranarray(X)
    ro.flags.writeable = False
    np.testing.assert_array_equal(net.predict(ro), net.predict(X))


def test_bad_layers():
    with pytest.raises(ValueError, match="n_out"):
        pynn.RBF(2, 0)
    with pytest.raises(ValueError, match="n_in"):
        pynn.RBF(-1, 2)
    with pytest.raises(ValueError, match="start with"):
        RBFModel([pynn.Dense(2, 3), pynn.Dense(3, 1)])
    with pytest.raises(ValueError, match="RBF"):
        RBFModel([pynn.RBF(2, 3), pynn.RBF(3, 3), pynn.Dense(3, 1)])
    with pytest.raises(ValueError, match="3 units"):
        RBFModel([pynn.RBF(2, 3), pynn.Dense(4, 1)])
    with pytest.raises(ValueError, match="after the RBF"):
        RBFModel([pynn.RBF(2, 3)])
    layer = pynn.RBF(2, 3)
    with pytest.raises(AttributeError):
        layer.centers
    m = RBFModel([layer, pynn.Dense(3, 1)], dtype="float64")
    p0 = m.params.copy()
    for value in ([1.0, 0.0, 1.0], [1.0, -1.0, 2.0], [np.nan, 1, 1], [1, 1]):
        with pytest.raises(ValueError, match="beta"):
            layer.beta = value
    with pytest.raises(ValueError, match="W"):
        layer.centers = np.full((3, 2), np.inf)
    assert m.params.tobytes() == p0.tobytes()        # model unchanged


# ------------------------------------------------------------ interchange


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-12)])
def test_onnx_export_runs_in_onnxruntime(dtype, tol, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from pynn.interop import to_onnx
    X, y = bump_dataset(200, seed=0)
    net = RBFNetwork(4, epochs=50, dtype=dtype, seed=0).fit(X, y)
    deep = RBFModel([pynn.RBF(2, 5), pynn.Dense(5, 4, "tanh"),
                     pynn.Dense(4, 3, "softmax")], dtype=dtype, seed=1)
    deep.layers[0].centers = X[:5]
    deep.layers[0].beta = np.linspace(0.5, 3, 5)
    for model, want in ((net, net.model_(X)), (deep, deep(X))):
        proto = to_onnx(model, path=tmp_path / "m.onnx")
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"),
                                    providers=["CPUExecutionProvider"])
        got = sess.run(None, {"X": X.astype(dtype)})[0]
        assert got.dtype == np.dtype(dtype) and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        assert proto.graph.output[0].name == "Y"


def test_onnx_refuses_an_unfitted_network():
    pytest.importorskip("onnx")
    from pynn.interop import to_onnx
    with pytest.raises(pynn.NotFittedError):
        to_onnx(RBFNetwork(2))


def test_other_exporters_refuse_rbf(tmp_path):
    from pynn.interop import c, fann, genann
    X, y = bump_dataset(30, seed=0)
    net = RBFNetwork(2, training="two_stage").fit(X, y)
    for export, fmt in ((fann.to_fann, "FANN"), (genann.to_genann, "genann"),
                        (c.to_c, "C")):
        for model in (net.model_, net):
            with pytest.raises(ValueError, match=f"{fmt} has no radial basis"):
                export(model, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="RBF layer"):
        c.fixed_point_outputs(net.model_, X, 16)


# ------------------------------------------------------------ scikit-learn


def _sklearn_estimators():
    try:
        import sklearn  # noqa: F401
        import pynn.sklearn as ps
    except ImportError:                  # pragma: no cover
        return []
    return [ps.RBFRegressor(), ps.RBFClassifier()]


def _checks():
    try:
        from sklearn.utils.estimator_checks import parametrize_with_checks
    except ImportError:                  # pragma: no cover
        return pytest.mark.skip(reason="scikit-learn is not installed")
    return parametrize_with_checks(_sklearn_estimators())


@_checks()
def test_sklearn_estimator_checks(estimator, check):
    if getattr(check, "func", None) is not None \
            and check.func.__name__ == "check_array_api_input" \
            and os.environ.get("SCIPY_ARRAY_API") is None:
        from test_sklearn_checks import _run_with_array_api
        _run_with_array_api(estimator, check)     # needs a fresh interpreter
    else:
        check(estimator)


def test_sklearn_estimators_fit_the_data():
    ps = pytest.importorskip("pynn.sklearn")
    X, y = bump_dataset(300, seed=0)
    reg = ps.RBFRegressor(4, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.999
    Xr, yr = ring_dataset(300, seed=0)
    clf = ps.RBFClassifier(2, random_state=0).fit(Xr, np.where(yr, "a", "b"))
    assert clf.score(Xr, np.where(yr, "a", "b")) > 0.95


def test_plain_model_holds_an_rbf_layer_like_rbfmodel():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(7, 2))
    a = pynn.Model([pynn.RBF(2, 3), pynn.Dense(3, 2, "tanh")],
                   dtype="float64", seed=3)
    b = RBFModel([pynn.RBF(2, 3), pynn.Dense(3, 2, "tanh")], dtype="float64",
                 seed=3)
    b.params[...] = a.params
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    # exp(−β‖x − c‖²) by hand, then the dense layer
    layer = a.layers[0]
    d2 = ((X[:, None, :] - layer.centers[None]) ** 2).sum(-1)
    z = np.exp(-layer.beta * d2)
    dense = a.layers[1]
    np.testing.assert_allclose(a.forward(X), np.tanh(z @ dense.W.T + dense.b),
                               rtol=1e-12)


def test_to_torch_refuses_rbf_layers():
    # refused before torch is imported: runs without torch too
    from pynn.interop import to_torch
    m = RBFModel([pynn.RBF(2, 3), pynn.Dense(3, 1)], dtype="float64")
    with pytest.raises((ValueError, TypeError), match="radial|RBF"):
        to_torch(m)


def test_readme_rbf_section_runs_as_written():
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent /
            "README.md").read_text(encoding="utf-8")
    section = text.split("## Radial-basis-function networks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["mse"] < 1e-3                           # the ≈ 1e-5 claim
    assert np.mean((scope["two"].predict(scope["X"]) - scope["y"]) ** 2) \
        / np.var(scope["y"]) > 0.1                   # two-stage stays coarse
    assert (scope["clf"].predict(scope["Xr"]) == scope["yr"]).mean() > 0.95
