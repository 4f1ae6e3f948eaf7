"""Model and MLP: DESIGN.md §1 worked examples, the buffer/view contract,
initialisers, and forward/backward/input_gradient/train_step/loss against the
float64 oracle on both product paths (BLAS and hand loops)."""
import numpy as np
import pytest

import pynn
from pynn import init as pinit

import oracle
from oracle import HUGE_LIMIT, small_product_limit

DTYPES = ["float32", "float64"]


@pytest.fixture(params=["blas", "loops"])
def path(request):
    """Every product through BLAS (limit 0) or the hand loops (huge limit)."""
    with small_product_limit(0 if request.param == "blas" else HUGE_LIMIT):
        yield request.param


def set_layer(layer, W, b):
    layer.W = np.asarray(W, dtype=float)
    layer.b = np.asarray(b, dtype=float)


# ------------------------------------------------------------ worked examples
@pytest.mark.parametrize("dtype", DTYPES)
def test_worked_example_221_sigmoid_net(dtype, path):
    # W1 = [[0.1, −0.2, 0.3], [0.2, 0.1, −0.3]] with the bias column first.
    W1 = np.array([[0.1, -0.2, 0.3], [0.2, 0.1, -0.3]])
    W2 = np.array([[0.1, 0.2, 0.1]])
    model = pynn.Model([pynn.Dense(2, 2, "sigmoid"), pynn.Dense(2, 1, "sigmoid")],
                       dtype=dtype)
    set_layer(model.layers[0], W1[:, 1:], W1[:, 0])
    set_layer(model.layers[1], W2[:, 1:], W2[:, 0])
    np.testing.assert_array_equal(model.layers[0].b, np.array([0.1, 0.2], dtype))
    np.testing.assert_array_equal(model.layers[0].W,
                                  np.array([[-0.2, 0.3], [0.1, -0.3]], dtype))
    hidden = pynn.Model([pynn.Dense(2, 2, "sigmoid")], dtype=dtype)
    set_layer(hidden.layers[0], W1[:, 1:], W1[:, 0])
    h = hidden.forward([[1, 0]])
    y = model.forward([[1, 0]])
    assert h.shape == (1, 2) and y.shape == (1, 1)
    np.testing.assert_array_equal(np.round(h.astype(float), 4), [[0.4750, 0.5744]])
    assert round(float(y[0, 0]), 4) == 0.5628
    # Exact values by hand: σ(−0.1), σ(0.3), σ(0.1 + 0.2 h1 + 0.1 h2).
    s = lambda v: 1 / (1 + np.exp(-v))
    h1, h2 = s(-0.1), s(0.3)
    tol = 1e-7 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(h, [[h1, h2]], rtol=tol)
    np.testing.assert_allclose(y, [[s(0.1 + 0.2 * h1 + 0.1 * h2)]], rtol=tol)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "multilabel_cross_entropy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_worked_example_sigmoid_unit_cross_entropy(dtype, loss, path):
    model = pynn.Model([pynn.Dense(1, 1, "sigmoid")], dtype=dtype)
    set_layer(model.layers[0], [[-2.0]], [1.0])        # w0 = 1 (bias), w1 = −2
    y = model.forward([[2.0]])
    assert round(float(y[0, 0]), 4) == 0.0474
    before = model.train_step([[2.0]], [[1.0]], loss, lr=1.0)
    s3 = 1 / (1 + np.exp(3))                            # y = σ(1 − 4)
    assert before == pytest.approx(-np.log(s3), rel=1e-6)
    assert round(float(model.layers[0].b[0]), 4) == 1.9526
    assert round(float(model.layers[0].W[0, 0]), 4) == -0.0949
    tol = 1e-6 if dtype == "float32" else 1e-14
    assert model.layers[0].b[0] == pytest.approx(1 + (1 - s3), rel=tol)
    assert model.layers[0].W[0, 0] == pytest.approx(-2 + 2 * (1 - s3), rel=tol)


