"""Optimisers as objects, the gradient/step seam, sample weights, and the
Trainer's own reliability fixes (divergence, checkpoint validation)."""
import copy
import pickle

import numpy as np
import pytest

import pynn
from pynn import _train
from pynn.optimizers import LBFGS, RPROP, SGD, Adam, Momentum, Nesterov


def _data(n=40, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n)
    return X, y


def _model(sizes=(4, 5, 3), hidden="tanh", output="softmax", dtype="float64",
           seed=1):
    return pynn.MLP(list(sizes), hidden=hidden, output=output, dtype=dtype,
                    seed=seed)


# ------------------------------------------------------------ objects
def test_optimizer_object_equals_name():
    X, y = _data()
    a, b = _model(), _model()
    pynn.Trainer(a, loss="cross_entropy", optimizer="adam", lr=1e-3, beta2=0.99,
                 batch_size=8, epochs=3, seed=0).fit(X, y)
    pynn.Trainer(b, loss="cross_entropy", optimizer=Adam(lr=1e-3, beta2=0.99),
                 batch_size=8, epochs=3, seed=0).fit(X, y)
    assert np.array_equal(a.params, b.params)


def test_optimizer_validation_names_the_argument():
    with pytest.raises(ValueError, match="beta2"):
        Adam(beta2=1.0)
    with pytest.raises(ValueError, match="momentum"):
        Momentum(momentum=-0.1)
    with pytest.raises(ValueError, match="lr"):
        SGD(lr=0)
    with pytest.raises(ValueError, match="etas"):
        RPROP(etas=(1.5, 1.2))
    with pytest.raises(ValueError, match="optimizer"):
        pynn.Trainer(_model(), optimizer="rmsprop")
    with pytest.raises(ValueError, match="conflicts"):
        pynn.Trainer(_model(), optimizer=Adam(lr=1e-3), lr=0.1)
    with pytest.raises(ValueError, match="full-batch"):
        pynn.Trainer(_model(), optimizer="rprop", batch_size=8)
    assert pynn.Trainer(_model(), optimizer="rprop").batch_size is None
    assert pynn.Trainer(_model(), optimizer="sgd").batch_size == 32


def test_optimizer_state_dict_round_trip_and_validation():
    opt = Adam().init(10, np.float64)
    opt.state[0][:] = 1.5
    opt.t = 7
    other = Adam()
    other.load_state_dict(opt.state_dict(), 10, np.float64)
    assert other.t == 7 and np.array_equal(other.state[0], opt.state[0])
    bad = dict(opt.state_dict(), state1=np.zeros(1))
    with pytest.raises(ValueError, match="state1"):
        Adam().load_state_dict(bad, 10, np.float64)
    with pytest.raises(ValueError, match="step count"):
        Adam().load_state_dict(dict(opt.state_dict(), t=10**30), 10, np.float64)


# ------------------------------------------------------------ the seam
@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.1), Nesterov(0.1),
                                 Adam(0.01), RPROP(0.01)],
                         ids=lambda o: o.name)
@pytest.mark.parametrize("l2_in_gradient", [False, True])
def test_gradient_then_step_equals_the_fused_loop(opt, l2_in_gradient):
    """Full batch: the compiled epoch loop and the seam (gradient pass,
    then the optimiser's step) give bit-identical parameters."""
    X, y = _data()
    T = np.eye(3)[y]
    l2 = 1e-3 if opt.name != "sgd" or l2_in_gradient else 1e-3
    fused, seam = _model(), _model()
    pynn.Trainer(fused, loss="cross_entropy", optimizer=copy.deepcopy(opt),
                 batch_size=None, epochs=5, l2=l2, shuffle=False).fit(X, y)
    o = copy.deepcopy(opt).init(seam.n_params, seam.dtype)
    work = seam._workspace(X.shape[0])
    for _ in range(5):
        _train.gradient(seam._layout, seam.params, seam.grads, X, T,
                        pynn.losses.get_loss("cross_entropy").code,
                        l2 if l2_in_gradient else 0.0, work)
        o.update(seam, l2=0.0 if l2_in_gradient else l2)
    assert np.array_equal(fused.params, seam.params)
    assert o.t == 5


def test_gradient_pass_is_the_mean_gradient_of_backward():
    X, y = _data()
    m = _model()
    loss = m.backward(X, y, loss="cross_entropy")
    g = m.grads.copy()
    total, wsum = _train.gradient(m._layout, m.params, m.grads, X, np.eye(3)[y],
                                  pynn.losses.get_loss("cross_entropy").code,
                                  0.0, m._workspace(40))
    assert wsum == 40 and total / wsum == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(m.grads, g, rtol=1e-13, atol=1e-16)


