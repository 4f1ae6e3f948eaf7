"""Classic learning rules (pynn.rules, kernels in pynn._rules).

Every fast rule is checked against a slow oracle: a plain NumPy/Python
float64 implementation of the update equations of DESIGN.md §1, sample by
sample.  The oracles sum dot products left to right, which is also what the
kernel does for fewer than 8 features, so in float64 they agree exactly.
"""
import math

import numpy as np
import pytest

from pynn import _rules
from pynn.rules import (Adaline, DivergenceError, GeneralizedDelta, Hebbian,
                        LMS, NotFittedError, Perceptron)

AND_X = [[1, 0], [0, 1], [0, 0], [1, 1]]
AND_T = [0, 0, 0, 1]
XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_T = [0, 1, 1, 0]


# ------------------------------------------------------------------ oracles
def dot(w, x):
    """Σ w_j x_j summed left to right in double."""
    s = 0.0
    for a, c in zip(w, x):
        s += float(a) * float(c)
    return s


def sigmoid(u):
    if u >= 0:
        return 1.0 / (1.0 + math.exp(-u))
    e = math.exp(u)
    return e / (1.0 + e)


def ref_perceptron(X, t, w, b, lr, max_epochs, unit="step"):
    """w ← w + η (t − y) x, b ← b + η (t − y); stop after a clean epoch."""
    X = np.asarray(X, float)
    w = np.array(w, float)
    b = float(b)
    errors = []
    for _ in range(max_epochs):
        n_err = 0
        for x, ti in zip(X, t):
            u = dot(w, x) + b
            y = (1.0 if u > 0 else 0.0) if unit == "step" else \
                (1.0 if u > 0 else -1.0)
            e = ti - y
            if e != 0:
                n_err += 1
                w = w + (lr * e) * x
                b = b + lr * e
        errors.append(n_err)
        if n_err == 0:
            break
    return w, b, errors


def ref_online(X, d, w, b, lr, epochs, phi="identity"):
    """Online delta rule w ← w + η (d − y) φ′(u) x; returns w, b, losses."""
    X = np.asarray(X, float)
    w = np.array(w, float)
    b = float(b)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for x, di in zip(X, d):
            u = dot(w, x) + b
            if phi == "identity":
                y, r = u, di - u
            elif phi == "sigmoid":
                y = sigmoid(u)
                r = (di - y) * y * (1.0 - y)
            else:
                y = math.tanh(u)
                r = (di - y) * (1.0 - y * y)
            e = di - y
            total += 0.5 * e * e
            c = lr * r
            w = w + c * x
            b = b + c
        losses.append(total / len(X))
    return w, b, losses


def ref_batch(X, d, w, b, lr, epochs, phi="identity"):
    """Batch delta rule: one step per epoch with the mean update."""
    X = np.asarray(X, float)
    d = np.asarray(d, float)
    w = np.array(w, float)
    b = float(b)
    for _ in range(epochs):
        u = X @ w + b
        if phi == "identity":
            r = d - u
        elif phi == "sigmoid":
            y = 1 / (1 + np.exp(-u))
            r = (d - y) * y * (1 - y)
        else:
            y = np.tanh(u)
            r = (d - y) * (1 - y * y)
        w = w + lr * (r @ X) / len(X)
        b = b + lr * r.mean()
    return w, b


def ref_hebbian(X, w, lr, epochs, rule):
    """hebb: w += η y x; anti: w −= η y x; oja: w += η y (x − y w)."""
    X = np.asarray(X, float)
    w = np.array(w, float)
    for _ in range(epochs):
        for x in X:
            y = dot(w, x)
            if rule == "hebb":
                w = w + (lr * y) * x
            elif rule == "anti":
                w = w + (lr * -y) * x
            else:
                c = lr * y
                w = (1.0 - c * y) * w + c * x
    return w


def separable(n=200, n_in=5, margin=0.2, seed=0, labels=(0, 1)):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n_in)
    X = rng.standard_normal((n * 3, n_in))
    u = X @ w / np.linalg.norm(w) + 0.3
    keep = np.abs(u) > margin
    X, u = X[keep][:n], u[keep][:n]
    return X, np.where(u > 0, labels[1], labels[0])


# ------------------------------------------------------ perceptron: example
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-6)])
def test_perceptron_and_worked_example(dtype, tol):
    # DESIGN.md §3: the notes' AND example with bias input x0 = 1.
    p = Perceptron(lr=0.9, max_epochs=1, dtype=dtype)
    p.fit(AND_X, AND_T, w_init=[-0.3, -0.4], b_init=-1.2)
    assert p.b == pytest.approx(-0.3, abs=tol)
    np.testing.assert_allclose(p.w, [0.6, 0.5], atol=tol)
    assert p.n_epochs_ == 1 and not p.converged_
    assert p.w.dtype == np.dtype(dtype)

    p = Perceptron(lr=0.9, max_epochs=100, dtype=dtype)
    p.fit(AND_X, AND_T, w_init=[-0.3, -0.4], b_init=-1.2)
    assert p.converged_
    assert p.n_epochs_ == 9
    assert p.b == pytest.approx(-3.0, abs=tol)
    np.testing.assert_allclose(p.w, [1.5, 2.3], atol=tol)
    assert p.errors_.tolist() == [1, 2, 3, 2, 2, 3, 2, 1, 0]
    assert p.predict(AND_X).tolist() == AND_T
    assert p.score(AND_X, AND_T) == 1.0


def test_perceptron_and_example_matches_oracle():
    w, b, errors = ref_perceptron(AND_X, AND_T, [-0.3, -0.4], -1.2, 0.9, 100)
    p = Perceptron(lr=0.9, dtype="float64").fit(
        AND_X, AND_T, w_init=[-0.3, -0.4], b_init=-1.2)
    np.testing.assert_array_equal(p.w, w)
    assert p.b == b
    assert p.errors_.tolist() == errors


def test_perceptron_sign_form():
    t = [-1, -1, -1, 1]
    p = Perceptron(lr=0.9, dtype="float64").fit(
        AND_X, t, w_init=[-0.3, -0.4], b_init=-1.2)
    w, b, errors = ref_perceptron(AND_X, t, [-0.3, -0.4], -1.2, 0.9, 100,
                                  unit="sign")
    np.testing.assert_array_equal(p.w, w)
    assert p.b == b and p.errors_.tolist() == errors
    assert p.converged_
    assert p.predict(AND_X).tolist() == t
    # A mistake moves w by 2ηt x: from zero with η = ½ it is the notes' w ± x.
    # Sample 1: sign(0) = −1 = t, no update; sample 2: a mistake, w ← w + x.
    q = Perceptron(lr=0.5, max_epochs=1, dtype="float64").fit(
        [[2.0, 1.0], [1.0, 3.0]], [-1, 1])
    np.testing.assert_array_equal(q.w, [1.0, 3.0])
    assert q.b == 1.0 and q.errors_.tolist() == [1]


def test_perceptron_step_unit_is_strict():
    # u = 0 gives y = 0 under the step unit, so t = 1 triggers an update.
    p = Perceptron(lr=1.0, max_epochs=1, dtype="float64").fit([[1.0]], [1])
    assert p.w.tolist() == [1.0] and p.b == 1.0


@pytest.mark.parametrize("n_in", [3, 20])
@pytest.mark.parametrize("unit,labels", [("step", (0, 1)), ("sign", (-1, 1))])
def test_perceptron_matches_oracle(n_in, unit, labels):
    X, t = separable(n=150, n_in=n_in, labels=labels, seed=n_in)
    rng = np.random.default_rng(1)
    w0, b0 = rng.standard_normal(n_in), 0.5
    p = Perceptron(lr=0.3, max_epochs=500, dtype="float64").fit(
        X, t, w_init=w0, b_init=b0)
    w, b, errors = ref_perceptron(X, t, w0, b0, 0.3, 500, unit)
    np.testing.assert_allclose(p.w, w, rtol=1e-10, atol=1e-12)
    assert p.b == pytest.approx(b, abs=1e-12)
    assert p.errors_.tolist() == errors