X_GD = np.array([10.0, 5, 1, 8, 4]).reshape(-1, 1)
T_GD = np.array([8.5, 3.8, 2, 8, 5])


@pytest.mark.parametrize("dtype", DTYPES)
def test_worked_example_gradient_descent(dtype, path):
    model = pynn.Model([pynn.Dense(1, 1, "identity")], dtype=dtype)
    set_layer(model.layers[0], [[2.0]], [0.0])
    loss = model.backward(X_GD, T_GD, "squared_error")
    layer = model.layers[0]
    tol = dict(rel=1e-6) if dtype == "float32" else dict(rel=1e-13)
    # y − t = (11.5, 6.2, 0, 8, 3): Σ(y−t)x/5 = 222/5, Σ(y−t)/5 = 28.7/5.
    assert layer.dW[0, 0] == pytest.approx(44.4, **tol)
    assert layer.db[0] == pytest.approx(5.74, **tol)
    assert loss == pytest.approx(0.5 * (11.5**2 + 6.2**2 + 0 + 64 + 9) / 5, **tol)
    np.testing.assert_array_equal(model.grads, [layer.dW[0, 0], layer.db[0]])
    # With the bias w0 = −1: y − t = (10.5, 5.2, −1, 7, 2).
    layer.b = [-1.0]
    model.backward(X_GD, T_GD, "squared_error")
    assert layer.db[0] == pytest.approx(4.74, **tol)
    assert layer.dW[0, 0] == pytest.approx(38.8, **tol)
    # One GD step of η = 0.01: w1 = 2 − 0.388, w0 = −1 − 0.0474.
    before = model.train_step(X_GD, T_GD, "squared_error", lr=0.01)
    assert before == pytest.approx(0.5 * (10.5**2 + 5.2**2 + 1 + 49 + 4) / 5, **tol)
    assert layer.W[0, 0] == pytest.approx(2 - 0.388, **tol)
    assert layer.b[0] == pytest.approx(-1 - 0.0474, **tol)


# ------------------------------------------------------------ buffers and views
def test_params_buffer_and_views():
    model = pynn.MLP([3, 4, 2], hidden="tanh", output="identity",
                     dtype="float64", seed=0)
    p, g = model.params, model.grads
    assert p.ndim == 1 and p.flags.c_contiguous and p.size == 3 * 4 + 4 + 4 * 2 + 2
    assert g.shape == p.shape and g.flags.c_contiguous and g.dtype == p.dtype
    assert model.n_params == p.size
    assert not np.shares_memory(p, g)
    l0, l1 = model.layers
    assert l0.W.shape == (4, 3) and l0.b.shape == (4,)
    assert l1.W.shape == (2, 4) and l1.b.shape == (2,)
    for layer in model.layers:
        for view in (layer.W, layer.b):
            assert np.shares_memory(view, p) and view.flags.writeable
        for view in (layer.dW, layer.db):
            assert np.shares_memory(view, g) and view.flags.writeable
    # Layout: W_1 row-major, b_1, W_2, b_2.
    np.testing.assert_array_equal(p[:12].reshape(4, 3), l0.W)
    np.testing.assert_array_equal(p[12:16], l0.b)
    np.testing.assert_array_equal(p[16:24].reshape(2, 4), l1.W)
    np.testing.assert_array_equal(p[24:], l1.b)
    # Writing a view changes params ...
    l0.W[1, 2] = 7.5
    assert p[1 * 3 + 2] == 7.5
    l1.b[1] = -3.25
    assert p[25] == -3.25
    # ... and writing params changes the views.
    p[12] = 4.0
    assert l0.b[0] == 4.0
    p[16 + 4 + 3] = 2.5
    assert l1.W[1, 3] == 2.5


