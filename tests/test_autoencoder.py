"""Autoencoders and stacked greedy pretraining, with dropout and sparsity (issue 7).

Covers DESIGN.md §1 "Autoencoders": tied weights, the KL / L1 activity
penalties, dropout and Gaussian noise in the compiled pass (seeded masks),
the 8-3-8 identity through a bottleneck, ``pretrain_stack`` on the digits,
``MLP.from_encoders`` with fine-tuning, save/load, bad input and the
Trainer's determinism with dropout.

Gradient checks follow tests/test_gradcheck.py: float64, central
differences over the WHOLE ``model.params`` (step 1e-6), every bias set to a
random nonzero value first, relative error ‖g − g_num‖ / (‖g‖ + ‖g_num‖)
< 1e-6.  With dropout/noise the loss is taken with the same ``noise_seed``
as ``backward``, so both see the same masks.

Run with ``-s`` to see the 8-3-8 codes, the reconstruction loss of every
pretraining stage and the pretrained vs random-init accuracies.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pynn
from pynn import _network
from pynn.datasets import load_digits, train_test_split
from pynn.io import save_model

import oracle

H = oracle.FD_STEP            # central-difference step
TOL = 1e-6


# ---------------------------------------------------------------- helpers
def randomize(model, rng, scale=1.0):
    """Random weights; every bias random and nonzero (see the module doc)."""
    model.params = rng.uniform(-scale, scale, model.n_params)
    for layer in model.layers:
        layer.b = rng.choice([-1, 1], layer.n_out) * rng.uniform(0.1, 1, layer.n_out)
    return model


def numeric_input_gradient(model, X, T, loss, noise_seed=None):
    """∂(Σ_i L_i + B·P)/∂X: what input_gradient returns (row i = sample i)."""
    X = np.array(X, dtype=np.float64)
    return oracle.numeric_gradient(
        lambda: X.shape[0] * model.loss(X, T, loss, noise_seed=noise_seed), X, H)


def penalty_oracle(reg, Z):
    """P of DESIGN.md §1 / pynn.regularization, from the layer's outputs Z."""
    Z = np.asarray(Z, dtype=np.float64)
    if isinstance(reg, pynn.KLSparsity):
        rho, rho_hat = reg.target, Z.mean(axis=0)
        kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
        return reg.weight * kl.sum()
    assert isinstance(reg, pynn.L1Activity)
    return reg.weight * np.abs(Z).sum(axis=1).mean()


def objective_oracle(model, X, T, loss):
    """mean_i L_i + Σ (penalties), in NumPy float64 from the layers' W and b.

    Reads W and b through the layer views, so a tied decoder uses the
    encoder's matrix transposed (as written in the docs, not as laid out).
    Inference mode (no dropout/noise).
    """
    layers = [(np.array(l.W, dtype=np.float64), np.array(l.b, dtype=np.float64))
              for l in model.layers]
    acts = [(l.activation.name, l.activation_param) for l in model.layers]
    us, zs = oracle.forward(layers, acts, X)
    name, param = acts[-1]
    total = oracle.sample_losses(loss, name, us[-1], T, param).mean()
    for layer, Z in zip(model.layers, zs[1:]):
        if layer.activity_regularizer is not None:
            total += penalty_oracle(layer.activity_regularizer, Z)
    return total


def targets(loss, rng, n, n_out):
    if loss == "cross_entropy":
        return rng.integers(0, n_out, size=n)
    if loss == "squared_error":
        return rng.standard_normal((n, n_out))
    return rng.uniform(0, 1, size=(n, n_out))


def forward_with_seed(model, X, seed):
    """Z_L in training mode with the masks of ``seed`` (the compiled pass)."""
    X = np.ascontiguousarray(X, dtype=model.dtype)
    work = np.empty(model._layout.workspace_size(X.shape[0]), model.dtype)
    return _network.forward(model._layout, model.params, X, work,
                            seed=seed).copy()


# ---------------------------------------------------------------- cases
def _tied_ae(rng):
    return pynn.Autoencoder([6, 4], tied=True, dtype="float64"), "binary_cross_entropy"


def _tied_ae_deep(rng):
    return (pynn.Autoencoder([6, 4, 3], hidden="tanh", output="identity",
                             tied=True, dtype="float64"), "squared_error")


def _tied_by_hand(rng):
    enc = pynn.Dense(5, 3, "tanh")
    return (pynn.Model([enc, pynn.Dense(3, 3, "sigmoid"),
                        pynn.Dense(3, 5, "identity", tied_to=enc)],
                       dtype="float64"), "squared_error")


def _kl_ae(rng):
    return (pynn.Autoencoder([6, 4], sparsity=pynn.KLSparsity(0.1, 0.7),
                             dtype="float64"), "binary_cross_entropy")


def _kl_deep(rng):
    return (pynn.Model([pynn.Dense(5, 4, "tanh"),
                        pynn.Dense(4, 4, "sigmoid",
                                   activity_regularizer=pynn.KLSparsity(0.2, 1.5)),
                        pynn.Dense(4, 3, "softmax")], dtype="float64"),
            "cross_entropy")


def _l1(rng):
    return (pynn.Model([pynn.Dense(5, 4, "tanh",
                                   activity_regularizer=pynn.L1Activity(0.3)),
                        pynn.Dense(4, 3, "softmax")], dtype="float64"),
            "cross_entropy")


def _l1_tied(rng):
    enc = pynn.Dense(5, 4, "tanh", activity_regularizer=pynn.L1Activity(0.2))
    return (pynn.Model([enc, pynn.Dense(4, 5, "identity", tied_to=enc)],
                       dtype="float64"), "squared_error")


def _dropout(rng):
    return (pynn.Model([pynn.Dropout(0.3), pynn.Dense(5, 6, "tanh"),
                        pynn.Dropout(0.5), pynn.Dense(6, 3, "softmax")],
                       dtype="float64"), "cross_entropy")


def _noise(rng):
    return (pynn.Model([pynn.GaussianNoise(0.5), pynn.Dense(5, 4, "sigmoid"),
                        pynn.GaussianNoise(0.3), pynn.Dense(4, 2, "identity")],
                       dtype="float64"), "squared_error")


def _everything(rng):
    return (pynn.Autoencoder([6, 4], tied=True, sparsity=pynn.KLSparsity(0.15, 0.5),
                             input_dropout=0.2, input_noise=0.1,
                             code_dropout=0.3, dtype="float64"),
            "binary_cross_entropy")


def _everything_deep(rng):
    return (pynn.Autoencoder([6, 5, 3], hidden="tanh", output="identity",
                             tied=True, sparsity=pynn.L1Activity(0.1),
                             input_noise=0.2, code_dropout=0.25,
                             dtype="float64"), "squared_error")


CASES = {"tied_ae": _tied_ae, "tied_ae_deep": _tied_ae_deep,
         "tied_by_hand": _tied_by_hand, "kl_ae": _kl_ae, "kl_deep": _kl_deep,
         "l1": _l1, "l1_tied": _l1_tied, "dropout": _dropout, "noise": _noise,
         "everything": _everything, "everything_deep": _everything_deep}
STOCHASTIC = {"dropout", "noise", "everything", "everything_deep"}
PENALISED = {"kl_ae", "kl_deep", "l1", "l1_tied", "everything", "everything_deep"}