@pytest.mark.parametrize("labels", [(0, 1), (-1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_separable_converges_to_full_accuracy(labels, shuffle):
    X, t = separable(n=300, n_in=6, labels=labels, seed=3)
    p = Perceptron(lr=1.0, max_epochs=1000, shuffle=shuffle, seed=0).fit(X, t)
    assert p.converged_
    assert p.errors_[-1] == 0 and (p.errors_[:-1] > 0).all()
    assert p.n_epochs_ == len(p.errors_)
    assert p.score(X, t) == 1.0


def test_xor_does_not_converge():
    p = Perceptron(lr=1.0, max_epochs=50).fit(XOR_X, XOR_T)
    assert not p.converged_
    assert p.n_epochs_ == 50
    assert (p.errors_ > 0).all()
    assert p.score(XOR_X, XOR_T) < 1.0


def test_perceptron_shuffle_is_seeded():
    X, t = separable(n=200, n_in=4, seed=5)
    a = Perceptron(shuffle=True, seed=7).fit(X, t)
    b = Perceptron(shuffle=True, seed=7).fit(X, t)
    c = Perceptron(shuffle=False).fit(X, t)
    np.testing.assert_array_equal(a.w, b.w)
    assert a.b == b.b and a.errors_.tolist() == b.errors_.tolist()
    assert not np.array_equal(a.w, c.w)


def test_perceptron_one_vs_rest():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 4], [4, 0], [-4, -4]])
    y = np.repeat([0, 1, 2], 40)
    X = centres[y] + rng.uniform(-1, 1, (120, 2))
    p = Perceptron(max_epochs=200, dtype="float64").fit(X, y)
    assert p.converged_
    assert p.w.shape == (3, 2) and p.b.shape == (3,)
    assert p.classes_.tolist() == [0, 1, 2]
    assert p.score(X, y) == 1.0
    assert p.decision_function(X).shape == (120, 3)
    # Units are independent: each row is the binary perceptron on I{y = c}.
    for c in range(3):
        q = Perceptron(max_epochs=200, dtype="float64").fit(X, (y == c) * 1)
        np.testing.assert_array_equal(p.w[c], q.w)
        assert p.b[c] == q.b


def test_perceptron_2d_targets():
    T = np.array([[0, 1], [0, 1], [0, 1], [1, 1]])   # AND and OR-ish columns
    T[2, 1] = 0                                      # OR on AND_X
    p = Perceptron(dtype="float64").fit(AND_X, T)
    assert p.w.shape == (2, 2)
    np.testing.assert_array_equal(p.predict(AND_X), T)
    assert p.score(AND_X, T) == 1.0