def test_step_entry_checks_state():
    m = _model()
    upd = _train.Update(_train.Optimizer.ADAM, (0.9, 0.999, 1e-8),
                        state1=np.zeros(3), state2=np.zeros(3))
    with pytest.raises(ValueError, match="state"):
        _train.step(m._layout, m.params, m.grads, upd, 0.1)


# ------------------------------------------------------------ RPROP
def test_rprop_matches_torch_step_for_step():
    torch = pytest.importorskip("torch")
    X, y = _data(n=60)
    m = _model()
    lin = []
    for layer in m.layers:
        L = torch.nn.Linear(layer.n_in, layer.n_out).double()
        with torch.no_grad():
            L.weight.copy_(torch.from_numpy(layer.W.copy()))
            L.bias.copy_(torch.from_numpy(layer.b.copy()))
        lin.append(L)
    tnet = torch.nn.Sequential(lin[0], torch.nn.Tanh(), lin[1])
    opt = torch.optim.Rprop(tnet.parameters(), lr=0.01)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    ours = []
    pynn.Trainer(m, loss="cross_entropy", optimizer="rprop", lr=0.01,
                 epochs=25, callbacks=lambda e, logs, tr: ours.append(
                     tr.model.params.copy())).fit(X, y)
    for k in range(25):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(tnet(Xt), yt).backward()
        opt.step()
        theirs = np.concatenate([p.detach().numpy().ravel() for p in
                                 (lin[0].weight, lin[0].bias, lin[1].weight,
                                  lin[1].bias)])
        np.testing.assert_allclose(ours[k], theirs, rtol=1e-12, atol=1e-14,
                                   err_msg=f"step {k + 1}")