def make_case(name, seed=0, batch=6):
    rng = np.random.default_rng(seed)
    model, loss = CASES[name](rng)
    randomize(model, rng)
    X = rng.uniform(0, 1, size=(batch, model.n_inputs))
    T = X.copy() if isinstance(model, pynn.Autoencoder) and \
        loss != "squared_error" else targets(loss, rng, batch, model.n_outputs)
    return model, X, T, loss


# ---------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences(name):
    model, X, T, loss = make_case(name)
    seeds = [None, 12345] if name not in STOCHASTIC else [12345, 2**40 + 7]
    p0 = model.params.copy()
    for s in seeds:
        value = model.backward(X, T, loss, noise_seed=s)
        assert value == pytest.approx(model.loss(X, T, loss, noise_seed=s), rel=1e-12)
        g = model.grads.copy()
        g_num = oracle.numeric_gradient(
            lambda: model.loss(X, T, loss, noise_seed=s), model.params)
        err = oracle.rel_error(g, g_num)
        gx = model.input_gradient(X, T, loss, noise_seed=s)
        err_x = oracle.rel_error(gx, numeric_input_gradient(model, X, T, loss, s))
        print(f"{name:>16} noise_seed={s}: params {err:.1e}  inputs {err_x:.1e}")
        assert err < TOL
        assert err_x < TOL
        assert np.abs(g).max() > 0 and np.abs(gx).max() > 0
        # input_gradient touches neither params nor grads
        np.testing.assert_array_equal(model.grads, g)
    assert model.params.tobytes() == p0.tobytes()


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_noise_seed_really_changes_the_pass(name):
    """With dropout/noise, noise_seed=s differs from inference and from s′."""
    model, X, T, loss = make_case(name)
    clean = model.loss(X, T, loss)
    model.backward(X, T, loss)
    g_clean = model.grads.copy()
    noisy = model.loss(X, T, loss, noise_seed=1)
    model.backward(X, T, loss, noise_seed=1)
    g1 = model.grads.copy()
    model.backward(X, T, loss, noise_seed=1)
    np.testing.assert_array_equal(model.grads, g1)          # same seed, same masks
    model.backward(X, T, loss, noise_seed=2)
    assert noisy != clean
    assert not np.allclose(g1, g_clean)
    assert not np.allclose(model.grads, g1)
    assert model.loss(X, T, loss, noise_seed=2) != noisy
    gx1 = model.input_gradient(X, T, loss, noise_seed=1)
    np.testing.assert_array_equal(gx1, model.input_gradient(X, T, loss, noise_seed=1))
    assert not np.allclose(gx1, model.input_gradient(X, T, loss))


@pytest.mark.parametrize("name", sorted(PENALISED - STOCHASTIC)
                         + ["tied_ae", "tied_ae_deep", "tied_by_hand"])
def test_objective_and_gradient_match_numpy_oracle(name):
    """loss = mean_i L_i + P from an independent NumPy forward pass, and the
    compiled gradient equals central differences of that oracle."""
    model, X, T, loss = make_case(name, seed=3)
    want = objective_oracle(model, X, T, loss)
    assert model.loss(X, T, loss) == pytest.approx(want, rel=1e-12, abs=1e-14)
    assert model.backward(X, T, loss) == pytest.approx(want, rel=1e-12, abs=1e-14)
    g = model.grads.copy()
    g_num = oracle.numeric_gradient(lambda: objective_oracle(model, X, T, loss),
                                   model.params)
    assert oracle.rel_error(g, g_num) < TOL


@pytest.mark.parametrize("reg", [pynn.KLSparsity(0.05, 2.0), pynn.KLSparsity(0.6, 0.3),
                                 pynn.L1Activity(0.5)])
def test_penalty_value_is_the_documented_formula(reg):
    """P = loss(with penalty) − loss(same net, same params, without it)."""
    rng = np.random.default_rng(4)
    act = "sigmoid" if isinstance(reg, pynn.KLSparsity) else "tanh"
    with_p = pynn.Model([pynn.Dense(5, 4, act, activity_regularizer=reg),
                         pynn.Dense(4, 3, "identity")], dtype="float64")
    without = pynn.Model([pynn.Dense(5, 4, act), pynn.Dense(4, 3, "identity")],
                         dtype="float64")
    randomize(with_p, rng)
    without.params = with_p.params
    X, T = rng.uniform(-1, 1, (7, 5)), rng.standard_normal((7, 3))
    Z = oracle.phi(act, X @ with_p.layers[0].W.T + with_p.layers[0].b)
    P = penalty_oracle(reg, Z)
    assert P > 0
    assert with_p.loss(X, T) - without.loss(X, T) == pytest.approx(P, rel=1e-10)
    # The penalty's gradient reaches only the layer it is on and the ones below.
    with_p.backward(X, T)
    without.backward(X, T)
    top = with_p.layers[1]
    np.testing.assert_allclose(top.dW, without.layers[1].dW, rtol=1e-13, atol=1e-15)
    assert not np.allclose(with_p.layers[0].dW, without.layers[0].dW)


def test_zero_weight_penalty_is_no_penalty():
    rng = np.random.default_rng(5)
    X, T = rng.uniform(0, 1, (6, 5)), rng.uniform(0, 1, (6, 5))
    plain = pynn.Autoencoder([5, 3], dtype="float64", seed=1)
    for reg in (pynn.KLSparsity(0.1, 0.0), pynn.L1Activity(0.0)):
        ae = pynn.Autoencoder([5, 3], dtype="float64", sparsity=reg)
        ae.params = plain.params
        assert ae.loss(X, T, "binary_cross_entropy") == \
            plain.loss(X, T, "binary_cross_entropy")


# ---------------------------------------------------------------- tied weights
def test_tied_weights_share_one_matrix():
    ae = pynn.Autoencoder([8, 3], tied=True, dtype="float64", seed=0)
    enc, dec = ae.layers
    assert dec.tied_to is enc and enc.tied_to is None
    assert dec.W.shape == (8, 3) and enc.W.shape == (3, 8)
    np.testing.assert_array_equal(dec.W, enc.W.T)
    assert np.shares_memory(dec.W, ae.params) and np.shares_memory(dec.W, enc.W)
    assert np.shares_memory(dec.dW, ae.grads)
    # n_params counts the shared matrix once: W (3×8), b_enc (3), b_dec (8).
    assert ae.n_params == 3 * 8 + 3 + 8 == sum(l.n_params for l in ae.layers)
    assert dec.n_params == 8
    assert pynn.Autoencoder([8, 3], tied=False).n_params == 2 * 3 * 8 + 3 + 8
    # Writing either one changes the other.
    enc.W[1, 5] = 0.75
    assert dec.W[5, 1] == 0.75
    dec.W[2, 0] = -0.5
    assert enc.W[0, 2] == -0.5
    M = np.arange(24.0).reshape(8, 3) / 24
    dec.W = M
    np.testing.assert_array_equal(enc.W, M.T)
    ae.params = np.linspace(-1, 1, ae.n_params)
    np.testing.assert_array_equal(dec.W, enc.W.T)
    np.testing.assert_array_equal(enc.W.ravel(), ae.params[:24])
    # initialize() redraws the shared matrix once and keeps the tie.
    ae.initialize(seed=3)
    np.testing.assert_array_equal(dec.W, enc.W.T)
    assert np.abs(enc.W).max() > 0 and not dec.b.any()


