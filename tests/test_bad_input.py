"""Bad input at the Python boundary (DESIGN.md §2): every bad argument raises
ValueError or TypeError naming the argument, and leaves the parameters
bit-identical; odd memory layouts give the same result as a clean C copy;
crash-prone cases also run in a subprocess so a segfault fails one test."""
import subprocess
import tempfile
import sys
import textwrap

import numpy as np
import pytest

import pynn

DTYPES = ["float32", "float64"]
N, D, C = 5, 3, 2
X_OK = np.random.default_rng(0).uniform(-1, 1, (N, D))
T_OK = np.array([0, 1, 1, 0, 1])                 # class indices
T_ONEHOT = np.eye(C)[T_OK]


@pytest.fixture(params=DTYPES)
def model(request):
    m = pynn.MLP([D, 4, C], hidden="tanh", output="softmax",
                 dtype=request.param, seed=0)
    m.params = np.random.default_rng(1).uniform(-1, 1, m.n_params)
    return m


def snapshot(model):
    return model.params.tobytes(), model.grads.tobytes()


def rejects(model, exc, match, fn, *args, **kwargs):
    """``fn`` raises ``exc`` matching ``match``; params and grads unchanged."""
    before = snapshot(model)
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
    assert snapshot(model) == before, "a rejected call changed the model"


CALLS = {
    "forward": lambda m, X, T, loss="cross_entropy": m.forward(X),
    "backward": lambda m, X, T, loss="cross_entropy": m.backward(X, T, loss),
    "input_gradient": lambda m, X, T, loss="cross_entropy":
        m.input_gradient(X, T, loss),
    "train_step": lambda m, X, T, loss="cross_entropy":
        m.train_step(X, T, loss, lr=0.1),
    "loss": lambda m, X, T, loss="cross_entropy": m.loss(X, T, loss),
}
WITH_TARGETS = [name for name in CALLS if name != "forward"]


def _nan_x():
    X = X_OK.copy()
    X[2, 1] = np.nan
    return X


def _inf_x():
    X = X_OK.copy()
    X[0, 0] = -np.inf
    return X