def test_params_and_layer_setters_keep_the_buffer():
    model = pynn.MLP([3, 4, 2], dtype="float64", seed=0)
    p = model.params
    W0 = model.layers[0].W
    new = np.arange(model.n_params, dtype=float)
    model.params = new
    assert model.params is p                   # same buffer, views stay valid
    np.testing.assert_array_equal(p, new)
    np.testing.assert_array_equal(W0, new[:12].reshape(4, 3))
    np.testing.assert_array_equal(model.layers[1].b, new[24:])
    model.layers[1].W = np.full((2, 4), -1.0)
    np.testing.assert_array_equal(p[16:24], -1.0)
    model.layers[0].b = [1, 2, 3, 4]           # ints are fine
    np.testing.assert_array_equal(p[12:16], [1, 2, 3, 4])
    # The forward pass sees the change (identity output: y = W2 relu(..) + b2).
    model.layers[1].W = np.zeros((2, 4))
    model.layers[1].b = [0.5, -0.5]
    np.testing.assert_array_equal(model.forward(np.ones((3, 3))), [[0.5, -0.5]] * 3)


def test_dense_without_model_has_no_params():
    layer = pynn.Dense(3, 2, "relu")
    assert layer.n_params == 8
    with pytest.raises(AttributeError, match="Model"):
        layer.W


def test_mlp_builds_the_layers():
    model = pynn.MLP([5, 4, 3, 2], hidden="tanh", output="softmax", seed=0)
    assert [l.n_in for l in model.layers] == [5, 4, 3]
    assert [l.n_out for l in model.layers] == [4, 3, 2]
    assert [l.activation.name for l in model.layers] == ["tanh", "tanh", "softmax"]
    assert model.sizes == [5, 4, 3, 2]
    assert model.n_inputs == 5 and model.n_outputs == 2
    assert model.dtype == np.float32                      # the default
    assert pynn.MLP([2, 1]).layers[0].activation.name == "identity"


def test_repr_shows_architecture():
    model = pynn.Model([pynn.Dense(3, 5, "tanh"),
                        pynn.Dense(5, 2, "leaky_relu", activation_param=0.2)],
                       dtype="float64")
    text = repr(model)
    assert "float64" in text and str(model.n_params) in text
    lines = text.splitlines()
    assert len(lines) == 3
    for line, (a, b, act) in zip(lines[1:], [(3, 5, "tanh"), (5, 2, "leaky_relu")]):
        assert str(a) in line and str(b) in line and act in line
    assert "0.2" in lines[2]


# ------------------------------------------------------------ initialisers
def test_glorot_normal_variance():
    model = pynn.Model([pynn.Dense(400, 600)], dtype="float64", seed=1)
    W = model.layers[0].W
    var = 2 / (400 + 600)
    assert abs(W.mean()) < 4 * np.sqrt(var / W.size)
    assert W.var() == pytest.approx(var, rel=0.03)
    np.testing.assert_array_equal(model.layers[0].b, 0)


def test_glorot_uniform_bounds():
    model = pynn.Model([pynn.Dense(300, 500)], dtype="float64", seed=2,
                       init="glorot_uniform")
    W = model.layers[0].W
    a = np.sqrt(6 / 800)
    assert np.abs(W).max() <= a
    assert np.abs(W).max() > 0.99 * a
    assert W.var() == pytest.approx(a * a / 3, rel=0.03)
    np.testing.assert_array_equal(model.layers[0].b, 0)


@pytest.mark.parametrize("name", ["he", "he_normal"])
def test_he_normal_variance(name):
    model = pynn.MLP([250, 800], dtype="float64", seed=3, init=name)
    W = model.layers[0].W
    assert W.var() == pytest.approx(2 / 250, rel=0.03)


def test_he_uniform_bounds():
    model = pynn.MLP([250, 800], dtype="float64", seed=4, init="he_uniform")
    W = model.layers[0].W
    a = np.sqrt(6 / 250)
    assert a * 0.99 < np.abs(W).max() <= a


