"""pynn.Trainer (issue 4): exactness against a NumPy float64 reference of the
notes' algorithm (tests/trainer_reference.py), optimisers, schedules,
shuffling, stopping rules, callbacks, divergence, interrupts, bad input,
checkpoints and end-to-end learning on real data.

Expected values come from the reference or are derived by hand, never from
pynn itself.
"""
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pynn
from pynn.datasets import load_digits, train_test_split

import trainer_reference as ref


RTOL, ATOL = 1e-12, 1e-13          # float64 model vs float64 reference


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, np.float64),
                               np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol)


# ---------------------------------------------------------------- fixtures
N = 23                                 # with batch 5: batches 5,5,5,5,3
NETS = {
    # name: (hidden activation, output activation, loss)
    "sigmoid-softmax-ce": ("sigmoid", "softmax", "cross_entropy"),
    "tanh-identity-se": ("tanh", "identity", "squared_error"),
    "tanh-sigmoid-bce": ("tanh", "sigmoid", "binary_cross_entropy"),
}


def make_data(loss, n=N, seed=1):
    """(X, y as pynn takes it, T as one-hot/float64 rows for the reference)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    if loss == "cross_entropy":
        y = rng.integers(0, 2, n)
        return X, y, ref.one_hot(y, 2)
    if loss == "binary_cross_entropy":
        y = (rng.random((n, 2)) < 0.5).astype(np.float64)
        return X, y, y
    y = np.column_stack([np.sin(X[:, 0] + X[:, 1]), X[:, 2] * X[:, 0]])
    return X, y, y


def make_model(hidden, output, dtype="float64", seed=0, sizes=(3, 4, 2)):
    layers = [pynn.Dense(sizes[i], sizes[i + 1],
                         hidden if i < len(sizes) - 2 else output)
              for i in range(len(sizes) - 1)]
    return pynn.Model(layers, dtype=dtype, seed=seed)


def setup(net="sigmoid-softmax-ce", dtype="float64", seed=0, n=N):
    hidden, output, loss = NETS[net]
    model = make_model(hidden, output, dtype, seed)
    X, y, T = make_data(loss, n)
    return model, loss, X, y, T


class Recorder:
    """Callback that keeps each epoch's index, logs and a params copy."""

    def __init__(self):
        self.epochs, self.logs, self.params = [], [], []

    def __call__(self, epoch, logs, trainer):
        self.epochs.append(epoch)
        self.logs.append(logs)
        self.params.append(trainer.model.params.copy())


# ================================================================ plain SGD
@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("batch_size", [1, 5, None], ids=["online", "mini5", "full"])
def test_sgd_matches_reference_step_by_step(net, batch_size):
    model, loss, X, y, T = setup(net)
    w0 = model.params.copy()
    rec = Recorder()
    lr = 0.3
    hist = pynn.Trainer(model, loss=loss, optimizer="sgd", lr=lr,
                        batch_size=batch_size, epochs=3, shuffle=False,
                        callbacks=[rec]).fit(X, y)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=lr,
                  batch_size=batch_size, epochs=3)
    # params after 1 and after 3 epochs (and the one in between)
    for k in range(3):
        assert_close(rec.params[k], r["params"][k])
    assert_close(model.params, r["params"][2])
    # the reference really moved away from the start
    assert np.max(np.abs(r["params"][2] - w0)) > 1e-2
    # loss per epoch = mean of per-sample losses before each update
    assert hist.epochs == 3
    assert_close(hist.loss, r["loss"], atol=1e-15)
    assert hist.lr == [lr] * 3
    if loss == "squared_error":
        assert hist.accuracy == []
    else:
        assert hist.accuracy == pytest.approx(r["accuracy"], abs=0)
    assert hist.stopped_reason == "max_epochs"
    assert rec.epochs == [0, 1, 2]


def test_sgd_one_epoch_run_equals_first_epoch_of_reference():
    model, loss, X, y, T = setup("tanh-identity-se")
    w0 = model.params.copy()
    hist = pynn.Trainer(model, loss=loss, lr=0.1, batch_size=5, epochs=1,
                        shuffle=False).fit(X, y)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.1, batch_size=5,
                  epochs=1)
    assert_close(model.params, r["params"][0])
    assert_close(hist.loss, r["loss"], atol=1e-15)


def test_online_sgd_hand_derived_single_sigmoid_unit():
    """The notes' worked example: one sigmoid unit with cross-entropy,
    w0 = 1, w1 = −2, η = 1, sample (x=2, t=1): y = σ(−3) = 0.0474;
    one step w ← w − η (y − t) (1, x) gives w0 = 1.9526, w1 = −0.0949."""
    model = pynn.Model([pynn.Dense(1, 1, "sigmoid")], dtype="float64", seed=0)
    model.layers[0].W[...] = -2.0
    model.layers[0].b[...] = 1.0
    hist = pynn.Trainer(model, loss="binary_cross_entropy", lr=1.0,
                        batch_size=1, epochs=1, shuffle=False).fit([[2.0]], [1.0])
    y = 1 / (1 + math.exp(3.0))
    assert model.layers[0].b[0] == pytest.approx(1 + (1 - y), rel=1e-14)
    assert model.layers[0].W[0, 0] == pytest.approx(-2 + 2 * (1 - y), rel=1e-14)
    assert model.layers[0].b[0] == pytest.approx(1.9526, abs=5e-5)
    assert model.layers[0].W[0, 0] == pytest.approx(-0.0949, abs=5e-5)
    assert hist.loss[0] == pytest.approx(-math.log(y), rel=1e-14)


def test_full_batch_gd_hand_derived_notes_example():
    """GD on y = w1·x with bias w0 = −1, w1 = 2, x=(10,5,1,8,4),
    t=(8.5,3.8,2,8,5), squared error: mean gradients (4.74, 38.8)."""
    x = np.array([10, 5, 1, 8, 4.0])[:, None]
    t = np.array([8.5, 3.8, 2, 8, 5])
    model = pynn.Model([pynn.Dense(1, 1, "identity")], dtype="float64", seed=0)
    model.layers[0].W[...] = 2.0
    model.layers[0].b[...] = -1.0
    lr = 0.01
    hist = pynn.Trainer(model, loss="squared_error", lr=lr, batch_size=None,
                        epochs=1, shuffle=False).fit(x, t)
    assert model.layers[0].b[0] == pytest.approx(-1 - lr * 4.74, rel=1e-13)
    assert model.layers[0].W[0, 0] == pytest.approx(2 - lr * 38.8, rel=1e-13)
    y = 2 * x[:, 0] - 1
    assert hist.loss[0] == pytest.approx(np.mean(0.5 * (y - t) ** 2), rel=1e-14)