BAD_X = {  # name: (X, exception, message pattern)
    "too many features": (np.ones((N, D + 1)), ValueError, r"X has 4 features"),
    "too few features": (np.ones((N, D - 1)), ValueError, r"X has 2 features"),
    "zero features": (np.ones((N, 0)), ValueError, r"X (has 0 features|is empty)"),
    "1-D": (np.ones(D), ValueError, r"X must be a 2-D array"),
    "3-D": (np.ones((N, D, 1)), ValueError, r"X must be a 2-D array"),
    "scalar": (1.0, ValueError, r"X must be a 2-D array"),
    "object": (np.array([[1, None, 2]] * N, dtype=object), TypeError, r"X must hold real"),
    "str": (np.array([["1", "2", "3"]] * N), TypeError, r"X must hold real"),
    "complex": (X_OK + 0j, TypeError, r"X must hold real"),
    "NaN": (_nan_x(), ValueError, r"X contains NaN"),
    "inf": (_inf_x(), ValueError, r"X contains NaN or inf"),
    "ragged list": ([[1, 2, 3], [1, 2]], ValueError, r"X must be a numeric array"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("case", sorted(BAD_X))
def test_bad_X(model, case, call):
    X, exc, match = BAD_X[case]
    rejects(model, exc, match, CALLS[call], model, X, T_OK)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
@pytest.mark.parametrize("call", sorted(CALLS))
def test_X_too_large_for_float32(call):
    model = pynn.MLP([D, 4, C], output="softmax", dtype="float32", seed=0)
    X = X_OK.copy()
    X[1, 1] = 1e300
    rejects(model, ValueError, r"X holds values too large for float32",
            CALLS[call], model, X, T_OK)


def _t(values):
    return np.array(values, dtype=float)


BAD_T = {  # cross-entropy model (2 classes)
    "NaN index": (_t([0, np.nan, 1, 0, 1]), ValueError, r"T contains NaN"),
    "inf one-hot": (np.where(T_ONEHOT > 0, np.inf, 0), ValueError, r"T contains NaN or inf"),
    "NaN one-hot": (np.full((N, C), np.nan), ValueError, r"T contains NaN"),
    "too few labels": (T_OK[:4], ValueError, r"T has 4 labels for 5 samples"),
    "too many labels": (np.append(T_OK, 1), ValueError, r"T has 6 labels"),
    "too few rows": (T_ONEHOT[:3], ValueError, r"T has shape \(3, 2\)"),
    "too many cols": (np.zeros((N, C + 1)), ValueError, r"T has shape \(5, 3\)"),
    "3-D": (np.zeros((N, C, 1)), ValueError, r"T must have shape"),
    "index too big": (np.array([0, 1, 2, 0, 1]), ValueError, r"T holds class index 2"),
    "negative index": (np.array([0, -1, 1, 0, 1]), ValueError, r"T holds class index -1"),
    "non-integer index": (_t([0, 0.5, 1, 0, 1]), ValueError, r"T is 1-D.*class indices"),
    "object": (np.array([0, None, 1, 0, 1], dtype=object), TypeError, r"T must hold real"),
    "str": (np.array(["0", "1", "1", "0", "1"]), TypeError, r"T must hold real"),
    "complex": (T_ONEHOT + 0j, TypeError, r"T must hold real"),
    "one-hot above 1": (2 * T_ONEHOT, ValueError, r"T must lie in \[0, 1\]"),
}


@pytest.mark.parametrize("call", WITH_TARGETS)
@pytest.mark.parametrize("case", sorted(BAD_T))
def test_bad_T(model, case, call):
    T, exc, match = BAD_T[case]
    rejects(model, exc, match, CALLS[call], model, X_OK, T)


@pytest.mark.parametrize("call", WITH_TARGETS)
@pytest.mark.parametrize("loss", ["binary_cross_entropy", "multilabel_cross_entropy"])
@pytest.mark.parametrize("bad", [1.5, -0.25])
def test_bce_targets_outside_unit_interval(call, loss, bad):
    model = pynn.MLP([D, C], output="sigmoid", dtype="float64", seed=0)
    T = np.full((N, C), 0.5)
    T[3, 1] = bad
    rejects(model, ValueError, r"T must lie in \[0, 1\]", CALLS[call], model,
            X_OK, T, loss)


@pytest.mark.parametrize("call", WITH_TARGETS)
@pytest.mark.parametrize("loss,valid", [("binary_cross_entropy", "sigmoid"),
                                        ("multilabel_cross_entropy", "sigmoid"),
                                        ("cross_entropy", "softmax")])
@pytest.mark.parametrize("output", ["relu", "identity", "tanh", "step"])
def test_probability_loss_needs_probability_output(call, loss, valid, output):
    model = pynn.MLP([D, C], output=output, dtype="float64", seed=0)
    T = np.full((N, C), 0.5) if loss != "cross_entropy" else T_OK
    rejects(model, ValueError, rf"output activation is '{output}'.*output='{valid}'",
            CALLS[call], model, X_OK, T, loss)


@pytest.mark.parametrize("call", WITH_TARGETS)
@pytest.mark.parametrize("loss", ["mse", "CrossEntropy", "", None, 3])
def test_unknown_loss(model, call, loss):
    rejects(model, ValueError, r"unknown loss.*valid names: .*cross_entropy",
            CALLS[call], model, X_OK, T_OK, loss)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("rows", [np.zeros((0, D)), np.zeros((0, D), np.int64)])
def test_empty_X(model, call, rows):
    if call == "forward":
        before = snapshot(model)
        Y = model.forward(rows)
        assert Y.shape == (0, C) and Y.dtype == model.dtype
        assert snapshot(model) == before
    else:
        rejects(model, ValueError, r"X is empty", CALLS[call], model, rows,
                np.zeros(0, int))


@pytest.mark.parametrize("lr,exc", [(0, ValueError), (0.0, ValueError),
                                    (-0.1, ValueError), (float("nan"), ValueError),
                                    (float("inf"), ValueError), (-np.inf, ValueError),
                                    ("0.1", TypeError), (None, TypeError),
                                    (True, TypeError), ([0.1], TypeError)])
def test_bad_learning_rate(model, lr, exc):
    rejects(model, exc, r"lr must be", model.train_step, X_OK, T_OK,
            "cross_entropy", lr=lr)


# ------------------------------------------------------------ construction
@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(n_in=0, n_out=3), ValueError, r"n_in must be a positive integer"),
    (dict(n_in=3, n_out=0), ValueError, r"n_out must be a positive integer"),
    (dict(n_in=-2, n_out=3), ValueError, r"n_in"),
    (dict(n_in=2.5, n_out=3), ValueError, r"n_in"),
    (dict(n_in="3", n_out=3), ValueError, r"n_in"),
    (dict(n_in=True, n_out=3), ValueError, r"n_in"),
    (dict(n_in=3, n_out=2, activation="Relu"), ValueError,
     r"unknown activation 'Relu'; valid names: .*relu"),
    (dict(n_in=3, n_out=2, activation=None), ValueError, r"unknown activation"),
    (dict(n_in=3, n_out=2, init="xavier"), ValueError,
     r"unknown init 'xavier'; valid names: .*glorot_normal"),
    (dict(n_in=3, n_out=2, activation="relu", activation_param=0.1), ValueError,
     r"activation_param"),
    (dict(n_in=3, n_out=2, activation="leaky_relu", activation_param=np.nan),
     ValueError, r"activation_param"),
])
def test_bad_dense(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        pynn.Dense(**kwargs)


@pytest.mark.parametrize("dtype", ["int32", "float16", np.complex128, "bogus",
                                   object, 3])
def test_bad_dtype(dtype):
    with pytest.raises((ValueError, TypeError), match=r"dtype must be"):
        pynn.MLP([3, 2], dtype=dtype)
    with pytest.raises((ValueError, TypeError), match=r"dtype must be"):
        pynn.Model([pynn.Dense(3, 2)], dtype=dtype)


def test_bad_model_construction():
    with pytest.raises(ValueError, match=r"layers\[1\] takes 3 inputs but "
                                         r"layers\[0\] gives 2 outputs"):
        pynn.Model([pynn.Dense(3, 2), pynn.Dense(3, 2)])
    with pytest.raises(ValueError, match=r"layers must contain"):
        pynn.Model([])
    with pytest.raises(TypeError, match=r"layers\[1\] must be a pynn.Dense"):
        pynn.Model([pynn.Dense(3, 2), "dense"])
    d = pynn.Dense(2, 2)
    with pytest.raises(ValueError, match=r"same Dense"):
        pynn.Model([d, d])
    with pytest.raises(ValueError, match=r"unknown init 'xavier'"):
        pynn.Model([pynn.Dense(3, 2)], init="xavier")
    for sizes in ([3], [], [3, 0, 2], [3, -1], [3, 2.5], "32", [3, True]):
        with pytest.raises(ValueError, match=r"sizes must be"):
            pynn.MLP(sizes)
    for kw in (dict(hidden="foo"), dict(output="foo")):
        with pytest.raises(ValueError, match=r"unknown activation 'foo'"):
            pynn.MLP([3, 4, 2], **kw)


# ------------------------------------------------------------ assignments
@pytest.mark.parametrize("attr,value,exc,match", [
    ("W", np.ones((D, 4)), ValueError, r"W must have shape \(4, 3\)"),
    ("W", np.ones(12), ValueError, r"W must have shape"),
    ("W", 1.0, ValueError, r"W must have shape"),
    ("W", np.full((4, D), np.nan), ValueError, r"W contains NaN"),
    ("W", np.where(np.eye(4, D) > 0, np.inf, 0.0), ValueError, r"W contains NaN or inf"),
    ("W", np.full((4, D), "a"), TypeError, r"W must hold real"),
    ("W", np.ones((4, D), complex), TypeError, r"W must hold real"),
    ("b", np.ones(3), ValueError, r"b must have shape \(4,\)"),
    ("b", [0, np.nan, 0, 0], ValueError, r"b contains NaN"),
])
def test_bad_layer_assignment(model, attr, value, exc, match):
    rejects(model, exc, match, setattr, model.layers[0], attr, value)


@pytest.mark.parametrize("value,exc,match", [
    (np.ones(3), ValueError, r"params must have shape"),
    ("n+1", ValueError, r"params must have shape"),
    ("2d", ValueError, r"params must have shape"),
    ("nan", ValueError, r"params contains NaN"),
    ("inf", ValueError, r"params contains NaN or inf"),
    ("object", TypeError, r"params must hold real"),
])
def test_bad_params_assignment(model, value, exc, match):
    n = model.n_params
    value = {"n+1": np.ones(n + 1), "2d": np.ones((1, n)),
             "nan": np.where(np.arange(n) == 3, np.nan, 0.0),
             "inf": np.where(np.arange(n) == n - 1, np.inf, 0.0),
             "object": np.array([None] * n, dtype=object)}.get(value, value) \
        if isinstance(value, str) else value
    rejects(model, exc, match, setattr, model, "params", value)


# ------------------------------------------------------------ layouts
def layouts(X):
    """The values of X as non-C-contiguous, Fortran, read-only and odd arrays."""
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    ro = X.copy()
    ro.flags.writeable = False
    ro_f = np.asfortranarray(X)
    ro_f.flags.writeable = False
    rev = X[::-1].copy()[::-1]
    out = {"strided": wide[:, ::2], "fortran": np.asfortranarray(X),
           "readonly": ro, "readonly-fortran": ro_f, "reversed": rev,
           "list": X.tolist(), "float32-in": X.astype(np.float32),
           "transposed": np.ascontiguousarray(X.T).T}
    return out


@pytest.mark.parametrize("call", sorted(CALLS))
def test_layouts_match_c_copy(model, call):
    X = X_OK.astype(np.float32).astype(np.float64)    # exact in both dtypes
    T = np.asfortranarray(T_ONEHOT)
    T.flags.writeable = False
    ref_model = pynn.MLP([D, 4, C], hidden="tanh", output="softmax",
                         dtype=model.dtype.name)
    ref_model.params = model.params
    ref = CALLS[call](ref_model, np.ascontiguousarray(X), T_ONEHOT)
    for name, Xv in layouts(X).items():
        m = pynn.MLP([D, 4, C], hidden="tanh", output="softmax",
                     dtype=model.dtype.name)
        m.params = model.params
        Xc = None if isinstance(Xv, list) else Xv.copy()
        got = CALLS[call](m, Xv, T)
        assert np.asarray(got).tobytes() == np.asarray(ref).tobytes(), name
        assert m.params.tobytes() == ref_model.params.tobytes(), name
        assert m.grads.tobytes() == ref_model.grads.tobytes(), name
        if Xc is not None:
            np.testing.assert_array_equal(Xv, Xc)      # the input is not modified


def test_integer_and_bool_inputs(model):
    Xi = np.array([[1, 0, 2], [0, 0, 1], [3, 1, 0]])
    for X in (Xi, Xi.astype(np.int8), Xi.astype(np.uint16), Xi > 0):
        ref = model.forward(np.asarray(X, dtype=float))
        assert model.forward(X).tobytes() == ref.tobytes()
        assert model.backward(X, [0, 1, 1], "cross_entropy") == \
            model.backward(np.asarray(X, dtype=float), [0, 1, 1], "cross_entropy")
    # Integer and bool class indices.
    L = model.loss(Xi, np.array([0, 1, 1]), "cross_entropy")
    assert model.loss(Xi, np.array([False, True, True]), "cross_entropy") == L
    assert model.loss(Xi, np.array([0, 1, 1], np.uint8), "cross_entropy") == L


def test_inputs_are_never_modified(model):
    X = X_OK.copy()
    T = T_ONEHOT.copy()
    for call in CALLS.values():
        call(model, X, T)
    np.testing.assert_array_equal(X, X_OK)
    np.testing.assert_array_equal(T, T_ONEHOT)


# ------------------------------------------------------------ in a subprocess
SUBPROCESS_CASES = {
    "big batch": """
        for limit in (0, 2**62):
            _blas.set_small_product_limit(limit)
            m = pynn.MLP([8, 16, 3], hidden="relu", output="softmax", seed=0)
            X = rng.standard_normal((200_000, 8)).astype(np.float32)
            T = rng.integers(0, 3, 200_000)
            Y = m.forward(X)
            assert Y.shape == (200_000, 3) and np.isfinite(Y).all()
            assert np.isfinite(m.backward(X, T, "cross_entropy"))
            assert np.isfinite(m.grads).all()
            g = m.input_gradient(X, T, "cross_entropy")
            assert g.shape == X.shape and np.isfinite(g).all()
            m.train_step(X, T, "cross_entropy", lr=0.1)
            assert np.isfinite(m.params).all()
    """,
    "zero-size slices": """
        m = pynn.MLP([3, 4, 2], output="sigmoid", dtype="float64", seed=0)
        W = rng.standard_normal((6, 8))
        for X in (W[:0, :3], W[:, :0], W[:0, :0], W[:, 3:3], W[2:2, ::3]):
            try:
                Y = m.forward(X)
                assert X.shape[1] == 3 and Y.shape == (0, 2), X.shape
            except ValueError as e:
                assert "X" in str(e), e
            for f in (m.backward, m.input_gradient, m.train_step, m.loss):
                try:
                    f(X, np.zeros((X.shape[0], 2)), "binary_cross_entropy")
                    raise AssertionError("accepted an empty batch")
                except ValueError as e:
                    assert "X" in str(e), e
        one = pynn.MLP([1, 1], dtype="float64", seed=0)
        assert one.forward(W[:, 5:6]).shape == (6, 1)
        assert one.forward(W[:, 5:6:2]).shape == (6, 1)
    """,
    "read-only and odd views": """
        for dtype in ("float32", "float64"):
            m = pynn.MLP([5, 7, 3], hidden="tanh", output="softmax",
                         dtype=dtype, seed=0)
            X = rng.standard_normal((9, 5))
            T = rng.integers(0, 3, 9)
            ref = (m.forward(X), m.backward(X, T, "cross_entropy"),
                   m.grads.copy(), m.input_gradient(X, T, "cross_entropy"))
            ro = X.copy(); ro.flags.writeable = False
            Tro = T.copy(); Tro.flags.writeable = False
            views = [ro, np.asfortranarray(ro), X[::-1][::-1],
                     np.lib.stride_tricks.as_strided(X, X.shape, X.strides),
                     np.broadcast_to(X[:1], (9, 5)), X.astype(np.float16),
                     np.zeros((9, 10))[:, ::2] + X, X.astype(np.int32),
                     (X > 0), memoryview(np.ascontiguousarray(X))]
            for V in views:
                Y = m.forward(V)
                assert Y.shape == (9, 3) and np.isfinite(Y).all()
                assert np.isfinite(m.backward(V, Tro, "cross_entropy"))
                assert np.isfinite(m.input_gradient(V, Tro, "cross_entropy")).all()
                assert np.isfinite(m.loss(V, Tro, "cross_entropy"))
            assert np.array_equal(m.forward(ro), ref[0])
            assert m.backward(ro, Tro, "cross_entropy") == ref[1]
            assert np.array_equal(m.grads, ref[2])
    """,
    "workspace reuse across batch sizes": """
        for limit in (0, 2**62):
            _blas.set_small_product_limit(limit)
            m = pynn.MLP([6, 9, 4], hidden="sigmoid", output="identity",
                         dtype="float64", seed=0)
            fresh = {}
            for n in (1, 3, 50):
                X = rng.standard_normal((n, 6)); T = rng.standard_normal((n, 4))
                f = pynn.MLP([6, 9, 4], hidden="sigmoid", dtype="float64", seed=0)
                fresh[n] = (X, T, f.forward(X), f.backward(X, T), f.grads.copy())
            for n in (50, 1, 3, 1, 50, 3):
                X, T, Y, L, G = fresh[n]
                assert np.array_equal(m.forward(X), Y)
                assert m.backward(X, T) == L and np.array_equal(m.grads, G)
    """,
    "batch of one through GER/GEMV": """
        for limit in (0, 2**62):
            _blas.set_small_product_limit(limit)
            for dtype in ("float32", "float64"):
                m = pynn.MLP([300, 200, 1], hidden="tanh", output="sigmoid",
                             dtype=dtype, seed=0)
                X = rng.standard_normal((1, 300))
                p = m.params.copy()
                m.backward(X, [1.0], "binary_cross_entropy")
                g = m.grads.copy()
                m.train_step(X, [1.0], "binary_cross_entropy", lr=0.5)
                step = np.abs(m.params - (p - 0.5 * g)).max()
                assert step < (1e-5 if dtype == "float32" else 1e-12), step
    """,
}


@pytest.mark.parametrize("case", sorted(SUBPROCESS_CASES))
def test_crash_prone_cases_in_subprocess(case):
    code = ("import numpy as np, pynn\nfrom pynn import _blas\n"
            "rng = np.random.default_rng(0)\n"
            + textwrap.dedent(SUBPROCESS_CASES[case]) + "\nprint('ok')\n")
    # Run outside the checkout, so that the source folder pynn/ (without
    # compiled modules after a non-editable install) cannot shadow the
    # installed package.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip().endswith("ok")


def test_train_step_that_overflows_the_weights_leaves_them_unchanged():
    model = pynn.MLP([3, 4, 2], seed=0)
    p0 = model.params.copy()
    X = np.full((4, 3), 1e18, np.float32)
    with pytest.raises(FloatingPointError, match="unchanged"):
        model.train_step(X, np.zeros((4, 2)), lr=1e10)
    np.testing.assert_array_equal(model.params, p0)


def test_failed_model_construction_leaves_layers_reusable():
    d1, d2 = pynn.Dense(3, 4, "relu"), pynn.Dense(4, 2)
    with pytest.raises(ValueError, match="seed"):
        pynn.Model([d1, d2], seed=-1)
    with pytest.raises(ValueError, match="init"):
        pynn.Model([d1, d2], init=lambda rng, n_out, n_in: np.full((n_out, n_in), np.nan))
    model = pynn.Model([d1, d2], seed=0)           # still usable
    assert np.shares_memory(model.layers[0].W, model.params)


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--output", "/nonexistent-folder/m.npz", "--quiet"], "--output"),
    (["train", "--epochs", "1", "--lr", "1e30", "--optimizer", "sgd", "--quiet"],
     "diverged"),
])
def test_cli_reports_bad_options_in_one_line(argv, message):
    proc = subprocess.run([sys.executable, "-m", "pynn", *argv],
                          capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir())
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_concurrent_forward_on_one_model_is_correct():
    import threading
    model = pynn.MLP([64, 128, 10], hidden="relu", output="softmax", seed=0)
    rng = np.random.default_rng(0)
    Xs = [rng.random((n, 64), dtype=np.float32) for n in (3, 17, 40, 64)]
    expected = [model(X) for X in Xs]
    errors = []

    def work(i):
        for _ in range(100):
            if not np.array_equal(model(Xs[i]), expected[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_blas_thread_limit_is_restored_after_overlapping_blocks():
    import threading
    from pynn import _threads
    before = _threads.blas_threads()
    if before is None:
        pytest.skip("the BLAS thread count cannot be read here")
    models = [pynn.MLP([32, 16, 4], seed=i) for i in range(4)]
    X = np.random.default_rng(0).random((2, 32), dtype=np.float32)

    def work(m):
        for _ in range(200):
            m(X)

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _threads.blas_threads() == before


def test_kernel_entry_points_reject_unknown_codes_and_aliasing():
    from pynn import _blas, _network, _train
    with pytest.raises(ValueError, match="activation code"):
        _network.Layout([2, 2], [99], [0.0])
    with pytest.raises(ValueError, match="penalty code"):
        _network.Layout([2, 3, 2], [0, 0], [0.0, 0.0], penalty=[0, 7, 0])
    lay = _network.Layout([2, 2], [0], [0.0])
    p = np.zeros(lay.n_params)
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="code"):
        _train.Update(7)        # an optimiser code the kernels do not have
    with pytest.raises(ValueError, match="loss code"):
        _network.backward(lay, p, X, X, 9, 0, 0.0, np.zeros_like(p), None,
                          np.empty(lay.workspace_size(3)))
    eye = np.eye(3)
    with pytest.raises(ValueError, match="share memory"):
        _blas.matmul(eye, eye, eye)


def test_gaussian_width_must_be_positive():
    with pytest.raises(ValueError, match="activation_param"):
        pynn.Dense(2, 2, "gaussian", activation_param=-1.0)
    with pytest.raises(ValueError, match="activation_param"):
        pynn.Dense(2, 2, "gaussian", activation_param=0.0)


# ------------------------------------------------ the compiled finiteness scan
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64, 97])
def test_all_finite_scan_finds_every_nan_and_inf(dtype, n):
    """Every position (SIMD lanes and the tail) and every kind of bad value."""
    from pynn._checks import all_finite
    for p in range(n):
        for bad in (np.nan, np.inf, -np.inf):
            a = np.ones(n, dtype)
            a[p] = bad
            assert all_finite(a) is False, (p, bad)
    # Huge, tiny and signed finite values are finite (x − x never overflows).
    info = np.finfo(dtype)
    edge = np.resize(np.array([info.max, -info.max, info.tiny, -0.0, 0.0,
                               info.smallest_subnormal], dtype), n)
    assert all_finite(edge) is True


