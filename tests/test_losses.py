"""Losses: pynn._losses.loss_delta (Σ_i L_i and δ_i = ∂L_i/∂u_i) against the
float64 oracle, for the canonical and non-canonical (output, loss) pairs."""
import warnings

import numpy as np
import pytest

import pynn
from pynn import _losses
from pynn.activations import ACTIVATIONS
from pynn.losses import LOSSES, check_pair, get_loss

import oracle

DTYPES = [np.float32, np.float64]
CANONICAL = [("identity", "squared_error"), ("sigmoid", "binary_cross_entropy"),
             ("sigmoid", "multilabel_cross_entropy"), ("softmax", "cross_entropy")]
NON_CANONICAL = [("tanh", "squared_error"), ("sigmoid", "squared_error"),
                 ("softmax", "squared_error"), ("swish", "squared_error"),
                 ("sigmoid", "cross_entropy"), ("softmax", "binary_cross_entropy"),
                 ("softmax", "multilabel_cross_entropy"),
                 ("gaussian", "binary_cross_entropy")]
PAIRS = CANONICAL + NON_CANONICAL
SHAPES = [(0, 3), (1, 1), (1, 4), (7, 3), (5, 1)]


def make(out_act, loss, shape, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    n, c = shape
    u = rng.uniform(-scale, scale, size=shape)
    if loss == "squared_error":
        t = rng.standard_normal(shape)
    elif loss == "cross_entropy":
        t = oracle.one_hot(rng.integers(0, c, size=n), c) if c else np.zeros(shape)
    else:
        t = rng.uniform(0, 1, size=shape)
    return u, t


def run(out_act, loss, u, t, dtype, param=None, want_delta=True):
    spec = ACTIVATIONS[out_act]
    p = spec.default_param if param is None else param
    u = np.ascontiguousarray(u, dtype=dtype)
    t = np.ascontiguousarray(t, dtype=dtype)
    y = oracle.phi(out_act, u, p).astype(dtype)
    delta = np.full_like(u, np.nan) if want_delta else None
    total = _losses.loss_delta(LOSSES[loss].code, spec.code, p, u, y, t, delta)
    return total, delta


def tols(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else \
        dict(rtol=1e-11, atol=1e-13)


# Softmax of a single output is constantly 1, so its BCE is log(0): left out.
CASES = [(a, l, s) for a, l in PAIRS for s in SHAPES
         if not (a == "softmax" and s[1] == 1 and l != "cross_entropy")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_act,loss,shape", CASES)
def test_loss_delta_matches_oracle(out_act, loss, shape, dtype):
    u, t = make(out_act, loss, shape)
    u = u.astype(dtype).astype(np.float64)       # the oracle sees dtype's values
    t = t.astype(dtype).astype(np.float64)
    total, delta = run(out_act, loss, u, t, dtype)
    assert isinstance(total, float)
    want_L = oracle.sample_losses(loss, out_act, u, t)
    want_d = oracle.output_delta(loss, out_act, u, t)
    np.testing.assert_allclose(total, want_L.sum(), **tols(dtype))
    assert delta.dtype == dtype
    np.testing.assert_allclose(delta, want_d, **tols(dtype))
    # Without delta_out: the same loss, nothing else needed.
    total2, _ = run(out_act, loss, u, t, dtype, want_delta=False)
    assert total2 == total


@pytest.mark.parametrize("out_act,loss", PAIRS)
def test_delta_is_gradient_of_loss(out_act, loss):
    """δ from the kernel equals central differences of the kernel's own Σ L_i."""
    u, t = make(out_act, loss, (4, 3), seed=1)
    _, delta = run(out_act, loss, u, t, np.float64)
    h = 1e-6
    num = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        up, um = u.copy(), u.copy()
        up[idx] += h
        um[idx] -= h
        num[idx] = (run(out_act, loss, up, t, np.float64, want_delta=False)[0]
                    - run(out_act, loss, um, t, np.float64, want_delta=False)[0]
                    ) / (2 * h)
    np.testing.assert_allclose(delta, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("out_act,loss", CANONICAL)
def test_oracle_closed_form_equals_chain_rule(out_act, loss):
    """The oracle's own consistency: y − t (etc.) = J_φᵀ ∂L/∂y."""
    u, t = make(out_act, loss, (6, 4), seed=2)
    np.testing.assert_allclose(oracle.output_delta(loss, out_act, u, t),
                               oracle.output_delta(loss, out_act, u, t,
                                                   chain_rule=True),
                               rtol=1e-10, atol=1e-12)


def test_hand_values():
    # ½‖y − t‖² with y = u.
    total, d = run("identity", "squared_error", [[1.0, 2.0], [0.0, -1.0]],
                   [[0.0, 0.0], [1.0, 1.0]], np.float64)
    assert total == pytest.approx(0.5 * (1 + 4) + 0.5 * (1 + 4))
    np.testing.assert_array_equal(d, [[1, 2], [-1, -2]])
    # BCE at u = 0 (y = ½): log 2 per output, mean over outputs; MLCE sums.
    u = np.zeros((1, 4))
    t = np.array([[0.0, 1.0, 1.0, 0.0]])
    total, d = run("sigmoid", "binary_cross_entropy", u, t, np.float64)
    assert total == pytest.approx(np.log(2))
    np.testing.assert_allclose(d, (0.5 - t) / 4)
    total, d = run("sigmoid", "multilabel_cross_entropy", u, t, np.float64)
    assert total == pytest.approx(4 * np.log(2))
    np.testing.assert_allclose(d, 0.5 - t)
    # CE with 4 equal logits: log 4, δ = ¼ − t.
    total, d = run("softmax", "cross_entropy", u, [[0, 0, 1, 0]], np.float64)
    assert total == pytest.approx(np.log(4))
    np.testing.assert_allclose(d, [[0.25, 0.25, -0.75, 0.25]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_soft_targets(dtype):
    """Probability rows (not one-hot): L = −Σ t log y, δ = y Σt − t."""
    rng = np.random.default_rng(3)
    u = rng.uniform(-2, 2, size=(5, 4))
    t = rng.dirichlet(np.ones(4), size=5)
    u, t = (a.astype(dtype).astype(np.float64) for a in (u, t))
    total, d = run("softmax", "cross_entropy", u, t, dtype)
    np.testing.assert_allclose(total, oracle.sample_losses(
        "cross_entropy", "softmax", u, t).sum(), **tols(dtype))
    np.testing.assert_allclose(d, oracle.output_delta(
        "cross_entropy", "softmax", u, t), **tols(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_act,loss", CANONICAL)
def test_stable_for_huge_logits(out_act, loss, dtype):
    """|u| up to 1e4: finite loss and delta, no warnings, equal to the oracle."""
    u = np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, -50.0], [3e3, 3e3, -1e4]])
    if loss == "cross_entropy":
        t = np.array([[1.0, 0, 0], [1, 0, 0], [0, 0, 1]])
    elif loss == "squared_error":
        t = np.ones_like(u)
    else:
        t = np.array([[1.0, 0, 1], [1, 0, 0], [0, 0.5, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total, delta = run(out_act, loss, u, t, dtype)
    assert np.isfinite(total) and np.isfinite(delta).all()
    with np.errstate(over="raise", invalid="raise", divide="raise",
                     under="ignore"):
        want_L = oracle.sample_losses(loss, out_act, u, t).sum()
        want_d = oracle.output_delta(loss, out_act, u, t)
    assert np.isfinite(want_L)
    np.testing.assert_allclose(total, want_L, rtol=1e-6)
    np.testing.assert_allclose(delta, want_d, rtol=1e-6, atol=1e-7)


def test_stable_values_at_extremes():
    # Correct class at +1e4 over −1e4: loss 0, not log(0) = −inf or NaN.
    total, d = run("softmax", "cross_entropy", [[1e4, -1e4]], [[1.0, 0.0]],
                   np.float64)
    assert total == 0.0
    np.testing.assert_array_equal(d, [[0.0, 0.0]])
    # Wrong class: loss 2e4 exactly (log-sum-exp, no overflow).
    total, d = run("softmax", "cross_entropy", [[1e4, -1e4]], [[0.0, 1.0]],
                   np.float64)
    assert total == pytest.approx(2e4)
    np.testing.assert_array_equal(d, [[1.0, -1.0]])
    total, d = run("sigmoid", "binary_cross_entropy", [[-1e4]], [[1.0]],
                   np.float32)
    assert total == pytest.approx(1e4)
    np.testing.assert_array_equal(d, [[-1.0]])


def test_shape_checks():
    u = np.zeros((2, 3))
    code, act = LOSSES["squared_error"].code, ACTIVATIONS["identity"].code
    with pytest.raises(ValueError, match="same shape"):
        _losses.loss_delta(code, act, 0.0, u, u, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="delta_out"):
        _losses.loss_delta(code, act, 0.0, u, u, u, np.zeros((2, 2)))
    assert _losses.loss_delta(code, act, 0.0, np.zeros((0, 3)), np.zeros((0, 3)),
                              np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_registry():
    assert set(LOSSES) == {"squared_error", "binary_cross_entropy",
                           "cross_entropy", "multilabel_cross_entropy"}
    for name, spec in LOSSES.items():
        assert get_loss(name) is spec
        assert spec.canonical_output in ACTIVATIONS
    assert LOSSES["cross_entropy"].class_indices


@pytest.mark.parametrize("bad", ["mse", "CrossEntropy", "", None, 0])
def test_unknown_loss_lists_valid_names(bad):
    with pytest.raises(ValueError, match="valid names") as info:
        get_loss(bad)
    for name in LOSSES:
        assert name in str(info.value)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "cross_entropy",
                                  "multilabel_cross_entropy"])
@pytest.mark.parametrize("out_act", ["relu", "identity", "tanh", "sign",
                                     "step", "leaky_relu", "softplus", "swish"])
def test_check_pair_rejects_non_probability_outputs(loss, out_act):
    spec = get_loss(loss)
    with pytest.raises(ValueError, match=spec.canonical_output) as info:
        check_pair(spec, ACTIVATIONS[out_act])
    assert out_act in str(info.value)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("out_act", ["sigmoid", "softmax", "gaussian"])
def test_check_pair_accepts_probability_outputs(loss, out_act):
    check_pair(get_loss(loss), ACTIVATIONS[out_act])      # no exception


# ------------------------------------------- off the canonical pairs: saturation
# The kernel clips y to [ε, 1 − ε] inside the logs of a non-canonical pair,
# ε = the dtype's machine epsilon (FLT_EPSILON for float32, DBL_EPSILON for
# float64), so an output that saturates at exactly 0 or 1 gives a finite loss
# and delta.  The oracle below is that clipped formula in float64, written
# from the definitions, with the activation's backward pass taken from the
# stored output as documented (σ′ = y(1 − y), gaussian′ = −2βuy, softmax
# Jᵀg = y ⊙ (g − Σ_j y_j g_j)).
SATURATING = {      # logits whose outputs hit 0 or 1 exactly (u: (3, 3))
    "softmax": [[0.0, -200.0, 200.0], [40.0, 0.0, -40.0], [1.0, 0.0, 2.0]],
    "sigmoid": [[-800.0, 800.0, 40.0], [-40.0, 0.0, 1.0], [200.0, -200.0, 3.0]],
    "gaussian": [[0.0, 30.0, -30.0], [1e-5, 0.5, 0.0], [-40.0, 1.0, 1e-4]],
}
# Targets: on each side of every saturated output, and in between.
SAT_TARGETS = [[1.0, 0.0, 1.0], [0.0, 0.3, 1.0], [0.5, 1.0, 0.0]]
PROB_NON_CANONICAL = [(a, l) for a in ("softmax", "sigmoid", "gaussian")
                      for l in ("binary_cross_entropy",
                                "multilabel_cross_entropy", "cross_entropy")
                      if (a, l) not in oracle.CANONICAL]


def clipped_oracle(loss, out_act, u, y, t, dtype, param=1.0):
    """Σ_i L_i and δ = ∂L_i/∂u_i of a non-canonical pair with y clipped to
    [ε, 1 − ε] in the logs, and the scale Σ_j |y_j g_j| of each row (the
    size of the cancellation in the softmax backward pass)."""
    u, y, t = (np.asarray(a, dtype=np.float64) for a in (u, y, t))
    eps = float(np.finfo(dtype).eps)
    yc = np.clip(y, eps, 1 - eps)
    if loss == "cross_entropy":
        L = -np.sum(t * np.log(yc))
        g = -t / yc
    else:
        scale = 1.0 / y.shape[1] if loss == "binary_cross_entropy" else 1.0
        L = -scale * np.sum(t * np.log(yc) + (1 - t) * np.log(1 - yc))
        g = scale * (yc - t) / (yc * (1 - yc))
    g = g.astype(dtype).astype(np.float64)   # the kernel stores g, then J^T g
    if out_act == "softmax":
        d = y * (g - np.sum(y * g, axis=1, keepdims=True))
    elif out_act == "sigmoid":
        d = g * y * (1 - y)
    else:
        d = g * (-2 * param * u * y)
    return L, d, np.sum(np.abs(y * g), axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_act,loss", PROB_NON_CANONICAL)
def test_saturated_non_canonical_pair_is_finite_and_clipped(out_act, loss, dtype):
    u = np.array(SATURATING[out_act], dtype=dtype)
    t = np.array(SAT_TARGETS, dtype=dtype)
    y = oracle.phi(out_act, u).astype(dtype)
    assert (y == 0).any() or (y == 1).any()       # the case is saturated
    delta = np.full_like(u, np.nan)
    spec = ACTIVATIONS[out_act]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = _losses.loss_delta(LOSSES[loss].code, spec.code,
                                   spec.default_param, u, y, t, delta)
    assert np.isfinite(total) and np.isfinite(delta).all()
    want_L, want_d, row_scale = clipped_oracle(loss, out_act, u, y, t, dtype,
                                               spec.default_param)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total, want_L, rtol=rtol)
    err = np.abs(delta - want_d)
    bound = rtol * np.abs(want_d) + 16 * np.finfo(np.float64).eps * row_scale
    assert (err <= bound).all(), (delta, want_d)


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_softmax_bce_through_the_model(dtype):
    """Softmax output + binary cross-entropy with outputs of exactly 0 and 1:
    Model.loss/backward are finite and match the clipped float64 formula,
    and a train_step neither raises nor leaves a non-finite parameter."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    W = np.array([[500.0, 0.0], [0.0, 1.0], [-500.0, 2.0]])    # u = X Wᵀ exact
    b = np.array([0.0, 0.0, 0.0])
    T = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.5, 1.0]])
    model = pynn.Model([pynn.Dense(2, 3, "softmax")], dtype=dtype.__name__)
    model.layers[0].W[...] = W
    model.layers[0].b[...] = b
    u = X @ W.T + b
    y = oracle.softmax(u).astype(dtype)
    assert (y == 0).any() and (y == 1).any()
    want_L, d, _ = clipped_oracle("binary_cross_entropy", "softmax", u, y, T,
                                  dtype)
    want_dW, want_db = d.T @ X / 3, d.mean(axis=0)
    loss = model.backward(X, T, loss="binary_cross_entropy")
    rtol, atol = (1e-4, 1e-6) if dtype == np.float32 else (1e-10, 1e-12)
    assert np.isfinite(loss) and np.isfinite(model.grads).all()
    np.testing.assert_allclose(loss, want_L / 3, rtol=rtol)
    np.testing.assert_allclose(model.layers[0].dW, want_dW, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.layers[0].db, want_db, rtol=rtol, atol=atol)
    assert model.loss(X, T, loss="binary_cross_entropy") == pytest.approx(
        loss, rel=1e-6)
    model.train_step(X, T, loss="binary_cross_entropy", lr=0.1)
    assert np.isfinite(model.params).all()


# ------------------------------------------- soft targets that do not sum to 1
SOFT_T = [[0.2, 0.3, 0.1, 0.0],      # Σt = 0.6
          [1.0, 1.0, 0.0, 0.5],      # Σt = 2.5
          [0.0, 0.0, 0.0, 0.0],      # Σt = 0: L = 0, δ = 0
          [0.25, 0.25, 0.25, 0.25],  # Σt = 1
          [0.0, 0.0, 1.0, 1.0]]      # Σt = 2


def soft_ce_oracle(u, t):
    """L_i = −Σ_j t_ij log softmax(u_i)_j = (Σ_j t_ij)·lse(u_i) − Σ_j t_ij u_ij
    and its gradient y_i·Σ_j t_ij − t_i, in float64."""
    u, t = np.asarray(u, np.float64), np.asarray(t, np.float64)
    m = u.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(u - m).sum(axis=1, keepdims=True)))[:, 0]
    y = np.exp(u - lse[:, None])
    L = t.sum(axis=1) * lse - (t * u).sum(axis=1)
    return L, y * t.sum(axis=1, keepdims=True) - t


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_targets_not_summing_to_one(dtype):
    """δ = y·Σt − t (not y − t) and L = Σt·lse(u) − t·u, against the oracle
    and against central differences of the oracle's loss."""
    rng = np.random.default_rng(11)
    u = rng.uniform(-3, 3, size=(5, 4)).astype(dtype).astype(np.float64)
    t = np.array(SOFT_T)
    total, d = run("softmax", "cross_entropy", u, t, dtype)
    want_L, want_d = soft_ce_oracle(u, t)
    np.testing.assert_allclose(total, want_L.sum(), **tols(dtype))
    np.testing.assert_allclose(d, want_d, **tols(dtype))
    np.testing.assert_array_equal(d[2], 0)
    # The oracle's δ is the gradient of its own L (independent of pynn).
    h = 1e-6
    num = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        up, um = u.copy(), u.copy()
        up[idx] += h
        um[idx] -= h
        num[idx] = (soft_ce_oracle(up, t)[0].sum()
                    - soft_ce_oracle(um, t)[0].sum()) / (2 * h)
    np.testing.assert_allclose(want_d, num, rtol=1e-6, atol=1e-8)
    # And y − t is measurably wrong here (the case tells the two apart).
    y = oracle.softmax(u)
    assert np.abs((y - t) - want_d).max() > 0.1


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_gradient_with_unnormalised_soft_targets(dtype):
    """Model.backward (softmax + cross_entropy) with soft target rows summing
    to 0.6, 2.5, 0, 1 and 2: grads = mean_i δ_i x_iᵀ with δ = y·Σt − t."""
    rng = np.random.default_rng(12)
    X = rng.uniform(-1, 1, size=(5, 3))
    model = pynn.Model([pynn.Dense(3, 4, "softmax")], dtype=dtype.__name__,
                       seed=3)
    layer = model.layers[0]
    layer.b[...] = [0.1, -0.2, 0.3, 0.0]
    W, b = layer.W.astype(np.float64), layer.b.astype(np.float64)
    Xd = X.astype(dtype).astype(np.float64)
    L, d = soft_ce_oracle(Xd @ W.T + b, SOFT_T)
    loss = model.backward(X, SOFT_T, loss="cross_entropy")
    rtol, atol = (1e-4, 1e-6) if dtype == np.float32 else (1e-10, 1e-12)
    np.testing.assert_allclose(loss, L.mean(), rtol=rtol)
    np.testing.assert_allclose(layer.dW, d.T @ Xd / 5, rtol=rtol, atol=atol)
    np.testing.assert_allclose(layer.db, d.mean(axis=0), rtol=rtol, atol=atol)
