"""Edge cases the grid tests step around: ties in the accuracy metrics and
subgradients at the kinks (exact zeros reaching a kernel).

Expected values are derived by hand and cross-checked with plain NumPy
(``numpy.argmax``, ``numpy.sign``, the float64 oracle in tests/oracle.py);
none comes from pynn itself.
"""
import numpy as np
import pytest

import pynn

import oracle

DTYPES = ["float32", "float64"]


# ------------------------------------------------------------ accuracy ties
# Trainer's history.accuracy / val_accuracy for "cross_entropy" count the
# samples whose argmax y equals argmax t, each argmax being the FIRST maximum
# (numpy.argmax's convention), in the compiled count_correct of _train.pyx.
# A model whose W is 0 gives every sample the output softmax(b); lr = 1e-300
# moves no parameter far enough to break an exact tie between equal biases
# (2 − 1e-300 rounds to 2; the zero entries move by ~1e-300, and
# exp(±1e-300) rounds to 1), so the ties hold in every epoch and in the
# validation pass after it.
TIE_TARGETS = np.array([
    [0.0, 1.0, 0.0, 0.0],        # one-hot 1
    [0.0, 0.0, 1.0, 0.0],        # one-hot 2
    [0.0, 0.5, 0.5, 0.0],        # tie 1/2 in t: first is 1
    [0.5, 0.0, 0.0, 0.5],        # tie 0/3 in t: first is 0
    [0.0, 0.5, 0.5, 0.0],
    [0.0, 1.0, 0.0, 0.0],
])


def tied_model(dtype, bias):
    model = pynn.Model([pynn.Dense(3, 4, "softmax")], dtype=dtype)
    model.layers[0].W[...] = 0
    model.layers[0].b[...] = bias
    return model


@pytest.mark.parametrize("batch_size", [None, 1, 4])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias,first_max,want", [
    # y ties between outputs 1 and 2 → predicted class 1: rows 0, 2, 4, 5
    # are right (a last-maximum argmax of y would give 1/6, of t 2/6, of both
    # 3/6).
    ([0.0, 2.0, 2.0, 1.0], 1, 4 / 6),
    # y ties between all four outputs → predicted class 0: only row 3.
    ([0.0, 0.0, 0.0, 0.0], 0, 1 / 6),
])
def test_accuracy_ties_take_the_first_maximum(bias, first_max, want, dtype,
                                              batch_size):
    X = np.random.default_rng(0).uniform(-1, 1, size=(6, 3))
    model = tied_model(dtype, bias)
    y = model(X)
    assert (y == y[0]).all()                         # every row the same
    assert int(np.argmax(y[0])) == first_max         # NumPy's convention
    # The oracle: numpy.argmax on both sides, from the float64 outputs.
    y64 = oracle.softmax(np.asarray(bias, np.float64))
    assert np.mean(np.argmax(y64) == np.argmax(TIE_TARGETS, axis=1)) == want
    trainer = pynn.Trainer(model, loss="cross_entropy", lr=1e-300,
                           batch_size=batch_size, epochs=2, shuffle=False)
    hist = trainer.fit(X, TIE_TARGETS, validation_data=(X, TIE_TARGETS))
    assert hist.accuracy == [want, want]
    assert hist.val_accuracy == [want, want]
    np.testing.assert_array_equal(model(X), y)      # the ties survived


@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold_accuracy_at_exactly_one_half(dtype):
    """binary_cross_entropy counts (y > ½) == (t > ½): y = σ(0) = ½ exactly
    is predicted 0, and a target of exactly ½ counts as 0."""
    X = np.zeros((4, 2))
    T = np.array([[0.0], [0.5], [1.0], [0.5]])
    model = pynn.Model([pynn.Dense(2, 1, "sigmoid")], dtype=dtype)
    model.params[...] = 0
    assert (model(X) == 0.5).all()
    want = np.mean((np.full(4, 0.5) > 0.5) == (T[:, 0] > 0.5))
    assert want == 0.75
    # Balanced δ = y − t (sums to 0 over the batch: b stays 0 in full-batch
    # GD), X = 0 (W's gradient is 0): every epoch sees y = ½ again.
    hist = pynn.Trainer(model, loss="binary_cross_entropy", lr=0.5,
                        batch_size=None, epochs=2, shuffle=False).fit(
        X, T, validation_data=(X, T))
    assert hist.accuracy == [want, want]
    assert hist.val_accuracy == [want, want]