def test_all_finite_scan_agrees_with_numpy_on_random_data():
    from pynn._checks import all_finite
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.standard_normal(rng.integers(0, 300)).astype(
            rng.choice([np.float32, np.float64]))
        if a.size and rng.random() < 0.5:
            a[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        assert all_finite(a) == bool(np.isfinite(a).all())


def test_all_finite_scan_takes_empty_and_read_only_arrays():
    from pynn._checks import all_finite
    assert all_finite(np.empty(0, np.float32)) is True
    a = np.array([1.0, np.nan])
    a.setflags(write=False)
    assert all_finite(a) is False


def test_check_X_scans_any_layout_and_dtype_for_nan():
    m = pynn.MLP([4, 3, 2], seed=0)
    X = np.ones((6, 4))
    X[5, 3] = np.nan
    for variant in (X, X.astype(np.float32), np.asfortranarray(X), X[::-1],
                    X.T.copy().T):
        with pytest.raises(ValueError, match="NaN or infinity"):
            m(variant)


def test_blas_thread_control_reaches_the_library_behind_cython_blas():
    """pynn limits the threads of the OpenBLAS that scipy.linalg.cython_blas
    is linked against, and leaves any other BLAS in the process (NumPy's)
    alone."""
    import ctypes
    import os
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg.cython_blas as cython_blas
    from pynn import _threads
    before = _threads.blas_threads()
    if before is None:
        pytest.skip("no OpenBLAS thread control in this SciPy build")

    class DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]
    getter = _threads._find()[1]
    info = DlInfo()
    assert ctypes.CDLL(None).dladdr(ctypes.cast(getter, ctypes.c_void_p),
                                    ctypes.byref(info))
    controlled = os.path.realpath(info.fname.decode())
    # The library the getter lives in is the one cython_blas resolves sgemm in.
    blas = ctypes.CDLL(cython_blas.__file__)
    sgemm = next(getattr(blas, n) for n in ("scipy_sgemm_", "sgemm_", "sgemm")
                 if hasattr(blas, n))
    assert ctypes.CDLL(None).dladdr(ctypes.cast(sgemm, ctypes.c_void_p),
                                    ctypes.byref(info))
    assert os.path.realpath(info.fname.decode()) == controlled

    def counts():
        return {os.path.realpath(i["filepath"]): i["num_threads"]
                for i in threadpoolctl.threadpool_info()
                if i["internal_api"] == "openblas"}
    outside = counts()
    want = 2 if before == 1 else 1
    with _threads.limit_blas_threads(want):
        inside = counts()
    assert inside[controlled] == want
    assert {k: v for k, v in inside.items() if k != controlled} == \
        {k: v for k, v in outside.items() if k != controlled}
    assert counts() == outside


