"""The fused online step (ONLINE_STEP of csrc/_network.pyx) against the
gradient-then-step path it replaces.

With batch 1, SGD with L2, momentum, Nesterov and Adam apply their update
inside the backward pass, a row of W at a time (``_train.run_batches``
with ``Update.fuse_online``, the default).  It must give bit-identical
parameters, optimiser state, step count and losses to the unfused path
(GRADIENT mode, then ``apply_update``) — compared here as raw bits — and
to the public seam ``_train.gradient`` + ``_train.step`` called per sample
from Python.  The unfused path itself is checked against the float64
NumPy reference in tests/test_trainer.py (batch 1 included).
"""
import numpy as np
import pytest

import pynn
from pynn import _train
from pynn.losses import get_loss

from oracle import small_product_limit

OPTIMIZERS = {
    "sgd+l2": ("sgd", 0.05, 1e-2),
    "momentum": ("momentum", 0.05, 0.0),
    "momentum+l2": ("momentum", 0.05, 1e-2),
    "nesterov": ("nesterov", 0.05, 0.0),
    "nesterov+l2": ("nesterov", 0.05, 1e-2),
    "adam": ("adam", 0.01, 0.0),
    "adam+l2": ("adam", 0.01, 1e-2),
}


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(bits(a), bits(b))


def make_case(net, dtype, n=40, seed=0):
    rng = np.random.default_rng(seed)
    if net == "tanh-softmax":
        model = pynn.MLP([12, 9, 4], hidden="tanh", output="softmax",
                         dtype=dtype, seed=seed)
        loss = "cross_entropy"
        T = np.eye(4, dtype=dtype)[rng.integers(0, 4, n)]
    elif net == "deep-sigmoid-se":
        model = pynn.MLP([12, 7, 5, 3], hidden="sigmoid", output="identity",
                         dtype=dtype, seed=seed)
        loss = "squared_error"
        T = rng.normal(size=(n, 3)).astype(dtype)
    elif net == "dropout":
        model = pynn.Model([pynn.Dense(12, 9, "relu"), pynn.Dropout(0.3),
                            pynn.GaussianNoise(0.1), pynn.Dense(9, 4, "softmax")],
                           dtype=dtype, seed=seed)
        loss = "cross_entropy"
        T = np.eye(4, dtype=dtype)[rng.integers(0, 4, n)]
    X = rng.random((n, 12)).astype(dtype)
    X[X < 0.4] = 0                           # sparse, like MNIST pixels
    return model, loss, X, np.ascontiguousarray(T)


def run(model, loss, X, T, opt_case, fuse, *, weights=None, order=None,
        seed=None, epochs=3):
    """Train a copy of ``model`` online; returns (params, state, steps,
    results, grads).  grads starts as NaN: the fused step never writes it."""
    name, lr, l2 = OPTIMIZERS[opt_case]
    model = _copy(model)
    model.grads[...] = np.nan
    opt = pynn.optimizers.get_optimizer(name, lr)
    opt.init(model.params.size, model.params.dtype)
    upd = opt.kernel(l2, None)
    upd.fuse_online = fuse
    data = _train.Batches(X, T, weights, 1, order is not None)
    work = model._workspace(1)
    L = get_loss(loss)
    results = []
    for e in range(epochs):
        data.set_order(None if order is None else np.roll(order, e))
        results.append(_train.run_batches(
            model._layout, model.params, model.grads, data, 0, X.shape[0], 1,
            L.code, L.accuracy, upd, lr, work,
            None if seed is None else seed + e))
    state = [s for s in (upd.state1, upd.state2) if s is not None]
    return (model.params.copy(), [s.copy() for s in state], upd.step, results,
            model.grads.copy())


def _copy(model):
    import copy
    return copy.deepcopy(model)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt_case", sorted(OPTIMIZERS))
@pytest.mark.parametrize("net", ["tanh-softmax", "deep-sigmoid-se", "dropout"])
def test_fused_equals_gradient_then_step(net, opt_case, dtype):
    model, loss, X, T = make_case(net, dtype)
    seed = 7 if net == "dropout" else None
    w0 = model.params.copy()
    fused = run(model, loss, X, T, opt_case, True, seed=seed)
    plain = run(model, loss, X, T, opt_case, False, seed=seed)
    assert np.max(np.abs(fused[0] - w0)) > 1e-3, "training should move W"
    assert_same_bits(fused[0], plain[0])
    for a, b in zip(fused[1], plain[1]):
        assert_same_bits(a, b)
    assert fused[2] == plain[2] == 3 * X.shape[0]
    assert fused[3] == plain[3]                 # losses, counts, status
    # the paths really differ: only the unfused one stores a gradient
    assert np.isnan(fused[4]).all() and np.isfinite(plain[4]).all()


