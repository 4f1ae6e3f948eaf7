"""to_torch / from_torch against PyTorch itself (skipped without torch)."""
import numpy as np
import pytest

import pynn
from pynn.interop import from_torch, to_torch

torch = pytest.importorskip("torch")
nn = torch.nn
ACTS = ["identity", "step", "sign", "sigmoid", "tanh", "relu", "leaky_relu",
        "softplus", "swish", "gaussian", "softmax"]
RTOL = {"float32": 1e-6, "float64": 1e-12}


def inputs(n_in, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.zeros((2, n_in)), rng.normal(size=(50, n_in)),
                        30 * rng.normal(size=(10, n_in)),
                        1e3 * rng.normal(size=(5, n_in))]).astype(dtype)
    X[::4, 0] = 0
    return X


def run_torch(seq, X):
    with torch.no_grad():
        return seq(torch.from_numpy(X)).numpy()


def rel(a, b):
    return np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
def test_round_trip(act, dtype):
    hidden = "tanh" if act == "softmax" else act
    p = {"leaky_relu": 0.3, "gaussian": 0.4}.get(hidden)
    q = {"leaky_relu": 0.3, "gaussian": 0.4}.get(act)
    model = pynn.Model([pynn.Dense(4, 6, hidden, p), pynn.Dense(6, 3, act, q)],
                       dtype=dtype, seed=1)
    seq = to_torch(model)
    X = inputs(4, dtype)
    got = run_torch(seq, X)
    assert got.dtype == model.dtype
    assert rel(got, model(X)) <= RTOL[dtype]
    back = from_torch(seq)
    np.testing.assert_array_equal(back.params, model.params)
    assert [l.activation.name for l in back.layers] == [hidden, act]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_plain_torch_sequential(dtype):
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(5, 8), nn.SiLU(), nn.Dropout(0.2),
                        nn.Linear(8, 7, bias=False), nn.LeakyReLU(0.05),
                        nn.Identity(), nn.Linear(7, 6), nn.Softplus(),
                        nn.Linear(6, 4), nn.Linear(4, 3), nn.Softmax(dim=1)
                        ).to(dtype).eval()
    model = from_torch(seq)
    name = "float64" if dtype == torch.float64 else "float32"
    assert model.dtype == name
    X = inputs(5, name)[:62]         # no 1e3 rows: Softplus's threshold
    assert rel(model(X), run_torch(seq, X)) <= RTOL[name]
    assert [l.activation.name for l in model.layers] == [
        "swish", "leaky_relu", "softplus", "identity", "softmax"]


def test_refusals():
    with pytest.raises(TypeError, match="nn.Sequential"):
        from_torch(nn.Linear(2, 2))
    for seq, msg in [
            (nn.Sequential(nn.Linear(2, 2), nn.GELU()), "GELU has no pynn"),
            (nn.Sequential(nn.ReLU()), "must follow a Linear"),
            (nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Tanh()), "must follow"),
            (nn.Sequential(nn.Linear(2, 3), nn.Linear(2, 2)), "takes 2 inputs"),
            (nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=0)), "dim=0"),
            (nn.Sequential(nn.Linear(2, 2), nn.Softplus(beta=2)), "beta"),
            (nn.Sequential(nn.Dropout()), "no Linear")]:
        with pytest.raises(ValueError, match=msg):
            from_torch(seq)
    seq = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        seq[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        from_torch(seq)