def test_masked_arrays_are_checked_on_their_raw_data():
    """A masked entry still reaches the kernel as its raw value, so it must
    pass the checks too (np.ma's min/max would skip it)."""
    m = pynn.MLP([3, 2], "sigmoid", "sigmoid", seed=0, dtype="float32")
    X = np.ones((2, 3), np.float32)
    T = np.ma.masked_array(np.array([[0.5, 5.0], [0.2, 0.1]], np.float32),
                           mask=[[0, 1], [0, 0]])
    before = m.params.copy()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.train_step(X, T, loss="binary_cross_entropy", lr=0.1)
    Xm = np.ma.masked_array(np.array([[1.0, np.nan, 2.0]], np.float32),
                            mask=[[0, 1, 0]])
    with pytest.raises(ValueError, match="NaN or infinity"):
        m(Xm)
    np.testing.assert_array_equal(m.params, before)


def test_blas_thread_limit_is_balanced_when_threads_race_the_first_lookup(
        monkeypatch):
    """Threads entering the limit while the library is still being looked
    up must neither skip their hold nor release someone else's."""
    import threading
    import time
    from pynn import _threads
    found = _threads._find()
    if found is None:
        pytest.skip("the BLAS thread count cannot be read here")
    before = _threads.blas_threads()
    real_search = _threads._search

    def slow_search():
        time.sleep(0.05)
        real_search()
    monkeypatch.setattr(_threads, "_lib", None)
    monkeypatch.setattr(_threads, "_search", slow_search)
    inside, go = [], threading.Barrier(4)

    def work():
        go.wait()
        with _threads.limit_blas_threads(1):
            time.sleep(0.02)
            inside.append(_threads.blas_threads())
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside == [1, 1, 1, 1]
    assert _threads._holders == 0
    assert _threads.blas_threads() == before


