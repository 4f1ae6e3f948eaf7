"""Core kernels: one forward + backward + SGD update, pynn vs NumPy (and
PyTorch eager when installed), float32.  Run: ``pytest bench/``.

Compare ratios within one run; absolute times drift on a shared machine.
"""
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