def test_per_layer_init_overrides_model_init():
    model = pynn.Model([pynn.Dense(200, 300, init="glorot_uniform"),
                        pynn.Dense(300, 400)], dtype="float64", seed=5,
                       init="he_normal")
    a = np.sqrt(6 / 500)
    assert np.abs(model.layers[0].W).max() <= a
    assert model.layers[1].W.var() == pytest.approx(2 / 300, rel=0.03)


def test_callable_init():
    model = pynn.MLP([3, 2], dtype="float64", seed=0,
                     init=lambda rng, n_out, n_in: np.full((n_out, n_in), 0.25))
    np.testing.assert_array_equal(model.layers[0].W, 0.25)


def test_initialize_redraws_and_zeroes_biases():
    model = pynn.MLP([4, 3, 2], dtype="float64", seed=0)
    first = model.params.copy()
    model.params[:] = 9.0
    model.initialize(seed=0)
    np.testing.assert_array_equal(model.params, first)
    for layer in model.layers:
        np.testing.assert_array_equal(layer.b, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_determinism(dtype):
    a = pynn.MLP([6, 5, 3], seed=42, dtype=dtype)
    b = pynn.MLP([6, 5, 3], seed=42, dtype=dtype)
    c = pynn.MLP([6, 5, 3], seed=43, dtype=dtype)
    assert a.params.tobytes() == b.params.tobytes()
    assert not np.array_equal(a.params, c.params)
    X = np.random.default_rng(0).standard_normal((4, 6))
    assert a.forward(X).tobytes() == b.forward(X).tobytes()


def test_unknown_init_lists_valid_names():
    with pytest.raises(ValueError, match="valid names") as info:
        pinit.get_initializer("xavier")
    for name in pinit.INITIALIZERS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="init"):
        pynn.MLP([2, 2], init="xavier")


def test_copy_is_independent():
    model = pynn.MLP([3, 4, 2], hidden="tanh", dtype="float64", seed=0)
    clone = model.copy()
    np.testing.assert_array_equal(clone.params, model.params)
    assert not np.shares_memory(clone.params, model.params)
    clone.layers[0].W[0, 0] += 1
    assert clone.params[0] != model.params[0]
    assert repr(clone) == repr(model)


# ------------------------------------------------------------ against the oracle
ARCHS = {
    "tanh-identity-se": ([3, 5, 2], ["tanh", "identity"], "squared_error"),
    "relu-sigmoid-softmax-ce": ([4, 6, 5, 3], ["relu", "sigmoid", "softmax"],
                                "cross_entropy"),
    "sigmoid-bce": ([2, 3, 1], ["sigmoid", "sigmoid"], "binary_cross_entropy"),
    "swish-gaussian-mlce": ([5, 4, 3, 3], ["swish", "gaussian", "sigmoid"],
                            "multilabel_cross_entropy"),
    "single-softmax-ce": ([6, 3], ["softmax"], "cross_entropy"),
    "wide-leaky-softplus-se": ([20, 33, 17, 4],
                               ["leaky_relu", "softplus", "identity"],
                               "squared_error"),
    "relu-tanh-se": ([3, 4, 2], ["relu", "tanh"], "squared_error"),
    "softmax-hidden-bce": ([4, 5, 2], ["softmax", "sigmoid"],
                           "binary_cross_entropy"),
}


def build(arch, dtype, seed=0):
    sizes, acts, loss = ARCHS[arch]
    model = pynn.Model([pynn.Dense(a, b, act) for a, b, act
                        in zip(sizes[:-1], sizes[1:], acts)], dtype=dtype, seed=0)
    rng = np.random.default_rng(seed)
    model.params = rng.uniform(-1, 1, model.n_params)   # nonzero biases too
    return model, loss


def data(model, loss, batch, seed=1, onehot=False):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(batch, model.n_inputs))
    n_out = model.n_outputs
    if loss == "cross_entropy":
        T = rng.integers(0, n_out, size=batch)
        if onehot:
            T = oracle.one_hot(T, n_out)
    elif loss == "squared_error":
        T = rng.standard_normal((batch, n_out))
    else:
        T = rng.uniform(0, 1, size=(batch, n_out))
    return X, T


