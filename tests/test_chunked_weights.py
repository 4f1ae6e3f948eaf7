"""The two phases of a chunked gradient on every kind of net.

A batch of several chunks runs each chunk's forward and delta pass, then
the weight gradient Σ_i w_i ∇W = Δᵀ D over the whole batch in blocks of W
(``csrc/_train.pyx``).  Here, on nets that take each branch of that path —
blocks of inputs and of outputs, tied weights (one block for the whole
pass), RBF layers (which keep U), input corruption (the panel of D_0),
sample weights — the chunked gradient must equal the weighted sum of
single-pass gradients over sub-batches of one chunk each (float64, to
rounding), and training must give the same bits on 1 to 4 threads.
"""
import numpy as np
import pytest

import pynn
from pynn import _train
from pynn.losses import get_loss

THREADS = (1, 2, 3, 4)


def nets(dtype="float64"):
    """name → (model, loss): each is split into chunks at 400 rows."""
    wide = pynn.Model([pynn.Dense(12, 300, activation="tanh"),  # outputs split
                       pynn.Dense(300, 200, activation="relu"),  # inputs split
                       pynn.Dense(200, 4, activation="softmax")],
                      dtype=dtype, seed=1)
    tied = pynn.Autoencoder([40, 300, 120], tied=True, dtype=dtype, seed=2)
    rbf = pynn.Model([pynn.Dense(12, 200, activation="tanh"),
                      pynn.RBF(200, 150), pynn.Dense(150, 4, activation="softmax")],
                     dtype=dtype, seed=3)
    noisy = pynn.Autoencoder([40, 300], input_noise=0.1, dtype=dtype, seed=4)
    return {"wide": (wide, "cross_entropy"), "tied": (tied, "squared_error"),
            "rbf": (rbf, "cross_entropy"), "noisy": (noisy, "squared_error")}


def batch(model, n=400, seed=0):
    rng = np.random.default_rng(seed)
    d_in, d_out = model._layout.sizes[0], model._layout.sizes[-1]
    X = rng.standard_normal((n, d_in)).astype(model.params.dtype)
    if d_out == d_in:                        # an autoencoder: reconstruct X
        return X, X.copy()
    T = np.eye(d_out, dtype=X.dtype)[rng.integers(0, d_out, n)]
    return X, T


def grad(model, X, T, loss, w=None, n_threads=1):
    total, wsum = _train.gradient(model._layout, model.params, model.grads,
                                  X, T, get_loss(loss).code, 0.0,
                                  model._workspace(X.shape[0]), w,
                                  n_threads=n_threads)
    return model.grads.copy(), total, wsum


