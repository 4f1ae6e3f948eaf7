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
    assert len(fast["runs"]) == 20
    for key, arrays in fast["runs"].items():
        assert arrays == slow["runs"][key], key
        # the run trained: parameters moved and the state is not all zero
        dtype = np.float32 if key.startswith("float32") else np.float64
        params = np.frombuffer(bytes.fromhex(arrays[0]), dtype)
        assert np.all(np.isfinite(params))
        if "sgd" not in key:
            state = np.frombuffer(bytes.fromhex(arrays[1]), dtype)
            assert np.count_nonzero(state) > state.size // 2, key
    # the cases differ from each other (the comparison is not of constants)
    assert len({a[0] for a in fast["runs"].values()}) == 20


def test_pynn_simd_0_selects_the_generic_loops():
    """In this interpreter the variant follows PYNN_SIMD and the CPU."""
    from pynn import _network, _train
    off = os.environ.get("PYNN_SIMD", "").strip().lower() in (
        "0", "off", "false", "no")
    want = 0 if off or "avx2" not in _blas.available_kernel_variants() else 1
    for mod in (_network, _train):
        assert ctypes.CDLL(mod.__file__).pynn_update_variant() == want