def variants(X):
    """The same values as C, Fortran-order, read-only and strided arrays."""
    f = np.asfortranarray(X)
    ro = X.copy()
    ro.flags.writeable = False
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    return {"F": f, "readonly": ro, "strided": wide[:, ::2]}


def close(actual, want, dtype, scale=1.0):
    if np.dtype(dtype) == np.float32:
        np.testing.assert_allclose(actual, want, rtol=2e-4, atol=2e-5 * scale)
    else:
        np.testing.assert_allclose(actual, want, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.parametrize("batch", [1, 7, 40])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_against_oracle(arch, dtype, batch, path):
    model, loss = build(arch, dtype)
    X, T = data(model, loss, batch)
    X = X.astype(dtype).astype(np.float64)      # values representable in dtype
    sizes, layers, acts = oracle.describe(model)
    want_loss, want_grads, want_gx = oracle.backprop(layers, acts, X, T, loss)
    p0 = model.params.copy()

    # forward / __call__
    Y = model.forward(X)
    assert Y.shape == (batch, model.n_outputs) and Y.dtype == model.dtype
    close(Y, oracle.predict(layers, acts, X), dtype)
    assert model(X).tobytes() == Y.tobytes()

    # loss: touches neither params nor grads
    model.grads[:] = 0
    assert model.loss(X, T, loss) == pytest.approx(
        want_loss, rel=1e-5 if dtype == "float32" else 1e-11)
    np.testing.assert_array_equal(model.grads, 0)

    # backward: mean loss, grads = mean over the batch
    L = model.backward(X, T, loss)
    assert L == pytest.approx(want_loss, rel=1e-5 if dtype == "float32" else 1e-11)
    gscale = max(1.0, np.abs(oracle.flatten(want_grads)).max())
    close(model.grads, oracle.flatten(want_grads), dtype, gscale)
    for layer, (dW, db) in zip(model.layers, want_grads):
        close(layer.dW, dW, dtype, gscale)
        close(layer.db, db, dtype, gscale)
    grads = model.grads.copy()

    # input_gradient: per sample; params and grads untouched
    gx = model.input_gradient(X, T, loss)
    assert gx.shape == X.shape and gx.dtype == model.dtype
    close(gx, want_gx, dtype, max(1.0, np.abs(want_gx).max()))
    np.testing.assert_array_equal(model.params, p0)
    np.testing.assert_array_equal(model.grads, grads)

    # Other memory layouts give bit-identical results.
    for name, Xv in variants(X).items():
        assert model.forward(Xv).tobytes() == Y.tobytes(), name
        assert model.backward(Xv, T, loss) == L, name
        assert model.grads.tobytes() == grads.tobytes(), name
        assert model.input_gradient(Xv, T, loss).tobytes() == gx.tobytes(), name
    np.testing.assert_array_equal(model.params, p0)

    # train_step: the fused SGD step equals the oracle's W ← W − η ∇W
    lr = 0.3
    before = model.train_step(X, T, loss, lr=lr)
    assert before == pytest.approx(L, rel=1e-6 if dtype == "float32" else 1e-13)
    close(model.params, oracle.flatten(oracle.sgd_step(layers, want_grads, lr)),
          dtype, gscale)
    np.testing.assert_array_equal(model.grads, grads)     # no gradient buffer used


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_from_readonly_fortran_input(dtype, path):
    model, loss = build("relu-sigmoid-softmax-ce", dtype)
    X, T = data(model, loss, 5)
    other, _ = build("relu-sigmoid-softmax-ce", dtype)
    model.train_step(X, T, loss, lr=0.1)
    Xv = np.asfortranarray(X)
    Xv.flags.writeable = False
    other.train_step(Xv, T, loss, lr=0.1)
    assert model.params.tobytes() == other.params.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_indices_equal_onehot(dtype, path):
    model, loss = build("relu-sigmoid-softmax-ce", dtype)
    X, T = data(model, loss, 9)
    _, T1 = data(model, loss, 9, onehot=True)
    np.testing.assert_array_equal(T1.argmax(axis=1), T)
    L = model.backward(X, T, loss)
    g = model.grads.copy()
    assert model.backward(X, T1, loss) == L
    np.testing.assert_array_equal(model.grads, g)
    np.testing.assert_array_equal(model.input_gradient(X, T, loss),
                                  model.input_gradient(X, T1, loss))
    # Float class indices holding whole numbers are indices too.
    assert model.loss(X, T.astype(float), loss) == model.loss(X, T, loss)


def test_single_output_targets_may_be_1d(path):
    model, loss = build("sigmoid-bce", "float64")
    X, T = data(model, loss, 6)
    L = model.backward(X, T[:, 0], loss)
    g = model.grads.copy()
    assert model.backward(X, T, loss) == L
    np.testing.assert_array_equal(model.grads, g)


def test_float32_matches_float64():
    m64, loss = build("wide-leaky-softplus-se", "float64")
    m32 = pynn.Model([pynn.Dense(l.n_in, l.n_out, l.activation.name)
                      for l in m64.layers], dtype="float32")
    m32.params = m64.params.astype(np.float32)
    X, T = data(m64, loss, 11)
    X = X.astype(np.float32)
    assert m32.params.dtype == np.float32
    y32, y64 = m32.forward(X), m64.forward(X)
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m32.backward(X, T, loss), m64.backward(X, T, loss),
                               rtol=1e-5)
    np.testing.assert_allclose(m32.grads, m64.grads, rtol=1e-4, atol=1e-4)