def test_rprop_reference_first_steps():
    """Against a plain NumPy iRPROP− on the notes' form (no torch needed)."""
    X, y = _data()
    m = _model()
    ref = m.params.copy()
    step = np.full_like(ref, 0.05)
    prev = np.zeros_like(ref)
    probe = _model()
    for _ in range(4):
        probe.params = ref
        probe.backward(X, y, loss="cross_entropy")
        g = probe.grads.copy()
        s = np.sign(g * prev)
        step = np.clip(step * np.where(s > 0, 1.2, np.where(s < 0, 0.5, 1.0)),
                       1e-6, 50)
        g[s < 0] = 0
        ref = ref - np.sign(g) * step
        prev = g
    pynn.Trainer(m, loss="cross_entropy", optimizer="rprop", lr=0.05,
                 epochs=4).fit(X, y)
    np.testing.assert_allclose(m.params, ref, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------ L-BFGS
def _sklearn_lbfgs(est, model, X, target, max_iter):
    """Fit a scikit-learn MLP by L-BFGS from ``model``'s weights."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, target)                 # initialise (one iteration)
        est.coefs_ = [l.W.T.copy() for l in model.layers]
        est.intercepts_ = [l.b.copy() for l in model.layers]
        est.max_iter = max_iter
        est.fit(X, target)                 # warm start from our weights
    return est


@pytest.mark.parametrize("case", ["softmax regression", "linear regression",
                                  "tanh net, 30 iterations"])
def test_lbfgs_reaches_scikit_learns_final_loss(case):
    """Same data, same initial weights, float64, no penalty: the final loss
    equals scikit-learn's solver="lbfgs" (to convergence on the convex
    problems; iteration for iteration on a non-convex one, where rounding
    differences in the gradient grow chaotically after ~40 iterations)."""
    sk = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    kw = dict(solver="lbfgs", alpha=0.0, max_iter=1, warm_start=True,
              random_state=0)
    if case == "softmax regression":
        target = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=120) > 0) \
            .astype(int) + (X[:, 2] > 0.8)
        m = pynn.MLP([4, 3], output="softmax", dtype="float64", seed=2)
        est, loss, iters = sk.MLPClassifier(hidden_layer_sizes=(), **kw), \
            "cross_entropy", 500
    elif case == "linear regression":
        target = X @ [1, -2, 0.5, 3] + 0.3 + 0.1 * rng.normal(size=120)
        m = pynn.MLP([4, 1], output="identity", dtype="float64", seed=2)
        est, loss, iters = sk.MLPRegressor(hidden_layer_sizes=(), **kw), \
            "squared_error", 500
    else:
        target = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
        m = pynn.MLP([4, 5, 1], hidden="tanh", output="identity",
                     dtype="float64", seed=5)
        est, loss, iters = sk.MLPRegressor(hidden_layer_sizes=(5,),
                                           activation="tanh", **kw), \
            "squared_error", 30
    est = _sklearn_lbfgs(est, m, X, target, iters)
    hist = pynn.Trainer(m, loss=loss, optimizer="lbfgs", epochs=iters).fit(
        X, target)
    ours = m.loss(X, target, loss=loss)
    assert ours == pytest.approx(est.loss_, rel=1e-6)
    assert hist.epochs == est.n_iter_
    assert hist.loss[-1] == pytest.approx(ours, rel=1e-9)
    assert len(hist.lr) == len(hist.time) == hist.epochs
    if iters == 500:
        assert hist.stopped_reason == "tol" and hist.epochs < 500


def test_lbfgs_options_and_callbacks_stop():
    X, y = _data()
    m = _model()
    seen = []
    hist = pynn.Trainer(m, loss="cross_entropy",
                        optimizer=LBFGS(max_fun=1000, tol=0.0),
                        epochs=50, callbacks=lambda e, l, t: seen.append(e) or e == 4
                        ).fit(X, y)
    assert hist.epochs == 5 and seen == [0, 1, 2, 3, 4]
    assert hist.stopped_reason == "callback"
    few = pynn.Trainer(_model(), loss="cross_entropy",
                       optimizer=LBFGS(max_fun=3), epochs=50).fit(X, y)
    assert few.epochs <= 3
    with pytest.raises(ValueError, match="max_fun"):
        LBFGS(max_fun=0)


# ------------------------------------------------------------ sample weights
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rprop"])
def test_integer_weights_equal_repeated_samples(optimizer):
    X, y = _data(n=30)
    w = np.random.default_rng(1).integers(0, 4, size=30)
    a, b = _model(), _model()
    kw = dict(loss="cross_entropy", optimizer=optimizer, batch_size=None,
              epochs=6, shuffle=False)
    ha = pynn.Trainer(a, **kw).fit(X, y, sample_weight=w)
    hb = pynn.Trainer(b, **kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 4, None])
def test_zero_weight_equals_removing_the_sample(batch_size):
    X, y = _data(n=24)
    w = np.ones(24)
    w[[3, 10, 11]] = 0
    keep = w > 0
    a, b = _model(), _model()
    kw = dict(loss="cross_entropy", optimizer="momentum", lr=0.1,
              batch_size=batch_size, epochs=4, shuffle=False)
    pynn.Trainer(a, **kw).fit(X, y, sample_weight=w)
    pynn.Trainer(b, **kw).fit(X[keep], y[keep])
    if batch_size == 1:      # the same steps in the same order: bit-identical
        assert np.array_equal(a.params, b.params)
    elif batch_size is None:
        np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-15)
    else:                    # batches differ in composition: only finite
        assert np.isfinite(a.params).all()


def test_unit_weights_change_nothing():
    X, y = _data()
    a, b = _model(), _model()
    kw = dict(loss="cross_entropy", optimizer="adam", lr=0.01, batch_size=7,
              epochs=3, seed=4)
    pynn.Trainer(a, **kw).fit(X, y, sample_weight=np.ones(40))
    pynn.Trainer(b, **kw).fit(X, y)
    assert np.array_equal(a.params, b.params)


@pytest.mark.parametrize("bad,exc", [
    (-np.ones(40), ValueError), (np.full(40, np.nan), ValueError),
    (np.ones(39), ValueError), (np.zeros(40), ValueError),
    (np.ones(40) * 1j, TypeError)])
def test_bad_sample_weights_are_refused(bad, exc):
    X, y = _data()
    m = _model()
    before = m.params.copy()
    with pytest.raises(exc, match="sample_weight"):
        pynn.Trainer(m, loss="cross_entropy").fit(X, y, sample_weight=bad)
    assert np.array_equal(m.params, before)


def test_sample_weights_refused_with_activity_penalties():
    ae = pynn.Autoencoder([6, 3], sparsity=pynn.KLSparsity(0.1, 0.1),
                          dtype="float64", seed=0)
    X = np.random.default_rng(0).uniform(size=(10, 6))
    with pytest.raises(ValueError, match="activity penalties"):
        pynn.Trainer(ae, loss="binary_cross_entropy").fit(
            X, X, sample_weight=np.ones(10))


# ------------------------------------------------------------ reliability
def test_divergence_keeps_the_last_finite_epochs_weights():
    """Issue 17 item 1: lr = 1e6 on a linear regression, batch 8."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    t = X @ [1.0, -2.0, 0.5]
    m = pynn.MLP([3, 8, 1], "tanh", dtype="float64", seed=0)
    ends = [m.params.copy()]
    with pytest.raises(pynn.DivergenceError) as info:
        pynn.Trainer(m, lr=1e6, batch_size=8, epochs=50, seed=0,
                     callbacks=lambda e, l, tr: ends.append(
                         tr.model.params.copy())).fit(X, t)
    assert np.isfinite(m.params).all()
    assert np.array_equal(m.params, ends[-1])
    assert info.value.history.stopped_reason == "diverged"
    assert len(info.value.history.loss) == len(ends) - 1


