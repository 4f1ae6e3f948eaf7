"""The fused batch-1 SGD step (csrc/_fused.c) against the unfused path.

Plain online SGD (batch_size=1, optimizer="sgd") on a Dense-only net with
the squared error runs forward, output delta, backward and the update of
every layer in one C call.  It must give the bits of the unfused path
(forward_pass, then backward_pass in SGD_UPDATE mode, through pynn._blas.mm
and the kernels of csrc/_small.c), which ``_network.set_fused_sgd(False)``
forces: the tests train the same seeded net both ways and compare the
parameters bit for bit (and the reported losses and accuracies), in float32
and float64, in the generic, AVX2 and AVX-512 variants of the kernels, over odd
and MNIST-like shapes, three hidden layers, the activations the step
supports, shuffled order and sample weights.  Nets the step does not take
(dropout, other losses) must report so and still train.
"""
import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import _blas, _network, _train

from oracle import kernel_variant as variant, temporarily
from pynn.losses import get_loss

VARIANTS = _blas.available_kernel_variants()
needs_avx2 = pytest.mark.skipif("avx2" not in VARIANTS,
                                reason="CPU without AVX2: one variant only")


def fused(enabled):
    return temporarily(_network.set_fused_sgd, enabled)


@pytest.fixture(autouse=True, params=["defer", "no-defer"])
def defer_policy(request):
    """Every test twice: W_1's update deferred to the next sample's forward
    pass on every net (float32 AVX2), and never."""
    with temporarily(_network.set_fused_defer_min,
                     0 if request.param == "defer" else 2 ** 62):
        yield request.param


def data(sizes, n, dtype, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0])).astype(dtype)
    T = (rng.random((n, sizes[-1])) > 0.5).astype(dtype)
    return X, T


def make(sizes, dtype, hidden="sigmoid", output="sigmoid", lr=0.3,
         epochs=2, shuffle=False):
    model = pynn.MLP(sizes, hidden=hidden, output=output, seed=1, dtype=dtype)
    trainer = pynn.Trainer(model, loss="squared_error", optimizer="sgd",
                           lr=lr, batch_size=1, epochs=epochs,
                           shuffle=shuffle, seed=4, n_threads=1)
    return model, trainer


def qualifies(model, loss="squared_error"):
    return _network.fused_sgd_qualifies(model._layout, get_loss(loss).code)


def train(sizes, dtype, on, name=None, n=120, sw=None, **kw):
    """(params, history losses) after a fit with the fused step on or off
    under kernel variant ``name`` (None: the current one)."""
    X, T = data(sizes, n, dtype)
    ctx = variant(name) if name else contextlib.nullcontext()
    with ctx, fused(on):
        model, trainer = make(sizes, dtype, **kw)
        assert qualifies(model) == on
        trainer.fit(X, T, sample_weight=sw)
    h = trainer.history
    return model.params.copy(), (list(h.loss), list(h.accuracy))


SHAPES = [[7, 5, 3], [64, 32, 10], [13, 21, 7, 3], [9, 17, 11, 6, 2],
          [2, 150, 1], [1, 200, 1], [3, 1, 4]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SHAPES)
def test_fused_matches_unfused_bit_for_bit(sizes, dtype):
    a, la = train(sizes, dtype, True)
    b, lb = train(sizes, dtype, False)
    assert a.dtype == np.dtype(dtype)
    assert not np.array_equal(a, train(sizes, dtype, True, epochs=1)[0])
    assert a.tobytes() == b.tobytes()
    assert la == lb


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden,output", [("tanh", "sigmoid"),
                                           ("relu", "identity"),
                                           ("identity", "tanh"),
                                           ("sigmoid", "relu"),
                                           ("tanh", "identity")])
def test_each_activation_bit_for_bit(hidden, output, dtype):
    sizes = [11, 19, 6]
    a, _ = train(sizes, dtype, True, hidden=hidden, output=output, lr=0.05)
    b, _ = train(sizes, dtype, False, hidden=hidden, output=output, lr=0.05)
    assert np.isfinite(a).all()
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mnist_shape_bit_for_bit(dtype):
    sizes = [784, 128, 10]
    a, _ = train(sizes, dtype, True, n=40, epochs=1)
    b, _ = train(sizes, dtype, False, n=40, epochs=1)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shuffled_and_weighted_samples_bit_for_bit(dtype):
    """Shuffled order (gathered rows) and sample weights, zeros included
    (a weight of 0 takes no step)."""
    sizes, n = [10, 8, 4], 90
    sw = np.random.default_rng(5).random(n).astype(dtype) * 2
    sw[::7] = 0
    a, la = train(sizes, dtype, True, n=n, sw=sw, shuffle=True)
    b, lb = train(sizes, dtype, False, n=n, sw=sw, shuffle=True)
    c, _ = train(sizes, dtype, True, n=n, shuffle=True)
    assert not np.array_equal(a, c)          # the weights mattered
    assert a.tobytes() == b.tobytes()
    assert la == lb


@needs_avx2
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[7, 5, 3], [64, 32, 10], [13, 21, 7, 3]])
def test_variants_bit_identical(sizes, dtype):
    """The generic, AVX2 and (where the CPU has it) AVX-512 fused steps,
    and the unfused AVX2 path."""
    g, _ = train(sizes, dtype, True, "generic")
    v, _ = train(sizes, dtype, True, "avx2")
    u, _ = train(sizes, dtype, False, "avx2")
    assert g.tobytes() == v.tobytes() == u.tobytes()
    if "avx512" in VARIANTS:
        w, _ = train(sizes, dtype, True, "avx512")
        assert w.tobytes() == g.tobytes()