def test_train_step_reduces_loss():
    model, loss = build("tanh-identity-se", "float64")
    X, T = data(model, loss, 30)
    losses = [model.train_step(X, T, loss, lr=0.05) for _ in range(50)]
    assert (np.diff(losses) < 0).all()          # full-batch GD, small step
    assert losses[-1] < 0.75 * losses[0]
    assert model.loss(X, T, loss) < losses[-1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_of_empty_batch(dtype):
    model, _ = build("tanh-identity-se", dtype)
    Y = model.forward(np.zeros((0, 3)))
    assert Y.shape == (0, 2) and Y.dtype == np.dtype(dtype)


def test_non_finite_loss_keeps_params():
    """Overflow to inf in float32: train_step raises and leaves W as it was."""
    model = pynn.Model([pynn.Dense(2, 1)], dtype="float32")
    model.params = [1.0, 1.0, 0.0]
    p0 = model.params.copy()
    X = np.array([[3e38, 3e38]])
    with pytest.raises(FloatingPointError, match="unchanged"):
        model.train_step(X, [0.0], "squared_error", lr=0.1)
    np.testing.assert_array_equal(model.params, p0)


def test_dense_reused_in_second_model_is_refused():
    d = pynn.Dense(2, 1)
    m1 = pynn.Model([d], dtype="float64", seed=0)
    with pytest.raises(ValueError, match="already belongs"):
        pynn.Model([d], dtype="float64", seed=1)
    assert np.shares_memory(m1.layers[0].W, m1.params)
    m1.layers[0].W = [[5.0, 5.0]]
    np.testing.assert_array_equal(m1.forward([[1.0, 1.0]]), [[10.0]])


def test_copy_of_parametrised_activations():
    """copy() where every layer has a parameter (the path that works)."""
    model = pynn.Model([pynn.Dense(3, 4, "leaky_relu", activation_param=0.2),
                        pynn.Dense(4, 2, "gaussian")], dtype="float64", seed=0)
    clone = model.copy()
    assert not np.shares_memory(clone.params, model.params)
    np.testing.assert_array_equal(clone.params, model.params)
    X = np.random.default_rng(0).standard_normal((3, 3))
    np.testing.assert_array_equal(clone.forward(X), model.forward(X))
    assert clone.layers[0].activation_param == 0.2
    clone.params[:] = 0
    assert np.abs(model.params).max() > 0


def test_class_index_column_equals_1d_indices():
    """(n, 1) class indices (Keras' sparse targets) mean the same as (n,)."""
    model = pynn.MLP([4, 5, 3], hidden="tanh", output="softmax",
                     dtype="float64", seed=0)
    X = np.random.default_rng(1).standard_normal((6, 4))
    y = np.array([0, 2, 1, 1, 0, 2])
    loss_1d = model.backward(X, y, "cross_entropy")
    g_1d = model.grads.copy()
    loss_col = model.backward(X, y.reshape(-1, 1), "cross_entropy")
    assert loss_col == loss_1d
    np.testing.assert_array_equal(model.grads, g_1d)


# ------------------------------------------------------------ setters after the cast
@pytest.mark.parametrize("target", ["params", "W", "b"])
@pytest.mark.parametrize("value", [1e300, -1e300, 3.5e38])
def test_setters_refuse_values_that_overflow_the_model_dtype(target, value):
    """Finiteness is checked after the cast: 1e300 is finite in float64 but
    inf in float32, and must not be stored (issue 17, item 6)."""
    model = pynn.MLP([3, 4, 2], dtype="float32", seed=0)
    before = model.params.copy()
    owner = model if target == "params" else model.layers[0]
    shape = getattr(owner, target).shape
    with pytest.raises(ValueError, match=f"{target} .*(NaN|infinity|float32)"):
        setattr(owner, target, np.full(shape, value))
    assert model.params.tobytes() == before.tobytes()
    # a value of one element that overflows, the rest fine
    arr = np.zeros(shape)
    arr.flat[-1] = value
    with pytest.raises(ValueError, match=target):
        setattr(owner, target, arr)
    assert model.params.tobytes() == before.tobytes()


def test_setters_accept_large_values_that_fit_the_dtype():
    m32 = pynn.MLP([3, 2], dtype="float32", seed=0)
    m32.params = np.full(m32.n_params, 3.0e38)
    assert np.isfinite(m32.params).all() and m32.params[0] == np.float32(3.0e38)
    m64 = pynn.MLP([3, 2], dtype="float64", seed=0)
    m64.layers[0].W = np.full((2, 3), 1e300)
    assert (m64.layers[0].W == 1e300).all()


@pytest.mark.parametrize("sizes", [5, None, 2.5, "ab", [3]])
@pytest.mark.parametrize("cls", [pynn.MLP, pynn.Autoencoder])
def test_sizes_that_are_not_a_list_name_the_argument(cls, sizes):
    """MLP(5) used to raise NumPy's/Python's "'int' object is not iterable"
    (issue 17, item 10)."""
    with pytest.raises(ValueError, match=r"sizes must .*got " + repr(sizes)
                       .replace("[", r"\[").replace("]", r"\]")):
        cls(sizes)


def test_ragged_params_name_the_argument():
    model = pynn.MLP([2, 2], seed=0)
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"params must be an array of shape"):
        model.params = [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError, match=r"^W must be an array of shape"):
        model.layers[0].W = [[1.0, 2.0], [3.0]]
    assert model.params.tobytes() == before.tobytes()