@pytest.mark.parametrize("name", ["wide", "tied", "rbf", "noisy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_gradient_is_the_sum_of_single_passes(name, weighted):
    model, loss = nets()[name]
    X, T = batch(model)
    assert _train.chunk_rows(model._layout, 400) < 400
    w = np.random.default_rng(5).uniform(0, 2, 400) if weighted else None
    g, total, wsum = grad(model, X, T, loss, w, n_threads=3)
    parts, ref_total, step = np.zeros_like(g), 0.0, 40
    assert _train.chunk_rows(model._layout, step) == step   # one pass each
    for a in range(0, 400, step):
        wa = None if w is None else w[a:a + step]
        ga, ta, sa = grad(model, X[a:a + step], T[a:a + step], loss, wa)
        parts += ga * sa
        ref_total += ta
    np.testing.assert_allclose(g, parts / wsum, rtol=1e-10, atol=1e-13)
    assert total == pytest.approx(ref_total, rel=1e-12)


@pytest.mark.parametrize("name", ["wide", "tied", "rbf", "noisy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_bit_identical_on_1_to_4_threads(name, dtype, optimizer):
    params = []
    for n in THREADS:
        model, loss = nets(dtype)[name]
        X, T = batch(model, n=900, seed=6)
        y = T if loss == "squared_error" else T.argmax(1)
        pynn.Trainer(model, loss=loss, optimizer=optimizer, lr=0.01,
                     batch_size=300, epochs=2, seed=7,
                     n_threads=n).fit(X, y)
        params.append(model.params.copy())
    assert np.isfinite(params[0]).all()
    for p in params[1:]:
        assert np.array_equal(p, params[0])


def test_sgd_step_in_place_equals_gradient_then_step():
    """Plain SGD steps W in place block by block (no gradient buffer); it
    must follow the gradient of the same batch."""
    model, loss = nets()["wide"]
    X, T = batch(model)
    g, _, _ = grad(model, X, T, loss)
    before = model.params.copy()
    data = _train.Batches(X, T, None, 400)
    _train.run_batches(model._layout, model.params, model.grads, data, 0, 400,
                       400, get_loss(loss).code, 0,
                       pynn.optimizers.SGD(lr=0.1).kernel(), 0.1,
                       model._workspace(400), n_threads=2)
    np.testing.assert_allclose(model.params, before - 0.1 * g, rtol=1e-12,
                               atol=1e-15)


def chunk_seed(seed, c):
    """Chunk c's mask stream, as csrc/_train.pyx ``_chunk_seed`` draws it."""
    return seed ^ ((c * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF)


@pytest.mark.parametrize("name", ["noisy", "dropout"])
def test_chunked_gradient_with_masks_is_the_sum_of_masked_passes(name):
    """Noise on the input (the panel of D_0) and dropout on a hidden layer:
    each chunk draws its masks from its own stream, so single passes over
    the chunks' rows with those streams give the same gradient."""
    if name == "dropout":
        model = pynn.Model([pynn.Dense(12, 300, activation="tanh"),
                            pynn.Dropout(0.3),
                            pynn.Dense(300, 4, activation="softmax")],
                           dtype="float64", seed=8)
        loss = "cross_entropy"
    else:
        model, loss = nets()["noisy"]
    X, T = batch(model, n=400, seed=9)
    code, seed = get_loss(loss).code, 12345
    rows = _train.chunk_rows(model._layout, 400)
    assert rows < 400
    _train.gradient(model._layout, model.params, model.grads, X, T, code, 0.0,
                    model._workspace(400), seed=seed, n_threads=2)
    g = model.grads.copy()
    parts = np.zeros_like(g)
    for c, a in enumerate(range(0, 400, rows)):
        Xc, Tc = X[a:a + rows], T[a:a + rows]
        _train.gradient(model._layout, model.params, model.grads, Xc, Tc,
                        code, 0.0, model._workspace(len(Xc)),
                        seed=chunk_seed(seed, c))
        parts += model.grads * len(Xc)
    np.testing.assert_allclose(g, parts / 400, rtol=1e-10, atol=1e-13)
    _train.gradient(model._layout, model.params, model.grads, X, T, code, 0.0,
                    model._workspace(400), n_threads=2)
    assert not np.allclose(model.grads, g)       # the masks did act


def test_chunk_counts_are_powers_of_two_and_even():
    """⌈B / base⌉ chunks rounded up to a power of two, of ⌈B / n⌉ rows: two
    or four threads share them evenly."""
    layout = nets()["wide"][0]._layout
    assert _train.chunk_rows(layout, 128) == 128        # base: 128 rows
    for B, n in ((129, 2), (256, 2), (257, 4), (400, 4), (512, 4), (513, 8),
                 (2048, 16)):
        rows = _train.chunk_rows(layout, B)
        assert rows == -(-B // n), (B, rows)
    assert _train.chunk_rows(layout, 8192) == 512       # at most 16 chunks


def test_a_smaller_last_batch_with_longer_chunks():
    """Batches of 260 rows are 4 chunks of 65, the last batch of 256 rows
    2 chunks of 128: the slots' workspaces must hold the longer chunk."""
    layout = nets()["wide"][0]._layout
    assert _train.chunk_rows(layout, 256) > _train.chunk_rows(layout, 260)
    params = []
    for n in THREADS:
        model, loss = nets()["wide"]
        X, T = batch(model, n=516, seed=10)
        pynn.Trainer(model, loss=loss, optimizer="momentum", lr=0.05,
                     batch_size=260, epochs=2, seed=3,
                     n_threads=n).fit(X, T.argmax(1))
        params.append(model.params.copy())
    for p in params[1:]:
        assert np.array_equal(p, params[0])
    model, loss = nets()["wide"]
    X, T = batch(model, n=256, seed=10)
    g, _, _ = grad(model, X, T, loss, n_threads=2)
    parts = sum(grad(model, X[a:a + 64], T[a:a + 64], loss)[0]
                for a in range(0, 256, 64)) / 4
    np.testing.assert_allclose(g, parts, rtol=1e-10, atol=1e-13)


def test_one_chunk_with_a_large_weight_product_in_blocks():
    """B = 32 on a net of 161 k weights is one chunk, but its Δᵀ D (10
    MFLOP) runs in blocks: the gradient is still the gradient, and the
    parameters the same bits on 1 to 4 threads."""
    def net(dtype):
        return pynn.Model([pynn.Dense(100, 400, activation="tanh"),
                           pynn.Dense(400, 300, activation="relu"),
                           pynn.Dense(300, 4, activation="softmax")],
                          dtype=dtype, seed=11)
    model = net("float64")
    assert _train.chunk_rows(model._layout, 32) == 32
    X, T = batch(model, n=32, seed=12)
    g, _, _ = grad(model, X, T, "cross_entropy", n_threads=2)
    parts = sum(grad(model, X[a:a + 8], T[a:a + 8], "cross_entropy")[0]
                for a in range(0, 32, 8)) / 4
    np.testing.assert_allclose(g, parts, rtol=1e-10, atol=1e-13)
    for dtype in ("float32", "float64"):
        params = []
        for n in THREADS:
            model = net(dtype)
            X, T = batch(model, n=320, seed=13)
            pynn.Trainer(model, loss="cross_entropy", optimizer="sgd",
                         lr=0.05, batch_size=32, epochs=2, seed=3,
                         n_threads=n).fit(X, T.argmax(1))
            params.append(model.params.copy())
        for p in params[1:]:
            assert np.array_equal(p, params[0])


def test_weight_blocks_follow_each_layers_share_of_the_work():
    """The weight-gradient blocks cover every layer's split dimension once,
    in order, and a layer gets ⌈4 · its share of Σ d_{ℓ−1} d_ℓ⌉ of them
    (at most 4): 784-256-256-10 is cut 3 + 1 + 1, so the second layer's
    Δ is packed once rather than four times; three equal layers get two
    each; a batch too small for a block's worth of work gets one per layer.
    The plan does not depend on the thread count (it takes none)."""
    def plan(sizes, batch):
        layout = pynn.MLP(sizes, seed=0)._layout
        blocks = _train.weight_blocks(layout, batch)
        per_layer = {}
        for l, k0, k1 in blocks:
            per_layer.setdefault(l, []).append((k0, k1))
        for l, spans in per_layer.items():
            assert spans[0][0] == 0 and all(
                a[1] == b[0] for a, b in zip(spans, spans[1:]))
            assert spans[-1][1] in (sizes[l - 1], sizes[l])
        return [len(per_layer[l]) for l in sorted(per_layer)]

    assert plan([784, 256, 256, 10], 256) == [3, 1, 1]
    assert plan([784, 256, 256, 10], 1024) == [3, 1, 1]
    assert plan([784, 128, 10], 4000) == [4, 1]
    assert plan([256, 256, 256, 256], 256) == [2, 2, 2]
    assert plan([784, 256, 256, 10], 1) == [1, 1, 1]
    with pytest.raises(ValueError, match="batch"):
        _train.weight_blocks(pynn.MLP([4, 3], seed=0)._layout, 0)