# ------------- issue 17 items 7, 9 and 10: errors that name the argument
import fractions                                         # noqa: E402


@pytest.mark.parametrize("make, name", [
    (lambda v: pynn.Perceptron(max_epochs=v), "max_epochs"),
    (lambda v: pynn.LMS(epochs=v), "epochs"),
    (lambda v: pynn.Hebbian(epochs=v), "epochs"),
    (lambda v: pynn.Trainer(pynn.MLP([2, 1]), epochs=v), "epochs"),
    (lambda v: pynn.Trainer(pynn.MLP([2, 1]), batch_size=v), "batch_size"),
    (lambda v: pynn.Trainer(pynn.MLP([2, 1]), patience=v), "patience"),
    (lambda v: pynn.Trainer(pynn.MLP([2, 1]), n_iter_no_change=v),
     "n_iter_no_change"),
    (lambda v: pynn.Trainer(pynn.MLP([2, 1]), n_threads=v), "n_threads"),
])
def test_huge_or_fractional_counts_name_the_argument(make, name):
    """Regression (issue 17 item 10): 2**64 gave NumPy's "ufunc 'isfinite'
    not supported"; a Fraction is not an integer count."""
    for v in (2 ** 64, 2 ** 63, 10 ** 400):
        with pytest.raises(ValueError, match=f"^{name} must be at most 2\\*\\*63"):
            make(v)
    with pytest.raises(TypeError, match=f"^{name} must be an integer"):
        make(fractions.Fraction(4, 1))


