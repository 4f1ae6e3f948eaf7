"""Activations: registry, pynn.activations.apply/derivative/backward and the
raw kernels pynn._activations.forward/backward against the float64 oracle."""
import warnings

import numpy as np
import pytest

from pynn import _activations
from pynn.activations import ACTIVATIONS, apply, backward, derivative, get_activation

import oracle

NAMES = sorted(ACTIVATIONS)
ELEMENTWISE = [n for n in NAMES if ACTIVATIONS[n].elementwise]
DTYPES = [np.float32, np.float64]
SHAPES = [(0, 3), (1, 1), (1, 7), (5, 3), (13, 11)]


def sample(shape, seed=0, scale=3.0):
    """Values away from the kinks at 0 (relu, step, sign, leaky relu)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-scale, scale, size=shape)
    return np.where(np.abs(u) < 1e-3, 0.5, u)


def tols(dtype):
    return dict(rtol=3e-6, atol=3e-7) if dtype == np.float32 else \
        dict(rtol=1e-13, atol=1e-14)


def test_registry_contents():
    assert set(NAMES) == {"identity", "step", "sign", "sigmoid", "tanh", "relu",
                          "leaky_relu", "softplus", "swish", "gaussian",
                          "softmax"}
    codes = [spec.code for spec in ACTIVATIONS.values()]
    assert len(set(codes)) == len(codes)
    for name, spec in ACTIVATIONS.items():
        assert get_activation(name) is spec
        assert get_activation(spec) is spec


@pytest.mark.parametrize("bad", ["Relu", "", "soft_max", None, 3])
def test_unknown_activation_lists_valid_names(bad):
    with pytest.raises(ValueError, match="valid names") as info:
        get_activation(bad)
    for name in NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="valid names"):
        apply(bad, np.zeros(3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_apply_matches_oracle(name, shape, dtype):
    u = sample(shape).astype(dtype)
    z = apply(name, u)
    assert z.shape == shape and z.dtype == dtype
    np.testing.assert_allclose(z, oracle.phi(name, u), **tols(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_oracle(name, shape, dtype):
    u = sample(shape, seed=1).astype(dtype)
    d = derivative(name, u)
    assert d.shape == shape and d.dtype == dtype
    np.testing.assert_allclose(d, oracle.dphi(name, u), **tols(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_oracle(name, shape, dtype):
    u = sample(shape, seed=2).astype(dtype)
    g = sample(shape, seed=3).astype(dtype)
    g0 = g.copy()
    out = backward(name, u, g)
    np.testing.assert_array_equal(g, g0)        # the caller's g is not touched
    assert out.shape == shape and out.dtype == dtype
    np.testing.assert_allclose(out, oracle.vjp(name, u, g), **tols(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_raw_kernels_match_oracle(name, shape, dtype):
    spec = ACTIVATIONS[name]
    p = spec.default_param
    u = sample(shape, seed=4).astype(dtype)
    g = sample(shape, seed=5).astype(dtype)
    z = np.empty_like(u)
    ret = _activations.forward(spec.code, p, u, z)
    assert ret.shape == shape and (u.size == 0 or np.shares_memory(ret, z))
    np.testing.assert_allclose(z, oracle.phi(name, u, p), **tols(dtype))
    ret = _activations.backward(spec.code, p, u, z, g)
    assert ret.shape == shape and (u.size == 0 or np.shares_memory(ret, g))
    np.testing.assert_allclose(g, oracle.vjp(name, u, sample(shape, seed=5), p),
                               **tols(dtype))


@pytest.mark.parametrize("name", NAMES)
def test_forward_in_place(name):
    spec = ACTIVATIONS[name]
    u = sample((4, 5), seed=6)
    want = oracle.phi(name, u, spec.default_param)
    _activations.forward(spec.code, spec.default_param, u, u)
    np.testing.assert_allclose(u, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name,param", [("leaky_relu", 0.2), ("leaky_relu", 0.0),
                                        ("gaussian", 0.3), ("gaussian", 2.5)])
def test_parameters(name, param):
    u = sample((3, 7), seed=7)
    g = sample((3, 7), seed=8)
    np.testing.assert_allclose(apply(name, u, param), oracle.phi(name, u, param),
                               rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(derivative(name, u, param),
                               oracle.dphi(name, u, param), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(backward(name, u, g, param),
                               oracle.vjp(name, u, g, param), rtol=1e-13, atol=1e-14)


def test_hand_values():
    """A few values worked out by hand, independent of the oracle."""
    u = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(apply("step", u), [0, 0, 1])     # I{u > 0}
    np.testing.assert_array_equal(apply("sign", u), [-1, -1, 1])
    np.testing.assert_array_equal(apply("relu", u), [0, 0, 3])
    np.testing.assert_array_equal(derivative("relu", u), [0, 0, 1])  # relu′(0)=0
    np.testing.assert_allclose(apply("leaky_relu", u), [-0.02, 0, 3])
    np.testing.assert_allclose(apply("sigmoid", [0.0]), [0.5])
    np.testing.assert_allclose(derivative("sigmoid", [0.0]), [0.25])
    np.testing.assert_allclose(apply("softplus", [0.0]), [np.log(2)])
    np.testing.assert_allclose(apply("swish", [1.0]), [1 / (1 + np.exp(-1))])
    np.testing.assert_allclose(apply("gaussian", [2.0]), [np.exp(-4)])
    np.testing.assert_allclose(apply("softmax", [0.0, np.log(3)]), [0.25, 0.75])
    np.testing.assert_array_equal(derivative("step", u), 0)
    np.testing.assert_array_equal(derivative("sign", u), 0)


def test_softmax_rows_and_jvp():
    u = sample((6, 4), seed=9)
    z = apply("softmax", u)
    np.testing.assert_allclose(z.sum(axis=1), 1.0, rtol=1e-14)
    # Shift invariance per row.
    np.testing.assert_allclose(apply("softmax", u + np.arange(6)[:, None] * 50),
                               z, rtol=1e-12)
    g = sample((6, 4), seed=10)
    jvp = backward("softmax", u, g)
    for i in range(6):
        np.testing.assert_allclose(jvp[i], oracle.softmax_jacobian(u[i]) @ g[i],
                                   rtol=1e-12, atol=1e-14)
    # Ones are in the kernel of Jᵀ (rows of J sum to 0).
    np.testing.assert_allclose(backward("softmax", u, np.ones_like(u)), 0,
                               atol=1e-15)
    with pytest.raises(ValueError, match="softmax"):
        derivative("softmax", u)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences(name):
    """φ′ of the kernel against central differences of the kernel itself."""
    u = sample((40,), seed=11)
    h = 1e-6
    num = (apply(name, u + h) - apply(name, u - h)) / (2 * h)
    np.testing.assert_allclose(derivative(name, u), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_stable_for_huge_inputs(name, dtype):
    u = np.array([[-1e4, -700.0, -30.0, 0.0, 30.0, 700.0, 1e4]], dtype=dtype)
    g = np.ones_like(u)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = apply(name, u)
        d = backward(name, u, g)
    assert np.isfinite(z).all() and np.isfinite(d).all()
    with np.errstate(over="raise", invalid="raise", divide="raise",
                     under="ignore"):
        want_z = oracle.phi(name, u)
        want_d = oracle.vjp(name, u, g)
    # Derivatives come from the stored output (σ′ = z(1 − z)), so near
    # saturation they are exact only to the dtype's absolute precision.
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(z, want_z, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(d, want_d, rtol=1e-5, atol=4 * eps)


def test_stable_values_at_extremes():
    u = np.array([-1e4, 1e4])
    np.testing.assert_array_equal(apply("sigmoid", u), [0.0, 1.0])
    np.testing.assert_array_equal(apply("softplus", u), [0.0, 1e4])
    np.testing.assert_array_equal(derivative("softplus", u), [0.0, 1.0])
    np.testing.assert_array_equal(apply("softmax", u), [0.0, 1.0])
    np.testing.assert_allclose(apply("softmax", np.array([1e4, 1e4 - np.log(3)])),
                               [0.75, 0.25], rtol=1e-12)


def test_dtype_handling():
    assert apply("tanh", np.arange(3)).dtype == np.float64   # ints → float64
    assert apply("tanh", np.ones(3, np.float32)).dtype == np.float32
    assert apply("tanh", np.ones(3, np.float32), dtype=np.float64).dtype == np.float64
    # Any-dimensional input, softmax over the last axis.
    u = sample((2, 3, 4), seed=12)
    z = apply("softmax", u)
    assert z.shape == (2, 3, 4)
    np.testing.assert_allclose(z, oracle.phi("softmax", u), rtol=1e-13)


def test_raw_kernel_shape_checks():
    u = np.zeros((2, 3))
    with pytest.raises(ValueError, match="same shape"):
        _activations.forward(ACTIVATIONS["tanh"].code, 0.0, u, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="same shape"):
        _activations.backward(ACTIVATIONS["tanh"].code, 0.0, u, u, np.zeros((2, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_values_and_derivatives_at_the_kinks(dtype):
    """Exactly at 0 (and −0.0, and the smallest subnormals either side):
    relu′(0) = 0, leaky_relu′(0) = α (the slope of u ≤ 0), step(0) = 0,
    sign(0) = −1, in the forward, derivative and backward paths."""
    tiny = np.finfo(dtype).smallest_subnormal
    u = np.array([0.0, -0.0, tiny, -tiny], dtype=dtype)
    g = np.array([3.0, 5.0, 7.0, 11.0], dtype=dtype)
    alpha = 0.25
    cases = {   # name: (φ(u), φ′(u)) by hand
        "relu": ([0, 0, tiny, 0], [0, 0, 1, 0]),
        "leaky_relu": ([0, 0, tiny, -alpha * tiny], [alpha, alpha, 1, alpha]),
        "step": ([0, 0, 1, 0], [0, 0, 0, 0]),
        "sign": ([-1, -1, 1, -1], [0, 0, 0, 0]),
    }
    for name, (want_z, want_d) in cases.items():
        p = alpha if name == "leaky_relu" else None
        want_z = np.array(want_z, dtype=dtype)
        want_d = np.array(want_d, dtype=dtype)
        np.testing.assert_array_equal(apply(name, u, p), want_z, err_msg=name)
        np.testing.assert_array_equal(derivative(name, u, p), want_d,
                                      err_msg=name)
        np.testing.assert_array_equal(backward(name, u, g, p), want_d * g,
                                      err_msg=name)
        # The float64 oracle agrees at the kinks.
        np.testing.assert_array_equal(oracle.dphi(name, u, p), want_d,
                                      err_msg=name)