@pytest.mark.parametrize("limit", [0, 10**9], ids=["blas", "loops"])
@pytest.mark.parametrize("opt_case", ["momentum", "adam+l2"])
def test_fused_matches_both_product_paths(opt_case, limit):
    """The unfused gradient comes from GER (BLAS) or the hand loops; the
    fused row update rounds each element as both do."""
    model, loss, X, T = make_case("tanh-softmax", "float32")
    with small_product_limit(limit):
        fused = run(model, loss, X, T, opt_case, True)
        plain = run(model, loss, X, T, opt_case, False)
    assert_same_bits(fused[0], plain[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_with_sample_weights_and_shuffled_order(dtype):
    model, loss, X, T = make_case("tanh-softmax", dtype)
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 3.0, X.shape[0]).astype(dtype)
    w[[3, 17]] = 0                               # weight 0: no step at all
    order = rng.permutation(X.shape[0]).astype(np.intp)
    for opt_case in ("nesterov+l2", "adam"):
        fused = run(model, loss, X, T, opt_case, True, weights=w, order=order)
        plain = run(model, loss, X, T, opt_case, False, weights=w, order=order)
        assert_same_bits(fused[0], plain[0])
        for a, b in zip(fused[1], plain[1]):
            assert_same_bits(a, b)
        # two zero-weight samples per epoch take no step (Adam's t too)
        assert fused[2] == plain[2] == 3 * (X.shape[0] - 2)


@pytest.mark.parametrize("opt_case", ["momentum+l2", "adam"])
def test_fused_equals_the_python_seam(opt_case):
    """run_batches (fused) against ``gradient`` + ``step`` per sample."""
    model, loss, X, T = make_case("deep-sigmoid-se", "float64")
    name, lr, l2 = OPTIMIZERS[opt_case]
    fused = run(model, loss, X, T, opt_case, True, epochs=1)
    seam = _copy(model)
    opt = pynn.optimizers.get_optimizer(name, lr)
    opt.init(seam.params.size, seam.params.dtype)
    upd = opt.kernel(l2, None)
    work = seam._workspace(1)
    code = get_loss(loss).code
    for i in range(X.shape[0]):
        _train.gradient(seam._layout, seam.params, seam.grads, X[i:i + 1],
                        T[i:i + 1], code, 0.0, work)
        _train.step(seam._layout, seam.params, seam.grads, upd, lr)
    assert_same_bits(fused[0], seam.params)


def test_non_finite_loss_stops_before_the_fused_step():
    model, loss, X, T = make_case("deep-sigmoid-se", "float64", n=10)
    T = T.copy()
    T[4, 0] = np.inf                             # sample 4's loss is not finite
    for fuse in (True, False):
        m = _copy(model)
        opt = pynn.optimizers.get_optimizer("adam", 0.01)
        opt.init(m.params.size, m.params.dtype)
        upd = opt.kernel(0.0, None)
        upd.fuse_online = fuse
        data = _train.Batches(X, T, None, 1, False)
        L = get_loss(loss)
        before = m.params.copy()
        res = _train.run_batches(m._layout, m.params, m.grads, data, 0, 10, 1,
                                 L.code, L.accuracy, upd, 0.01, m._workspace(1))
        assert res[3:] == (4, 1)                 # 4 samples done, status 1
        assert upd.step == 4
        assert np.all(np.isfinite(m.params))
        assert np.max(np.abs(m.params - before)) > 0
        if fuse:
            fused_params = m.params.copy()
        else:
            assert_same_bits(fused_params, m.params)


def test_clipping_and_tied_weights_take_the_unfused_path():
    """Global-norm clipping needs the whole gradient first, and a tied
    matrix must not change before its second use: both keep the
    gradient-then-step path (so fuse_online changes nothing)."""
    model, loss, X, T = make_case("tanh-softmax", "float64")
    out = []
    for fuse in (True, False):
        m = _copy(model)
        opt = pynn.optimizers.get_optimizer("momentum", 0.05)
        opt.init(m.params.size, m.params.dtype)
        upd = opt.kernel(0.0, 0.05)
        upd.fuse_online = fuse
        m.grads[...] = np.nan
        data = _train.Batches(X, T, None, 1, False)
        L = get_loss(loss)
        _train.run_batches(m._layout, m.params, m.grads, data, 0, X.shape[0], 1,
                           L.code, L.accuracy, upd, 0.05, m._workspace(1))
        out.append(m.params.copy())
        assert np.isfinite(m.grads).all()       # the gradient was stored
    assert_same_bits(out[0], out[1])
    ae = pynn.Autoencoder([6, 3], hidden="sigmoid", output="identity",
                          tied=True, dtype="float64", seed=1)
    Xa = np.random.default_rng(0).random((20, 6))
    res = []
    for fuse in (True, False):
        m = _copy(ae)
        opt = pynn.optimizers.get_optimizer("adam", 0.01)
        opt.init(m.params.size, m.params.dtype)
        upd = opt.kernel(0.0, None)
        upd.fuse_online = fuse
        data = _train.Batches(Xa, Xa, None, 1, False)
        L = get_loss("squared_error")
        _train.run_batches(m._layout, m.params, m.grads, data, 0, 20, 1,
                           L.code, L.accuracy, upd, 0.01, m._workspace(1))
        res.append(m.params.copy())
    assert_same_bits(res[0], res[1])
    assert np.max(np.abs(res[0] - ae.params)) > 1e-4


def test_trainer_online_adam_equals_unfused_trainer(monkeypatch):
    """Through the public Trainer: the same fit with the fused step
    switched off gives the same bits."""
    X = np.random.default_rng(1).random((60, 12)).astype(np.float32)
    y = (X.sum(axis=1) > 6).astype(int)
    out = []
    for fuse in (True, False):
        model = pynn.MLP([12, 8, 2], hidden="tanh", output="softmax",
                         dtype="float32", seed=0)
        trainer = pynn.Trainer(model, loss="cross_entropy", optimizer="adam",
                               lr=0.01, batch_size=1, epochs=2, seed=0)
        kernel = trainer.optimizer.kernel

        def patched(*a, _kernel=kernel, _fuse=fuse, **k):
            upd = _kernel(*a, **k)
            upd.fuse_online = _fuse
            return upd
        monkeypatch.setattr(trainer.optimizer, "kernel", patched)
        hist = trainer.fit(X, y)
        out.append((model.params.copy(), hist.loss))
    assert_same_bits(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]