def test_float32_model_matches_reference_loosely():
    model, loss, X, y, T = setup("sigmoid-softmax-ce", dtype="float32")
    w0 = model.params.astype(np.float64)
    hist = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=3,
                        shuffle=False).fit(X, y)
    r = ref.train(ref.Net.of(model), w0, X.astype(np.float32), T, loss,
                  lr=0.3, batch_size=5, epochs=3)
    assert model.params.dtype == np.float32
    assert_close(model.params, r["params"][2], rtol=1e-4, atol=1e-5)
    assert_close(hist.loss, r["loss"], rtol=1e-5, atol=1e-6)


def test_batch_larger_than_n_is_full_batch():
    model, loss, X, y, T = setup("tanh-identity-se")
    w0 = model.params.copy()
    pynn.Trainer(model, loss=loss, lr=0.2, batch_size=100, epochs=2,
                 shuffle=True, seed=0).fit(X, y)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.2, batch_size=None,
                  epochs=2)
    assert_close(model.params, r["params"][-1])


# ================================================================ optimisers
OPT_CASES = {"plain": (0.0, None), "l2": (0.05, None), "clip": (0.0, 0.3),
             "l2+clip": (0.05, 0.3)}
OPT_PARAMS = [pytest.param(opt, *OPT_CASES[case], id=f"{opt}-{case}")
              for opt in ["sgd", "momentum", "nesterov", "adam"]
              for case in OPT_CASES
              if not (opt == "sgd" and case == "plain")]   # covered above


@pytest.mark.parametrize("optimizer,l2,clip_norm", OPT_PARAMS)
@pytest.mark.parametrize("batch_size", [1, 5])
def test_optimizer_matches_reference(optimizer, l2, clip_norm, batch_size):
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()
    lr = 0.05 if optimizer == "adam" else 0.3
    kw = dict(optimizer=optimizer, lr=lr, batch_size=batch_size, l2=l2,
              clip_norm=clip_norm, momentum=0.8, beta1=0.85, beta2=0.99,
              eps=1e-7)
    rec = Recorder()
    hist = pynn.Trainer(model, loss=loss, epochs=3, shuffle=False,
                        callbacks=[rec], **kw).fit(X, y)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, epochs=3, **kw)
    for k in range(3):
        assert_close(rec.params[k], r["params"][k])
    # the reported loss is the data loss alone (no L2 term)
    assert_close(hist.loss, r["loss"], atol=1e-15)
    if clip_norm is not None:
        assert r["n_clipped"] > 0, "the test should exercise clipping"


def test_l2_does_not_touch_biases():
    """With zero data gradient (targets = outputs), L2 shrinks W by the
    factor (1 − ηλ) per step and leaves b alone."""
    model = pynn.Model([pynn.Dense(2, 2, "identity")], dtype="float64", seed=3)
    model.layers[0].b[...] = [0.5, -0.25]
    W0 = model.layers[0].W.copy()
    X = np.zeros((4, 2))
    y = np.tile([0.5, -0.25], (4, 1))
    pynn.Trainer(model, loss="squared_error", lr=0.1, l2=0.5, batch_size=1,
                 epochs=1, shuffle=False).fit(X, y)
    assert_close(model.layers[0].W, W0 * (1 - 0.05) ** 4)
    assert_close(model.layers[0].b, [0.5, -0.25], atol=0)


def test_adam_first_step_is_lr_times_sign():
    """Adam's first step (bias-corrected) moves every parameter with a
    nonzero gradient by η·g/(|g| + ε) ≈ η·sign(g)."""
    model = pynn.Model([pynn.Dense(2, 1, "identity")], dtype="float64", seed=0)
    model.layers[0].W[...] = [[0.5, -0.5]]
    X = np.array([[1.0, 2.0]])
    pynn.Trainer(model, loss="squared_error", optimizer="adam", lr=0.01,
                 eps=1e-12, batch_size=1, epochs=1, shuffle=False).fit(X, [3.0])
    # y = 0.5 − 1 = −0.5 < 3: every gradient is negative, so w grows by η
    assert_close(model.layers[0].W, [[0.51, -0.49]])
    assert_close(model.layers[0].b, [0.01])


# ================================================================ schedules
SCHEDULES = [
    ("constant", {}),
    ("inverse_scaling", {}),
    ("inverse_scaling", {"power": 0.75}),
    ("step", {}),
    ("step", {"factor": 0.3, "step_size": 2}),
    ("exponential", {}),
    ("exponential", {"rate": 0.7}),
]


@pytest.mark.parametrize("name,params", SCHEDULES,
                         ids=[f"{n}-{p}" for n, p in SCHEDULES])
def test_schedule_lr_formula_and_training(name, params):
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()
    lr0, epochs = 0.4, 7
    hist = pynn.Trainer(model, loss=loss, lr=lr0, batch_size=5, epochs=epochs,
                        shuffle=False, lr_schedule=name,
                        schedule_params=params).fit(X, y)
    # the formula, written out
    k = np.arange(epochs)
    expected = {
        "constant": lambda: lr0 * np.ones(epochs),
        "inverse_scaling": lambda: lr0 / (k + 1.0) ** params.get("power", 0.5),
        "step": lambda: lr0 * params.get("factor", 0.5) ** (k // params.get("step_size", 10)),
        "exponential": lambda: lr0 * params.get("rate", 0.95) ** k,
    }[name]()
    assert_close(hist.lr, expected, rtol=1e-15, atol=0)
    if name == "step" and params:
        assert hist.lr[:2] == [lr0, lr0] and hist.lr[2] == pytest.approx(lr0 * 0.3)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=lr0, batch_size=5,
                  epochs=epochs, schedule=name, schedule_params=params)
    assert_close(model.params, r["params"][-1])
    assert_close(hist.loss, r["loss"], atol=1e-15)


def test_plateau_schedule_reduces_and_matches_reference():
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()
    params = {"factor": 0.5, "patience": 2, "min_delta": 0.03, "min_lr": 0.2}
    kw = dict(lr=1.5, batch_size=5, epochs=14, schedule="plateau",
              schedule_params=params)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, **kw)
    hist = pynn.Trainer(model, loss=loss, shuffle=False, lr=1.5, batch_size=5,
                        epochs=14, lr_schedule="plateau",
                        schedule_params=params).fit(X, y)
    # the scenario reduces the rate at least twice and hits min_lr
    assert len(set(r["lr"])) >= 3 and r["lr"][-1] == 0.2
    assert hist.lr == r["lr"]
    assert_close(model.params, r["params"][-1])
    assert_close(hist.loss, r["loss"], atol=1e-15)