@pytest.mark.parametrize("make", [
    lambda v: pynn.Perceptron(lr=v), lambda v: pynn.LMS(lr=v),
    lambda v: pynn.Adaline(lr=v), lambda v: pynn.Hebbian(lr=v),
    lambda v: pynn.Trainer(pynn.MLP([2, 1]), lr=v),
])
def test_huge_ints_and_fractions_for_lr(make):
    """Regression (issue 17 item 10).  A Fraction is accepted when it is
    exactly a float (then stored as that float), refused otherwise; an int
    is fine as long as float64 holds it."""
    with pytest.raises(ValueError, match="^lr must be > 0 and finite, got a "
                                         "value too large"):
        make(10 ** 400)
    with pytest.raises(ValueError, match=r"^lr = Fraction\(1, 3\) is not "
                                         "exactly a float64"):
        make(fractions.Fraction(1, 3))
    m = make(fractions.Fraction(1, 4))
    assert m.lr == 0.25 and type(m.lr) is float
    assert make(2 ** 64).lr == 2 ** 64


def test_seed_of_any_size_and_bad_seeds_name_it():
    assert pynn.Perceptron(seed=2 ** 100, shuffle=True).fit(
        [[0, 0], [1, 1]], [0, 1]).converged_
    with pytest.raises(TypeError, match="^seed must be None or a non-negative"):
        pynn.Perceptron(seed=fractions.Fraction(1, 2))
    with pytest.raises(ValueError, match="^seed must be None or a non-negative"):
        pynn.LMS(seed=np.int64(-1))


