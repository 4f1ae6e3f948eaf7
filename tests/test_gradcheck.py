"""Gradient checks: backward and input_gradient against central differences.

Over the WHOLE flat parameter vector (``model.params``, float64, step 1e-6,
loss from ``model.loss``) for every hidden activation × every (output, loss)
pair.  Relative error ‖g − g_num‖ / (‖g‖ + ‖g_num‖) < 1e-6.

Every bias is set to a random nonzero value first: with zero biases relu and
step units can sit exactly on their kink (u = 0) and the check would fail for
no fault of the code.  step and sign have zero gradient everywhere: for them
the gradients of every layer below are checked to be exactly 0.

Run ``python tests/test_gradcheck.py`` for the table of the largest
finite-difference error per activation.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pynn
from pynn.activations import ACTIVATIONS

import oracle

H = oracle.FD_STEP            # central-difference step
TOL = 1e-6
HIDDEN = sorted(ACTIVATIONS)
ZERO_GRAD = {"step", "sign"}
PAIRS = [("identity", "squared_error"), ("sigmoid", "binary_cross_entropy"),
         ("sigmoid", "multilabel_cross_entropy"), ("softmax", "cross_entropy"),
         # non-canonical pairs: ∂L/∂y through the output activation
         ("tanh", "squared_error"), ("sigmoid", "cross_entropy"),
         ("softmax", "binary_cross_entropy")]
SIZES = [4, 5, 4, 3]          # two hidden layers, so "below" has two layers
BATCH = 6

# activation -> largest relative error seen (parameters and inputs)
ERRORS = {}


def make_case(hidden, out, loss, seed=0, hidden_param=None):
    rng = np.random.default_rng(seed)
    layers = [pynn.Dense(a, b, hidden, activation_param=hidden_param)
              for a, b in zip(SIZES[:-2], SIZES[1:-1])]
    layers.append(pynn.Dense(SIZES[-2], SIZES[-1], out))
    model = pynn.Model(layers, dtype="float64", seed=seed)
    model.params = rng.uniform(-1, 1, model.n_params)
    for layer in model.layers:                     # nonzero biases (see above)
        layer.b = rng.choice([-1, 1], layer.n_out) * rng.uniform(0.1, 1, layer.n_out)
    X = rng.uniform(-1.5, 1.5, size=(BATCH, SIZES[0]))
    if loss == "cross_entropy":
        T = rng.integers(0, SIZES[-1], size=BATCH)
    elif loss == "squared_error":
        T = rng.standard_normal((BATCH, SIZES[-1]))
    else:
        T = rng.uniform(0, 1, size=(BATCH, SIZES[-1]))
    return model, X, T


def numeric_param_gradient(model, X, T, loss):
    """Central differences of the mean loss over the live params buffer."""
    return oracle.numeric_gradient(lambda: model.loss(X, T, loss), model.params, H)


def numeric_input_gradient(model, X, T, loss):
    """∂L_i/∂x_i: samples are independent, so differentiate Σ_i L_i."""
    X = np.array(X, dtype=np.float64)
    return oracle.numeric_gradient(lambda: X.shape[0] * model.loss(X, T, loss), X, H)


def check_case(hidden, out, loss, seed=0, hidden_param=None):
    """Return (param error, input error, model, grads, input gradient)."""
    model, X, T = make_case(hidden, out, loss, seed, hidden_param)
    p0 = model.params.copy()
    model.backward(X, T, loss)
    g = model.grads.copy()
    g_num = numeric_param_gradient(model, X, T, loss)
    gx = model.input_gradient(X, T, loss)
    gx_num = numeric_input_gradient(model, X, T, loss)
    assert model.params.tobytes() == p0.tobytes()
    return oracle.rel_error(g, g_num), oracle.rel_error(gx, gx_num), model, g, gx


def record(name, *errors):
    ERRORS[name] = max(ERRORS.get(name, 0.0), *errors)


def format_table(errors):
    lines = ["largest finite-difference error per hidden activation",
             f"(float64, central differences h={H:g}, "
             f"{len(PAIRS)} (output, loss) pairs, params and inputs)",
             f"{'activation':<14}{'max rel. error':>16}"]
    lines += [f"{name:<14}{err:>16.2e}" for name, err in sorted(errors.items())]
    return "\n".join(lines)


@pytest.fixture(scope="module", autouse=True)
def error_table(request):
    """Print the per-activation table once the module's checks have run."""
    yield
    if not ERRORS:
        return
    text = format_table(ERRORS)
    capman = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capman is None or reporter is None:
        print(text)
        return
    with capman.global_and_fixture_disabled():     # shown even without -s
        reporter.write_line("")
        for line in text.splitlines():
            reporter.write_line(line)


