"""The optimiser update loops of csrc/_update.c: the AVX2 variant (chosen
at import on CPUs that have it) against the generic C variant (forced by
PYNN_SIMD=0), compared as raw bits.

Both variants perform the same IEEE operations in the same order (see
csrc/_update.h), so training must leave bit-identical parameters and
optimiser state: online (batch 1, the fused step of _network.pyx, a W row
at a time), mini-batch and clipped (``apply_update`` of _train.pyx over a
stored gradient), for momentum, Nesterov, Adam and SGD with L2, in float32
and float64.  Each variant trains in its own interpreter, since the
variant is chosen when the modules load.  Row lengths (37, 19, 5) are not
multiples of the vector width, so the vector loops and their scalar tails
both run.
"""
import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pynn import _blas

CHILD = r"""
import ctypes, json, sys
import numpy as np
import pynn
from pynn import _network, _train

CASES = [  # (optimizer, lr, l2, batch size, clip norm)
    ("momentum", 0.05, 0.0, 1, None), ("momentum", 0.05, 1e-2, 1, None),
    ("nesterov", 0.05, 1e-2, 1, None), ("adam", 0.01, 0.0, 1, None),
    ("adam", 0.01, 1e-2, 1, None), ("sgd", 0.05, 1e-2, 1, None),
    ("adam", 0.01, 1e-2, 5, None), ("nesterov", 0.05, 0.0, 5, None),
    ("momentum", 0.05, 0.0, 1, 0.05), ("adam", 0.01, 0.0, 3, 0.05),
]
out = {"variant": [ctypes.CDLL(m.__file__).pynn_update_variant()
                   for m in (_network, _train)], "runs": {}}
rng = np.random.default_rng(0)
X = rng.random((60, 37))
X[X < 0.5] = 0                                  # sparse [0, 1] inputs
y = rng.integers(0, 5, 60)
for dtype in ("float32", "float64"):
    for opt, lr, l2, bs, clip in CASES:
        model = pynn.MLP([37, 19, 5], hidden="tanh", output="softmax",
                         dtype=dtype, seed=3)
        tr = pynn.Trainer(model, loss="cross_entropy", optimizer=opt, lr=lr,
                          l2=l2, batch_size=bs, epochs=2, shuffle=False,
                          clip_norm=clip, n_threads=1)
        tr.fit(X.astype(dtype), y)
        arrays = [model.params] + list(tr.optimizer.state)
        key = f"{dtype}-{opt}-l2={l2}-b={bs}-clip={clip}"
        out["runs"][key] = [a.tobytes().hex() for a in arrays]
# scikit-learn's forms (Update.sklearn): pynn.sklearn's solvers
from pynn.sklearn import MLPClassifier
for dtype in ("float32", "float64"):
    for solver, kw in [("sgd", {"nesterovs_momentum": True}),
                       ("sgd", {"nesterovs_momentum": False}),
                       ("sgd", {"momentum": 0.0}), ("adam", {})]:
        est = MLPClassifier(hidden_layer_sizes=(19,), solver=solver,
                            batch_size=5, max_iter=2, alpha=1e-2,
                            random_state=0, n_threads=1, **kw)
        est.fit(X.astype(dtype), y)
        key = f"{dtype}-sklearn-{solver}-{sorted(kw.items())}"
        out["runs"][key] = [a.tobytes().hex() for a in
                            est.coefs_ + est.intercepts_]
json.dump(out, sys.stdout)
"""


def _train_in_child(simd, cwd):
    """Train in a child with PYNN_SIMD=simd, run from ``cwd`` (not the
    checkout, whose source folder would shadow an installed pynn)."""
    env = dict(os.environ)
    env["PYNN_SIMD"] = simd
    res = subprocess.run([sys.executable, "-c", CHILD], env=env,
                         capture_output=True, text=True, timeout=300,
                         cwd=str(cwd))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.skipif("avx2" not in _blas.available_kernel_variants(),
                    reason="this CPU or build has no AVX2 variant")