def test_plateau_hand_derived_sequence():
    """Plateau with patience 1 and an unreachable min_delta reduces every
    epoch after the first: η = η₀, η₀f, η₀f², …"""
    model, loss, X, y, _ = setup("tanh-identity-se")
    hist = pynn.Trainer(model, loss=loss, lr=0.1, batch_size=5, epochs=5,
                        shuffle=False, lr_schedule="plateau",
                        schedule_params={"factor": 0.5, "patience": 1,
                                         "min_delta": 1e9}).fit(X, y)
    # epoch 0: best = inf → improvement; then every epoch is "no improvement"
    assert hist.lr == [0.1, 0.1, 0.05, 0.025, 0.0125]


def test_plateau_watches_validation_loss():
    model, loss, X, y, T = setup("tanh-identity-se")
    w0 = model.params.copy()
    rng = np.random.default_rng(7)
    Xv = rng.normal(size=(9, 3))
    Tv = -3 * np.column_stack([np.sin(Xv[:, 0] + Xv[:, 1]), Xv[:, 2] * Xv[:, 0]])
    params = {"factor": 0.5, "patience": 1, "min_delta": 0.0}
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3, batch_size=5,
                  epochs=8, schedule="plateau", schedule_params=params,
                  validation=(Xv, Tv))
    r_train = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3,
                        batch_size=5, epochs=8, schedule="plateau",
                        schedule_params=params)
    assert r["lr"] != r_train["lr"], "scenario must tell the two apart"
    hist = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=8,
                        shuffle=False, lr_schedule="plateau",
                        schedule_params=params).fit(X, y, validation_data=(Xv, Tv))
    assert hist.lr == r["lr"]
    assert_close(hist.val_loss, r["val_loss"], atol=1e-15)
    assert_close(model.params, r["params"][-1])


def test_second_fit_restarts_the_plateau_schedule():
    model, loss, X, y, _ = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()
    trainer = pynn.Trainer(model, loss=loss, lr=3.0, batch_size=5, epochs=8,
                           shuffle=False, lr_schedule="plateau",
                           schedule_params={"factor": 0.5, "patience": 1,
                                            "min_delta": 0.02})
    first = trainer.fit(X, y)
    assert first.lr[-1] < 3.0
    p1 = model.params.copy()
    model.params = w0
    second = trainer.fit(X, y)
    assert second.lr == first.lr
    assert np.array_equal(model.params, p1)


@pytest.mark.parametrize("name,params", [("step", {"factor": 2.0}),
                                         ("exponential", {"rate": 0.0}),
                                         ("step", {"bogus": 1}),
                                         ("plateau", {"factor": 1.0})])
def test_bad_schedule_params(name, params):
    model, loss, X, y, _ = setup()
    with pytest.raises(ValueError):
        pynn.Trainer(model, loss=loss, lr_schedule=name, schedule_params=params)


# ================================================================ shuffling
@pytest.mark.parametrize("batch_size", [1, 4])
def test_shuffle_is_seeded_and_matches_reference_orders(batch_size):
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()

    def run(seed):
        model.params = w0
        h = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=batch_size,
                         epochs=3, shuffle=True, seed=seed).fit(X, y)
        return model.params.copy(), h

    p_a, h_a = run(11)
    p_b, h_b = run(11)
    p_c, _ = run(12)
    assert np.array_equal(p_a, p_b)                    # bit-identical
    assert h_a.loss == h_b.loss
    assert not np.allclose(p_a, p_c)
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3,
                  batch_size=batch_size, epochs=3,
                  orders=ref.trainer_orders(11, N))
    assert_close(p_a, r["params"][-1])
    assert_close(h_a.loss, r["loss"], atol=1e-15)
    # and shuffling really changed the result
    r_plain = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3,
                        batch_size=batch_size, epochs=3)
    assert not np.allclose(p_a, r_plain["params"][-1])


def test_shuffle_float32_deterministic():
    model, loss, X, y, _ = setup("tanh-identity-se", dtype="float32")
    w0 = model.params.copy()
    out = []
    for _ in range(2):
        model.params = w0
        pynn.Trainer(model, loss=loss, lr=0.1, batch_size=3, epochs=4,
                     seed=5).fit(X, y)
        out.append(model.params.copy())
    assert np.array_equal(out[0], out[1])