@pytest.mark.parametrize("fit, name", [
    (lambda t: pynn.Perceptron().fit([[0.0], [1.0]], t), "t"),
    (lambda t: pynn.LMS().fit([[0.0], [1.0]], t), "d"),
    (lambda t: pynn.Adaline().fit([[0.0], [1.0]], t), "t"),
    (lambda t: pynn.GeneralizedDelta().fit([[0.0], [1.0]], t), "d"),
    (lambda t: pynn.MLP([1, 2], output="softmax").backward(
        [[0.0], [1.0]], t, "cross_entropy"), "T"),
])
def test_ragged_targets_name_the_argument(fit, name):
    """Regression (issue 17 item 10): NumPy's "inhomogeneous shape"."""
    with pytest.raises(ValueError, match=f"^{name} must be a numeric array"):
        fit([[1.0, 0.0], [1.0]])


def test_adaline_errors_name_t_not_d():
    """Regression (issue 17 item 10)."""
    X = [[0.0], [1.0]]
    with pytest.raises(ValueError, match="^t must have shape"):
        pynn.Adaline().fit(X, np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match="^t has no columns"):
        pynn.Adaline().fit(X, np.ones((2, 0)))
    with pytest.raises(ValueError, match="^t has 1 labels|^t has shape"):
        pynn.Adaline().fit(X, [[1.0]])
    with pytest.raises(ValueError, match="^t contains NaN"):
        pynn.Adaline().fit(X, [1.0, np.nan])


