"""Core kernels: one forward + backward + SGD update, pynn vs NumPy (and
PyTorch eager when installed), float32.  Run: ``pytest bench/``.

Compare ratios within one run; absolute times drift on a shared machine.
"""
import os
import re
import shutil

import numpy as np
import pytest

import pynn
from pynn import _blas, _network
from pynn._threads import limit_blas_threads
from numpy_reference import NumpyMLP

SIZES = [784, 128, 10]


def _data(batch, n_in=784, n_out=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((batch, n_in), dtype=np.float32)
    T = np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, batch)]
    return X, T


@pytest.mark.parametrize("batch", [1, 256])
def test_step_pynn_kernel(benchmark, batch):
    """The compiled step alone, with the BLAS on one thread as the Trainer
    runs it."""
    model = pynn.MLP(SIZES, hidden="relu", output="softmax", seed=0)
    X, T = _data(batch)
    work = model._workspace(batch)
    benchmark.group = f"step 784-128-10 B={batch}"
    with limit_blas_threads(1):
        benchmark(_network.backward, model._layout, model.params, X, T,
                  pynn.losses.get_loss("cross_entropy").code,
                  _network.BackwardMode.SGD_UPDATE, 1e-3, None, None, work)


@pytest.mark.parametrize("batch", [1, 256])
def test_step_pynn_train_step(benchmark, batch):
    """Model.train_step: the compiled step plus input validation."""
    model = pynn.MLP(SIZES, hidden="relu", output="softmax", seed=0)
    X, T = _data(batch)
    benchmark.group = f"step 784-128-10 B={batch}"
    benchmark(model.train_step, X, T, "cross_entropy", 1e-3)


@pytest.mark.parametrize("batch", [1, 256])
def test_step_numpy(benchmark, batch):
    net = NumpyMLP(SIZES)
    X, T = _data(batch)
    benchmark.group = f"step 784-128-10 B={batch}"
    benchmark(net.step, X, T, 1e-3)


@pytest.mark.parametrize("batch", [1, 256])
def test_step_torch(benchmark, batch):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    X, T = _data(batch)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(T.argmax(1))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(net(Xt), yt).backward()
        opt.step()
    benchmark.group = f"step 784-128-10 B={batch}"
    benchmark(step)


@pytest.mark.parametrize("path", ["loops", "blas"])
@pytest.mark.parametrize("sizes", [[8, 8, 4], [64, 32, 10]])
def test_small_products(benchmark, sizes, path):
    """Hand loops vs BLAS for a batch-1 step of small nets: the crossover."""
    model = pynn.MLP(sizes, hidden="sigmoid", output="softmax", seed=0)
    X, T = _data(1, sizes[0], sizes[-1])
    work = model._workspace(1)
    old = _blas.set_small_product_limit(10**12 if path == "loops" else 0)
    benchmark.group = f"small products {sizes}"
    try:
        benchmark(_network.backward, model._layout, model.params, X, T, 2,
                  _network.BackwardMode.SGD_UPDATE, 1e-3, None, None, work)
    finally:
        _blas.set_small_product_limit(old)


# ------------------------------------------------ compare.py's rows, tiny
def _tiny_args():
    import compare
    return compare.parse_args(["--quick", "--repeats", "2", "--pause", "0",
                               "--budget", "30"])


def _fann_available():
    return shutil.which("gcc") is not None and os.path.exists(
        "/usr/include/fann.h")


@pytest.mark.parametrize("sizes,target_us", [([64, 32, 10], 0.5),
                                             ([784, 16, 10], None)])
def test_compare_fann_rows(sizes, target_us):
    """compare.py's "pynn vs FANN 2.2" table on a few samples: a pynn row,
    a FANN row with a finite speed-up against the ≥ 8× target (when gcc
    and libfann-dev are installed, else a note saying why not), the
    per-sample target row, and both libraries' MSE."""
    import compare
    rng = np.random.default_rng(0)
    X = rng.random((60, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], 60)
    tab = compare.fann_table(_tiny_args(), sizes, X, y, "random", epochs=2,
                             target_us=target_us)
    assert "FANN 2.2" in tab.title and "sigmoid/squared error" in tab.title
    rows = {r[0]: r for r in tab.rows}
    assert rows["pynn"][1] != "—"
    text = " ".join(tab.notes)
    assert "MSE after one run: pynn " in text
    if _fann_available():
        fann = rows["FANN 2.2"]
        assert fann[4].endswith("×") and float(fann[4][:-1]) > 0
        assert fann[5] == "≥ 8×" and fann[6] in ("yes", "**no**")
        # The same net, data and start: the two MSEs agree.
        m = re.search(r"MSE after one run: pynn ([0-9.]+), FANN 2.2 ([0-9.]+)",
                      text)
        assert m and abs(float(m[1]) - float(m[2])) <= 0.02 * float(m[2])
    else:
        assert "FANN 2.2" not in rows and "FANN 2.2 not timed" in text
    target = [r for r in tab.rows if r[0].startswith("pynn target")]
    assert len(target) == (target_us is not None)
    if target:
        assert target[0][5] == "≤ 0.5 µs" and target[0][6] in ("yes", "**no**")


def test_compare_optimizer_rows():
    """compare.py's online-optimiser table on 40 samples: plain SGD first,
    momentum, Nesterov and Adam with their paired ratio to it; momentum
    and Adam against the ≤ 2× target."""
    import compare
    tab = compare.optimizer_table(_tiny_args(), 40)
    assert [r[0] for r in tab.rows] == ["sgd", "momentum", "nesterov", "adam"]
    rows = {r[0]: r for r in tab.rows}
    assert rows["sgd"][3] == "—"
    for name in ("momentum", "nesterov", "adam"):
        assert rows[name][3].endswith("×") and float(rows[name][3][:-1]) > 0
    for name in ("momentum", "adam"):
        assert rows[name][4] == "≤ 2×" and rows[name][5] in ("yes", "**no**")
    assert rows["nesterov"][4] == "—"
    assert "first 40 training images" in " ".join(tab.notes)


def test_race_tops_up_the_cheap_pairs_of_a_cut_short_case():
    """A case cut short by its budget after one round: the cheap peer (a
    run that measured 1 ms) gets its missing pairs, the slow one (10 s
    measured) does not, and the note says so."""
    import time
    import compare
    args = compare.parse_args(["--repeats", "5", "--pause", "0",
                               "--budget", "0.2"])

    def measured(*seconds, sleep=0.0):
        values = iter(seconds)
        last = [seconds[-1]]

        def run(_):
            time.sleep(sleep)
            last[0] = next(values, last[0])
            return last[0]
        return run
    # pynn1's warm-up and first pair measure 2 ms, its top-up pairs 4 ms:
    # the median of its five ratios is 4 only when all four extras ran.
    cs = [compare.Contestant("pynn", measured(0.001)),
          compare.Contestant("pynn1", measured(0.002, 0.002, 0.004)),
          compare.Contestant("torch", measured(10.0, sleep=0.25))]
    notes = []
    res, ratios = compare.race(cs, args, notes)
    assert ratios == {"pynn1": 4.0, "torch": 10000.0}
    assert res["pynn"] == 0.001
    text = " ".join(notes)
    # Before the top-up: pynn 2 runs, pynn1 and torch 1 each.
    assert "cut short: 1-2 timed runs per library" in text
    assert "pynn, 1 thread topped up to 5 pairs" in text
    assert "PyTorch" not in text