# ================================================================ stopping
def regression_problem(n=30, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = (X @ np.array([0.5, -1.0, 0.25]) + 0.1)[:, None]
    return X, t


def test_tol_stopping_matches_reference():
    X, t = regression_problem()
    model = make_model("tanh", "identity", sizes=(3, 5, 1), seed=1)
    w0 = model.params.copy()
    r = ref.train(ref.Net.of(model), w0, X, t, "squared_error", lr=0.05,
                  batch_size=None, epochs=200)
    tol, n_iter = 1e-3, 3
    expected = ref.tol_stop(r["loss"], tol, n_iter)
    assert expected is not None and 5 < expected < 200
    diffs = np.abs(np.diff(r["loss"][:expected]))
    assert np.min(np.abs(diffs - tol)) > 1e-9, "keep away from the boundary"
    hist = pynn.Trainer(model, loss="squared_error", lr=0.05, batch_size=None,
                        epochs=200, shuffle=False, tol=tol,
                        n_iter_no_change=n_iter).fit(X, t)
    assert hist.stopped_reason == "tol"
    assert hist.epochs == expected
    assert_close(model.params, r["params"][expected - 1])


def test_tol_none_runs_all_epochs():
    X, t = regression_problem()
    model = make_model("tanh", "identity", sizes=(3, 5, 1), seed=1)
    hist = pynn.Trainer(model, loss="squared_error", lr=0.05, batch_size=None,
                        epochs=40, shuffle=False, tol=None).fit(X, t)
    assert hist.epochs == 40 and hist.stopped_reason == "max_epochs"


def test_grad_tol_stopping_matches_reference():
    X, t = regression_problem()
    model = make_model("tanh", "identity", sizes=(3, 5, 1), seed=1)
    w0 = model.params.copy()
    r = ref.train(ref.Net.of(model), w0, X, t, "squared_error", lr=0.1,
                  batch_size=None, epochs=300)
    grad_tol = 0.02
    below = [k for k, g in enumerate(r["grad_norm"]) if g < grad_tol]
    assert below and 3 < below[0] < 299
    assert min(abs(g - grad_tol) for g in r["grad_norm"][:below[0] + 1]) > 1e-9
    hist = pynn.Trainer(model, loss="squared_error", lr=0.1, batch_size=None,
                        epochs=300, shuffle=False, grad_tol=grad_tol).fit(X, t)
    assert hist.stopped_reason == "grad_tol"
    assert hist.epochs == below[0] + 1
    assert_close(model.params, r["params"][below[0]])


def test_grad_tol_with_l2_uses_the_optimised_objective():
    """With l2 the optimiser minimises loss + λ/2‖W‖²: grad_tol watches that
    gradient (→ 0), not the data gradient (→ λ‖W*‖ = 0.345 here)."""
    X, t = regression_problem()
    model = pynn.Model([pynn.Dense(3, 1, "identity")], dtype="float64", seed=1)
    w0 = model.params.copy()
    l2, grad_tol = 0.5, 1e-4
    r = ref.train(ref.Net.of(model), w0, X, t, "squared_error", lr=0.3,
                  batch_size=None, l2=l2, epochs=300)
    below = [k for k, g in enumerate(r["grad_norm"]) if g < grad_tol]
    assert below and below[0] < 299
    data_grad = ref.Net.of(model).loss_and_grad(r["params"][-1], X, t,
                                                "squared_error")[2]
    assert np.linalg.norm(data_grad) > 0.3
    hist = pynn.Trainer(model, loss="squared_error", lr=0.3, batch_size=None,
                        l2=l2, epochs=300, shuffle=False,
                        grad_tol=grad_tol).fit(X, t)
    assert hist.stopped_reason == "grad_tol"
    assert hist.epochs == below[0] + 1
    assert_close(model.params, r["params"][below[0]])


def val_problem(seed=4):
    """Training targets t, validation targets 0.4·t: the validation loss
    falls while the outputs grow towards 0.4·t, then rises again."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    Xv = rng.normal(size=(15, 3))
    w = np.array([0.8, -1.2, 0.5])
    return X, (X @ w)[:, None], Xv, 0.4 * (Xv @ w)[:, None]


def test_early_stopping_on_validation_data_restores_best():
    X, t, Xv, tv = val_problem()
    model = make_model("tanh", "identity", sizes=(3, 6, 1), seed=2)
    w0 = model.params.copy()
    kw = dict(lr=0.01, batch_size=5)
    r = ref.train(ref.Net.of(model), w0, X, t, "squared_error", epochs=60,
                  orders=ref.trainer_orders(9, 40), validation=(Xv, tv), **kw)
    patience = 3
    n_run, best = ref.early_stop(r["val_loss"], patience)
    assert 2 <= best and n_run < 60, (best, n_run)
    v = np.array(r["val_loss"][:n_run])
    assert np.sort(np.abs(v - v[best]))[1] > 1e-9, "no near-tie for the best"
    trainer = pynn.Trainer(model, loss="squared_error", epochs=60, seed=9,
                           early_stopping=True, patience=patience, **kw)
    hist = trainer.fit(X, t, validation_data=(Xv, tv))
    assert hist.stopped_reason == "early_stopping"
    assert hist.best_epoch == best
    assert hist.epochs == n_run
    assert_close(hist.val_loss, r["val_loss"][:n_run], atol=1e-15)
    assert_close(model.params, r["params"][best])
    # re-run for best_epoch + 1 epochs with the same seed: the same params
    rerun = make_model("tanh", "identity", sizes=(3, 6, 1), seed=2)
    pynn.Trainer(rerun, loss="squared_error", epochs=best + 1, seed=9,
                 **kw).fit(X, t, validation_data=(Xv, tv))
    assert np.array_equal(model.params, rerun.params)


def test_early_stopping_on_validation_fraction_restores_best():
    X, t, _, _ = val_problem()
    rng = np.random.default_rng(0)
    t = t + rng.normal(scale=0.8, size=t.shape)            # noisy: overfits
    model = make_model("tanh", "identity", sizes=(3, 12, 1), seed=2)
    w0 = model.params.copy()
    seed, frac, patience, min_delta = 5, 0.25, 4, 1e-3
    kw = dict(lr=0.05, batch_size=4)
    tr_idx, va_idx = ref.validation_split(seed, 40, frac)
    assert len(va_idx) == 10 and len(tr_idx) == 30
    r = ref.train(ref.Net.of(model), w0, X[tr_idx], t[tr_idx], "squared_error",
                  epochs=80, orders=ref.trainer_orders(seed, 30),
                  validation=(X[va_idx], t[va_idx]), **kw)
    n_run, best = ref.early_stop(r["val_loss"], patience, min_delta)
    assert best >= 1 and n_run < 80, (best, n_run)
    hist = pynn.Trainer(model, loss="squared_error", epochs=80, seed=seed,
                        early_stopping=True, validation_fraction=frac,
                        patience=patience, min_delta=min_delta, **kw).fit(X, t)
    assert hist.stopped_reason == "early_stopping"
    assert (hist.best_epoch, hist.epochs) == (best, n_run)
    assert_close(hist.loss, r["loss"][:n_run], atol=1e-15)
    assert_close(hist.val_loss, r["val_loss"][:n_run], atol=1e-15)
    assert_close(model.params, r["params"][best])
    rerun = make_model("tanh", "identity", sizes=(3, 12, 1), seed=2)
    h2 = pynn.Trainer(rerun, loss="squared_error", epochs=best + 1, seed=seed,
                      early_stopping=True, validation_fraction=frac,
                      patience=patience, min_delta=min_delta, **kw).fit(X, t)
    assert h2.best_epoch == best
    assert np.array_equal(model.params, rerun.params)


def test_early_stopping_needs_a_validation_set():
    model, loss, X, y, _ = setup()
    with pytest.raises(ValueError, match="validation"):
        pynn.Trainer(model, loss=loss, early_stopping=True,
                     validation_fraction=0.0).fit(X, y)


# ================================================================ callbacks
def test_callback_receives_epoch_and_logs():
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()
    seen = []

    def cb(epoch, logs, trainer):
        seen.append((epoch, logs, trainer))

    trainer = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=4,
                           shuffle=False, callbacks=[cb])
    hist = trainer.fit(X, y, validation_data=(X[:7], y[:7]))
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3, batch_size=5,
                  epochs=4, validation=(X[:7], T[:7]))
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert all(s[2] is trainer for s in seen)
    for k, (_, logs, _) in enumerate(seen):
        assert logs["loss"] == pytest.approx(r["loss"][k], rel=1e-12)
        assert logs["val_loss"] == pytest.approx(r["val_loss"][k], rel=1e-12)
        assert logs["lr"] == 0.3
        assert logs["accuracy"] == pytest.approx(r["accuracy"][k], abs=0)
        assert logs["loss"] == hist.loss[k]


@pytest.mark.parametrize("how", ["return_true", "raise_stop"])
def test_callback_stops_training(how):
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()

    def cb(epoch, logs, trainer):
        if epoch == 2:
            if how == "return_true":
                return True
            raise pynn.StopTraining()
        return None

    hist = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=10,
                        shuffle=False, callbacks=[cb]).fit(X, y)
    assert hist.epochs == 3
    assert hist.stopped_reason == "callback"
    assert not hist.interrupted
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3, batch_size=5,
                  epochs=3)
    assert_close(model.params, r["params"][-1])


def test_callbacks_must_be_callable():
    model, loss, _, _, _ = setup()
    with pytest.raises(TypeError, match="callbacks"):
        pynn.Trainer(model, loss=loss, callbacks=[42])


def test_keyboard_interrupt_in_callback_returns_history():
    model, loss, X, y, T = setup("sigmoid-softmax-ce")
    w0 = model.params.copy()

    def cb(epoch, logs, trainer):
        if epoch == 2:
            raise KeyboardInterrupt

    hist = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=10,
                        shuffle=False, callbacks=[cb]).fit(
        X, y, validation_data=(X[:5], y[:5]))
    assert isinstance(hist, pynn.History)
    assert hist.interrupted is True
    assert hist.stopped_reason == "interrupted"
    lengths = {len(hist.loss), len(hist.lr), len(hist.time), len(hist.accuracy),
               len(hist.val_loss), len(hist.val_accuracy)}
    assert lengths == {3}
    assert np.isfinite(model.params).all()
    r = ref.train(ref.Net.of(model), w0, X, T, loss, lr=0.3, batch_size=5,
                  epochs=3)
    assert_close(model.params, r["params"][-1])


# ================================================================ divergence
def test_divergence_raises_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(50, 4))              # unscaled pixels
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    model = pynn.MLP([4, 8, 1], hidden="tanh", output="identity", seed=0)
    with pytest.raises(pynn.DivergenceError) as info:
        pynn.Trainer(model, loss="squared_error", lr=10.0, batch_size=1,
                     epochs=20, seed=0).fit(X, y)
    err = info.value
    msg = str(err).lower()
    assert "learning rate" in msg and "scal" in msg
    assert isinstance(err, FloatingPointError)
    assert np.isfinite(model.params).all()
    h = err.history
    assert len(h.loss) == len(h.lr) == len(h.time)
    assert h.stopped_reason == "diverged"


def test_divergence_after_some_epochs_history_consistent():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(50, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    Xv, yv = X[:10], y[:10]
    model = pynn.MLP([4, 8, 1], hidden="tanh", output="identity",
                     dtype="float64", seed=0)
    # lr 0.3: three finite epochs, then the loss runs past the ceiling.
    trainer = pynn.Trainer(model, loss="squared_error", lr=0.3,
                           batch_size=10, epochs=100, seed=0)
    with pytest.raises(pynn.DivergenceError) as info:
        trainer.fit(X, y, validation_data=(Xv, yv))
    h = info.value.history
    assert h is trainer.history
    assert h.epochs >= 2, "the scenario should diverge after a few epochs"
    assert len(h.loss) == len(h.lr) == len(h.time) == len(h.val_loss) == h.epochs
    assert h.accuracy == [] and h.val_accuracy == []
    assert np.isfinite(h.loss).all()
    assert np.isfinite(model.params).all()


# ================================================================ inputs
def test_fit_does_not_modify_inputs():
    rng = np.random.default_rng(3)
    X = np.ascontiguousarray(rng.normal(size=(30, 3)), dtype=np.float32)
    y = rng.integers(0, 2, 30)
    T = ref.one_hot(y, 2).astype(np.float32)
    Xv = np.ascontiguousarray(rng.normal(size=(6, 3)), dtype=np.float32)
    yv = rng.integers(0, 2, 6)
    copies = [a.copy() for a in (X, y, T, Xv, yv)]
    model = make_model("sigmoid", "softmax", dtype="float32")
    assert model.params.dtype == X.dtype            # X is used without a copy
    for kw in (dict(batch_size=4, shuffle=True, seed=0),
               dict(batch_size=1, shuffle=False),
               dict(batch_size=None, optimizer="adam"),
               dict(batch_size=4, early_stopping=True, validation_fraction=0.2,
                    seed=1, patience=2)):
        pynn.Trainer(model, loss="cross_entropy", lr=0.1, epochs=3,
                     **kw).fit(X, y)
        pynn.Trainer(model, loss="cross_entropy", lr=0.1, epochs=3,
                     **kw).fit(X, T, validation_data=(Xv, yv))
    for a, c in zip((X, y, T, Xv, yv), copies):
        assert np.array_equal(a, c) and a.dtype == c.dtype
    # float64 data into a float32 model, regression targets
    X64 = rng.normal(size=(20, 3))
    t64 = rng.normal(size=(20, 2))
    c_X, c_t = X64.copy(), t64.copy()
    reg = make_model("tanh", "identity", dtype="float32")
    pynn.Trainer(reg, loss="squared_error", lr=0.1, epochs=2, seed=0).fit(X64, t64)
    assert np.array_equal(X64, c_X) and np.array_equal(t64, c_t)


def _bad_trainer_args():
    return [
        (dict(optimizer="rmsprop"), ValueError, "optimizer"),
        (dict(loss="hinge"), ValueError, "loss"),
        (dict(lr_schedule="cosine"), ValueError, "lr_schedule"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(lr=-0.1), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(batch_size=-3), ValueError, "batch_size"),
        (dict(epochs=-1), ValueError, "epochs"),
        (dict(epochs=1.5), TypeError, "epochs"),
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(l2=-1.0), ValueError, "l2"),
        (dict(clip_norm=0.0), ValueError, "clip_norm"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
        (dict(checkpoint_every=2), ValueError, "checkpoint"),
    ]


@pytest.mark.parametrize("kwargs,exc,word", _bad_trainer_args(),
                         ids=lambda v: repr(v) if isinstance(v, dict) else "")
def test_bad_trainer_arguments(kwargs, exc, word):
    model, loss, X, y, _ = setup()
    before = model.params.copy()
    args = dict(loss=loss)
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        pynn.Trainer(model, **args)
    assert np.array_equal(model.params, before)


def test_loss_output_mismatch_is_rejected():
    model = make_model("tanh", "identity")
    with pytest.raises(ValueError, match="softmax"):
        pynn.Trainer(model, loss="cross_entropy")


def test_trainer_needs_a_model():
    with pytest.raises(TypeError, match="model"):
        pynn.Trainer("not a model")


def _bad_fit_inputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    y = rng.integers(0, 2, 10)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    return [
        ("X NaN", (X_nan, y), {}, ValueError, r"\bX\b.*NaN"),
        ("X wrong width", (X[:, :2], y), {}, ValueError, r"\bX\b"),
        ("X 1-D", (X[:, 0], y), {}, ValueError, r"\bX\b"),
        ("X empty", (X[:0], y[:0]), {}, ValueError, r"\bX\b"),
        ("X strings", (np.full((10, 3), "a"), y), {}, TypeError, r"\bX\b"),
        ("y wrong length", (X, y[:9]), {}, ValueError, r"\by\b"),
        ("y class out of range", (X, np.where(y == 1, 2, 0)), {}, ValueError,
         r"\by\b.*class index 2"),
        ("y negative class", (X, -y), {}, ValueError, r"\by\b"),
        ("y fractional class", (X, y + 0.5), {}, ValueError, r"\by\b"),
        ("y one-hot wrong shape", (X, np.ones((10, 3)) / 3), {}, ValueError,
         r"\by\b"),
        ("validation not a pair", (X, y), {"validation_data": (X,)},
         ValueError, "validation_data"),
        ("validation X width", (X, y), {"validation_data": (X[:, :2], y)},
         ValueError, r"validation_data\[0\]"),
        ("validation y length", (X, y), {"validation_data": (X, y[:4])},
         ValueError, r"validation_data\[1\]"),
        ("validation X NaN", (X, y), {"validation_data": (X_nan, y)},
         ValueError, r"validation_data\[0\]"),
    ]


@pytest.mark.parametrize("args,kwargs,exc,pattern",
                         [c[1:] for c in _bad_fit_inputs()],
                         ids=[c[0] for c in _bad_fit_inputs()])
def test_bad_fit_inputs(args, kwargs, exc, pattern):
    model, loss, _, _, _ = setup("sigmoid-softmax-ce")
    before = model.params.copy()
    trainer = pynn.Trainer(model, loss=loss, lr=0.1, batch_size=3, epochs=2)
    with pytest.raises(exc, match=pattern):
        trainer.fit(*args, **kwargs)
    assert np.array_equal(model.params, before)


def test_regression_targets_wrong_length_and_probabilities():
    model = make_model("tanh", "identity")
    before = model.params.copy()
    X = np.zeros((6, 3))
    with pytest.raises(ValueError, match=r"\by\b"):
        pynn.Trainer(model, loss="squared_error").fit(X, np.zeros((5, 2)))
    bmodel = make_model("tanh", "sigmoid")
    bbefore = bmodel.params.copy()
    with pytest.raises(ValueError, match=r"\by\b"):       # BCE targets in [0, 1]
        pynn.Trainer(bmodel, loss="binary_cross_entropy").fit(
            X, np.full((6, 2), 2.0))
    assert np.array_equal(model.params, before)
    assert np.array_equal(bmodel.params, bbefore)


def test_zero_epochs_leaves_model_alone():
    model, loss, X, y, _ = setup()
    before = model.params.copy()
    hist = pynn.Trainer(model, loss=loss, epochs=0).fit(X, y)
    assert hist.epochs == 0 and np.array_equal(model.params, before)


# ================================================================ real data
def test_digits_accuracy():
    X, y = load_digits(scale=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=0)
    assert X_te.shape == (450, 64)
    model = pynn.MLP([64, 64, 10], hidden="relu", output="softmax", seed=0)
    hist = pynn.Trainer(model, loss="cross_entropy", optimizer="adam",
                        lr=3e-3, batch_size=32, epochs=40, l2=1e-4,
                        seed=0).fit(X_tr, y_tr)
    acc = np.mean(np.argmax(model(X_te), axis=1) == y_te)
    assert acc >= 0.97, acc
    assert hist.accuracy[-1] > 0.99


def test_xor_learned():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    t = np.array([0, 1, 1, 0], dtype=float)
    model = pynn.MLP([2, 4, 1], hidden="tanh", output="sigmoid",
                     dtype="float64", seed=0)
    hist = pynn.Trainer(model, loss="binary_cross_entropy", lr=0.5,
                        batch_size=None, epochs=1000, shuffle=False).fit(X, t)
    out = model(X)[:, 0]
    assert np.array_equal(out > 0.5, t > 0.5), out
    assert hist.accuracy[-1] == 1.0
    assert hist.loss[-1] < 0.05


def test_xor_learned_online_sigmoid_hidden():
    """Online SGD (one step per sample, shuffled) on a 2-4-1 sigmoid net."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    t = np.array([0, 1, 1, 0], dtype=float)
    model = pynn.MLP([2, 4, 1], hidden="sigmoid", output="sigmoid",
                     dtype="float64", seed=0)
    hist = pynn.Trainer(model, loss="binary_cross_entropy", lr=2.0,
                        batch_size=1, epochs=1500, shuffle=True,
                        seed=0).fit(X, t)
    out = model(X)[:, 0]
    assert np.array_equal(out > 0.5, t > 0.5), out
    assert hist.loss[-1] < 0.1


def test_sine_regression():
    x = np.linspace(-3, 3, 200)[:, None]
    t = np.sin(x)
    model = pynn.MLP([1, 16, 1], hidden="tanh", output="identity",
                     dtype="float64", seed=0)
    hist = pynn.Trainer(model, loss="squared_error", optimizer="adam",
                        lr=0.01, batch_size=16, epochs=200, seed=0).fit(x, t)
    mse = np.mean((model(x) - t) ** 2)
    assert mse < 5e-3, mse
    assert hist.loss[-1] < hist.loss[0] / 20


def _mnist_dir():
    env = os.environ.get("PYNN_MNIST_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.mark.slow
def test_mnist_accuracy():
    from pynn.datasets import load_mnist
    directory = _mnist_dir()
    if not (directory / "train-images-idx3-ubyte.gz").exists() and \
            not (directory / "train-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST not found in {directory} (set PYNN_MNIST_DIR)")
    X_tr, y_tr = load_mnist(directory, "train")
    X_te, y_te = load_mnist(directory, "test")
    model = pynn.MLP([784, 256, 10], hidden="relu", output="softmax", seed=0)
    t0 = time.perf_counter()
    pynn.Trainer(model, loss="cross_entropy", optimizer="nesterov", lr=0.1,
                 momentum=0.9, batch_size=64, epochs=5,
                 lr_schedule="exponential", schedule_params={"rate": 0.6},
                 seed=0).fit(X_tr, y_tr)
    elapsed = time.perf_counter() - t0
    acc = np.mean(np.argmax(model(X_te), axis=1) == y_te)
    print(f"MNIST 784-256-10: test accuracy {acc:.4f} in {elapsed:.1f} s")
    assert acc >= 0.98, acc


# ================================================================ history, output
def _short_history():
    model, loss, X, y, _ = setup("sigmoid-softmax-ce")
    return pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=3,
                        seed=0).fit(X, y, validation_data=(X[:5], y[:5]))


def test_history_plot_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    hist = _short_history()
    path = tmp_path / "history.png"
    fig = hist.plot(path=path)
    try:
        assert path.exists() and path.stat().st_size > 0
        assert len(fig.axes) == 2                       # loss and accuracy
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)