@pytest.mark.parametrize("sizes,msg", [
    ([3, 2 ** 64, 2], r"sizes give 110680464442257309698 parameters; one "
     r"buffer holds at most 1152921504606846975"),
    ([3, 2 ** 63, 2], r"sizes give 55340232221128654850 parameters;"),
    ([np.int64(2 ** 62), np.int64(2 ** 62)],     # NumPy ints: no wrap-around
     r"sizes give 21267647932558653971072598982912901120 parameters;"),
    # widths the kernels take, more parameters than one buffer holds
    ([2 ** 31 - 1, 2 ** 31 - 1], r"sizes give 4611686016279904256 parameters;"
     r" one buffer holds at most 1152921504606846975"),
    # few parameters, a width beyond the kernels' C int
    ([2 ** 31, 1], r"sizes must be at most 2147483647 each \(the kernels' "
     r"widest layer\), got \[2147483648, 1\]"),
    # fewer than that, more than any machine's memory (256 TiB)
    ([2 ** 20, 2 ** 25, 2], r"sizes give \d+ parameters: params and grads "
     r"need \d+ bytes"),
])
def test_mlp_too_large_to_allocate_names_sizes(sizes, msg):
    """Regression (issue 17 item 16's sweep): MLP([3, 2**64, 2]) raised
    OverflowError "Python int too large to convert to C long" (later a
    ValueError naming no argument, or the kernels' "layer sizes must be in
    [1, 2147483647]")."""
    with pytest.raises(ValueError, match="^" + msg):
        pynn.MLP(sizes)