@pytest.mark.parametrize("out,loss", PAIRS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_finite_differences(hidden, out, loss):
    err, err_x, model, g, gx = check_case(hidden, out, loss)
    record(hidden, err, err_x)
    print(f"{hidden:>11} | {out:>8} + {loss:<25} params {err:.1e}  "
          f"inputs {err_x:.1e}")
    assert err < TOL
    assert err_x < TOL
    assert np.abs(g).max() > 0            # the output layer always learns
    if hidden in ZERO_GRAD:
        top = model.layers[-1]
        n_top = top.n_params
        # Every layer below a step/sign layer gets exactly zero gradient.
        np.testing.assert_array_equal(g[:-n_top], 0.0)
        np.testing.assert_array_equal(gx, 0.0)
        assert np.abs(g[-n_top:]).max() > 0
    else:
        assert np.abs(gx).max() > 0


@pytest.mark.parametrize("hidden,param", [("leaky_relu", 0.3), ("gaussian", 2.5),
                                          ("gaussian", 0.4)])
def test_activation_parameters(hidden, param):
    for out, loss in PAIRS[:4]:
        err, err_x, *_ = check_case(hidden, out, loss, seed=1, hidden_param=param)
        record(hidden, err, err_x)
        assert err < TOL and err_x < TOL


@pytest.mark.parametrize("out,loss", PAIRS)
def test_single_layer(out, loss):
    """No hidden layer: the output layer alone, batch of one."""
    rng = np.random.default_rng(3)
    model = pynn.Model([pynn.Dense(5, 3, out)], dtype="float64")
    model.params = rng.uniform(-1, 1, model.n_params)
    X = rng.uniform(-1, 1, (1, 5))
    T = [1] if loss == "cross_entropy" else rng.uniform(0, 1, (1, 3))
    model.backward(X, T, loss)
    assert oracle.rel_error(model.grads, numeric_param_gradient(model, X, T, loss)) < TOL
    assert oracle.rel_error(model.input_gradient(X, T, loss),
                     numeric_input_gradient(model, X, T, loss)) < TOL


def test_oracle_backprop_matches_finite_differences():
    """The oracle itself passes the same check (so it can be trusted)."""
    for hidden in ("tanh", "softmax", "swish"):
        for out, loss in PAIRS:
            model, X, T = make_case(hidden, out, loss, seed=2)
            sizes, layers, acts = oracle.describe(model)
            _, grads, gx = oracle.backprop(layers, acts, X, T, loss)
            flat = oracle.flatten(layers)

            def f(v):
                return oracle.backprop(oracle.unflatten(sizes, v), acts, X, T,
                                       loss)[0]
            num = np.array([(f(flat + H * e) - f(flat - H * e)) / (2 * H)
                            for e in np.eye(flat.size)])
            assert oracle.rel_error(oracle.flatten(grads), num) < TOL


if __name__ == "__main__":
    for hidden in HIDDEN:
        for out, loss in PAIRS:
            err, err_x, *_ = check_case(hidden, out, loss)
            record(hidden, err, err_x)
    print(format_table(ERRORS))
