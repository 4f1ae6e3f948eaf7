"""MADALINE with MRII (pynn.Madaline, kernel pynn._madaline).

The compiled loop is checked against a slow oracle: MRII written out in
plain Python/NumPy float64 from the rule's statement (the dot products
summed left to right, as the kernel does, so they agree exactly).
"""
import copy
import pickle

import numpy as np
import pytest

import pynn
from pynn import _madaline
from pynn.madaline import Madaline
from pynn.exceptions import NotFittedError

XB = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], float)   # bipolar inputs
XOR = np.array([-1, 1, 1, -1])
XNOR = -XOR
LOGIC = {"or": lambda h: 1 if (h > 0).any() else -1,
         "and": lambda h: 1 if (h > 0).all() else -1,
         "majority": lambda h: 1 if 2 * (h > 0).sum() > len(h) else -1}


# ------------------------------------------------------------------ oracle
def dot(w, x):
    s = 0.0
    for a, c in zip(w, x):
        s += float(a) * float(c)
    return s


def ref_mrii(X, t, W, b, output, lr, max_epochs, pairs):
    """MRII from its statement: on an error, trial-flip hidden units by
    |u| closest to 0 first and adapt the first that fixes the output by
    α-LMS toward its flipped value; else the cheapest pair that does."""
    L = LOGIC[output]
    W, b = np.array(W, float), np.array(b, float)
    H = len(b)
    errors = []

    def adapt(j, d, u, x, xn2):
        c = lr * (d - u) / xn2
        W[j] = W[j] + c * x
        b[j] = b[j] + c

    for _ in range(max_epochs):
        n_err = 0
        for x, ti in zip(np.asarray(X, float), t):
            u = np.array([dot(W[j], x) + b[j] for j in range(H)])
            h = np.where(u > 0, 1, -1)
            if L(h) == ti:
                continue
            n_err += 1
            xn2 = dot(x, x) + 1.0
            fixed = False
            for j in sorted(range(H), key=lambda j: (abs(u[j]), j)):
                g = h.copy()
                g[j] = -g[j]
                if L(g) == ti:
                    adapt(j, g[j], u[j], x, xn2)
                    fixed = True
                    break
            if fixed or not pairs:
                continue
            best = None
            for a in range(H):
                for c in range(a + 1, H):
                    g = h.copy()
                    g[[a, c]] = -g[[a, c]]
                    cost = abs(u[a]) + abs(u[c])
                    if L(g) == ti and (best is None or cost < best[0]):
                        best = (cost, a, c)
            if best is not None:
                for j in best[1:]:
                    adapt(j, -h[j], u[j], x, xn2)
        errors.append(n_err)
        if n_err == 0:
            break
    return W, b, errors


@pytest.mark.parametrize("output, H", [("or", 2), ("and", 2), ("majority", 3),
                                       ("or", 4), ("majority", 5)])
@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_kernel_matches_the_oracle_exactly(output, H, pairs, seed):
    rng = np.random.default_rng(seed)
    X = np.vstack([XB, rng.uniform(-1, 1, (8, 2))])
    t = np.where(X[:, 0] * X[:, 1] > 0, -1, 1)
    W0 = rng.uniform(-1, 1, (H, 2))
    b0 = rng.uniform(-1, 1, H)
    W, b = W0.copy(), b0.copy()
    n_epochs, status, errors = _madaline.fit_mrii(
        int(pynn.madaline._LOGIC[output]), X, t.astype(float), W, b, 0.7, 40,
        pairs=pairs)
    W_ref, b_ref, err_ref = ref_mrii(X, t, W0, b0, output, 0.7, 40, pairs)
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(b, b_ref)
    assert errors.tolist() == err_ref and n_epochs == len(err_ref)
    assert status == (_madaline.Status.CONVERGED if err_ref[-1] == 0
                      else _madaline.Status.MAX_EPOCHS)