# ---------------------------------------------------------------- LMS rule
def regression(n=300, n_in=4, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    w = rng.uniform(-2, 2, n_in)
    return X, X @ w + 0.3 + noise * rng.standard_normal(n)


def lstsq(X, d):
    A = np.c_[X, np.ones(len(X))]
    return np.linalg.lstsq(A, d, rcond=None)[0]


def test_lms_online_equals_oracle_exactly():
    X, d = regression(n=60, n_in=5)
    w0 = np.linspace(-0.5, 0.5, 5)
    m = LMS(lr=0.05, epochs=7, dtype="float64").fit(X, d, w_init=w0,
                                                    b_init=0.1)
    w, b, losses = ref_online(X, d, w0, 0.1, 0.05, 7)
    np.testing.assert_array_equal(m.w, w)
    assert m.b == b
    np.testing.assert_array_equal(m.loss_, losses)
    assert m.n_epochs_ == 7 and not m.converged_


def test_lms_online_many_features_matches_oracle():
    X, d = regression(n=80, n_in=37, seed=2)
    m = LMS(lr=0.005, epochs=5, dtype="float64").fit(X, d)
    w, b, losses = ref_online(X, d, np.zeros(37), 0.0, 0.005, 5)
    np.testing.assert_allclose(m.w, w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(m.loss_, losses, rtol=1e-12)


def test_lms_batch_matches_oracle():
    X, d = regression(n=50, n_in=3, seed=4)
    m = LMS(lr=0.2, epochs=25, batch=True, dtype="float64").fit(X, d)
    w, b = ref_batch(X, d, np.zeros(3), 0.0, 0.2, 25)
    np.testing.assert_allclose(m.w, w, rtol=1e-12, atol=1e-14)
    assert m.b == pytest.approx(b, rel=1e-12, abs=1e-14)


def test_lms_batch_loss_is_loss_at_epoch_start():
    X, d = regression(n=40, n_in=3, seed=6)
    m = LMS(lr=0.1, epochs=3, batch=True, dtype="float64").fit(X, d)
    assert m.loss_[0] == pytest.approx(0.5 * np.mean(d ** 2), rel=1e-12)
    w, b = ref_batch(X, d, np.zeros(3), 0.0, 0.1, 2)
    expect = 0.5 * np.mean((d - X @ w - b) ** 2)
    assert m.loss_[2] == pytest.approx(expect, rel=1e-10)


def test_lms_noise_free_both_modes_reach_solution():
    X, _ = regression(n=200, n_in=4, seed=8)
    w_true = np.array([1.0, -2.0, 0.5, 3.0])
    d = X @ w_true + 0.3
    online = LMS(lr=0.05, epochs=300, dtype="float64").fit(X, d)
    batch = LMS(lr=0.5, epochs=500, batch=True, dtype="float64").fit(X, d)
    for m in (online, batch):
        np.testing.assert_allclose(np.r_[m.w, m.b], lstsq(X, d), atol=1e-9)


def test_lms_noisy_both_modes_reach_lstsq():
    X, d = regression(n=500, n_in=4, noise=0.1, seed=9)
    sol = lstsq(X, d)
    batch = LMS(lr=0.5, epochs=300, batch=True, dtype="float64").fit(X, d)
    np.testing.assert_allclose(np.r_[batch.w, batch.b], sol, atol=1e-9)
    # Constant-η online LMS hovers within O(η) of the solution.
    online = LMS(lr=0.0005, epochs=1500, dtype="float64").fit(X, d)
    np.testing.assert_allclose(np.r_[online.w, online.b], sol, atol=2e-3)
    assert online.score(X, d) == pytest.approx(batch.score(X, d), abs=1e-5)


def test_lms_tol_stops_early():
    X, d = regression(n=100, n_in=3, seed=10)
    m = LMS(lr=0.05, epochs=1000, tol=1e-6, dtype="float64").fit(X, d)
    assert m.converged_ and 1 < m.n_epochs_ < 1000
    assert len(m.loss_) == len(m.norms_) == m.n_epochs_
    assert abs(m.loss_[-1] - m.loss_[-2]) < 1e-6


def test_lms_multi_output_units_are_independent():
    X, d1 = regression(n=60, n_in=3, seed=11)
    d2 = -2 * d1 + 1
    m = LMS(lr=0.02, epochs=10, dtype="float64").fit(X, np.c_[d1, d2])
    assert m.w.shape == (2, 3) and m.b.shape == (2,)
    assert m.predict(X).shape == (60, 2)
    for k, d in enumerate((d1, d2)):
        s = LMS(lr=0.02, epochs=10, dtype="float64").fit(X, d)
        np.testing.assert_array_equal(m.w[k], s.w)
        assert m.b[k] == s.b


def test_lms_divergence_keeps_last_finite_weights():
    X, d = regression(n=50, n_in=4, seed=12)
    m = LMS(lr=5.0, epochs=1000, dtype="float64")
    with pytest.raises(DivergenceError, match="lower learning rate"):
        m.fit(X * 100, d)
    assert np.isfinite(m.w).all() and np.isfinite(m.b)
    assert m.n_epochs_ < 1000 and np.isfinite(m.loss_).all()


def test_lms_predict_and_score():
    X, d = regression(n=100, n_in=2, noise=0.0, seed=13)
    m = LMS(lr=0.1, epochs=200, dtype="float64").fit(X, d)
    np.testing.assert_allclose(m.predict(X), d, atol=1e-9)
    assert m.score(X, d) == pytest.approx(1.0)


def test_adaline_classifier():
    X, t = separable(n=200, n_in=3, labels=(-1, 1), margin=0.5, seed=14)
    a = Adaline(lr=0.01, epochs=50, dtype="float64").fit(X, t)
    lms = LMS(lr=0.01, epochs=50, dtype="float64").fit(X, t)
    np.testing.assert_array_equal(a.w, lms.w)     # same rule on ±1 targets
    pred = a.predict(X)
    assert set(np.unique(pred)) <= {-1, 1} and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, np.where(a.decision_function(X) > 0,
                                                 1, -1))
    assert a.score(X, t) > 0.95
    with pytest.raises(ValueError, match="-1/\\+1"):
        Adaline().fit(X, (t + 1) // 2)


# ------------------------------------------------- generalized delta rule
@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_generalized_delta_equals_oracle(act):
    rng = np.random.default_rng(15)
    X = rng.standard_normal((40, 4))
    d = rng.uniform(0.05, 0.95, 40) if act == "sigmoid" \
        else rng.uniform(-0.9, 0.9, 40)
    w0 = rng.standard_normal(4) * 0.3
    g = GeneralizedDelta(act, lr=0.5, epochs=6, dtype="float64").fit(
        X, d, w_init=w0, b_init=-0.2)
    w, b, losses = ref_online(X, d, w0, -0.2, 0.5, 6, phi=act)
    np.testing.assert_array_equal(g.w, w)
    assert g.b == b
    np.testing.assert_array_equal(g.loss_, losses)
    y = 1 / (1 + np.exp(-(X @ w + b))) if act == "sigmoid" \
        else np.tanh(X @ w + b)
    np.testing.assert_allclose(g.predict(X), y, rtol=1e-12)


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_generalized_delta_batch_matches_oracle(act):
    rng = np.random.default_rng(16)
    X = rng.standard_normal((30, 3))
    d = rng.uniform(0.1, 0.9, 30)
    g = GeneralizedDelta(act, lr=1.0, epochs=20, batch=True,
                         dtype="float64").fit(X, d)
    w, b = ref_batch(X, d, np.zeros(3), 0.0, 1.0, 20, phi=act)
    np.testing.assert_allclose(g.w, w, rtol=1e-11, atol=1e-13)
    assert g.b == pytest.approx(b, rel=1e-11, abs=1e-13)


def test_generalized_delta_learns_and():
    g = GeneralizedDelta("sigmoid", lr=2.0, epochs=2000, dtype="float64")
    g.fit(AND_X, AND_T)
    assert ((g.predict(AND_X) > 0.5) * 1).tolist() == AND_T
    assert g.loss_[-1] < g.loss_[0]


def test_generalized_delta_layer_of_units():
    rng = np.random.default_rng(17)
    X = rng.standard_normal((50, 3))
    D = rng.uniform(0, 1, (50, 2))
    g = GeneralizedDelta(lr=0.3, epochs=4, dtype="float64").fit(X, D)
    assert g.w.shape == (2, 3) and g.predict(X).shape == (50, 2)
    for k in range(2):
        w, b, _ = ref_online(X, D[:, k], np.zeros(3), 0.0, 0.3, 4, "sigmoid")
        np.testing.assert_array_equal(g.w[k], w)


@pytest.mark.parametrize("act,d", [("sigmoid", [0, 1.5]), ("sigmoid", [-0.1, 1]),
                                   ("tanh", [-1.2, 0])])
def test_generalized_delta_target_range(act, d):
    with pytest.raises(ValueError, match="d must lie in"):
        GeneralizedDelta(act).fit([[0.0], [1.0]], d)


# ------------------------------------------------------------------ Hebbian
@pytest.mark.parametrize("rule", ["hebb", "anti", "oja"])
def test_hebbian_equals_oracle(rule):
    rng = np.random.default_rng(18)
    X = rng.standard_normal((30, 4)) * 0.5
    w0 = rng.standard_normal(4)
    h = Hebbian(rule, lr=0.01, epochs=5, dtype="float64").fit(X, w_init=w0)
    np.testing.assert_array_equal(h.w, ref_hebbian(X, w0, 0.01, 5, rule))
    assert h.b == 0.0 and h.n_epochs_ == 5
    np.testing.assert_allclose(h.transform(X), X @ h.w, rtol=1e-12)


def correlated(n=3000, seed=19):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    X = rng.standard_normal((n, 5)) * [3.0, 1.5, 1.0, 0.7, 0.3] @ Q.T
    return X - X.mean(axis=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [False, True])
def test_oja_finds_first_principal_direction(dtype, batch):
    # Oja's rule on centred data: w → ± the top eigenvector of the
    # covariance, ‖w‖ → 1 and the mean of y² → the top eigenvalue.
    X = correlated()
    evals, evecs = np.linalg.eigh(np.cov(X.T))
    top = evecs[:, -1]
    h = Hebbian("oja", lr=0.05 if batch else 0.002, epochs=200 if batch else 20,
                batch=batch, seed=0, dtype=dtype).fit(X)
    cos = abs(h.w @ top) / np.linalg.norm(h.w)
    assert cos > 0.99
    assert np.linalg.norm(h.w) == pytest.approx(1.0, abs=0.05)
    assert h.output_power_[-1] == pytest.approx(evals[-1], rel=0.1)


def test_plain_hebb_grows_and_overflow_is_reported():
    X = correlated(n=500)
    h = Hebbian("hebb", lr=0.01, epochs=3, seed=0, dtype="float64").fit(X)
    assert (np.diff(h.norms_) > 0).all() and h.norms_[-1] > 10
    h = Hebbian("hebb", lr=0.01, epochs=10_000, seed=0)   # float32: ~1e38
    with pytest.raises(DivergenceError, match="rule='oja'") as info:
        h.fit(X)
    assert "lower learning rate" in str(info.value)
    assert "grows without bound" in str(info.value)
    assert np.isfinite(h.w).all() and 0 < h.n_epochs_ < 10_000
    assert len(h.norms_) == h.n_epochs_ and np.isfinite(h.norms_).all()


@pytest.mark.parametrize("rule,msg", [
    ("oja", "lower learning rate"), ("anti", "rule='oja'")])
def test_oja_and_anti_hebb_divergence(rule, msg):
    X = correlated(n=200)
    h = Hebbian(rule, lr=5.0, epochs=100, seed=0)
    with pytest.raises(DivergenceError, match=msg) as info:
        h.fit(X)
    assert rule != "oja" or "or rule='oja'" not in str(info.value)
    assert np.isfinite(h.w).all()


def test_hebbian_default_init_is_seeded():
    X = correlated(n=100)
    a = Hebbian("oja", seed=3).fit(X)
    b = Hebbian("oja", seed=3).fit(X)
    np.testing.assert_array_equal(a.w, b.w)


# ------------------------------------------------------ float32 vs float64
def test_float32_matches_float64():
    X, d = regression(n=200, n_in=6, seed=20)
    m32 = LMS(lr=0.01, epochs=20, dtype="float32").fit(X, d)
    m64 = LMS(lr=0.01, epochs=20, dtype="float64").fit(X, d)
    assert m32.w.dtype == np.float32 and m32.predict(X).dtype == np.float32
    np.testing.assert_allclose(m32.w, m64.w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m32.loss_, m64.loss_, rtol=1e-4)

    g32 = GeneralizedDelta("tanh", lr=0.1, epochs=20, dtype="float32")
    g64 = GeneralizedDelta("tanh", lr=0.1, epochs=20, dtype="float64")
    D = np.tanh(d / 4)
    np.testing.assert_allclose(g32.fit(X, D).w, g64.fit(X, D).w, rtol=1e-4,
                               atol=1e-5)

    Xs, t = separable(n=100, n_in=4, seed=21)
    p32 = Perceptron(lr=0.5, dtype="float32").fit(Xs, t)
    p64 = Perceptron(lr=0.5, dtype="float64").fit(Xs, t)
    assert p32.n_epochs_ == p64.n_epochs_
    np.testing.assert_allclose(p32.w, p64.w, rtol=1e-5, atol=1e-5)


# ---------------------------------------------- input layouts never matter
def layouts(X):
    X = np.asarray(X, dtype=np.float64)
    f = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    ro = X.copy()
    ro.flags.writeable = False
    return {"F": f, "strided": strided, "readonly": ro,
            "float32": X.astype(np.float32), "int-like list": X.tolist()}


@pytest.mark.parametrize("make", [
    lambda: Perceptron(lr=0.5, dtype="float64"),
    lambda: LMS(lr=0.01, epochs=5, dtype="float64"),
    lambda: GeneralizedDelta("sigmoid", lr=0.5, epochs=5, dtype="float64"),
])
def test_layouts_give_same_result(make):
    X, t = separable(n=60, n_in=4, seed=22)
    X = np.round(X, 3)           # exactly representable after float32 trips
    X = X.astype(np.float32).astype(np.float64)
    ref = make().fit(X.copy(), t)
    assert X.flags.c_contiguous
    for name, Xl in layouts(X).items():
        m = make().fit(Xl, t)
        np.testing.assert_array_equal(m.w, ref.w, err_msg=name)
        assert m.b == ref.b
        np.testing.assert_array_equal(m.predict(Xl), ref.predict(X))
    assert np.array_equal(X, np.asarray(layouts(X)["F"]))   # input untouched


def test_hebbian_layouts_and_input_untouched():
    X = correlated(n=50)
    X0 = X.copy()
    ref = Hebbian("oja", seed=1, dtype="float64").fit(X.copy())
    for name, Xl in layouts(X).items():
        if name == "float32":
            continue
        np.testing.assert_array_equal(
            Hebbian("oja", seed=1, dtype="float64").fit(Xl).w, ref.w,
            err_msg=name)
    np.testing.assert_array_equal(X, X0)


def test_integer_and_bool_inputs():
    p = Perceptron(lr=0.9, dtype="float64").fit(
        np.array(AND_X, dtype=np.int8), np.array(AND_T, dtype=bool),
        w_init=[-0.3, -0.4], b_init=-1.2)
    assert p.n_epochs_ == 9


# ----------------------------------------------------------- bad input
BAD_X = [
    ("NaN", [[0.0, np.nan], [1, 1]], ValueError, "X contains NaN"),
    ("inf", [[0.0, np.inf], [1, 1]], ValueError, "X contains NaN"),
    ("empty", np.zeros((0, 2)), ValueError, "X is empty"),
    ("no features", np.zeros((2, 0)), ValueError, "X is empty"),
    ("1-D", [1.0, 2.0], ValueError, "X must be a 2-D"),
    ("3-D", np.zeros((2, 2, 2)), ValueError, "X must be a 2-D"),
    ("strings", [["a", "b"], ["c", "d"]], TypeError, "X must hold real"),
    ("ragged", [[1.0, 2.0], [1.0]], ValueError, "X must be a numeric"),
    ("complex", np.ones((2, 2), complex), TypeError, "X must hold real"),
    ("too large", [[1e300, 0], [0, 1]], ValueError, "X holds values too large"),
]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("case", BAD_X, ids=[c[0] for c in BAD_X])
@pytest.mark.parametrize("make", [
    lambda: Perceptron(), lambda: LMS(), lambda: Adaline(),
    lambda: GeneralizedDelta(), lambda: Hebbian()], ids=[
    "Perceptron", "LMS", "Adaline", "GeneralizedDelta", "Hebbian"])
def test_bad_X(case, make):
    _, X, exc, msg = case
    model = make()
    n = len(X)
    with pytest.raises(exc, match=msg):
        if isinstance(model, Hebbian):
            model.fit(X)
        else:
            model.fit(X, [1] * max(n, 1))


BAD_T = [
    (Perceptron, [0, 1, 0.5], "t must hold"),
    (Perceptron, [-1, 0, 1], "t must hold"),
    (Perceptron, [0, 1, np.nan], "t contains NaN"),
    (Perceptron, [0, 1], "t must have shape"),
    (Perceptron, [[0], [1]], "t must have shape"),
    (Perceptron, np.zeros((3, 0)), "t has no columns"),
    (Perceptron, np.zeros((3, 1, 1)), "t must have shape"),
    (LMS, [0.0, np.inf, 1], "d contains NaN"),
    (LMS, [0.0, 1.0], "d has shape"),
    (LMS, np.zeros((3, 1, 1)), "d must have shape"),
    (LMS, np.zeros((3, 0)), "d has no columns"),
    (Adaline, [0, 1, 1], "-1/\\+1"),
    (Adaline, [-1, 1, 2], "-1/\\+1"),
    (GeneralizedDelta, [0, 1, 2], "d must lie in"),
]


@pytest.mark.parametrize("cls,t,msg", BAD_T)
def test_bad_targets(cls, t, msg):
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match=msg):
        cls().fit(X, t)
    with pytest.raises(TypeError):
        cls().fit(X, ["a", "b", "c"])


@pytest.mark.parametrize("kw,msg", [
    (dict(w_init=[1.0, 2.0, 3.0]), "w_init must have shape"),
    (dict(w_init=[[1.0, 2.0]]), "w_init must be a 1-D"),
    (dict(w_init=[np.nan, 1.0]), "w_init contains NaN"),
    (dict(b_init=[1.0, 2.0]), "b_init must be a number"),
    (dict(b_init=np.inf), "b_init contains NaN"),
])
@pytest.mark.parametrize("cls", [Perceptron, LMS])
def test_bad_initial_weights(cls, kw, msg):
    with pytest.raises(ValueError, match=msg):
        cls().fit(AND_X, AND_T, **kw)


def test_bad_initial_weights_hebbian():
    with pytest.raises(ValueError, match="w_init must have shape"):
        Hebbian().fit(np.ones((3, 2)), w_init=[1.0])


@pytest.mark.parametrize("cls,kw,exc,name", [
    (Perceptron, dict(lr=0), ValueError, "lr"),
    (Perceptron, dict(lr=-1.0), ValueError, "lr"),
    (Perceptron, dict(lr=np.nan), ValueError, "lr"),
    (Perceptron, dict(lr="fast"), TypeError, "lr"),
    (Perceptron, dict(max_epochs=0), ValueError, "max_epochs"),
    (Perceptron, dict(max_epochs=2.5), TypeError, "max_epochs"),
    (Perceptron, dict(max_epochs=True), TypeError, "max_epochs"),
    (Perceptron, dict(shuffle="yes"), TypeError, "shuffle"),
    (Perceptron, dict(seed=-1), ValueError, "seed"),
    (Perceptron, dict(seed=1.5), TypeError, "seed"),
    (Perceptron, dict(dtype="int32"), ValueError, "dtype"),
    (LMS, dict(epochs=0), ValueError, "epochs"),
    (LMS, dict(tol=-1.0), ValueError, "tol"),
    (LMS, dict(tol="x"), TypeError, "tol"),
    (LMS, dict(batch=1), TypeError, "batch"),
    (LMS, dict(dtype="float16"), ValueError, "dtype"),
    (GeneralizedDelta, dict(activation="relu"), ValueError, "activation"),
    (Hebbian, dict(rule="sanger"), ValueError, "rule"),
    (Hebbian, dict(lr=0.0), ValueError, "lr"),
])
def test_bad_hyper_parameters(cls, kw, exc, name):
    with pytest.raises(exc, match=name):
        cls(**kw)


def test_predict_before_fit_and_wrong_features():
    for m in (Perceptron(), LMS(), Adaline(), GeneralizedDelta()):
        with pytest.raises(NotFittedError, match="not fitted"):
            m.predict(AND_X)
    with pytest.raises(NotFittedError):
        Hebbian().transform(AND_X)
    p = Perceptron().fit(AND_X, AND_T)
    with pytest.raises(ValueError, match="X has 3 features"):
        p.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="X contains NaN"):
        p.predict([[np.nan, 0.0]])
    assert p.predict(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match="t has shape"):
        p.score(AND_X, [0, 1])