def test_perceptron_classes_break_ties_to_the_first_class():
    """One-vs-rest Perceptron.predict/score: equal scores wᵀx + b pick the
    lowest class index (numpy.argmax's first maximum)."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    t = np.array([0, 1, 2, 2])
    p = pynn.Perceptron(max_epochs=3, dtype="float64").fit(X, t)
    p.w = np.zeros((3, 2))
    p.b = np.array([0.0, 1.0, 1.0])        # classes 1 and 2 tie everywhere
    np.testing.assert_array_equal(p.predict(X), [1, 1, 1, 1])
    assert p.score(X, t) == 0.25
    p.b = np.zeros(3)                      # all three tie
    np.testing.assert_array_equal(p.predict(X), [0, 0, 0, 0])
    assert p.score(X, t) == 0.25


# ------------------------------------------------------------ kinks
def l1_oracle(W1, b1, W2, b2, X, T, lam):
    """Mean loss and gradients of ½‖y − t‖² + λ·mean_i Σ_j |z_ij| for an
    identity → identity net, with the subgradient sign(0) = 0 at z = 0."""
    z = X @ W1.T + b1
    y = z @ W2.T + b2
    B = X.shape[0]
    loss = 0.5 * np.sum((y - T) ** 2) / B + lam * np.abs(z).sum() / B
    d2 = y - T
    d1 = d2 @ W2 + lam * np.sign(z)
    return loss, (d1.T @ X / B, d1.mean(axis=0), d2.T @ z / B, d2.mean(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_l1_activity_subgradient_is_zero_at_zero(dtype):
    """An identity hidden layer whose outputs are exactly 0 (no relu to hide
    the value): L1Activity contributes sign(0) = 0 there, so the gradient is
    the oracle's with sign(0) = 0 and not with ±λ."""
    lam = 0.5
    W1 = np.array([[1.0, -1.0], [0.0, 0.0], [2.0, 1.0]])
    b1 = np.array([0.0, 0.0, -3.0])
    W2 = np.array([[0.5, -1.0, 0.25]])
    b2 = np.array([0.125])
    # Rows: z = (0, 0, 0), (−1, 0, 4), (0, 0, −6), (0, 0, −1.5); four rows
    # keep every mean a dyadic rational.
    X = np.array([[1.0, 1.0], [2.0, 3.0], [-1.0, -1.0], [0.5, 0.5]])
    T = np.array([[1.0], [-2.0], [0.5], [0.25]])
    z = X @ W1.T + b1
    assert (z == 0).sum() == 8
    model = pynn.Model([pynn.Dense(2, 3, "identity",
                                   activity_regularizer=pynn.L1Activity(lam)),
                        pynn.Dense(3, 1, "identity")], dtype=dtype)
    for layer, (W, b) in zip(model.layers, [(W1, b1), (W2, b2)]):
        layer.W[...] = W
        layer.b[...] = b
    want_loss, want = l1_oracle(W1, b1, W2, b2, X, T, lam)
    loss = model.backward(X, T)
    got = (model.layers[0].dW, model.layers[0].db,
           model.layers[1].dW, model.layers[1].db)
    # Every value here is a short sum of dyadic rationals: exact in both
    # dtypes, whatever the summation order.
    assert loss == want_loss
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert model.loss(X, T) == want_loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden,param", [("relu", 0.0), ("leaky_relu", 0.01),
                                          ("leaky_relu", 0.25)])
def test_hidden_kink_derivative_through_backward(hidden, param, dtype):
    """Hidden pre-activations of exactly 0 (and −0.0): relu′(0) = 0 and
    leaky_relu′(0) = α in Model.backward, as the float64 oracle has them."""
    W1 = np.array([[1.0, -1.0], [0.0, 0.0], [2.0, 1.0]])
    b1 = np.array([0.0, -0.0, -3.0])
    W2 = np.array([[0.5, -1.0, 0.25]])
    b2 = np.array([0.125])
    X = np.array([[1.0, 1.0], [2.0, 3.0], [-1.0, -1.0], [1.0, 1.0]])
    T = np.array([[1.0], [-2.0], [0.5], [0.0]])
    assert ((X @ W1.T + b1) == 0).sum() == 9
    p = None if hidden == "relu" else param
    model = pynn.Model([pynn.Dense(2, 3, hidden, activation_param=p),
                        pynn.Dense(3, 1, "identity")], dtype=dtype)
    for layer, (W, b) in zip(model.layers, [(W1, b1), (W2, b2)]):
        layer.W[...] = W
        layer.b[...] = b
    acts = [(hidden, param), ("identity", 0.0)]
    want_loss, grads, want_gx = oracle.backprop([(W1, b1), (W2, b2)], acts,
                                                X, T, "squared_error")
    loss = model.backward(X, T)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else \
        dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(loss, want_loss, **tol)
    for layer, (dW, db) in zip(model.layers, grads):
        np.testing.assert_allclose(layer.dW, dW, **tol)
        np.testing.assert_allclose(layer.db, db, **tol)
    np.testing.assert_allclose(model.input_gradient(X, T), want_gx, **tol)