def test_history_plot_without_matplotlib(monkeypatch, tmp_path):
    hist = _short_history()
    for name in [m for m in sys.modules if m.startswith("matplotlib")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install"):
        hist.plot(path=tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


def test_verbose_progress_bar(capsys):
    model, loss, X, y, _ = setup("sigmoid-softmax-ce")
    hist = pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=2,
                        seed=0, verbose=1).fit(X, y)
    out, err = capsys.readouterr()
    assert out == ""
    assert "samples/s" in err
    assert "epoch 2/2" in err
    assert f"loss {hist.loss[-1]:.4f}" in err


def test_verbose_zero_is_silent(capsys):
    model, loss, X, y, _ = setup("sigmoid-softmax-ce")
    pynn.Trainer(model, loss=loss, lr=0.3, batch_size=5, epochs=2, seed=0,
                 verbose=0).fit(X, y, validation_data=(X, y))
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_matches_silent_numerically():
    """The progress bar changes how batches are grouped into compiled calls,
    never the arithmetic."""
    results = []
    for verbose in (0, 1):
        model, loss, X, y, _ = setup("sigmoid-softmax-ce")
        h = pynn.Trainer(model, loss=loss, optimizer="adam", lr=0.05,
                         batch_size=2, epochs=3, seed=4,
                         verbose=verbose).fit(X, y)
        results.append((model.params.copy(), h.loss))
    assert np.array_equal(results[0][0], results[1][0])
    # the epoch's loss is summed per compiled call: only rounding may differ
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-14)