def test_repr_shows_hyper_parameters():
    assert repr(Perceptron(lr=0.9)) == (
        "Perceptron(lr=0.9, max_epochs=100, shuffle=False, seed=None, "
        "dtype='float32')")
    assert "activation='tanh'" in repr(GeneralizedDelta("tanh"))
    assert "rule='oja'" in repr(Hebbian("oja"))


# ------------------------------------------------------ kernel entry point
def kernel_args(n=4, n_in=2, n_out=1, dtype=np.float64):
    return (np.ones((n, n_in), dtype), np.ones((n, n_out), dtype),
            np.zeros((n_out, n_in), dtype), np.zeros(n_out, dtype))


@pytest.mark.parametrize("change,msg", [
    (dict(rule=99), "unknown rule"),
    (dict(T=np.ones((3, 1))), "T must have shape"),
    (dict(T=None), "T must have shape"),
    (dict(W=np.zeros((1, 3))), "W must have shape"),
    (dict(b=np.zeros(2)), "b must have shape"),
    (dict(X=np.ones((0, 2))), "at least one sample"),
    (dict(order=np.array([0, 1, 2, 4])), "order must hold"),
    (dict(order=np.array([0, 1, -1, 2])), "order must hold"),
    (dict(order=np.array([0, 1])), "order must have shape"),
    (dict(lr=np.inf), "lr must be finite"),
])
def test_kernel_checks_shapes(change, msg):
    X, T, W, b = kernel_args()
    args = dict(rule=_rules.Rule.LMS, X=X, T=T, W=W, b=b, lr=0.1,
                max_epochs=2, order=None)
    args.update(change)
    with pytest.raises(ValueError, match=msg):
        _rules.fit_epochs(args["rule"], args["X"], args["T"], args["W"],
                          args["b"], args["lr"], args["max_epochs"],
                          order=args["order"])