# ------------------------------------------------------------ what it learns
@pytest.mark.parametrize("name, t", [("xor", XOR), ("xnor", XNOR)])
@pytest.mark.parametrize("output, H", [("or", 2), ("and", 2), ("majority", 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xor_and_xnor_from_at_least_4_of_5_starts(name, t, output, H, dtype):
    fits = [Madaline(H, output, max_epochs=200, seed=s, dtype=dtype).fit(XB, t)
            for s in range(5)]
    assert sum(m.converged_ for m in fits) >= 4
    for m in fits:
        if m.converged_:
            assert m.predict(XB).tolist() == t.tolist()
            assert m.errors_[-1] == 0 and m.n_epochs_ == len(m.errors_)


def _two_input_sets():
    rng = np.random.default_rng(0)
    P = rng.uniform(-1, 1, (400, 2))
    s = P[:, 0] + P[:, 1]
    keep = np.abs(np.abs(s) - 0.6) > 0.08              # a margin
    band = np.where(np.abs(s[keep]) < 0.6, 1, -1)
    A = np.array([[0, 1], [-0.87, -0.5], [0.87, -0.5]])
    g = P @ A.T
    m = np.abs(g - 0.45).min(axis=1) > 0.05
    tri = np.where((g[m] < 0.45).all(axis=1), 1, -1)
    return {
        "band (and, 2)": (P[keep], band, "and", 2),
        "outside a band (or, 2)": (P[keep], -band, "or", 2),
        "band (majority, 3)": (P[keep], band, "majority", 3),
        "triangle (and, 3)": (P[m], tri, "and", 3),
        "outside a triangle (or, 3)": (P[m], -tri, "or", 3),
    }


SETS = _two_input_sets()


@pytest.mark.parametrize("name", list(SETS))
def test_other_non_separable_two_input_functions(name):
    X, t, output, H = SETS[name]
    assert pynn.Perceptron(max_epochs=200).fit(X, t).score(X, t) < 1.0
    fits = [Madaline(H, output, max_epochs=500, seed=s, dtype="float64").fit(X, t)
            for s in range(5)]
    assert sum(m.converged_ for m in fits) >= 4
    assert all(m.score(X, t) == 1.0 for m in fits if m.converged_)


def test_xor_with_one_hidden_unit_cannot_converge_and_returns():
    """One threshold unit is one line: XOR is out of reach, MRII cycles
    until max_epochs and says so."""
    for output in ("or", "and", "majority"):
        m = Madaline(1, output, max_epochs=3000, seed=0).fit(XB, XOR)
        assert not m.converged_
        assert m.n_epochs_ == 3000 == len(m.errors_)
        assert (m.errors_ > 0).all()
        assert m.score(XB, XOR) < 1.0


def _rate(output, H, t, pairs, n=50):
    return sum(Madaline(H, output, max_epochs=200, pairs=pairs, seed=s,
                        dtype="float64").fit(XB, t).converged_ for s in range(n))


@pytest.mark.parametrize("output, H", [("or", 2), ("and", 2), ("majority", 3)])
def test_pair_flips_rescue_most_starts_single_flips_miss(output, H):
    """Widrow and Winter: single flips alone learn XOR from 20-56 % of
    random starts, with pairs 88-100 %.  Over 50 fixed seeds here: single
    36-52 %, pairs 94-100 % (see the report in the commit)."""
    single, both = _rate(output, H, XOR, False), _rate(output, H, XOR, True)
    assert single <= 30 and both >= 44 and both > single


def test_zero_one_targets_and_predictions():
    t01 = (XOR + 1) // 2
    m = Madaline(2, "or", seed=0).fit(XB, t01)
    assert m.converged_ and m.predict(XB).tolist() == t01.tolist()
    assert m.score(XB, t01) == 1.0
    assert m.hidden(XB).shape == (4, 2)
    assert set(np.unique(m.hidden(XB))) <= {-1, 1}
    U = m.decision_function(XB)
    np.testing.assert_array_equal(m.hidden(XB), np.where(U > 0, 1, -1))


def test_seeded_fits_are_reproducible_and_refit_restarts():
    a = Madaline(3, seed=11).fit(XB, XOR)
    b = Madaline(3, seed=11).fit(XB, XOR)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.errors_.tolist() == b.errors_.tolist()
    W = a.W.copy()
    a.fit(XB, XOR)
    np.testing.assert_array_equal(a.W, W)


@pytest.mark.parametrize("copier", [lambda m: pickle.loads(pickle.dumps(m)),
                                    copy.deepcopy])
def test_pickle_and_deepcopy(copier):
    m = Madaline(3, "majority", seed=2)
    u = copier(m)
    assert repr(u) == repr(m)
    with pytest.raises(NotFittedError):
        u.predict(XB)
    m.fit(XB, XNOR)
    c = copier(m)
    assert c.predict(XB).tobytes() == m.predict(XB).tobytes()
    np.testing.assert_array_equal(c.decision_function(XB), m.decision_function(XB))
    assert c.W is not m.W
    c.fit(XB, XOR)
    m.fit(XB, XOR)
    np.testing.assert_array_equal(c.W, m.W)
    np.testing.assert_array_equal(c.b, m.b)


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_hidden=0), ValueError, "^n_hidden must be > 0"),
    (dict(n_hidden=2.0), TypeError, "^n_hidden must be an integer"),
    (dict(n_hidden=2 ** 64), ValueError, "^n_hidden must be at most"),
    (dict(n_hidden=2, output="xor"), ValueError, "^output must be"),
    (dict(n_hidden=2, output=None), ValueError, "^output must be"),
    (dict(n_hidden=2, lr=0), ValueError, "^lr must be > 0"),
    (dict(n_hidden=2, lr=2.0), ValueError, "^lr must be < 2"),
    (dict(n_hidden=2, lr=np.nan), ValueError, "^lr must be > 0 and finite"),
    (dict(n_hidden=2, max_epochs=0), ValueError, "^max_epochs must be > 0"),
    (dict(n_hidden=2, pairs="yes"), TypeError, "^pairs must be True or False"),
    (dict(n_hidden=2, seed=-1), ValueError, "^seed must be"),
    (dict(n_hidden=2, dtype="int32"), ValueError, "^dtype must be"),
])
def test_bad_hyper_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Madaline(**kwargs)