# ================================================================ checkpoints
def _io_available():
    try:
        from pynn import io
    except ImportError:
        return False
    return hasattr(io, "save_arrays") and hasattr(io, "load_arrays")


needs_io = pytest.mark.skipif(not _io_available(),
                              reason="pynn.io.save_arrays/load_arrays missing")

CKPT_KW = dict(loss="cross_entropy", optimizer="adam", lr=0.05, batch_size=4,
               seed=3, lr_schedule="plateau",
               schedule_params={"factor": 0.5, "patience": 1, "min_delta": 0.05})


def _ckpt_data():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(26, 3))
    y = rng.integers(0, 2, 26)
    return X, y, (X[:6], y[:6])


def _assert_same_history(a, b):
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        assert getattr(a, key) == getattr(b, key), key
    assert len(a.time) == len(b.time)


@needs_io
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_checkpoint_resume_is_bit_identical(tmp_path, dtype):
    X, y, val = _ckpt_data()
    full_model = make_model("sigmoid", "softmax", dtype=dtype, seed=0)
    full = pynn.Trainer(full_model, epochs=7, **CKPT_KW).fit(
        X, y, validation_data=val)
    assert len(set(full.lr)) > 1, "the schedule state should matter"

    path = tmp_path / "ckpt.npz"

    def interrupt(epoch, logs, trainer):
        if epoch == 4:                       # after the checkpoint of epoch 4
            raise KeyboardInterrupt

    first = make_model("sigmoid", "softmax", dtype=dtype, seed=0)
    h1 = pynn.Trainer(first, epochs=7, checkpoint_path=str(path),
                      checkpoint_every=2, callbacks=[interrupt],
                      **CKPT_KW).fit(X, y, validation_data=val)
    assert h1.interrupted and h1.epochs == 5 and path.exists()

    fresh = make_model("sigmoid", "softmax", dtype=dtype, seed=123)
    h2 = pynn.Trainer(fresh, epochs=7, **CKPT_KW).fit(
        X, y, validation_data=val, resume_from=str(path))
    assert np.array_equal(fresh.params, full_model.params)
    _assert_same_history(h2, full)
    assert h2.stopped_reason == "max_epochs"