def test_kernel_order_and_shuffle():
    X = np.array([[1.0], [2.0], [3.0]])
    T = np.array([[1.0], [0.0], [2.0]])
    W, b = np.zeros((1, 1)), np.zeros(1)
    order = np.array([2, 0, 1], dtype=np.intp)
    _rules.fit_epochs(_rules.Rule.LMS, X, T, W, b, 0.1, 1, order=order)
    w, bb, _ = ref_online(X[order], T[order, 0], [0.0], 0.0, 0.1, 1)
    assert W[0, 0] == w[0] and b[0] == bb
    # Shuffling permutes the order array in place, reproducibly by seed.
    o1 = np.arange(50, dtype=np.intp)
    o2 = np.arange(50, dtype=np.intp)
    Xb, Tb = np.ones((50, 1)), np.ones((50, 1))
    for o in (o1, o2):
        _rules.fit_epochs(_rules.Rule.LMS, Xb, Tb, np.zeros((1, 1)),
                          np.zeros(1), 0.01, 3, order=o, shuffle=True, seed=5)
    np.testing.assert_array_equal(o1, o2)
    assert sorted(o1.tolist()) == list(range(50)) and o1.tolist() != list(range(50))


def test_kernel_forward_matches_training_arithmetic():
    X = np.random.default_rng(23).standard_normal((7, 19)).astype(np.float32)
    W = np.random.default_rng(24).standard_normal((3, 19)).astype(np.float32)
    b = np.array([0.5, -1.0, 0.0], np.float32)
    U = _rules.forward(X, W, b, np.empty((7, 3)))
    np.testing.assert_allclose(U, X.astype(float) @ W.astype(float).T + b,
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="U_out must have shape"):
        _rules.forward(X, W, b, np.empty((7, 2)))


@pytest.mark.parametrize("n_in", [1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 100, 1000])
def test_kernel_dot_every_path(n_in):
    # Blocks of 32, chunks of 8 and the tail: float64 is accurate to rounding
    # and float32 (4-product float blocks, then double) to a few ulp of
    # Σ|w_j x_j|, whatever the length.
    rng = np.random.default_rng(n_in)
    X = rng.standard_normal((5, n_in))
    W = rng.standard_normal((2, n_in))
    b = np.array([0.25, -0.5])
    exact = X @ W.T + b
    scale = np.abs(X) @ np.abs(W).T + np.abs(b)
    U = _rules.forward(X, W, b, np.empty((5, 2)))
    assert (np.abs(U - exact) <= 1e-15 * scale * np.sqrt(n_in) + 1e-300).all()
    X32, W32, b32 = X.astype(np.float32), W.astype(np.float32), b.astype(np.float32)
    exact32 = X32.astype(float) @ W32.astype(float).T + b32
    U32 = _rules.forward(X32, W32, b32, np.empty((5, 2)))
    assert (np.abs(U32 - exact32) <= 4 * 2.0 ** -24 * scale).all()


# ------------------------------------------- the AVX2 build of the rule loops
def _builds():
    """(baseline, AVX2) kernel modules, or skip where the AVX2 one cannot run."""
    from pynn import _cpu
    if not _cpu.has_avx2_fma():
        pytest.skip("this CPU has no AVX2/FMA: only the baseline build runs")
    from pynn import _rules_avx2
    return _rules, _rules_avx2


def test_rules_module_uses_the_avx2_build_where_the_cpu_has_it():
    from pynn import _cpu, rules
    expected = "pynn._rules_avx2" if _cpu.has_avx2_fma() else "pynn._rules"
    assert rules._rules.__name__ == expected


def test_pynn_simd_0_forces_the_baseline_build(tmp_path):
    import subprocess
    import sys
    import os
    out = subprocess.run(
        [sys.executable, "-c", "import pynn.rules as r; print(r._rules.__name__)"],
        env={**os.environ, "PYNN_SIMD": "0"}, capture_output=True, text=True,
        check=True, cwd=tmp_path).stdout.strip()   # not the checkout: its
    # pynn/ folder would shadow the installed package
    assert out == "pynn._rules"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule", list(_rules.Rule))
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("n_in", [3, 37, 100])
def test_avx2_build_is_bit_identical_to_the_baseline(dtype, rule, batch, n_in):
    """Same weights, biases, statistics and status to the last bit: the AVX2
    build only widens the SIMD lanes, it neither fuses a·b + c nor reorders
    a sum."""
    base, avx2 = _builds()
    rng = np.random.default_rng(n_in + 7 * int(rule))
    W_init = rng.standard_normal((2, n_in)).astype(dtype) * 0.1
    X = rng.standard_normal((300, n_in)).astype(dtype)
    if rule in (_rules.Rule.PERCEPTRON_STEP, _rules.Rule.PERCEPTRON_SIGN):
        T = (X @ rng.standard_normal((n_in, 2)) > 0).astype(dtype)
        if rule == _rules.Rule.PERCEPTRON_SIGN:
            T = 2 * T - 1
    elif rule in (_rules.Rule.HEBB, _rules.Rule.ANTI_HEBB, _rules.Rule.OJA):
        T = np.empty((300, 0), dtype)            # unsupervised: no targets
    else:
        T = np.tanh(X @ rng.standard_normal((n_in, 2)) * 0.3).astype(dtype)
    lr = 0.01 if rule != _rules.Rule.PERCEPTRON_STEP else 1.0
    results = []
    for mod in (base, avx2):
        W = W_init.copy()
        b = np.zeros(2, dtype)
        order = np.arange(300, dtype=np.intp)
        out = mod.fit_epochs(int(rule), X, np.ascontiguousarray(T), W, b, lr, 5,
                             batch=batch, order=order, shuffle=True, seed=3)
        results.append((W, b, out))
    (W0, b0, out0), (W1, b1, out1) = results
    assert not np.array_equal(W0, W_init)        # the rule did train
    np.testing.assert_array_equal(W0, W1)
    np.testing.assert_array_equal(b0, b1)
    assert repr(out0) == repr(out1)
    U0 = np.empty((300, 2))
    U1 = np.empty((300, 2))
    base.forward(X, W0, b0, U0)
    avx2.forward(X, W0, b0, U1)
    np.testing.assert_array_equal(U0, U1)