@pytest.mark.parametrize("X, t, exc, match", [
    (XB, [1, -1, 1], ValueError, r"^t must have shape \(4,\)"),
    (XB, [0, 1, 2, 1], ValueError, "^t must hold -1/\\+1 targets"),
    (XB, [1, -1, 1, np.nan], ValueError, "^t contains NaN"),
    (XB, np.ones((4, 1)), ValueError, "^t must have shape"),
    (XB, ["a", "b", "c", "d"], TypeError, "^t must hold numbers"),
    (XB, [[1, -1], [1]], ValueError, "^t must be a numeric array"),
    (XB, np.ma.masked_array(XOR, mask=[0, 0, 1, 0]), ValueError,
     "^t is a masked array"),
    ([[1, 2], [3]], XOR[:2], ValueError, "^X must be a numeric array"),
    (np.array([[1.0, np.nan]] * 4), XOR, ValueError, "^X contains NaN"),
    (np.zeros((0, 2)), [], ValueError, "^X is empty"),
    (np.zeros((4, 0)), XOR, ValueError, "^X is empty"),
    (XB[:, 0], XOR, ValueError, "^X must be a 2-D array"),
    (XB.astype(complex), XOR, TypeError, "^X must hold real numbers"),
])
def test_bad_training_data(X, t, exc, match):
    m = Madaline(2, "or", seed=0).fit(XB, XOR)
    W, b = m.W.copy(), m.b.copy()
    with pytest.raises(exc, match=match):
        m.fit(X, t)
    np.testing.assert_array_equal(m.W, W)       # a refused fit keeps the model
    np.testing.assert_array_equal(m.b, b)


def test_predict_checks_its_input():
    with pytest.raises(NotFittedError):
        Madaline(2).predict(XB)
    m = Madaline(2, "or", seed=0).fit(XB, XOR)
    with pytest.raises(ValueError, match="^X has 3 features per sample"):
        m.predict(np.ones((2, 3)))
    Xf = np.asfortranarray(np.repeat(XB, 2, axis=0))    # strided, F order
    assert m.predict(Xf[::2]).tolist() == m.predict(XB).tolist()