@needs_io
def test_checkpoint_resume_sgd_online(tmp_path):
    X, y, _ = _ckpt_data()
    kw = dict(loss="cross_entropy", optimizer="momentum", lr=0.2, batch_size=1,
              seed=1)
    full_model = make_model("tanh", "softmax", seed=0)
    full = pynn.Trainer(full_model, epochs=5, **kw).fit(X, y)
    path = tmp_path / "c.npz"
    part = make_model("tanh", "softmax", seed=0)
    pynn.Trainer(part, epochs=3, checkpoint_path=path, checkpoint_every=3,
                 **kw).fit(X, y)
    fresh = make_model("tanh", "softmax", seed=9)
    h = pynn.Trainer(fresh, epochs=5, **kw).fit(X, y, resume_from=path)
    assert np.array_equal(fresh.params, full_model.params)
    _assert_same_history(h, full)


@needs_io
def test_checkpoint_resume_with_early_stopping(tmp_path):
    X, t, Xv, tv = val_problem()
    kw = dict(loss="squared_error", lr=0.03, batch_size=5, seed=9,
              early_stopping=True, patience=3)
    full_model = make_model("tanh", "identity", sizes=(3, 6, 1), seed=2)
    full = pynn.Trainer(full_model, epochs=60, **kw).fit(
        X, t, validation_data=(Xv, tv))
    assert full.stopped_reason == "early_stopping"
    # checkpoint one epoch after the best epoch, before early stopping fires
    k = full.best_epoch + 2
    path = tmp_path / "es.npz"
    part = make_model("tanh", "identity", sizes=(3, 6, 1), seed=2)
    pynn.Trainer(part, epochs=k, checkpoint_path=path, checkpoint_every=k,
                 **kw).fit(X, t, validation_data=(Xv, tv))
    fresh = make_model("tanh", "identity", sizes=(3, 6, 1), seed=2)
    h = pynn.Trainer(fresh, epochs=60, **kw).fit(
        X, t, validation_data=(Xv, tv), resume_from=path)
    assert (h.best_epoch, h.epochs) == (full.best_epoch, full.epochs)
    assert np.array_equal(fresh.params, full_model.params)


@needs_io
def test_checkpoint_resume_with_tol(tmp_path):
    X, t = regression_problem()
    kw = dict(loss="squared_error", lr=0.05, batch_size=None, shuffle=False,
              tol=1e-3, n_iter_no_change=3)
    full_model = make_model("tanh", "identity", sizes=(3, 5, 1), seed=1)
    full = pynn.Trainer(full_model, epochs=200, **kw).fit(X, t)
    assert full.stopped_reason == "tol"
    k = full.epochs - 1                        # inside the run of no-change
    path = tmp_path / "tol.npz"
    part = make_model("tanh", "identity", sizes=(3, 5, 1), seed=1)
    pynn.Trainer(part, epochs=k, checkpoint_path=path, checkpoint_every=k,
                 **kw).fit(X, t)
    fresh = make_model("tanh", "identity", sizes=(3, 5, 1), seed=1)
    h = pynn.Trainer(fresh, epochs=200, **kw).fit(X, t, resume_from=path)
    assert h.epochs == full.epochs
    assert np.array_equal(fresh.params, full_model.params)