# ------------------------------------------------------------ sample weights
def _weighted_data(n=40, n_in=5, seed=0, kind="lms"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    if kind == "perceptron":
        t = (X @ rng.standard_normal(n_in) + 0.3 > 0).astype(int)
    elif kind == "adaline":
        t = np.where(X @ rng.standard_normal(n_in) > 0, 1, -1)
    elif kind == "sigmoid":
        t = 1 / (1 + np.exp(-X @ rng.standard_normal(n_in)))
    elif kind == "tanh":
        t = np.tanh(X @ rng.standard_normal(n_in))
    else:
        t = X @ rng.standard_normal(n_in) + 0.5 + 0.1 * rng.standard_normal(n)
    return X, t


def _rule_cases():
    """(name, factory, kind) for every rule that takes sample_weight."""
    cases = [("perceptron", lambda **k: Perceptron(lr=0.5, max_epochs=30, **k),
              "perceptron")]
    for batch in (False, True):
        cases += [
            (f"lms-{batch}", lambda b=batch, **k: LMS(lr=0.02, epochs=15, batch=b, **k), "lms"),
            (f"adaline-{batch}", lambda b=batch, **k: Adaline(lr=0.02, epochs=15, batch=b, **k), "adaline"),
            (f"sigmoid-{batch}", lambda b=batch, **k: GeneralizedDelta(
                "sigmoid", lr=0.3, epochs=15, batch=b, **k), "sigmoid"),
            (f"tanh-{batch}", lambda b=batch, **k: GeneralizedDelta(
                "tanh", lr=0.1, epochs=15, batch=b, **k), "tanh"),
        ]
    return cases


RULE_CASES = _rule_cases()


def _fitted_state(m):
    stats = m.errors_ if isinstance(m, Perceptron) else m.loss_
    return np.asarray(m.w).tobytes(), np.asarray(m.b).tobytes(), \
        np.asarray(stats).tobytes(), m.n_epochs_


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, make, kind", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_sample_weight_all_ones_is_bit_identical_to_none(name, make, kind, dtype):
    X, t = _weighted_data(kind=kind)
    for shuffle in (False, True):
        a = make(dtype=dtype, shuffle=shuffle, seed=4).fit(X, t)
        b = make(dtype=dtype, shuffle=shuffle, seed=4).fit(
            X, t, sample_weight=np.ones(len(X)))
        assert _fitted_state(a) == _fitted_state(b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, make, kind", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_zero_sample_weight_is_exactly_removing_the_sample(name, make, kind, dtype):
    """Bit-exact, online and batch: a weight-0 sample is skipped."""
    X, t = _weighted_data(kind=kind)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.2, 3.0, len(X))
    sw[[0, 3, 17, 39]] = 0
    keep = sw > 0
    a = make(dtype=dtype).fit(X, t, sample_weight=sw)
    b = make(dtype=dtype).fit(X[keep], t[keep], sample_weight=sw[keep])
    assert _fitted_state(a) == _fitted_state(b)
    # Unweighted otherwise: 0/1 weights are exactly a subset.
    a = make(dtype=dtype).fit(X, t, sample_weight=keep.astype(float))
    b = make(dtype=dtype).fit(X[keep], t[keep])
    assert _fitted_state(a) == _fitted_state(b)


@pytest.mark.parametrize("kind, make", [
    ("lms", lambda: LMS(lr=0.05, epochs=20, batch=True, dtype="float64")),
    ("adaline", lambda: Adaline(lr=0.05, epochs=20, batch=True, dtype="float64")),
    ("sigmoid", lambda: GeneralizedDelta("sigmoid", lr=0.5, epochs=20, batch=True,
                                         dtype="float64")),
    ("tanh", lambda: GeneralizedDelta("tanh", lr=0.2, epochs=20, batch=True,
                                      dtype="float64")),
])
def test_batch_integer_weights_equal_repeating_samples(kind, make):
    """Batch: weight k = k copies of the sample.  Equal to rounding only,
    not bit-exact: the weighted sum adds (k·r_i) x_i once where the copies
    add r_i x_i k times, in another order (float64, measured over 20 seeds:
    at most 6 ulp of max|w| after one epoch, 2 after twenty; relative
    ≤ 1.1e-15).  Zero weights, by contrast, are bit-exact (test above)."""
    X, t = _weighted_data(kind=kind)
    k = np.random.default_rng(2).integers(0, 4, len(X))
    k[0] = 3
    a = make().fit(X, t, sample_weight=k)
    idx = np.repeat(np.arange(len(X)), k)
    b = make().fit(X[idx], t[idx])
    np.testing.assert_allclose(a.w, b.w, rtol=1e-13, atol=1e-15)
    assert a.b == pytest.approx(b.b, rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(a.loss_, b.loss_, rtol=1e-13)


def ref_online_weighted(X, d, sw, w, b, lr, epochs, phi="identity"):
    """Online rule with sample weights: w ← w + η s_i r_i x_i (skip s_i = 0);
    the loss is Σ s_i ½ e_i² / Σ s_i."""
    X = np.asarray(X, float)
    w = np.array(w, float)
    b = float(b)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for x, di, si in zip(X, d, sw):
            if si == 0:
                continue
            u = dot(w, x) + b
            if phi == "identity":
                y, r = u, di - u
            else:
                y = math.tanh(u)
                r = (di - y) * (1.0 - y * y)
            e = di - y
            total += si * (0.5 * e * e)
            c = lr * (r * si)
            w = w + c * x
            b = b + c
        losses.append(total / float(np.sum(sw)))
    return w, b, losses


@pytest.mark.parametrize("phi", ["identity", "tanh"])
def test_online_sample_weight_scales_each_step_against_oracle(phi):
    X, d = _weighted_data(n=30, n_in=4, kind="tanh")
    sw = np.random.default_rng(3).uniform(0, 2, 30)
    sw[5] = 0
    m = (LMS(lr=0.05, epochs=7, dtype="float64") if phi == "identity" else
         GeneralizedDelta("tanh", lr=0.05, epochs=7, dtype="float64"))
    m.fit(X, d, sample_weight=sw)
    w, b, losses = ref_online_weighted(X, d, sw, np.zeros(4), 0.0, 0.05, 7, phi)
    np.testing.assert_array_equal(m.w, w)           # n_in < 8: same sums
    assert m.b == b
    np.testing.assert_array_equal(m.loss_, losses)


def test_online_integer_weight_is_one_larger_step_not_repeated_visits():
    X = np.array([[1.0, 2.0]])
    d = np.array([3.0])
    a = LMS(lr=0.05, epochs=1, dtype="float64").fit(X, d, sample_weight=[2])
    b = LMS(lr=0.1, epochs=1, dtype="float64").fit(X, d)
    np.testing.assert_array_equal(a.w, b.w)         # η·2 exactly (power of 2)
    c = LMS(lr=0.05, epochs=1, dtype="float64").fit(np.repeat(X, 2, 0), [3.0, 3.0])
    assert not np.allclose(a.w, c.w)                # two visits differ


def test_weighted_perceptron_against_oracle():
    X, t = _weighted_data(n=30, n_in=3, kind="perceptron")
    sw = np.random.default_rng(5).uniform(0, 2, 30)
    sw[[2, 9]] = 0
    p = Perceptron(lr=0.5, max_epochs=50, dtype="float64").fit(X, t, sample_weight=sw)
    w, b = np.zeros(3), 0.0
    errors = []
    for _ in range(50):
        n_err = 0
        for x, ti, si in zip(X, t, sw):
            if si == 0:
                continue
            y = 1.0 if dot(w, x) + b > 0 else 0.0
            if ti != y:
                n_err += 1
                c = 0.5 * ((ti - y) * si)
                w = w + c * x
                b = b + c
        errors.append(n_err)
        if n_err == 0:
            break
    np.testing.assert_array_equal(p.w, w)
    assert p.b == b and p.errors_.tolist() == errors


@pytest.mark.parametrize("make, t", [
    (lambda: Perceptron(), AND_T), (lambda: LMS(), [0.1, 0.2, 0.3, 0.4]),
    (lambda: Adaline(), [1, -1, 1, -1]),
    (lambda: GeneralizedDelta(), [0.1, 0.2, 0.3, 0.4]),
])
@pytest.mark.parametrize("sw, exc, match", [
    ([1, 1, 1], ValueError, "sample_weight has 3 weights for 4 samples"),
    ([1, -1, 1, 1], ValueError, "sample_weight must be ≥ 0"),
    ([1, np.nan, 1, 1], ValueError, "sample_weight contains NaN"),
    ([0, 0, 0, 0], ValueError, "sample_weight sums to 0"),
    ([[1, 1], [1, 1]], ValueError, "sample_weight must be a 1-D"),
    ([1j, 1, 1, 1], TypeError, "sample_weight must hold real"),
])
def test_bad_sample_weight_is_refused_and_keeps_the_model(make, t, sw, exc, match):
    m = make().fit(AND_X, t)
    before = _fitted_state(m)
    with pytest.raises(exc, match=match):
        m.fit(AND_X, t, sample_weight=sw)
    assert _fitted_state(m) == before


def test_hebbian_takes_no_sample_weight():
    with pytest.raises(TypeError):
        Hebbian().fit(AND_X, sample_weight=[1, 1, 1, 1])


# ------------------------------------ memory follows the epochs actually run
def _peak_bytes(fn):
    import tracemalloc
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_huge_max_epochs_allocates_nothing_in_proportion():
    """Regression (issue 17 item 8): Perceptron(max_epochs=10**12) asked
    for 7.3 TiB of per-epoch statistics before the first epoch."""
    box = {}
    peak = _peak_bytes(lambda: box.update(
        p=Perceptron(max_epochs=10 ** 12).fit(AND_X, AND_T)))
    assert box["p"].converged_ and box["p"].n_epochs_ == len(box["p"].errors_)
    assert peak < 1 << 20
    X, d = _weighted_data(n=20, n_in=3)
    peak = _peak_bytes(lambda: box.update(
        a=LMS(lr=0.05, epochs=2 ** 63 - 1, tol=1e-9, dtype="float64").fit(X, d)))
    assert box["a"].converged_ and peak < 1 << 20


@pytest.mark.parametrize("tol", [None, 1e-10])
def test_long_runs_continue_across_the_kernel_chunks(tol):
    """Epochs run in calls of 256, 512, ... epochs: the losses, the order of
    the updates and the |ΔL| < tol test carry over exactly (float64 oracle,
    n_in < 8 so its sums are the kernel's)."""
    X, d = _weighted_data(n=6, n_in=3, seed=8)
    m = LMS(lr=0.01, epochs=1000, tol=tol, dtype="float64").fit(X, d)
    w, b, losses = ref_online(X, d, np.zeros(3), 0.0, 0.01, 1000)
    stop = 1000
    if tol is not None:
        stop = next(k + 1 for k in range(1, 1000)
                    if abs(losses[k] - losses[k - 1]) < tol)
        assert 256 < stop < 1000                   # stops in a later chunk
        w, b, losses = ref_online(X, d, np.zeros(3), 0.0, 0.01, stop)
    assert m.n_epochs_ == stop and m.converged_ == (tol is not None)
    np.testing.assert_array_equal(m.loss_, losses)
    np.testing.assert_array_equal(m.w, w)
    assert len(m.norms_) == stop


def test_class_labels_use_one_unit_per_distinct_label():
    """Regression (issue 17 item 8): t = [0, 1, 2**40] asked for 2**40 + 1
    units (12 TiB); now one unit per distinct label."""
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    t = [0, 1, 2 ** 40, 1]
    box = {}
    peak = _peak_bytes(lambda: box.update(
        p=Perceptron(max_epochs=50, dtype="float64").fit(X, t)))
    p = box["p"]
    assert peak < 1 << 20
    assert p.classes_.tolist() == [0, 1, 2 ** 40] and p.w.shape == (3, 2)
    assert p.predict(X).tolist() == t
    q = Perceptron(max_epochs=50).fit(X, [0.0, 5.0, 7.0, 5.0])
    assert q.classes_.tolist() == [0, 5, 7] and q.classes_.dtype == np.int64
    for c, label in enumerate([0, 5, 7]):          # one-vs-rest per label
        r = Perceptron(max_epochs=50).fit(X, (np.array([0, 5, 7, 5]) == label) * 1)
        np.testing.assert_array_equal(q.w[c], r.w)


# ------------------------------------------------------ pickle and deepcopy
def _all_rules():
    X, d = _weighted_data(n=25, n_in=3)
    Xp, tp = _weighted_data(n=25, n_in=3, kind="perceptron")
    Xa, ta = _weighted_data(n=25, n_in=3, kind="adaline")
    Xs, ts = _weighted_data(n=25, n_in=3, kind="sigmoid")
    return [
        (Perceptron(lr=0.5, shuffle=True, seed=3), (Xp, tp)),
        (Perceptron(dtype="float64"), (Xp, np.array([0, 1, 2, 4, 2] * 5))),
        (LMS(lr=0.05, epochs=5, shuffle=True, seed=1), (X, d)),
        (LMS(lr=0.05, epochs=5, batch=True, dtype="float64"), (X, d)),
        (Adaline(lr=0.05, epochs=5), (Xa, ta)),
        (GeneralizedDelta("tanh", lr=0.2, epochs=5, shuffle=True, seed=2), (Xs, 2 * ts - 1)),
        (GeneralizedDelta("sigmoid", lr=0.5, epochs=5, batch=True), (Xs, ts)),
        (Hebbian("oja", lr=0.01, epochs=5, shuffle=True, seed=4), (X,)),
    ]


def _out(m, X):
    return (m.transform(X) if isinstance(m, Hebbian) else m.predict(X)).tobytes()


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
@pytest.mark.parametrize("i", range(8))
def test_rules_pickle_and_deepcopy_predict_and_refit_identically(copier, i):
    import copy
    import pickle

    def dup(m):
        return pickle.loads(pickle.dumps(m)) if copier == "pickle" else copy.deepcopy(m)
    model, data = _all_rules()[i]
    X = data[0]
    unfitted = dup(model)
    assert repr(unfitted) == repr(model)
    with pytest.raises(NotFittedError):
        (unfitted.transform if isinstance(model, Hebbian) else unfitted.predict)(X)
    model.fit(*data)
    clone = dup(model)
    assert _out(clone, X) == _out(model, X)
    assert np.asarray(clone.w).tobytes() == np.asarray(model.w).tobytes()
    assert clone.n_epochs_ == model.n_epochs_
    assert np.asarray(clone.w).base is None or clone.w is not model.w
    # Both continue identically: a refit from the current weights.
    kw = {} if isinstance(model, Hebbian) else {"b_init": model.b}
    model.fit(*data, w_init=model.w.copy(), **kw)
    clone.fit(*data, w_init=clone.w.copy(), **kw)
    assert _out(clone, X) == _out(model, X)
    assert np.asarray(clone.w).tobytes() == np.asarray(model.w).tobytes()
    unfitted.fit(*data)
    fresh = _all_rules()[i][0].fit(*data)
    assert _out(unfitted, X) == _out(fresh, X)


# ------------------------------- shuffling pinned to a reference Generator
def _reference_orders(rng, n, epochs):
    order = np.arange(n)
    out = []
    for _ in range(epochs):
        rng.shuffle(order)
        out.append(order.copy())
    return out


def test_shuffle_orders_follow_a_numpy_generator_epoch_by_epoch():
    """Regression (issue 17 item 13): the order of epoch k must be the k-th
    ``np.random.default_rng(seed).shuffle`` of the previous one; a generator
    re-seeded every epoch (the same order each epoch) fails this.  Expected
    weights come from a NumPy float64 re-implementation of each rule over
    those orders, not from pynn."""
    n, epochs, seed = 23, 6, 12345
    orders = _reference_orders(np.random.default_rng(seed), n, epochs)
    assert len({o.tobytes() for o in orders}) == epochs   # orders differ
    X, d = _weighted_data(n=n, n_in=4, seed=9)
    # LMS online.
    w, b, losses = np.zeros(4), 0.0, []
    for order in orders:
        total = 0.0
        for i in order:
            u = dot(w, X[i]) + b
            e = d[i] - u
            total += 0.5 * e * e
            c = 0.03 * (d[i] - u)
            w, b = w + c * X[i], b + c
        losses.append(total / n)
    m = LMS(lr=0.03, epochs=epochs, shuffle=True, seed=seed, dtype="float64").fit(X, d)
    np.testing.assert_array_equal(m.w, w)
    assert m.b == b
    np.testing.assert_array_equal(m.loss_, losses)
    # Perceptron (XOR-like labels, so that it never converges in 6 epochs).
    t = (X[:, 0] * X[:, 1] > 0).astype(float)
    w, b, errors = np.zeros(4), 0.0, []
    for order in orders:
        k = 0
        for i in order:
            y = 1.0 if dot(w, X[i]) + b > 0 else 0.0
            if t[i] != y:
                k += 1
                w, b = w + (0.7 * (t[i] - y)) * X[i], b + 0.7 * (t[i] - y)
        errors.append(k)
    p = Perceptron(lr=0.7, max_epochs=epochs, shuffle=True, seed=seed,
                   dtype="float64").fit(X, t)
    np.testing.assert_array_equal(p.w, w)
    assert p.b == b and p.errors_.tolist() == errors
    # Oja: the same Generator draws w_init first, then the epoch orders.
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(4)
    w = v / np.linalg.norm(v)
    for order in _reference_orders(rng, n, epochs):
        for i in order:
            y = dot(w, X[i])
            c = 0.01 * y
            w = (1.0 - c * y) * w + c * X[i]
    h = Hebbian("oja", lr=0.01, epochs=epochs, shuffle=True, seed=seed,
                dtype="float64").fit(X)
    np.testing.assert_array_equal(h.w, w)


def test_kernel_shuffle_is_numpy_generator_shuffle_for_every_size():
    for n in (1, 2, 3, 17, 1000):
        order = np.arange(n, dtype=np.intp)
        _rules.fit_epochs(_rules.Rule.LMS, np.ones((n, 1)), np.ones((n, 1)),
                          np.zeros((1, 1)), np.zeros(1), 0.01, 3, order=order,
                          shuffle=True, seed=99)
        ref = np.arange(n, dtype=np.intp)
        g = np.random.default_rng(99)
        for _ in range(3):
            g.shuffle(ref)
        np.testing.assert_array_equal(order, ref)
    # A Generator passed as the seed is advanced, like any other use of it.
    g = np.random.default_rng(5)
    order = np.arange(10, dtype=np.intp)
    _rules.fit_epochs(_rules.Rule.LMS, np.ones((10, 1)), np.ones((10, 1)),
                      np.zeros((1, 1)), np.zeros(1), 0.01, 2, order=order,
                      shuffle=True, seed=g)
    h = np.random.default_rng(5)
    ref = np.arange(10)
    h.shuffle(ref)
    h.shuffle(ref)
    np.testing.assert_array_equal(order, ref)
    assert g.integers(1 << 30) == h.integers(1 << 30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [False, True])
def test_avx2_build_is_bit_identical_with_sample_weights(dtype, batch):
    base, avx2 = _builds()
    rng = np.random.default_rng(31)
    X = rng.standard_normal((200, 37)).astype(dtype)
    T = np.tanh(X @ rng.standard_normal((37, 2)) * 0.3).astype(dtype)
    sw = rng.uniform(0, 3, 200).astype(dtype)
    sw[::7] = 0
    results = []
    for mod in (base, avx2):
        W, b = np.zeros((2, 37), dtype), np.zeros(2, dtype)
        out = mod.fit_epochs(int(_rules.Rule.DELTA_TANH), X, T, W, b, 0.01, 4,
                             batch=batch, shuffle=True, seed=8, sample_weight=sw)
        results.append((W.tobytes(), b.tobytes(), repr(out)))
    assert results[0] == results[1]
    assert results[0][0] != np.zeros((2, 37), dtype).tobytes()


@pytest.mark.parametrize("t", [
    [1e300],                                       # "negative dimensions"
    [2.0 ** 63],                                   # beyond int64
    np.array([2 ** 63], dtype=np.uint64),
    np.array([2 ** 64 - 1], dtype=np.uint64),
])
def test_perceptron_labels_beyond_int64_name_t(t):
    """Regression (issue 17 item 16's sweep): a huge whole-number target was
    read as a class index and gave NumPy's "negative dimensions are not
    allowed" (1e300) or an IndexError (uint64 2**63), naming nothing."""
    X = np.ones((1, 3))
    p = Perceptron()
    with pytest.raises(ValueError, match=r"^t must hold \{0, 1\} targets .*"
                       r"class labels \(whole numbers in \[0, 2\*\*63\)\)"):
        p.fit(X, t)
    assert p.w is None
    # With three samples, as the sweep found it: [0, 1, 2**63] in uint64.
    with pytest.raises(ValueError, match=r"^t must hold"):
        Perceptron().fit(np.eye(3), np.array([0, 1, 2 ** 63], dtype=np.uint64))


def test_perceptron_largest_labels_are_classes():
    """The largest labels that fit int64 are trained one-vs-rest and
    predicted back exactly (uint64 and float64 alike)."""
    X = np.eye(3)
    big = 2 ** 63 - 1
    p = Perceptron(max_epochs=50).fit(X, np.array([0, 1, big], dtype=np.uint64))
    assert p.classes_.tolist() == [0, 1, big] and p.classes_.dtype == np.int64
    assert p.predict(X).tolist() == [0, 1, big]
    f = 2.0 ** 63 - 1024                         # the largest float below 2**63
    q = Perceptron(max_epochs=50).fit(X, [0.0, f, 1.0])
    assert q.classes_.tolist() == [0, 1, int(f)]
    assert q.predict(X).tolist() == [0, int(f), 1]