def _checkpoint(tmp_path):
    X, y = _data()
    m = _model()
    path = tmp_path / "ck.npz"
    kw = dict(loss="cross_entropy", optimizer="adam", lr=0.05, batch_size=8,
              epochs=4, seed=0, early_stopping=True, tol=1e-12)
    tr = pynn.Trainer(m, checkpoint_path=str(path), **kw)
    tr.fit(X, y)
    return X, y, kw, path


def _rewrite(path, out, arrays=None, meta=None, drop=()):
    from pynn import io
    a, m = io.load_arrays(str(path), "pynn-checkpoint")
    a = dict(a)
    a.update(arrays or {})
    m = dict(m)
    m.update(meta or {})
    for k in drop:
        a.pop(k, None)
        m.pop(k, None)
    io.save_arrays(str(out), a, m)
    return out


@pytest.mark.parametrize("change", [
    dict(drop=["state0"]), dict(drop=["params"]), dict(drop=["rng"]),
    dict(meta={"history": [1, 2]}), dict(meta={"step": 10**30}),
    dict(meta={"epoch": -1}), dict(meta={"epoch": 10**9}),
    dict(arrays={"state1": np.zeros(3)}),
    dict(arrays={"best_params": np.full(1, 7.0)}),
    dict(meta={"stopping": {"no_change": -3}}),
    dict(meta={"schedule": "fast"}),
], ids=lambda c: next(iter(c.values())).__repr__()[:40])
def test_resume_validates_before_touching_the_model(tmp_path, change):
    """Issue 17 item 5: every refusal names the path and leaves params."""
    X, y, kw, path = _checkpoint(tmp_path)
    bad = _rewrite(path, tmp_path / "bad.npz", **change)
    m = _model(seed=9)
    before = m.params.copy()
    with pytest.raises(ValueError, match="bad.npz"):
        pynn.Trainer(m, **dict(kw, epochs=6)).fit(X, y, resume_from=str(bad))
    assert np.array_equal(m.params, before)


def test_schedule_and_split_arguments_are_checked():
    m = _model()
    with pytest.raises(ValueError, match="power"):
        pynn.Trainer(m, lr_schedule="inverse_scaling",
                     schedule_params={"power": float("nan")})
    with pytest.raises(TypeError, match="schedule_params"):
        pynn.Trainer(m, lr_schedule="step", schedule_params=[0.5])
    with pytest.raises(ValueError, match="validation_fraction"):
        pynn.Trainer(m, validation_fraction="0.1")


def test_trainer_pickles_and_continues_identically():
    X, y = _data()
    tr = pynn.Trainer(_model(), loss="cross_entropy", optimizer="adam",
                      lr=0.01, batch_size=8, epochs=2, seed=0)
    tr.fit(X, y)
    for clone in (pickle.loads(pickle.dumps(tr)), copy.deepcopy(tr)):
        assert clone.model is not tr.model
        assert np.array_equal(clone.model.params, tr.model.params)
        a = copy.deepcopy(tr)
        a.fit(X, y)
        clone.fit(X, y)
        assert np.array_equal(a.model.params, clone.model.params)


def test_partial_fit_carries_the_optimiser_state():
    """Two partial_fit calls on halves equal one epoch... of two calls: the
    Adam moments and step count persist (a fresh fit would restart them)."""
    X, y = _data(n=32)
    kw = dict(loss="cross_entropy", optimizer="adam", lr=0.01, batch_size=8,
              shuffle=False)
    a, b = _model(), _model()
    ta = pynn.Trainer(a, **kw)
    ta.partial_fit(X[:16], y[:16])
    ta.partial_fit(X[16:], y[16:])
    assert ta.optimizer.t == 4 and ta.history.epochs == 2
    # One epoch over all 32 samples in order takes the same four steps.
    pynn.Trainer(b, epochs=1, **kw).fit(X, y)
    assert np.array_equal(a.params, b.params)
    c = _model()
    tc = pynn.Trainer(c, **kw)
    tc.partial_fit(X[:16], y[:16])
    pynn.Trainer(c, epochs=1, **kw).fit(X[16:], y[16:])   # restarts Adam
    assert not np.array_equal(a.params, c.params)
    with pytest.raises(ValueError, match="fit"):
        pynn.Trainer(_model(), loss="cross_entropy",
                     optimizer="lbfgs").partial_fit(X, y)