@needs_io
def test_corrupt_checkpoint_raises_value_error(tmp_path):
    X, y, _ = _ckpt_data()
    path = tmp_path / "good.npz"
    model = make_model("sigmoid", "softmax", seed=0)
    pynn.Trainer(model, epochs=2, checkpoint_path=path, checkpoint_every=1,
                 **CKPT_KW).fit(X, y)
    data = path.read_bytes()

    variants = {
        "garbage": b"this is not a checkpoint at all",
        "truncated": data[: len(data) // 2],
        "empty": b"",
    }
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    variants["flipped byte"] = bytes(flipped)

    for name, content in variants.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.npz"
        bad.write_bytes(content)
        target = make_model("sigmoid", "softmax", seed=5)
        before = target.params.copy()
        with pytest.raises(ValueError):
            pynn.Trainer(target, epochs=4, **CKPT_KW).fit(X, y, resume_from=bad)
        assert np.array_equal(target.params, before), name


@needs_io
def test_checkpoint_for_other_model_or_settings_is_refused(tmp_path):
    X, y, _ = _ckpt_data()
    path = tmp_path / "c.npz"
    pynn.Trainer(make_model("sigmoid", "softmax", seed=0), epochs=2,
                 checkpoint_path=path, checkpoint_every=2, **CKPT_KW).fit(X, y)
    other = pynn.Model([pynn.Dense(3, 5, "sigmoid"), pynn.Dense(5, 2, "softmax")],
                       dtype="float64", seed=0)
    before = other.params.copy()
    with pytest.raises(ValueError, match="architecture"):
        pynn.Trainer(other, epochs=4, **CKPT_KW).fit(X, y, resume_from=path)
    assert np.array_equal(other.params, before)
    same = make_model("sigmoid", "softmax", seed=1)
    before = same.params.copy()
    changed = dict(CKPT_KW, lr=0.01)
    with pytest.raises(ValueError, match="lr"):
        pynn.Trainer(same, epochs=4, **changed).fit(X, y, resume_from=path)
    assert np.array_equal(same.params, before)


# ------------------------------------------ a runaway loss that stays finite
def _digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_finite_runaway_loss_raises_divergence_and_restores_weights():
    X, y = _digits()
    model = pynn.MLP([64, 32, 10], hidden="tanh", output="softmax",
                     dtype="float64", seed=0)
    before = model.params.copy()
    trainer = pynn.Trainer(model, loss="cross_entropy", lr=1e6,
                           batch_size=32, epochs=5, seed=0)
    with pytest.raises(pynn.DivergenceError, match="grew past") as info:
        trainer.fit(X, y)
    assert info.value.history.stopped_reason == "diverged"
    # the only epoch ran away: the weights are the ones before it
    np.testing.assert_array_equal(model.params, before)


def test_runaway_ceiling_is_factor_times_starting_loss():
    from pynn import trainer as trainer_mod
    X, y = _digits()
    rows = trainer_mod.DIVERGENCE_ROWS
    model = pynn.MLP([64, 10], output="softmax", dtype="float64", seed=1)
    p0 = model.forward(X[:rows])                      # untrained outputs
    start = -np.mean(np.log(p0[np.arange(rows), y[:rows]]))
    tr = pynn.Trainer(model, loss="cross_entropy", epochs=1, seed=0)
    np.testing.assert_allclose(tr._loss_ceiling(X, np.eye(10)[y]),
                               trainer_mod.DIVERGENCE_FACTOR * start,
                               rtol=1e-12)
    assert start > 1                      # ln 10 ≈ 2.3: the floor is not hit


def test_normal_training_is_not_flagged_as_runaway():
    X, y = _digits()
    model = pynn.MLP([64, 32, 10], hidden="tanh", output="softmax", seed=0)
    h = pynn.Trainer(model, loss="cross_entropy", lr=0.1, batch_size=32,
                     epochs=3, seed=0).fit(X, y)
    assert h.stopped_reason == "max_epochs" and h.loss[-1] < h.loss[0]


# -------------------------------- cross_entropy needs a distribution output
@pytest.mark.parametrize("out", ["sigmoid", "gaussian"])
def test_cross_entropy_with_multi_unit_non_softmax_output_is_refused(out):
    model = pynn.MLP([64, 32, 10], hidden="tanh", output=out, seed=0)
    with pytest.raises(ValueError, match="softmax") as info:
        pynn.Trainer(model, loss="cross_entropy")
    assert "multilabel_cross_entropy" in str(info.value)
    assert out in str(info.value)


def test_cross_entropy_with_one_sigmoid_unit_points_to_binary():
    model = pynn.MLP([4, 3, 1], output="sigmoid", seed=0)
    with pytest.raises(ValueError, match="binary_cross_entropy"):
        pynn.Trainer(model, loss="cross_entropy")


@pytest.mark.parametrize("loss", ["binary_cross_entropy",
                                  "multilabel_cross_entropy"])
def test_sigmoid_outputs_keep_their_own_cross_entropies(loss):
    model = pynn.MLP([4, 3, 5], output="sigmoid", seed=0)
    pynn.Trainer(model, loss=loss)              # accepted


def test_random_streams_are_built_only_when_used(monkeypatch):
    """A fit that neither splits, shuffles nor draws masks builds no
    SeedSequence (its spawn and generators cost ~70 µs per fit or
    partial_fit call); a shuffled fit builds the one it needs."""
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    made = []
    real = np.random.SeedSequence

    class Counting(real):
        def __init__(self, *a, **k):
            made.append(a)
            super().__init__(*a, **k)
    monkeypatch.setattr(np.random, "SeedSequence", Counting)
    for fit in (lambda t: t.fit(X, y), lambda t: t.partial_fit(X, y)):
        t = pynn.Trainer(pynn.MLP([3, 4, 2], seed=0), batch_size=8, epochs=2,
                         shuffle=False, seed=5)
        fit(t)
    assert made == []
    t = pynn.Trainer(pynn.MLP([3, 4, 2], seed=0), batch_size=8, epochs=1,
                     shuffle=True, seed=5)
    t.fit(X, y)
    assert made[:1] == [(5,)]     # (spawn builds its children alike);
    # the orders are checked against trainer_reference.trainer_orders by
    # the shuffling tests above