def test_tied_by_hand_model_layout():
    enc1, enc2 = pynn.Dense(6, 4, "tanh"), pynn.Dense(4, 2, "tanh")
    dec2 = pynn.Dense(2, 4, "tanh", tied_to=enc2)
    dec1 = pynn.Dense(4, 6, "identity", tied_to=enc1)
    m = pynn.Model([enc1, enc2, dec2, dec1], dtype="float64", seed=0)
    assert m.n_params == 6 * 4 + 4 + 4 * 2 + 2 + 4 + 6
    np.testing.assert_array_equal(dec1.W, enc1.W.T)
    np.testing.assert_array_equal(dec2.W, enc2.W.T)
    assert np.shares_memory(dec2.W, enc2.W) and not np.shares_memory(dec2.W, enc1.W)
    X = np.random.default_rng(0).uniform(-1, 1, (5, 6))
    us = np.tanh(X @ enc1.W.T + enc1.b)
    us = np.tanh(us @ enc2.W.T + enc2.b)
    us = np.tanh(us @ enc2.W + dec2.b)
    np.testing.assert_allclose(m(X), us @ enc1.W + dec1.b, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("sizes,hidden,output,loss", [
    ([8, 3], "sigmoid", "sigmoid", "binary_cross_entropy"),
    ([7, 5, 3], "tanh", "identity", "squared_error")])
def test_tied_gradient_is_the_sum_of_both_uses(sizes, hidden, output, loss):
    """dW_enc(tied) == dW_enc(untied) + dW_dec(untied)ᵀ with equal matrices."""
    rng = np.random.default_rng(6)
    tied = pynn.Autoencoder(sizes, hidden=hidden, output=output, tied=True,
                            dtype="float64")
    untied = pynn.Autoencoder(sizes, hidden=hidden, output=output, tied=False,
                              dtype="float64")
    randomize(tied, rng)
    k = len(sizes) - 1
    for i in range(k):
        untied.layers[i].W = tied.layers[i].W
        untied.layers[-1 - i].W = tied.layers[i].W.T
    for lt, lu in zip(tied.layers, untied.layers):
        lu.b = lt.b
        np.testing.assert_array_equal(lt.W, lu.W)
    X = rng.uniform(0, 1, (9, sizes[0]))
    # same numbers (the transposed product may round differently in the last bit)
    assert tied.backward(X, X, loss) == pytest.approx(untied.backward(X, X, loss),
                                                      rel=1e-13)
    np.testing.assert_allclose(tied(X), untied(X), rtol=1e-13, atol=1e-15)
    for i in range(k):
        want = untied.layers[i].dW + untied.layers[-1 - i].dW.T
        np.testing.assert_allclose(tied.layers[i].dW, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(tied.layers[-1 - i].dW, tied.layers[i].dW.T)
        assert np.abs(untied.layers[-1 - i].dW).max() > 0   # both uses count
    for lt, lu in zip(tied.layers, untied.layers):
        np.testing.assert_allclose(lt.db, lu.db, rtol=1e-12, atol=1e-15)


def _sgd_expectation(model, X, T, loss, lr):
    p0 = model.params.copy()
    model.backward(X, T, loss)
    return p0, p0 - lr * model.grads


@pytest.mark.parametrize("via", ["train_step", "trainer_sgd", "trainer_momentum"])
def test_tied_sgd_step_updates_both_consistently(via):
    """One full-batch step on a one-layer tied autoencoder = params − η∇."""
    rng = np.random.default_rng(7)
    ae = randomize(pynn.Autoencoder([8, 3], tied=True, dtype="float64"), rng)
    X = rng.uniform(0, 1, (10, 8))
    p0, want = _sgd_expectation(ae, X, X, "binary_cross_entropy", 0.5)
    if via == "train_step":
        ae.train_step(X, X, "binary_cross_entropy", lr=0.5)
    else:
        # momentum's first step from zero velocity is the plain step
        pynn.Trainer(ae, loss="binary_cross_entropy", optimizer=via[8:], lr=0.5,
                     batch_size=None, epochs=1, shuffle=False).fit(X, X)
    np.testing.assert_allclose(ae.params, want, rtol=1e-12, atol=1e-15)
    enc, dec = ae.layers
    np.testing.assert_array_equal(dec.W, enc.W.T)
    assert np.shares_memory(dec.W, ae.params)
    assert not np.allclose(enc.W, p0[:24].reshape(3, 8))


def test_tied_training_keeps_the_tie_over_many_steps():
    rng = np.random.default_rng(8)
    ae = pynn.Autoencoder([8, 4], tied=True, seed=1)
    X = rng.uniform(0, 1, (40, 8)).astype(np.float32)
    h = pynn.Trainer(ae, loss="binary_cross_entropy", optimizer="adam", lr=0.01,
                     batch_size=8, epochs=30, seed=0).fit(X, X)
    assert h.loss[-1] < h.loss[0]
    np.testing.assert_array_equal(ae.layers[1].W, ae.layers[0].W.T)


@pytest.mark.parametrize("via", ["train_step", "trainer_sgd"])
def test_deep_tied_sgd_step_is_params_minus_lr_grads(via):
    rng = np.random.default_rng(9)
    ae = randomize(pynn.Autoencoder([6, 4, 3], hidden="tanh", output="identity",
                                    tied=True, dtype="float64"), rng)
    X = rng.uniform(0, 1, (5, 6))
    _, want = _sgd_expectation(ae, X, X, "squared_error", 0.5)
    if via == "train_step":
        ae.train_step(X, X, lr=0.5)
    else:
        pynn.Trainer(ae, optimizer="sgd", lr=0.5, batch_size=None, epochs=1,
                     shuffle=False).fit(X, X)
    np.testing.assert_allclose(ae.params, want, rtol=1e-12, atol=1e-15)


def test_deep_tied_step_with_gradient_buffer_is_exact():
    """The same deep tied step through the gradient buffer (adam's path, or
    sgd with l2=0 but clip_norm set huge) is params − η·grads: the bug above
    is specific to the fused SGD update."""
    rng = np.random.default_rng(9)
    ae = randomize(pynn.Autoencoder([6, 4, 3], hidden="tanh", output="identity",
                                    tied=True, dtype="float64"), rng)
    X = rng.uniform(0, 1, (5, 6))
    _, want = _sgd_expectation(ae, X, X, "squared_error", 0.5)
    pynn.Trainer(ae, optimizer="sgd", lr=0.5, batch_size=None, epochs=1,
                 shuffle=False, clip_norm=1e300).fit(X, X)
    np.testing.assert_allclose(ae.params, want, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- dropout statistics
def identity_net(n, *between, first=()):
    """Dense(n, n, identity) W = I, b = 0, twice, with layers in between."""
    m = pynn.Model([*first, pynn.Dense(n, n), *between, pynn.Dense(n, n)],
                   dtype="float64")
    for layer in m.layers:
        layer.W = np.eye(n)
        layer.b = np.zeros(n)
    return m


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("where", ["hidden", "input"])
def test_dropout_rate_and_scaling(p, where):
    n, B = 50, 400
    m = identity_net(n, pynn.Dropout(p)) if where == "hidden" else \
        identity_net(n, first=[pynn.Dropout(p)])
    X = np.random.default_rng(10).uniform(0.5, 2.0, (B, n))
    D = forward_with_seed(m, X, seed=11)
    dropped = D == 0
    N = D.size
    frac = dropped.mean()
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / N), frac
    # every unit (column) is dropped at about the rate, none always / never
    per_unit = dropped.mean(axis=0)
    assert np.all(np.abs(per_unit - p) < 6 * np.sqrt(p * (1 - p) / B))
    # kept units are scaled by exactly 1/(1−p): M = 1/(1−p) (inverted dropout)
    keep = 1.0 / (1.0 - p)
    np.testing.assert_array_equal(D[~dropped], X[~dropped] * keep)
    # E[D] = Z: the mean over the batch is unbiased
    assert abs(D.mean() / X.mean() - 1) < 6 * np.sqrt(p / (1 - p) / N) + 0.01
    # the public loss uses exactly these masks: ½ mean_i ‖D_i‖² with T = 0
    assert m.loss(X, np.zeros((B, n)), noise_seed=11) == pytest.approx(
        0.5 * (D ** 2).sum(axis=1).mean(), rel=1e-13)


def test_dropout_mask_through_the_public_input_gradient():
    """[Dropout(p), Dense(I)], squared error with T = 0 and X = 1: the input
    gradient is (X ⊙ M) ⊙ M = M², i.e. 0 or 1/(1−p)²."""
    p, n, B = 0.4, 30, 300
    m = pynn.Model([pynn.Dropout(p), pynn.Dense(n, n)], dtype="float64")
    m.layers[0].W = np.eye(n)
    m.layers[0].b = np.zeros(n)
    X = np.ones((B, n))
    gx = m.input_gradient(X, np.zeros((B, n)), noise_seed=5)
    keep = 1 / (1 - p)
    assert set(np.unique(gx)) == {0.0, keep * keep}
    assert abs((gx == 0).mean() - p) < 5 * np.sqrt(p * (1 - p) / gx.size)
    np.testing.assert_array_equal(gx, m.input_gradient(X, np.zeros((B, n)), noise_seed=5))
    np.testing.assert_array_equal(m.input_gradient(X, np.zeros((B, n))), X)


def test_inference_is_deterministic_and_equals_the_network_without_dropout():
    rng = np.random.default_rng(12)
    layers = lambda reg: [*( [pynn.Dropout(0.2), pynn.GaussianNoise(0.1)] if reg else []),
                          pynn.Dense(6, 5, "tanh"), *([pynn.Dropout(0.5)] if reg else []),
                          pynn.Dense(5, 4, "sigmoid"),
                          *([pynn.GaussianNoise(0.3)] if reg else []),
                          pynn.Dense(4, 3, "softmax")]
    noisy = randomize(pynn.Model(layers(True), dtype="float64"), rng)
    plain = pynn.Model(layers(False), dtype="float64")
    plain.params = noisy.params
    X, y = rng.uniform(-1, 1, (20, 6)), rng.integers(0, 3, 20)
    out = noisy(X)
    np.testing.assert_array_equal(out, noisy(X))
    np.testing.assert_array_equal(out, plain(X))
    np.testing.assert_array_equal(out, noisy.forward(X))
    assert noisy.loss(X, y, "cross_entropy") == plain.loss(X, y, "cross_entropy")
    noisy.backward(X, y, "cross_entropy")
    plain.backward(X, y, "cross_entropy")
    np.testing.assert_array_equal(noisy.grads, plain.grads)
    # training mode really differs
    assert not np.allclose(forward_with_seed(noisy, X, 1), out)


def test_same_seed_same_mask_different_seed_different_mask():
    m = identity_net(40, pynn.Dropout(0.5))
    X = np.ones((25, 40))
    a, b = forward_with_seed(m, X, 3), forward_with_seed(m, X, 3)
    np.testing.assert_array_equal(a, b)
    masks = [forward_with_seed(m, X, s) == 0 for s in range(6)]
    for i in range(6):
        for j in range(i + 1, 6):
            # independent masks agree on about half the units, never all
            agree = (masks[i] == masks[j]).mean()
            assert 0.4 < agree < 0.6
    # seeds beyond 64 bits and negative seeds are accepted
    forward_with_seed(m, X, -1)
    m.loss(X, X, noise_seed=2**70)
    # rows get different masks within one call
    assert len({r.tobytes() for r in masks[0]}) == 25


@pytest.mark.parametrize("sigma", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("where", ["hidden", "input"])
def test_gaussian_noise_statistics(sigma, where):
    n, B = 40, 500
    m = identity_net(n, pynn.GaussianNoise(sigma)) if where == "hidden" else \
        identity_net(n, first=[pynn.GaussianNoise(sigma)])
    X = np.random.default_rng(13).uniform(-1, 1, (B, n))
    E = forward_with_seed(m, X, seed=21) - X
    N = E.size
    assert abs(E.mean()) < 5 * sigma / np.sqrt(N)
    assert abs(E.std() / sigma - 1) < 5 / np.sqrt(2 * N)
    # roughly normal: P(|ε| < σ) ≈ 0.6827, P(|ε| < 2σ) ≈ 0.9545
    assert abs((np.abs(E) < sigma).mean() - 0.6827) < 0.015
    assert abs((np.abs(E) < 2 * sigma).mean() - 0.9545) < 0.01
    # uncorrelated across neighbouring units and samples
    assert abs(np.corrcoef(E[:, :-1].ravel(), E[:, 1:].ravel())[0, 1]) < 0.05
    assert abs(np.corrcoef(E[:-1].ravel(), E[1:].ravel())[0, 1]) < 0.05
    np.testing.assert_array_equal(m(X), X)            # none at inference


def test_dropout_then_noise_at_one_position():
    """D = Z ⊙ M + σ ε: dropped units carry pure noise N(0, σ²)."""
    p, sigma, n, B = 0.5, 0.3, 40, 500
    m = identity_net(n, pynn.Dropout(p), pynn.GaussianNoise(sigma))
    X = np.full((B, n), 5.0)
    D = forward_with_seed(m, X, 4)
    low = D < 5.0 / (1 - p) / 2                # dropped: around 0
    assert abs(low.mean() - p) < 5 * np.sqrt(p * (1 - p) / D.size)
    assert abs(D[low].std() / sigma - 1) < 0.05
    assert abs(D[~low].mean() - 10.0) < 0.02


# ---------------------------------------------------------------- 8-3-8
@pytest.mark.parametrize("tied", [False, True])
def test_838_learns_the_identity_through_a_bottleneck(tied):
    X = np.eye(8)
    ae = pynn.Autoencoder([8, 3], tied=tied, dtype="float64", seed=0)
    h = pynn.Trainer(ae, loss="binary_cross_entropy", optimizer="adam", lr=0.05,
                     batch_size=None, epochs=2000, seed=0).fit(X, X)
    assert h.loss[-1] < 0.02 < h.loss[0]
    R = ae.reconstruct(X)
    np.testing.assert_array_equal(R.argmax(axis=1), np.arange(8))
    assert h.accuracy[-1] == 1.0               # every bit on the right side of ½
    C = ae.encode(X)
    assert C.shape == (8, 3)
    assert np.all((C > 0) & (C < 1))
    # eight distinct codes in three units
    dist = np.linalg.norm(C[:, None] - C[None], axis=2)
    assert dist[~np.eye(8, dtype=bool)].min() > 0.3
    np.testing.assert_allclose(ae.decode(C), R, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        C, oracle.sigmoid(X @ ae.layers[0].W.T + ae.layers[0].b), rtol=1e-12)
    print(f"\n8-3-8 codes ({'tied' if tied else 'untied'}), rows = inputs 0..7:")
    print(np.array2string(C, precision=3, suppress_small=True))
    print("rounded:", [''.join(str(int(v)) for v in row) for row in np.round(C)])


def test_encode_decode_of_deep_tied_autoencoder_with_regularisers():
    rng = np.random.default_rng(14)
    ae = randomize(pynn.Autoencoder([10, 6, 3], tied=True, input_dropout=0.3,
                                    code_dropout=0.2, input_noise=0.1,
                                    sparsity=pynn.KLSparsity(0.1), dtype="float64"),
                   rng)
    X = rng.uniform(0, 1, (7, 10))
    C = ae.encode(X)
    assert C.shape == (7, 3) and ae.code_size == 3 and ae.n_encoder_layers == 2
    assert len(ae.encoder_layers) == len(ae.decoder_layers) == 2
    np.testing.assert_allclose(ae.decode(C), ae.reconstruct(X), rtol=1e-12)
    np.testing.assert_array_equal(ae.encode(X), C)
    e1, e2 = ae.encoder_layers
    want = oracle.sigmoid(oracle.sigmoid(X @ e1.W.T + e1.b) @ e2.W.T + e2.b)
    np.testing.assert_allclose(C, want, rtol=1e-12)
    assert [l.tied_to for l in ae.decoder_layers] == [e2, e1]
    assert ae.layers[1].activity_regularizer is not None
    assert ae.layers[0].activity_regularizer is None


# ---------------------------------------------------------------- pretraining
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(scale=True)
    return train_test_split(X, y, test_size=0.25, stratify=True, seed=0)


@pytest.fixture(scope="module")
def pretrained(digits):
    Xtr = digits[0]
    return pynn.pretrain_stack(Xtr, [64, 32, 16], optimizer="adam", lr=3e-3,
                               batch_size=32, epochs=20, seed=0)


def test_pretrain_stack_on_digits(digits, pretrained):
    Xtr = digits[0]
    assert len(pretrained) == 2
    codes = Xtr
    print()
    for i, (ae, width) in enumerate(zip(pretrained, [32, 16])):
        assert isinstance(ae, pynn.Autoencoder)
        assert ae.sizes == [codes.shape[1], width, codes.shape[1]]
        before, after = ae.stage_loss_
        print(f"pretraining stage {i + 1} ({codes.shape[1]}-{width}-"
              f"{codes.shape[1]}, {ae.loss_name_}): reconstruction loss "
              f"{before:.4f} -> {after:.4f}")
        assert after < before
        assert after < 0.8 * before
        # data in [0, 1] (pixels/16, then sigmoid codes): BCE, sigmoid output
        assert ae.loss_name_ == "binary_cross_entropy"
        assert ae.layers[-1].activation.name == "sigmoid"
        assert len(ae.history_.loss) == 20
        assert ae.stage_loss_[1] == pytest.approx(
            ae.loss(codes, codes, ae.loss_name_), rel=1e-6)
        nxt = ae.encode(codes)
        assert nxt.shape == (Xtr.shape[0], width)
        assert np.all((nxt > 0) & (nxt < 1))
        codes = nxt


def test_pretrain_stack_variants_and_squared_error():
    """Unscaled pixels (0..16) → squared error with identity output first;
    tied + sparsity + denoising stages also reduce their loss."""
    X, _ = load_digits()
    X = X[:300]
    aes = pynn.pretrain_stack(X, [64, 20, 8], tied=True,
                              sparsity=pynn.KLSparsity(0.1, 0.1),
                              input_noise=0.1, input_dropout=0.1, lr=5e-3,
                              epochs=15, seed=1)
    assert [a.loss_name_ for a in aes] == ["squared_error", "binary_cross_entropy"]
    assert aes[0].layers[-1].activation.name == "identity"
    for ae in aes:
        assert ae.tied and ae.stage_loss_[1] < ae.stage_loss_[0]
        assert ae.layers[0].activity_regularizer is not None
    assert aes[1].encode(aes[0].encode(X)).shape == (300, 8)
    # deterministic given the seed
    again = pynn.pretrain_stack(X, [64, 20, 8], tied=True,
                                sparsity=pynn.KLSparsity(0.1, 0.1),
                                input_noise=0.1, input_dropout=0.1, lr=5e-3,
                                epochs=15, seed=1)
    for a, b in zip(aes, again):
        assert a.params.tobytes() == b.params.tobytes()


def test_from_encoders_copies_and_adds_a_softmax_head(pretrained):
    mlp = pynn.MLP.from_encoders(pretrained, 10, seed=0)
    assert isinstance(mlp, pynn.MLP)
    assert mlp.sizes == [64, 32, 16, 10]
    assert [l.activation.name for l in mlp.layers] == ["sigmoid", "sigmoid", "softmax"]
    assert mlp.dtype == pretrained[0].dtype
    for src, dst in zip([a.layers[0] for a in pretrained], mlp.layers):
        np.testing.assert_array_equal(dst.W, src.W)
        np.testing.assert_array_equal(dst.b, src.b)
        assert not np.shares_memory(dst.W, src.W)
        assert dst.tied_to is None and dst.activity_regularizer is None
    before = [a.params.copy() for a in pretrained]
    mlp.layers[0].W[0, 0] += 1.0
    assert pretrained[0].layers[0].W[0, 0] != mlp.layers[0].W[0, 0]
    X = np.random.default_rng(0).uniform(0, 1, (5, 64))
    np.testing.assert_allclose(mlp(X).sum(axis=1), 1.0, rtol=1e-5)
    for a, b in zip(pretrained, before):
        np.testing.assert_array_equal(a.params, b)
    # Dense layers of a model (e.g. of a loaded autoencoder) work too
    also = pynn.MLP.from_encoders([pretrained[0].layers[0], pretrained[1].layers[0]],
                                  4, output="sigmoid", seed=0)
    assert also.sizes == [64, 32, 16, 4]
    assert also.layers[-1].activation.name == "sigmoid"


def test_from_tied_autoencoder():
    ae = pynn.Autoencoder([12, 7, 4], tied=True, hidden="tanh", dtype="float64", seed=2)
    mlp = pynn.MLP.from_encoders([ae], 3, seed=0)
    assert mlp.sizes == [12, 7, 4, 3] and mlp.n_params == 12 * 7 + 7 + 7 * 4 + 4 + 4 * 3 + 3
    for src, dst in zip(ae.encoder_layers, mlp.layers):
        np.testing.assert_array_equal(dst.W, src.W)
        assert dst.activation.name == "tanh"
    np.testing.assert_allclose(
        mlp._forward_range(np.eye(12), 0, 2), ae.encode(np.eye(12)), rtol=1e-13)


def test_pretrained_fine_tuning_beats_random_init(digits, pretrained):
    Xtr, Xte, ytr, yte = digits
    kw = dict(loss="cross_entropy", optimizer="momentum", lr=0.05,
              batch_size=32, epochs=10, seed=1)
    pre = pynn.MLP.from_encoders(pretrained, 10, seed=0)
    rnd = pynn.MLP([64, 32, 16, 10], hidden="sigmoid", output="softmax", seed=0)
    enc0 = pretrained[0].params.copy()
    pynn.Trainer(pre, **kw).fit(Xtr, ytr)
    pynn.Trainer(rnd, **kw).fit(Xtr, ytr)
    acc_pre = float((pre(Xte).argmax(axis=1) == yte).mean())
    acc_rnd = float((rnd(Xte).argmax(axis=1) == yte).mean())
    print(f"\ndigits test accuracy after 10 fine-tuning epochs (momentum, "
          f"lr 0.05, batch 32): pretrained {acc_pre:.4f}, random init {acc_rnd:.4f}")
    assert acc_pre >= acc_rnd - 0.005
    assert acc_pre > 0.9
    # fine-tuning changed the classifier's copies, not the autoencoders
    np.testing.assert_array_equal(pretrained[0].params, enc0)
    assert not np.array_equal(pre.layers[0].W, pretrained[0].layers[0].W)


# ---------------------------------------------------------------- save / load
def _saved_models():
    enc1, enc2 = pynn.Dense(6, 4, "tanh"), pynn.Dense(4, 2, "leaky_relu", 0.2,
                                                       activity_regularizer=pynn.L1Activity(0.05))
    by_hand = pynn.Model([pynn.GaussianNoise(0.2), enc1, pynn.Dropout(0.1), enc2,
                          pynn.Dense(2, 4, "tanh", tied_to=enc2), pynn.Dropout(0.3),
                          pynn.Dense(4, 6, "identity", tied_to=enc1)], dtype="float64")
    return {
        "ae_tied_kl": pynn.Autoencoder([6, 3], tied=True,
                                       sparsity=pynn.KLSparsity(0.07, 0.4),
                                       input_noise=0.1, input_dropout=0.2,
                                       code_dropout=0.3, dtype="float64"),
        "ae_float32": pynn.Autoencoder([6, 4, 2], tied=True,
                                       sparsity=pynn.L1Activity(0.01)),
        "by_hand": by_hand,
        "dropout_mlp": pynn.Model([pynn.Dense(6, 5, "relu"), pynn.Dropout(0.5),
                                   pynn.Dense(5, 6, "softmax")], dtype="float64"),
    }


@pytest.mark.parametrize("name", sorted(_saved_models()))
def test_save_load_round_trip(name, tmp_path):
    rng = np.random.default_rng(15)
    model = randomize(_saved_models()[name], rng)
    path = tmp_path / f"{name}.npz"
    save_model(model, path)
    back = pynn.load(path)
    assert back.architecture() == model.architecture()
    assert back.dtype == model.dtype and back.n_params == model.n_params
    assert back.params.tobytes() == model.params.tobytes()
    X = rng.uniform(0, 1, (5, 6)).astype(model.dtype)
    np.testing.assert_array_equal(back(X), model(X))
    # training-mode pass: same dropout/noise positions, rates and penalties
    T = rng.uniform(0, 1, (5, 6))
    loss = "squared_error" if model.layers[-1].activation.name == "identity" \
        else "binary_cross_entropy"
    assert back.loss(X, T, loss, noise_seed=9) == model.loss(X, T, loss, noise_seed=9)
    model.backward(X, T, loss, noise_seed=9)
    back.backward(X, T, loss, noise_seed=9)
    np.testing.assert_array_equal(back.grads, model.grads)
    for a, b in zip(model.layers, back.layers):
        assert (a.tied_to is None) == (b.tied_to is None)
        if b.tied_to is not None:
            assert np.shares_memory(b.W, b.tied_to.W)
            np.testing.assert_array_equal(b.W, b.tied_to.W.T)
    # Model.copy goes through the same architecture data
    if not isinstance(model, pynn.Autoencoder):
        dup = model.copy()
        assert dup.architecture() == model.architecture()
        np.testing.assert_array_equal(dup(X), model(X))
        dup.layers[0].W[0, 0] += 1
        assert dup.layers[0].W[0, 0] != model.layers[0].W[0, 0]


def test_autoencoder_copy():
    ae = pynn.Autoencoder([8, 3], tied=True, dtype="float64", seed=0)
    dup = ae.copy()
    X = np.eye(8)
    np.testing.assert_array_equal(dup.encode(X), ae.encode(X))
    assert dup.code_size == 3 and dup.tied


# ---------------------------------------------------------------- bad input
def _model_with(*layers):
    return lambda: pynn.Model(list(layers))


_enc = pynn.Dense(8, 3)
BAD = [
    ("Dropout(1.0)", lambda: pynn.Dropout(1.0), ValueError, "rate"),
    ("Dropout(-0.1)", lambda: pynn.Dropout(-0.1), ValueError, "rate"),
    ("Dropout(nan)", lambda: pynn.Dropout(float("nan")), ValueError, "rate"),
    ("Dropout('0.5')", lambda: pynn.Dropout("0.5"), ValueError, "rate"),
    ("GaussianNoise(-1)", lambda: pynn.GaussianNoise(-1), ValueError, "std"),
    ("GaussianNoise(inf)", lambda: pynn.GaussianNoise(float("inf")), ValueError, "std"),
    ("KLSparsity(target=0)", lambda: pynn.KLSparsity(target=0), ValueError, "target"),
    ("KLSparsity(target=1)", lambda: pynn.KLSparsity(target=1), ValueError, "target"),
    ("KLSparsity(weight=-1)", lambda: pynn.KLSparsity(weight=-1), ValueError, "weight"),
    ("L1Activity(-1)", lambda: pynn.L1Activity(-1e-3), ValueError, "weight"),
    ("tied_to wrong shape", lambda: pynn.Dense(3, 8, tied_to=pynn.Dense(8, 4)),
     ValueError, "tied_to"),
    ("tied_to same shape", lambda: pynn.Dense(3, 8, tied_to=pynn.Dense(3, 8)),
     ValueError, "tied_to"),
    ("tied_to not a Dense", lambda: pynn.Dense(3, 8, tied_to="enc"), TypeError, "tied_to"),
    ("tied_to a tied layer", lambda: pynn.Dense(
        8, 3, tied_to=pynn.Dense(3, 8, tied_to=pynn.Dense(8, 3))), ValueError, "tied_to"),
    ("tied_to not in model", _model_with(pynn.Dense(8, 3),
                                         pynn.Dense(3, 8, tied_to=pynn.Dense(8, 3))),
     ValueError, "tied"),
    ("tied_to a later layer", lambda: (lambda d: pynn.Model(
        [pynn.Dense(3, 8, tied_to=d), d]))(pynn.Dense(8, 3)), ValueError, "tied"),
    ("Dropout after the output", _model_with(pynn.Dense(8, 3), pynn.Dropout(0.5)),
     ValueError, "Dropout"),
    ("GaussianNoise after the output", _model_with(pynn.Dense(8, 3),
                                                   pynn.GaussianNoise(0.5)),
     ValueError, "GaussianNoise"),
    ("two Dropouts at one position", _model_with(
        pynn.Dense(8, 3), pynn.Dropout(0.5), pynn.Dropout(0.2), pynn.Dense(3, 2)),
     ValueError, "Dropout"),
    ("only a Dropout", _model_with(pynn.Dropout(0.5)), ValueError, "Dense"),
    ("activity_regularizer on output", _model_with(
        pynn.Dense(8, 3), pynn.Dense(3, 2, activity_regularizer=pynn.L1Activity())),
     ValueError, "activity_regularizer"),
    ("activity_regularizer on a one-layer model", _model_with(
        pynn.Dense(8, 3, "sigmoid", activity_regularizer=pynn.KLSparsity())),
     ValueError, "activity_regularizer"),
    ("KLSparsity on an identity layer", lambda: pynn.Dense(
        8, 3, "identity", activity_regularizer=pynn.KLSparsity()),
     ValueError, "activity_regularizer"),
    ("activity_regularizer a number", lambda: pynn.Dense(8, 3, activity_regularizer=0.1),
     TypeError, "activity_regularizer"),
    ("Autoencoder input_dropout=1", lambda: pynn.Autoencoder([8, 3], input_dropout=1.0),
     ValueError, "rate"),
    ("Autoencoder input_noise=-1", lambda: pynn.Autoencoder([8, 3], input_noise=-1),
     ValueError, "std"),
    ("Autoencoder sizes=[8]", lambda: pynn.Autoencoder([8]), ValueError, "sizes"),
    ("pretrain_stack sizes=[8]", lambda: pynn.pretrain_stack(np.eye(8), [8]),
     ValueError, "sizes"),
    ("pretrain_stack wrong width", lambda: pynn.pretrain_stack(np.eye(8), [7, 3]),
     ValueError, "sizes"),
    ("pretrain_stack epochs=0", lambda: pynn.pretrain_stack(np.eye(8), [8, 3], epochs=0),
     ValueError, "epochs"),
    ("from_encoders empty", lambda: pynn.MLP.from_encoders([], 3), ValueError, "encoders"),
    ("from_encoders str", lambda: pynn.MLP.from_encoders(["ae"], 3), TypeError, "encoders"),
    ("from_encoders unattached Dense", lambda: pynn.MLP.from_encoders(
        [pynn.Dense(8, 3)], 3), TypeError, "encoders"),
    ("from_encoders n_classes=0", lambda: pynn.MLP.from_encoders(
        [pynn.Autoencoder([8, 3])], 0), ValueError, "n_classes"),
    ("from_encoders do not chain", lambda: pynn.MLP.from_encoders(
        [pynn.Autoencoder([8, 3]), pynn.Autoencoder([4, 2])], 3), ValueError, "input"),
]


@pytest.mark.parametrize("what,make,exc,word", BAD, ids=[b[0] for b in BAD])
def test_bad_input(what, make, exc, word):
    with pytest.raises(exc, match=word):
        make()


@pytest.mark.parametrize("method", ["backward", "loss", "input_gradient", "train_step"])
@pytest.mark.parametrize("seed", ["x", 1.5, True, [1], np.float64(2.0)])
def test_bad_noise_seed(method, seed):
    ae = pynn.Autoencoder([8, 3], input_dropout=0.2, dtype="float64", seed=0)
    p0 = ae.params.copy()
    with pytest.raises(TypeError, match="noise_seed"):
        getattr(ae, method)(np.eye(8), np.eye(8), "binary_cross_entropy",
                            noise_seed=seed)
    assert ae.params.tobytes() == p0.tobytes()


def test_numpy_integer_noise_seed_is_accepted():
    ae = pynn.Autoencoder([8, 3], input_dropout=0.2, dtype="float64", seed=0)
    X = np.eye(8)
    assert ae.loss(X, X, noise_seed=np.int64(4)) == ae.loss(X, X, noise_seed=4)


def test_bad_architecture_data():
    arch = pynn.Autoencoder([8, 3], tied=True).architecture()
    for patch in ({"tied_to": 1}, {"tied_to": -1}, {"tied_to": True},
                  {"tied_to": "0"}, {"activity_regularizer": {"type": "L2"}},
                  {"activity_regularizer": {"type": "KLSparsity", "target": 2.0,
                                            "weight": 1.0}}):
        bad = {"dtype": arch["dtype"], "layers": [dict(l) for l in arch["layers"]]}
        bad["layers"][-1].update(patch)
        with pytest.raises((ValueError, TypeError)):
            pynn.Model.from_architecture(bad)
    bad = {"dtype": arch["dtype"], "layers": arch["layers"] + [{"type": "Dropout",
                                                                 "rate": 1.5}]}
    with pytest.raises(ValueError, match="rate"):
        pynn.Model.from_architecture(bad)


# ---------------------------------------------------------------- Trainer with dropout
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_trainer_with_dropout_is_deterministic_given_its_seed(optimizer):
    rng = np.random.default_rng(16)
    X = rng.uniform(0, 1, (60, 10))

    def train(seed, **reg):
        ae = pynn.Autoencoder([10, 4], dtype="float64", seed=3, **reg)
        h = pynn.Trainer(ae, loss="binary_cross_entropy", optimizer=optimizer,
                         lr=0.1 if optimizer == "sgd" else 0.01, batch_size=10,
                         epochs=5, shuffle=False, seed=seed).fit(X, X)
        return ae.params.copy(), h.loss

    reg = dict(input_dropout=0.3, code_dropout=0.2, input_noise=0.05)
    a, la = train(0, **reg)
    b, lb = train(0, **reg)
    assert a.tobytes() == b.tobytes() and la == lb
    c, _ = train(1, **reg)
    assert not np.allclose(a, c)              # with shuffle off only the masks differ
    d, _ = train(0)                            # same seed, no dropout
    e, _ = train(1)
    assert d.tobytes() == e.tobytes()          # the seed drives only the masks here
    assert not np.allclose(a, d)


def test_trainer_with_dropout_resumes_bit_identically(tmp_path):
    rng = np.random.default_rng(17)
    X = rng.uniform(0, 1, (60, 10))
    kw = dict(loss="binary_cross_entropy", optimizer="adam", lr=0.01,
              batch_size=10, seed=0)
    make = lambda s: pynn.Autoencoder([10, 4], dtype="float64", seed=s,
                                      input_dropout=0.3, code_dropout=0.2)
    full = make(3)
    hf = pynn.Trainer(full, epochs=5, **kw).fit(X, X)
    path = tmp_path / "c.npz"
    pynn.Trainer(make(3), epochs=3, checkpoint_path=path, checkpoint_every=3,
                 **kw).fit(X, X)
    fresh = make(99)
    h = pynn.Trainer(fresh, epochs=5, **kw).fit(X, X, resume_from=path)
    assert fresh.params.tobytes() == full.params.tobytes()
    assert h.loss == hf.loss


class _FakeClock:
    """Stands in for pynn.trainer's ``time``: every perf_counter() call
    advances by ``tick`` seconds (a fast or a slow machine)."""

    def __init__(self, tick):
        self.t, self.tick = 0.0, tick

    def perf_counter(self):
        self.t += self.tick
        return self.t


def _train_verbose(monkeypatch, tick, **reg):
    import pynn.trainer
    monkeypatch.setattr(pynn.trainer, "time", _FakeClock(tick))
    X = np.random.default_rng(18).uniform(0, 1, (80, 10))
    ae = pynn.Autoencoder([10, 4], dtype="float64", seed=3, **reg)
    pynn.Trainer(ae, loss="binary_cross_entropy", optimizer="adam", lr=0.01,
                 batch_size=10, epochs=3, seed=0, verbose=1).fit(X, X)
    return ae.params.copy()


def test_verbose_timing_does_not_change_a_deterministic_fit(monkeypatch, capsys):
    """Control for the xfail below: without dropout the machine's speed (how
    many batches each compiled call takes with a progress bar) is irrelevant."""
    fast = _train_verbose(monkeypatch, 1e-9)
    slow = _train_verbose(monkeypatch, 1.0)
    assert fast.tobytes() == slow.tobytes()


def test_verbose_timing_does_not_change_a_fit_with_dropout(monkeypatch, capsys):
    fast = _train_verbose(monkeypatch, 1e-9, input_dropout=0.3)
    slow = _train_verbose(monkeypatch, 1.0, input_dropout=0.3)
    assert fast.tobytes() == slow.tobytes()


def test_autoencoder_save_load_keeps_encode(tmp_path):
    """pynn.load gives back an Autoencoder (encode/decode, code_size)."""
    ae = pynn.Autoencoder([8, 4, 3], hidden="tanh", output="identity",
                          tied=True, dtype="float64", seed=0)
    path = tmp_path / "ae.npz"
    ae.save(path)
    loaded = pynn.load(path)
    assert type(loaded) is pynn.Autoencoder
    assert (loaded.n_encoder_layers, loaded.code_size, loaded.tied) == (2, 3, True)
    X = np.random.default_rng(0).standard_normal((5, 8))
    np.testing.assert_array_equal(loaded.encode(X), ae.encode(X))
    np.testing.assert_array_equal(loaded.reconstruct(X), ae.reconstruct(X))
    clf = pynn.MLP.from_encoders([loaded], n_classes=2)
    assert clf.sizes == [8, 4, 3, 2]


def test_decode_names_the_code_argument():
    """decode's argument is the code C; its errors said X (issue 17, item 10)."""
    ae = pynn.Autoencoder([4, 2], seed=0)
    with pytest.raises(ValueError, match=r"^C has 3 features per sample"):
        ae.decode(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"^X has 3 features per sample"):
        ae.encode(np.zeros((1, 3)))


# ------------------------------------------- pretrain_stack: Trainer options
def _stage_data(n=60, d=8, seed=0):
    return np.random.default_rng(seed).random((n, d))


def _by_hand(X, sizes, **trainer_options):
    """The stages as pretrain_stack documents them, built here directly
    with Trainer (stage i: seed + i, the previous stage's codes)."""
    codes, params = X, []
    for i in range(1, len(sizes)):
        ae = pynn.Autoencoder([sizes[i - 1], sizes[i]], hidden="sigmoid",
                              output="sigmoid", dtype="float64", seed=i)
        pynn.Trainer(ae, loss="binary_cross_entropy", optimizer="momentum",
                     lr=0.2, batch_size=4, epochs=3, seed=i,
                     **trainer_options).fit(codes, codes)
        params.append(ae.params.copy())
        codes = ae.encode(codes)
    return params


def test_pretrain_stack_passes_trainer_options_on_exactly():
    """Momentum, L2, clipping and a schedule given to pretrain_stack give
    the same bits as Trainers built by hand with them; and they matter."""
    X = _stage_data()
    options = dict(momentum=0.5, l2=1e-3, clip_norm=0.5, lr_schedule="step",
                   schedule_params={"factor": 0.5, "step_size": 1},
                   shuffle=False, n_threads=1)
    stages = pynn.pretrain_stack(X, [8, 5, 3], optimizer="momentum", lr=0.2,
                                 batch_size=4, epochs=3, dtype="float64",
                                 seed=0, **options)
    want = _by_hand(X, [8, 5, 3], **options)
    for ae, w in zip(stages, want):
        np.testing.assert_array_equal(ae.params, w)
        np.testing.assert_allclose(ae.history_.lr, [0.2, 0.1, 0.05])
    default = pynn.pretrain_stack(X, [8, 5, 3], optimizer="momentum", lr=0.2,
                                  batch_size=4, epochs=3, dtype="float64",
                                  seed=0)
    assert np.max(np.abs(default[0].params - stages[0].params)) > 1e-4


def test_pretrain_stack_n_threads_reaches_every_stage():
    from pynn import _threads
    seen = []

    def record(epoch, logs, trainer):
        seen.append((trainer.model.sizes[1], trainer.n_threads,
                     _threads.blas_threads()))
    pynn.pretrain_stack(_stage_data(), [8, 5, 3], epochs=2, n_threads=2,
                        callbacks=[record])
    assert [s[:2] for s in seen] == [(5, 2), (5, 2), (3, 2), (3, 2)]
    # the threads are pynn's own pool: the BLAS stays on one thread meanwhile
    if _threads.blas_threads() is not None:       # BLAS threads controllable
        assert all(s[2] == 1 for s in seen)


def test_pretrain_stack_callbacks_and_early_stopping_in_every_stage():
    calls = []

    def stop_after_two(epoch, logs, trainer):
        calls.append((trainer.model.sizes, epoch))
        return epoch == 1                        # stop each stage after 2 epochs
    stages = pynn.pretrain_stack(_stage_data(), [8, 5, 3], epochs=10,
                                 callbacks=[stop_after_two])
    assert calls == [([8, 5, 8], 0), ([8, 5, 8], 1), ([5, 3, 5], 0),
                     ([5, 3, 5], 1)]
    assert [ae.history_.epochs for ae in stages] == [2, 2]
    stages = pynn.pretrain_stack(_stage_data(200), [8, 5], epochs=200,
                                 lr=1e-6, early_stopping=True, patience=2,
                                 min_delta=1.0, validation_fraction=0.2)
    assert stages[0].history_.epochs == 3          # 1 + patience epochs
    assert len(stages[0].history_.val_loss) == 3


def test_pretrain_stack_copies_an_optimizer_instance_per_stage():
    opt = pynn.optimizers.Adam(lr=0.01, beta1=0.8)
    stages = pynn.pretrain_stack(_stage_data(), [8, 5, 3], optimizer=opt,
                                 lr=None, epochs=2)
    assert opt.state == [] and opt.t == 0          # the caller's is untouched
    for ae in stages:
        assert ae.stage_loss_[1] < ae.stage_loss_[0]


def test_pretrain_stack_checkpoints_one_file_per_stage(tmp_path):
    X = _stage_data()
    with pytest.raises(ValueError, match=r"checkpoint_path.*\{stage\}"):
        pynn.pretrain_stack(X, [8, 5, 3], epochs=1,
                            checkpoint_path=str(tmp_path / "ae.ckpt"))
    pattern = str(tmp_path / "ae-{stage}.ckpt")
    pynn.pretrain_stack(X, [8, 5, 3], epochs=2, checkpoint_path=pattern)
    assert sorted(os.listdir(tmp_path)) == ["ae-1.ckpt", "ae-2.ckpt"]
    # one stage: any path
    pynn.pretrain_stack(X, [8, 5], epochs=1,
                        checkpoint_path=str(tmp_path / "single.ckpt"))
    assert (tmp_path / "single.ckpt").exists()


@pytest.mark.parametrize("kwargs,error,match", [
    ({"n_thread": 2}, TypeError, r"unexpected keyword argument 'n_thread'.*n_threads"),
    ({"model": None}, TypeError, r"'model'"),
    ({"n_threads": 0}, ValueError, r"n_threads"),
    ({"momentum": 1.5}, ValueError, r"momentum"),
    ({"callbacks": [3]}, (TypeError, ValueError), r"callback"),
    ({"clip_norm": -1.0}, ValueError, r"clip_norm"),
])
def test_pretrain_stack_rejects_bad_trainer_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        pynn.pretrain_stack(_stage_data(), [8, 5, 3], epochs=1, **kwargs)