@pytest.mark.parametrize("n_in,n_out,msg", [
    (3, 2 ** 63, r"n_in = 3 and n_out = 9223372036854775808 make a layer of "
     r"n_out·\(n_in \+ 1\) = 36893488147419103232 parameters"),
    (2 ** 64, 3, r"n_in = 18446744073709551616 and n_out = 3 make a layer"),
    (np.int64(2 ** 31), 3, r"n_in must be at most 2147483647 \(the kernels' "
     r"widest layer\), got 2147483648"),
    (1, 2 ** 31, r"n_out must be at most 2147483647"),
    (2 ** 30, 2 ** 30, r"n_in = 1073741824 and n_out = 1073741824 make a "
     r"layer of n_out·\(n_in \+ 1\) = 1152921505680588800 parameters; one "
     r"buffer holds at most 1152921504606846975"),
])
def test_dense_too_large_names_its_widths(n_in, n_out, msg):
    with pytest.raises(ValueError, match="^" + msg):
        pynn.Dense(n_in, n_out)


def test_model_too_large_to_allocate_names_layers():
    # Each layer fits one buffer (2**59 + 2**29 parameters), both do not.
    layers = [pynn.Dense(2 ** 29, 2 ** 30), pynn.Dense(2 ** 30, 2 ** 29)]
    with pytest.raises(ValueError, match=r"^layers give \d+ parameters; one "
                       r"buffer holds at most"):
        pynn.Model(layers)
    # Below that bound, beyond the machine's memory: refused before any
    # allocation, and the layer is not left attached (the same refusal).
    layer = pynn.Dense(2 ** 20, 2 ** 25)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"^layers give \d+ parameters: "
                           r"params and grads need \d+ bytes"):
            pynn.Model([layer])


def test_width_bound_follows_physical_memory_and_dtype(monkeypatch):
    """params + grads need 2·n·itemsize bytes: with 1 MiB of memory a
    float32 model of 2**17 parameters (exactly 1 MiB) is built, one with
    2**10 more is refused, and the same 2**17 in float64 too."""
    from pynn import layers as players
    monkeypatch.setattr(players, "_physical_memory", lambda: 2 ** 20)
    fits = [2 ** 7 - 1, 2 ** 10]         # 127·1024 + 1024 = 2**17 parameters
    assert pynn.MLP(fits, dtype="float32", seed=0).n_params == 2 ** 17
    with pytest.raises(ValueError, match=r"^sizes give 132096 parameters: "
                       r"params and grads need 1056768 bytes \(.* GiB\), "
                       r"more than this machine's memory of 1048576 bytes"):
        pynn.MLP([2 ** 7, 2 ** 10], dtype="float32")
    with pytest.raises(ValueError, match=r"^sizes give 131072 parameters: "
                       r"params and grads need 2097152 bytes"):
        pynn.MLP(fits, dtype="float64")
    with pytest.raises(ValueError, match=r"^layers give 131072 parameters: "
                       r"params and grads need 2097152 bytes"):
        pynn.Model([pynn.Dense(*fits)], dtype="float64")
    monkeypatch.setattr(players, "_physical_memory", lambda: None)
    assert pynn.MLP(fits, dtype="float64", seed=0).n_params == 2 ** 17