@pytest.mark.skipif("avx512" not in VARIANTS, reason="CPU without AVX-512F")
@pytest.mark.parametrize("n_in", [1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 47,
                                  64, 100])
def test_avx512_w1_pass_bit_identical_on_every_tail(n_in):
    """The AVX-512 W_1 pass (16 columns a step, then 8, then a masked
    tail; 4 rows a pass, then the rest) against the generic step and the
    unfused path, over inputs of each remainder and 9 hidden units (two
    4-row passes and one row)."""
    sizes = [n_in, 9, 3]
    w, lw = train(sizes, "float32", True, "avx512", n=60)
    g, lg = train(sizes, "float32", True, "generic", n=60)
    u, _ = train(sizes, "float32", False, "avx2", n=60)
    assert not np.array_equal(w, train(sizes, "float32", True, "avx512",
                                       n=60, epochs=1)[0])
    assert w.tobytes() == g.tobytes() == u.tobytes()
    assert lw == lg


def test_generic_variant_from_environment(tmp_path):
    """PYNN_SIMD=0 at import: the fused step runs its generic variant, with
    the bits of this process's fused (and unfused) path."""
    sizes = [9, 6, 3]
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import numpy as np, test_fused_small as t\n"
        "from pynn import _blas\n"
        "assert _blas.kernel_variant() == 'generic'\n"
        "p, _ = t.train(%r, 'float32', True)\n"
        "sys.stdout.write(p.tobytes().hex())\n"
    ) % (os.path.dirname(os.path.abspath(__file__)), sizes)
    env = dict(os.environ, PYNN_SIMD="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    here, _ = train(sizes, "float32", False)
    assert bytes.fromhex(out) == here.tobytes()


def test_nets_the_step_does_not_take():
    """Other losses, dropout and non-qualifying products keep the old path
    (the fit still trains)."""
    model, _ = make([8, 6, 2], "float32")
    assert qualifies(model)
    assert not qualifies(model, "binary_cross_entropy")
    drop = pynn.Model([pynn.Dense(8, 6, "sigmoid"), pynn.Dropout(0.2),
                       pynn.Dense(6, 2, "sigmoid")], seed=1)
    assert not qualifies(drop)
    with temporarily(_blas.set_vector_kernel_limit, 0):
        big, _ = make([40, 30, 2], "float32")
        assert not qualifies(big)                # 1200 > 256: OpenBLAS
        small, _ = make([8, 6, 2], "float32")
        assert qualifies(small)                  # hand loops only
    # u = W z with one input and more than 256 products: OpenBLAS's GER
    assert not qualifies(make([1, 300, 1], "float32")[0])
    with fused(False):
        assert not qualifies(model)


def run_direct(sizes, X, T, lr, pieces, on, hidden="relu", output="identity"):
    """params and run_batches' results over consecutive ranges ``pieces``
    of the samples (several calls: a deferred update must be applied at
    the end of each)."""
    with fused(on):
        model = pynn.MLP(sizes, hidden=hidden, output=output, seed=1,
                         dtype=X.dtype.name)
        assert qualifies(model) == on
        trainer = pynn.Trainer(model, loss="squared_error", optimizer="sgd",
                               lr=lr, batch_size=1, n_threads=1)
        update = trainer.optimizer.kernel(trainer.l2, trainer.clip_norm)
        loss = get_loss("squared_error")
        batches = _train.Batches(X, T, None, 1, False)
        work = model._workspace(1)
        out = [_train.run_batches(model._layout, model.params, model.grads,
                                  batches, a, b, 1, loss.code, loss.accuracy,
                                  update, lr, work, None)
               for a, b in pieces]
    return model.params.copy(), out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_stops_at_the_same_sample(dtype):
    """A loss that overflows stops run_batches before that sample's step,
    with the parameters of the unfused path (the previous sample's step
    fully applied)."""
    rng = np.random.default_rng(0)
    X = (rng.random((200, 9)) * 50).astype(dtype)
    T = (rng.random((200, 3)) * (1e3 if dtype == "float32" else 1e150)).astype(dtype)
    a, ra = run_direct([9, 7, 3], X, T, 5.0, [(0, 200)], True)
    b, rb = run_direct([9, 7, 3], X, T, 5.0, [(0, 200)], False)
    assert ra[0][4] == 1 and 0 < ra[0][3] < 200      # it did diverge
    assert ra == rb
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_calls_over_pieces_of_the_epoch(dtype):
    """Consecutive calls on pieces of the samples (as the progress bar
    makes them) give the bits of one unfused call."""
    X, T = data([12, 9, 4], 100, dtype)
    pieces = [(0, 1), (1, 37), (37, 38), (38, 100)]
    a, ra = run_direct([12, 9, 4], X, T, 0.2, pieces, True, "sigmoid",
                       "sigmoid")
    b, rb = run_direct([12, 9, 4], X, T, 0.2, [(0, 100)], False, "sigmoid",
                       "sigmoid")
    assert sum(r[3] for r in ra) == 100
    assert a.tobytes() == b.tobytes()
    assert abs(sum(r[0] for r in ra) - rb[0][0]) <= 1e-12 * rb[0][0]
