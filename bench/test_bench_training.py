"""Training and inference through the public API: pynn vs NumPy (and
PyTorch eager when installed), float32.  Run: ``pytest bench/``.

Each group times the same work for every library, so the group's table is
the comparison (ratios within one run; absolute times drift on a shared
machine).  ``python bench/compare.py`` runs the full side-by-side report.

- online SGD, batch 1, one epoch over 500 digits, 64-32-10 sigmoid/softmax;
- mini-batch SGD, B = 256, one epoch over 2048 samples, 784-256-256-10 relu;
- inference, 784-256-256-10, one batch of 1024.
"""
import numpy as np
import pytest

import pynn
from numpy_reference import NumpyMLP

BIG = [784, 256, 256, 10]


def _random(n, n_in, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in), dtype=np.float32), rng.integers(0, 10, n)


def _digits(n=500):
    try:
        from pynn.datasets import load_digits
        X, y = load_digits(dtype=np.float32, scale=True)
        return X[:n], y[:n]
    except Exception:                               # noqa: BLE001
        return _random(n, 64)


def _torch_net(sizes, hidden, softmax=False):
    pytest.importorskip("torch")
    import compare                      # bench/compare.py: one torch twin
    return compare.torch, compare.torch_mlp(sizes, hidden, softmax, seed=0)


# ------------------------------------------------------------ training epochs
CASES = {
    "online": dict(sizes=[64, 32, 10], hidden="sigmoid", B=1, lr=0.1),
    "minibatch": dict(sizes=BIG, hidden="relu", B=256, lr=0.01),
}


def _case_data(case):
    return _digits() if case == "online" else _random(2048, 784, seed=1)


def _group(case):
    c = CASES[case]
    return (f"{'online SGD' if c['B'] == 1 else 'mini-batch SGD'} "
            f"{'-'.join(map(str, c['sizes']))} B={c['B']}, one epoch")


@pytest.mark.parametrize("case", list(CASES))
def test_epoch_pynn(benchmark, case):
    c = CASES[case]
    X, y = _case_data(case)
    model = pynn.MLP(c["sizes"], hidden=c["hidden"], output="softmax", seed=0)
    trainer = pynn.Trainer(model, loss="cross_entropy", optimizer="sgd",
                           lr=c["lr"], batch_size=c["B"], epochs=1,
                           shuffle=False)
    benchmark.group = _group(case)
    benchmark(trainer.fit, X, y)
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("case", list(CASES))
def test_epoch_numpy(benchmark, case):
    c = CASES[case]
    X, y = _case_data(case)
    T = np.eye(10, dtype=np.float32)[y]
    net = NumpyMLP(c["sizes"], hidden=c["hidden"])
    B = c["B"]

    def epoch():
        for i in range(0, X.shape[0], B):
            net.step(X[i:i + B], T[i:i + B], c["lr"])
    benchmark.group = _group(case)
    benchmark.pedantic(epoch, rounds=3 if case == "online" else 5,
                       warmup_rounds=1)


@pytest.mark.parametrize("case", list(CASES))
def test_epoch_torch(benchmark, case):
    c = CASES[case]
    torch, net = _torch_net(c["sizes"], c["hidden"])
    X, y = _case_data(case)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    opt = torch.optim.SGD(net.parameters(), lr=c["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    B = c["B"]

    def epoch():
        for i in range(0, X.shape[0], B):
            opt.zero_grad()
            loss_fn(net(Xt[i:i + B]), yt[i:i + B]).backward()
            opt.step()
    benchmark.group = _group(case)
    benchmark.pedantic(epoch, rounds=3 if case == "online" else 5,
                       warmup_rounds=1)


# ------------------------------------------------------------ inference
INFER = "inference 784-256-256-10 B=1024"


def test_inference_pynn(benchmark):
    model = pynn.MLP(BIG, hidden="relu", output="softmax", seed=0)
    X, _ = _random(1024, 784, seed=2)
    benchmark.group = INFER
    out = benchmark(model, X)
    assert out.shape == (1024, 10)


def test_inference_numpy(benchmark):
    net = NumpyMLP(BIG)
    X, _ = _random(1024, 784, seed=2)
    benchmark.group = INFER
    benchmark(net.predict, X)


def test_inference_torch(benchmark):
    torch, net = _torch_net(BIG, "relu", softmax=True)
    X, _ = _random(1024, 784, seed=2)
    Xt = torch.from_numpy(X)

    def forward():
        with torch.inference_mode():
            return net(Xt)
    benchmark.group = INFER
    benchmark(forward)
