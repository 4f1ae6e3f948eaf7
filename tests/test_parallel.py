"""pynn's own threads: results bit-identical on any number of threads.

A batch is split into chunks whose boundaries depend only on the batch size
and the layout (``pynn._train.chunk_rows``); the chunks' loss sums are added
in chunk order and the weight gradient is formed over the whole batch in
blocks fixed by the layout.  So training, the full-batch
gradient, evaluation and inference must give exactly the same bits with
n_threads = 1, 2, 3, 4 — and the chunked gradient must still be the
gradient (checked against a float64 NumPy reference, tests/oracle.py).
"""
import os
import platform
import subprocess
import sys
import threading

import numpy as np
import pytest

import pynn
from pynn import _threads, _train

THREADS = (1, 2, 3, 4)


def data(n=700, d=40, k=5, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    return X, y


def big_model(dtype="float32", dropout=0.0, d=40, k=5, seed=0):
    """Wide enough that a batch of 300 rows is several chunks."""
    layers = [pynn.Dense(d, 300, activation="tanh")]
    if dropout:
        layers.append(pynn.Dropout(dropout))
    layers += [pynn.Dense(300, 200, activation="relu"),
               pynn.Dense(200, k, activation="softmax")]
    return pynn.Model(layers, dtype=dtype, seed=seed)


def train(n_threads, dtype="float32", optimizer="sgd", batch_size=300,
          dropout=0.0, sample_weight=None, epochs=2, **kw):
    X, y = data(dtype=np.dtype(dtype))
    model = big_model(dtype, dropout)
    trainer = pynn.Trainer(model, loss="cross_entropy", optimizer=optimizer,
                           lr=0.01, batch_size=batch_size, epochs=epochs,
                           seed=3, n_threads=n_threads, **kw)
    history = trainer.fit(X, y, sample_weight=sample_weight)
    return model.params.copy(), history


def test_the_batches_here_are_really_split():
    """Otherwise the identity tests below would not test the chunked path."""
    layout = big_model()._layout
    rows = _train.chunk_rows(layout, 300)
    assert 1 < rows < 300
    assert _train.chunk_rows(layout, 700) < 700
    assert _train.chunk_rows(layout, 1) == 1


def test_chunk_boundaries_depend_on_the_batch_only():
    layout = big_model()._layout
    rows = [_train.chunk_rows(layout, B) for B in range(1, 2000, 37)]
    assert rows == [_train.chunk_rows(layout, B) for B in range(1, 2000, 37)]
    for B, r in zip(range(1, 2000, 37), rows):
        assert 1 <= r <= B
        assert -(-B // r) <= 16          # at most MAX_CHUNKS chunks


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_parameters_bit_identical_on_1_to_4_threads(dtype, optimizer):
    results = [train(n, dtype, optimizer) for n in THREADS]
    first, hist = results[0]
    assert np.isfinite(first).all()
    assert hist.loss[-1] < hist.loss[0]           # it did learn
    for params, h in results[1:]:
        assert np.array_equal(params, first)
        assert h.loss == hist.loss and h.accuracy == hist.accuracy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_bit_identical_on_1_to_4_threads(dtype):
    results = [train(n, dtype, "sgd", dropout=0.3) for n in THREADS]
    for params, h in results[1:]:
        assert np.array_equal(params, results[0][0])
        assert h.loss == results[0][1].loss


def test_dropout_masks_differ_between_chunks_and_batches():
    """Each chunk draws its own masks: with a dropout net the chunked fit
    still differs from the same fit without dropout (masks really apply)."""
    with_dropout = train(2, dropout=0.3)[0]
    without = train(2)[0]
    assert not np.array_equal(with_dropout, without)


@pytest.mark.parametrize("batch_size", [197, 333, None])
def test_batch_not_a_multiple_of_the_chunk_and_full_batch(batch_size):
    results = [train(n, "float32", "momentum", batch_size=batch_size)
               for n in THREADS]
    for params, _ in results[1:]:
        assert np.array_equal(params, results[0][0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_weights_bit_identical(dtype):
    w = np.random.default_rng(5).random(700)
    w[:150] = 0                                   # whole zero-weight chunks
    results = [train(n, dtype, "adam", sample_weight=w) for n in THREADS]
    for params, h in results[1:]:
        assert np.array_equal(params, results[0][0])
        assert h.loss == results[0][1].loss


def test_l2_clip_and_shuffle_bit_identical():
    results = [train(n, "float32", "sgd", l2=1e-3, clip_norm=0.5,
                     shuffle=True) for n in THREADS]
    for params, _ in results[1:]:
        assert np.array_equal(params, results[0][0])


def test_validation_and_lbfgs_bit_identical():
    X, y = data()
    out = []
    for n in THREADS:
        model = big_model("float64")
        tr = pynn.Trainer(model, loss="cross_entropy", optimizer="lbfgs",
                          epochs=5, n_threads=n)
        h = tr.fit(X.astype(np.float64), y,
                   validation_data=(X[:300].astype(np.float64), y[:300]))
        out.append((model.params.copy(), h.val_loss, h.val_accuracy))
    for params, vl, va in out[1:]:
        assert np.array_equal(params, out[0][0])
        assert vl == out[0][1] and va == out[0][2]


def oracle_gradient(model, X, T):
    """Mean cross-entropy gradient of a tanh-relu-softmax net in float64,
    written out from the equations (tests/oracle.py style)."""
    Ws = [l.W.astype(np.float64) for l in model.layers if hasattr(l, "W")]
    bs = [l.b.astype(np.float64) for l in model.layers if hasattr(l, "W")]
    Z0 = X.astype(np.float64)
    U1 = Z0 @ Ws[0].T + bs[0]
    Z1 = np.tanh(U1)
    U2 = Z1 @ Ws[1].T + bs[1]
    Z2 = np.maximum(U2, 0)
    U3 = Z2 @ Ws[2].T + bs[2]
    Y = np.exp(U3 - U3.max(axis=1, keepdims=True))
    Y /= Y.sum(axis=1, keepdims=True)
    B = X.shape[0]
    D3 = (Y - T) / B
    D2 = (D3 @ Ws[2]) * (U2 > 0)
    D1 = (D2 @ Ws[1]) * (1 - Z1 ** 2)
    return [D1.T @ Z0, D1.sum(0), D2.T @ Z1, D2.sum(0), D3.T @ Z2, D3.sum(0)]


@pytest.mark.parametrize("n_threads", [1, 3])
def test_chunked_gradient_is_the_gradient(n_threads):
    X, y = data(n=500, dtype=np.float64)
    T = np.eye(5)[y]
    model = big_model("float64")
    assert _train.chunk_rows(model._layout, 500) < 500
    total, wsum = _train.gradient(model._layout, model.params, model.grads,
                                  X, T, pynn.losses.get_loss(
                                      "cross_entropy").code,
                                  0.0, model._workspace(500),
                                  n_threads=n_threads)
    assert wsum == 500
    dense = [l for l in model.layers if hasattr(l, "W")]
    got = [g for l in dense for g in (l.dW, l.db)]
    for a, b in zip(got, oracle_gradient(model, X, T)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_model_backward_and_forward_identical_across_threads(monkeypatch):
    X, y = data(n=900)
    model = big_model()
    outs, grads, losses = [], [], []
    for n in THREADS:
        monkeypatch.setattr(_threads, "_cpus", (os.getpid(), n))
        outs.append(model.forward(X))
        losses.append(model.backward(X, y, loss="cross_entropy"))
        grads.append(model.grads.copy())
    assert _train.chunk_rows(model._layout, 900, 1) < 900
    for o, g, l in zip(outs[1:], grads[1:], losses[1:]):
        assert np.array_equal(o, outs[0])
        assert np.array_equal(g, grads[0])
        assert l == losses[0]


def test_chunked_predictions_match_single_pass_up_to_rounding():
    X, _ = data(n=900, dtype=np.float64)
    model = big_model("float64")
    out = np.empty((900, 5))
    _train.predict(model._layout, model.params, X, out, n_threads=3)
    one_by_one = np.vstack([model.forward(X[i:i + 100])
                            for i in range(0, 900, 100)])
    np.testing.assert_allclose(out, one_by_one, rtol=1e-12, atol=1e-15)
    assert np.allclose(out.sum(axis=1), 1)


def test_evaluate_identical_across_threads():
    X, y = data(n=1000)
    T = np.eye(5, dtype=np.float32)[y]
    model = big_model()
    work = np.empty(model._layout.workspace_size(64), np.float32)
    code = pynn.losses.get_loss("cross_entropy").code
    res = [_train.evaluate(model._layout, model.params, X, T, code, 1, 64,
                           work, n_threads=n) for n in THREADS]
    assert all(r == res[0] for r in res)
    assert 0 <= res[0][1] <= 1000


def test_small_batches_stay_on_the_single_pass():
    """Online learning and small nets: one chunk, the fused path of old."""
    model = pynn.MLP([64, 32, 10], hidden="sigmoid", output="softmax")
    assert _train.chunk_rows(model._layout, 1) == 1
    assert _train.chunk_rows(model._layout, 32) == 32
    big = pynn.MLP([784, 256, 256, 10], hidden="relu", output="softmax")
    assert _train.chunk_rows(big._layout, 32) == 32      # one fused pass


def test_penalised_nets_are_never_split():
    """A sparsity penalty depends on the whole batch's mean activation."""
    model = pynn.Autoencoder([40, 300], sparsity=pynn.KLSparsity(0.05, 0.1),
                             seed=0)
    assert model._layout.has_penalty
    assert _train.chunk_rows(model._layout, 600) == 600
    plain = pynn.Autoencoder([40, 300], seed=0)
    assert _train.chunk_rows(plain._layout, 600) < 600


def test_bad_thread_counts_are_refused():
    X, y = data(n=50)
    with pytest.raises(ValueError, match="n_threads"):
        pynn.Trainer(big_model(), loss="cross_entropy", n_threads=0)
    model = big_model()
    out = np.empty((50, 5), np.float32)
    for bad in (0, -1, 2.5, "2"):
        with pytest.raises(ValueError, match="n_threads"):
            _train.predict(model._layout, model.params, X, out, n_threads=bad)


# ------------------------------------------------------------ the pool itself
class _Stop(Exception):
    pass


def test_pool_survives_errors_and_interrupts_in_callbacks():
    reference = train(2, epochs=3)[0]

    def stop_with(exc):
        def cb(epoch, logs, trainer):
            if epoch == 0:
                raise exc
        return cb
    X, y = data()
    model = big_model()
    tr = pynn.Trainer(model, loss="cross_entropy", lr=0.01, batch_size=300,
                      epochs=3, seed=3, n_threads=2,
                      callbacks=[stop_with(KeyboardInterrupt())])
    h = tr.fit(X, y)
    assert h.interrupted and len(h.loss) == 1
    model = big_model()
    tr = pynn.Trainer(model, loss="cross_entropy", lr=0.01, batch_size=300,
                      epochs=3, seed=3, n_threads=2,
                      callbacks=[stop_with(_Stop())])
    with pytest.raises(_Stop):
        tr.fit(X, y)
    # A bad input between fits, then a normal fit: the same result as ever.
    with pytest.raises(ValueError):
        pynn.Trainer(big_model(), loss="cross_entropy", n_threads=2).fit(
            X[:, :3], y)
    assert np.array_equal(train(2, epochs=3)[0], reference)
    assert _train.pool_workers() >= 1


def test_divergence_with_chunks_keeps_the_last_finite_weights():
    X, y = data()
    X = X * 1e30
    model = big_model()
    before = model.params.copy()
    tr = pynn.Trainer(model, loss="cross_entropy", lr=1e10, batch_size=300,
                      epochs=2, n_threads=3)
    with pytest.raises(pynn.exceptions.DivergenceError):
        tr.fit(X, y)
    assert np.isfinite(model.params).all()
    assert np.array_equal(model.params, before)


def test_concurrent_fits_from_python_threads_agree():
    """Two Python threads training at once: one gets the pool, the other
    runs its chunks alone — both give the single-thread result."""
    expected = train(1)[0]
    results = [None, None]

    def work(i):
        results[i] = train(4)[0]
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert np.array_equal(r, expected)


CHILD = r"""
import os, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import test_parallel as tp
first = tp.train(3)[0]                 # starts the pool's workers
pid = os.fork()
if pid == 0:                           # the child has no workers: new ones
    ok = np.array_equal(tp.train(3)[0], first)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_pool_works_in_a_forked_child(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", CHILD, here],
                         capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0"


SPIN_CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import test_parallel as tp
a = tp.train(1)[0]
print(all(np.array_equal(tp.train(n)[0], a) for n in (2, 3, 4)))
"""


@pytest.mark.parametrize("spin_us", ["0", "1", "1000000"])
def test_pool_waits_alike_with_any_poll_time(tmp_path, spin_us):
    """Workers that never poll (PYNN_SPIN_US=0: every hand-off wakes a
    sleeping thread), that poll for 1 µs (most jobs find them asleep, some
    mid-poll) or for a whole second (every job is taken from a poll, and
    the caller polls for the last worker): the results are the
    single-thread ones each time."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYNN_SPIN_US": spin_us}
    out = subprocess.run([sys.executable, "-c", SPIN_CHILD, here],
                         capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"


# ------------------------------------------- the workers' floating-point state
# The training kernels flush subnormals (FTZ/DAZ, csrc/_fpenv.pxd); the pool
# (csrc/_pool.c) runs each job under the caller's MXCSR on every worker.  A
# worker that computed in its own state would keep the subnormals of the
# data below: its chunks would see relu units switched on (u > 0 subnormal,
# relu′ = 1) where the caller's see u = 0 (relu′ = 0), and its share of the
# fused SGD step would keep subnormal weights the caller's flushes.
SUBNORMAL_TINY = {"float32": 1e-40, "float64": 1e-310}


def subnormal_setup(dtype):
    """(model, X, y): positive subnormal inputs, a relu first layer with zero
    biases, and five weight columns holding subnormals."""
    tiny = SUBNORMAL_TINY[dtype]
    rng = np.random.default_rng(1)
    X = (rng.random((768, 40)) * tiny).astype(dtype)
    y = rng.integers(0, 5, 768)
    model = pynn.Model([pynn.Dense(40, 300, activation="relu"),
                        pynn.Dense(300, 200, activation="relu"),
                        pynn.Dense(200, 5, activation="softmax")],
                       dtype=dtype, seed=0)
    model.layers[0].W[:, :5] = tiny
    return model, X, y


def subnormal_fit(n_threads, dtype):
    model, X, y = subnormal_setup(dtype)
    pynn.Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.1,
                 batch_size=256, epochs=2, shuffle=True, seed=2,
                 n_threads=n_threads).fit(X, y)
    return model.params.copy()


FPENV_CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import test_parallel as tp
from test_fpenv import get_mxcsr, set_mxcsr
from pynn import _train
from pynn.losses import get_loss
dtype, out = sys.argv[2], sys.argv[3]
set_mxcsr(0x1F80)                         # the default: subnormals kept
# Start the workers from inference (caller's state, no FTZ/DAZ): they must
# not simply inherit the kernels' state from a training call.
model = tp.big_model(dtype)
X = tp.data(900, dtype=np.dtype(dtype))[0]
_train.predict(model._layout, model.params, X, np.empty((900, 5), dtype),
               n_threads=4)
workers = _train.pool_workers()
res, before, after = {}, [], []
for n in tp.THREADS:
    before.append(get_mxcsr())
    res[f"params{n}"] = tp.subnormal_fit(n, dtype)
    after.append(get_mxcsr())
# A compiled entry point on 4 threads gives back the exact MXCSR.
model, X, y = tp.subnormal_setup(dtype)
T = np.eye(5, dtype=dtype)[y]
set_mxcsr(0x1F80)
_train.gradient(model._layout, model.params, model.grads, X, T,
                get_loss("cross_entropy").code, 0.0, model._workspace(768),
                n_threads=4)
exact = get_mxcsr()
set_mxcsr(0x1F80)
np.savez(out, workers=workers, before=before, after=after, exact=exact,
         **res)
"""


@pytest.mark.skipif(not (sys.platform.startswith("linux")
                         and platform.machine() in ("x86_64", "AMD64")),
                    reason="reads the MXCSR (x86-64 Linux)")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_workers_compute_in_the_callers_floating_point_state(tmp_path, dtype):
    here = os.path.dirname(os.path.abspath(__file__))
    out = tmp_path / "fpenv.npz"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", FPENV_CHILD, here, dtype,
                        str(out)], capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = np.load(out)
    assert int(res["workers"]) == 3           # started outside any kernel
    # The data does exercise subnormals: in exact arithmetic (the sign of
    # X Wᵀ, from the rescaled inputs) many first-layer units are on, with
    # |u| below the smallest normal number.
    model, X, y = subnormal_setup(dtype)
    tiny = SUBNORMAL_TINY[dtype]
    W1 = model.layers[0].W.astype(np.float64)
    U_scaled = (X.astype(np.float64) / tiny) @ W1.T       # u / tiny
    assert (U_scaled > 0).mean() > 0.3
    assert np.abs(U_scaled).max() * tiny < np.finfo(dtype).tiny
    assert _train.chunk_rows(model._layout, 256) < 256    # chunked batches
    # Under FTZ/DAZ on every thread the first layer sees zeros: relu′(0) =
    # 0, so layers 1-2 get no gradient and z₂ = 0; only b₃ moves, and the
    # SGD step stores 0 for the subnormal weights.
    got = subnormal_setup(dtype)[0]
    got.params[...] = res["params1"]
    W1_flushed = model.layers[0].W.copy()
    W1_flushed[:, :5] = 0
    assert np.array_equal(got.layers[0].W, W1_flushed)
    for i in (0, 1):
        assert not got.layers[i].b.any()
    assert np.array_equal(got.layers[1].W, model.layers[1].W)
    assert np.array_equal(got.layers[2].W, model.layers[2].W)
    assert not np.array_equal(got.layers[2].b, model.layers[2].b)
    first = res["params1"]
    for n in THREADS[1:]:
        assert res[f"params{n}"].tobytes() == first.tobytes(), n
    # The caller's control state (rounding, masks, no FTZ/DAZ) is intact
    # after each fit; a kernel call gives back the exact MXCSR.
    control = 0xFFC0
    for b, a in zip(res["before"], res["after"]):
        assert int(a) & control == int(b) & control == 0x1F80
    assert int(res["exact"]) == 0x1F80


# ------------------------------------------- the optimiser step in pieces
# After a stored gradient, the per-element step runs in pieces of 8192
# elements (csrc/_train.pyx, ``_update_spans``), shared out on the pool
# when a net has at least four of them.
def wide_model():
    """W₁ of 100 × 400 = 40,000 elements: five pieces, the last partial."""
    return pynn.Model([pynn.Dense(100, 400, activation="tanh"),
                       pynn.Dense(400, 3, activation="softmax")],
                      dtype="float64", seed=0)


def test_optimiser_step_in_pieces_is_the_numpy_formula():
    """Adam with L2 and clipping on every element, piece edges included."""
    model = wide_model()
    rng = np.random.default_rng(4)
    opt = pynn.optimizers.Adam(0.01)
    w = model.params.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    decay = np.zeros_like(w)
    for layer in model.layers:          # λ on the weights, not the biases
        off = (layer.W.ctypes.data - model.params.ctypes.data) // 8
        decay[off:off + layer.W.size] = 1e-3
    for t in (1, 2, 3):
        g = rng.standard_normal(w.size)
        model.grads[:] = g
        opt.update(model, l2=1e-3, clip=5.0)
        g = g + decay * w
        g = g * min(1.0, 5.0 / np.linalg.norm(g))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t))
                                               + 1e-8)
        np.testing.assert_allclose(model.params, w, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_sklearn_forms_on_the_pool_are_bit_identical(solver):
    """pynn.sklearn steps with scikit-learn's update forms (momentum and
    Nesterov for "sgd"): the same bits on 1, 2 and 3 threads."""
    from pynn.sklearn import MLPClassifier
    X, y = data(n=300, d=100, k=3, dtype=np.float64)
    fits = [MLPClassifier(hidden_layer_sizes=(400,), solver=solver,
                          batch_size=32, max_iter=3, random_state=0,
                          n_threads=n).fit(X, y) for n in (1, 2, 3)]
    for est in fits[1:]:
        for a, b in zip(est.coefs_ + est.intercepts_,
                        fits[0].coefs_ + fits[0].intercepts_):
            assert np.array_equal(a, b)


# ------------------------------------- one chunk, its layers split by columns
# A batch of one chunk whose weight product goes to the pool also computes
# each wide Dense product U_ℓ = D Wᵀ + b, and backward G_{ℓ−1} = Δ_ℓ W_ℓ, in
# column blocks on the pool (csrc/_network.pyx, ``forward_blocks``,
# ``input_blocks``).
def split_model(dtype="float64", dropout=0.0, seed=0):
    layers = [pynn.Dense(200, 400, activation="tanh")]
    if dropout:
        layers.append(pynn.Dropout(dropout))
    layers += [pynn.Dense(400, 300, activation="relu"),
               pynn.Dense(300, 5, activation="softmax")]
    return pynn.Model(layers, dtype=dtype, seed=seed)


def test_the_layers_here_are_really_split_at_batch_32():
    layout = split_model()._layout
    assert _train.chunk_rows(layout, 32) == 32            # one chunk
    assert _train.split_columns(layout, 32) == [208, 160, 5]
    # G_1 = Δ_2 W_2 (32 × 400) in two blocks; G_0 is never formed in training
    assert _train.split_columns(layout, 32, backward=True)[1:] == [208, 300]
    assert _train.split_columns(layout, 1) == [400, 300, 5]   # not pooled


def test_split_forward_gives_the_single_pass_gradient():
    """float64, to rounding: the gradient of a batch of 32 (its products in
    column blocks, forward with their own bias columns, and Δ_2 W_2)
    against the mean of 32 one-row gradients (a row is never split)."""
    model = split_model()
    rng = np.random.default_rng(0)
    for layer in model.layers:               # biases of their own per block
        layer.b[:] = rng.standard_normal(layer.b.shape)
    X = rng.standard_normal((32, 200))
    T = np.eye(5)[rng.integers(0, 5, 32)]
    code = pynn.losses.get_loss("cross_entropy").code

    def gradient(Xs, Ts):
        total, wsum = _train.gradient(model._layout, model.params,
                                      model.grads, Xs, Ts, code, 0.0,
                                      model._workspace(len(Xs)), n_threads=2)
        return model.grads.copy(), total

    split, total = gradient(X, T)
    rows = [gradient(X[i:i + 1], T[i:i + 1]) for i in range(32)]
    np.testing.assert_allclose(split, sum(g for g, _ in rows) / 32,
                               rtol=1e-10, atol=1e-14)
    assert total == pytest.approx(sum(t for _, t in rows), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_split_batches_bit_identical_on_1_to_4_threads(dtype, optimizer,
                                                        dropout):
    X, y = data(n=200, d=200, dtype=np.dtype(dtype))
    params = []
    for n in THREADS:
        model = split_model(dtype, dropout)
        pynn.Trainer(model, loss="cross_entropy", optimizer=optimizer,
                     lr=0.01, batch_size=32, epochs=2, seed=3,
                     n_threads=n).fit(X, y)
        params.append(model.params)
    assert np.isfinite(params[0]).all()
    for p in params[1:]:
        assert np.array_equal(p, params[0])


def test_tied_nets_are_not_split():
    """A tied net's single chunk runs whole (its weight step is one block in
    layer order, ``_blocks_alone``), so is its forward product."""
    model = pynn.Autoencoder([300, 200], tied=True, dtype="float64", seed=2)
    assert _train.split_columns(model._layout, 32) == [200, 300]