def test_avx2_and_generic_updates_give_the_same_bits(tmp_path):
    fast = _train_in_child("1", tmp_path)
    slow = _train_in_child("0", tmp_path)
    # both modules that update parameters really ran the variant meant
    assert fast["variant"] == [1, 1] and slow["variant"] == [0, 0]
    assert fast["runs"].keys() == slow["runs"].keys()
    assert len(fast["runs"]) == 28
    for key, arrays in fast["runs"].items():
        assert arrays == slow["runs"][key], key
        # the run trained: parameters moved and the state is not all zero
        dtype = np.float32 if key.startswith("float32") else np.float64
        params = np.frombuffer(bytes.fromhex(arrays[0]), dtype)
        assert np.all(np.isfinite(params))
        if "sgd" not in key and "sklearn" not in key:
            state = np.frombuffer(bytes.fromhex(arrays[1]), dtype)
            assert np.count_nonzero(state) > state.size // 2, key
    # the cases differ from each other (the comparison is not of constants)
    assert len({a[0] for a in fast["runs"].values()}) == 28


def test_pynn_simd_0_selects_the_generic_loops():
    """In this interpreter the variant follows PYNN_SIMD and the CPU."""
    from pynn import _network, _train
    off = os.environ.get("PYNN_SIMD", "").strip().lower() in (
        "0", "off", "false", "no")
    want = 0 if off or "avx2" not in _blas.available_kernel_variants() else 1
    for mod in (_network, _train):
        assert ctypes.CDLL(mod.__file__).pynn_update_variant() == want


# ----------------------------------------- scikit-learn's forms, op for op
def _sklearn_reference(kind, w, g, s1, s2, lr, mu, b1, b2, eps, d, t):
    """sklearn.neural_network._stochastic_optimizers' updates, one NumPy
    operation per rounding, in the arrays' dtype (csrc/_update.h)."""
    T = w.dtype.type
    lr_, d_ = T(lr), T(d)
    if kind in ("sgd", "momentum", "nesterov"):
        m = T(0.0 if kind == "sgd" else mu)
        tmp = lr_ * (T(1) * (g + d_ * w))
        v = m * s1 - tmp
        step = v if kind != "nesterov" else m * v - tmp
        return w + step, v, s2
    x = T(1) * (g + d_ * w)
    m = T(b1) * s1 + T(1 - b1) * x
    v = T(b2) * s2 + (x * x) * T(1 - b2)
    neg = T(-(lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)))
    return w + (m * neg) / (np.sqrt(v) + T(eps)), m, v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov", "adam"])
def test_sklearn_forms_are_sklearns_formulas_bit_for_bit(dtype, kind):
    """``_train.step`` with Update(sklearn=True) on a 37-19-5 layout (spans
    of 703, 19, 95, 5: vector loops and scalar tails) against the
    reference above, three steps, as raw bits."""
    import pynn
    from pynn import _train
    model = pynn.MLP([37, 19, 5], dtype=dtype, seed=1)
    n = model.n_params
    rng = np.random.default_rng(2)
    code = {"sgd": _train.Optimizer.SGD, "momentum": _train.Optimizer.MOMENTUM,
            "nesterov": _train.Optimizer.NESTEROV,
            "adam": _train.Optimizer.ADAM}[kind]
    hyper = (0.9, 0.999, 1e-8) if kind == "adam" else (0.9,)
    s1 = np.zeros(n, dtype)
    s2 = np.zeros(n, dtype) if kind == "adam" else None
    upd = _train.Update(code, hyper, state1=s1, state2=s2, sklearn=True)
    w, r1, r2 = model.params.copy(), s1.copy(), np.zeros(n, dtype)
    for t in (1, 2, 3):
        g = rng.standard_normal(n).astype(dtype)
        model.grads[:] = g
        _train.step(model._layout, model.params, model.grads, upd, 0.01)
        # L2 (0 here) and clipping (none) enter as d = 0 and s = 1
        w, r1, r2 = _sklearn_reference(kind, w, g, r1, r2, 0.01, 0.9, 0.9,
                                       0.999, 1e-8, 0.0, t)
        assert model.params.tobytes() == w.tobytes()
        assert s1.tobytes() == r1.tobytes()
        if s2 is not None:
            assert s2.tobytes() == r2.tobytes()