@pytest.mark.parametrize("raw", [-1, np.nan, 7, 1])
def test_masked_class_labels_are_refused_consistently(raw):
    """Regression (issue 17 item 7): validation read the masked values and
    conversion the raw ones (a masked -1 trained as the last class, a masked
    NaN gave IndexError).  Every check now reads the raw data, and a masked
    entry that survives them is refused: never a silent training."""
    X = np.zeros((3, 2))
    t = np.ma.masked_array(np.array([0.0, 1.0, raw]), mask=[0, 0, 1])
    m = pynn.MLP([2, 3], output="softmax", seed=0, dtype="float64")
    before = m.params.copy()
    with pytest.raises(ValueError, match="^T "):
        m.train_step(X, t, "cross_entropy", lr=0.1)
    np.testing.assert_array_equal(m.params, before)
    with pytest.raises(ValueError, match="^t "):
        pynn.Perceptron().fit(X, t)
    with pytest.raises(ValueError, match="^t "):
        pynn.Adaline().fit(X, np.ma.masked_array([1, -1, raw], mask=[0, 0, 1]))
    with pytest.raises(ValueError, match="^d is a masked array|^d contains"):
        pynn.LMS().fit(X, t)
    # Without masked entries a masked array is just its data.
    ok = np.ma.masked_array([0, 1, 2], mask=False)
    assert pynn.Perceptron().fit(X, ok).classes_.tolist() == [0, 1, 2]


def test_masked_entries_with_valid_raw_values_are_refused_with_a_clear_error():
    t = np.ma.masked_array([0, 1, 1], mask=[0, 0, 1])
    with pytest.raises(ValueError, match="t is a masked array with 1 masked "
                                         "entries.*filled"):
        pynn.Perceptron().fit(np.zeros((3, 2)), t)


@pytest.mark.parametrize("weights, exc", [
    ([1 + 2j, 1], TypeError),
    (np.array([1.0, 1.0], dtype=complex), TypeError),
    ({"x1": 2j, "x2": 1}, TypeError),
    (np.zeros(2, dtype=[("a", "f8")]), TypeError),
    ({"x1": np.zeros(1, dtype=[("a", "f8"), ("b", "f8")])[0]}, TypeError),
])
def test_logic_add_unit_refuses_complex_and_structured_weights(weights, exc):
    """Regression (issue 17 item 9): the imaginary part was dropped."""
    net = pynn.logic.ThresholdNetwork(2)
    with pytest.raises(exc, match="^weights must be real numbers"):
        net.add_unit(weights, 0.5)
    with pytest.raises(TypeError, match="^bias must be real numbers"):
        net.add_unit([1, 1], np.complex128(0.5))
    assert net.units == []
