"""PyTorch autograd as a second, independent oracle (float64)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import pynn

from oracle import HUGE_LIMIT, small_product_limit

TORCH_ACTS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
              "identity": lambda u: u, "softplus": F.softplus, "swish": F.silu,
              "leaky_relu": lambda u: F.leaky_relu(u, 0.01)}


def torch_loss(loss, u, t):
    """The mean over samples of pynn's per-sample loss, from the logits u."""
    B = u.shape[0]
    if loss == "squared_error":
        return 0.5 * ((u - t) ** 2).sum() / B
    if loss == "binary_cross_entropy":       # mean over outputs and samples
        return F.binary_cross_entropy_with_logits(u, t, reduction="mean")
    if loss == "multilabel_cross_entropy":   # sum over outputs, mean over samples
        return F.binary_cross_entropy_with_logits(u, t, reduction="sum") / B
    if loss == "cross_entropy":
        return F.cross_entropy(u, t)
    raise KeyError(loss)


CASES = [
    ([6, 8, 4], "relu", "softmax", "cross_entropy"),
    ([5, 7, 6, 3], "tanh", "softmax", "cross_entropy"),
    ([4, 9, 1], "sigmoid", "sigmoid", "binary_cross_entropy"),
    ([4, 6, 3], "relu", "sigmoid", "binary_cross_entropy"),
    ([3, 5, 4], "tanh", "sigmoid", "multilabel_cross_entropy"),
    ([7, 10, 6, 2], "relu", "identity", "squared_error"),
    ([3, 4, 2], "sigmoid", "identity", "squared_error"),
    ([20, 40, 30, 5], "swish", "softmax", "cross_entropy"),
    ([8, 16, 3], "softplus", "identity", "squared_error"),
    ([8, 16, 4], "leaky_relu", "sigmoid", "multilabel_cross_entropy"),
]


@pytest.mark.parametrize("limit", [0, HUGE_LIMIT], ids=["blas", "loops"])
@pytest.mark.parametrize("batch", [1, 13])
@pytest.mark.parametrize("sizes,hidden,out,loss", CASES)
def test_matches_torch(sizes, hidden, out, loss, batch, limit):
    rng = np.random.default_rng(len(sizes) * 100 + sizes[1])
    model = pynn.MLP(sizes, hidden=hidden, output=out, dtype="float64", seed=0)
    model.params = rng.uniform(-0.8, 0.8, model.n_params)
    X = rng.standard_normal((batch, sizes[0]))
    if loss == "cross_entropy":
        T = rng.integers(0, sizes[-1], size=batch)
        t = torch.from_numpy(T)
    else:
        T = rng.uniform(0, 1, (batch, sizes[-1])) if loss != "squared_error" \
            else rng.standard_normal((batch, sizes[-1]))
        t = torch.from_numpy(T)

    Ws = [torch.tensor(l.W, dtype=torch.float64, requires_grad=True)
          for l in model.layers]
    bs = [torch.tensor(l.b, dtype=torch.float64, requires_grad=True)
          for l in model.layers]
    x = torch.tensor(X, requires_grad=True)
    z = x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        u = z @ W.T + b
        z = TORCH_ACTS[hidden](u) if i < len(Ws) - 1 else u
    logits = u
    y = {"softmax": lambda v: torch.softmax(v, dim=1),
         "sigmoid": torch.sigmoid, "identity": lambda v: v}[out](logits)
    L = torch_loss(loss, logits, t)
    L.backward()

    with small_product_limit(limit):
        Y = model.forward(X)
        loss_value = model.backward(X, T, loss)
        gx = model.input_gradient(X, T, loss)
        before = model.params.copy()
        model.train_step(X, T, loss, lr=0.5)
        after = model.params.copy()

    np.testing.assert_allclose(Y, y.detach().numpy(), rtol=1e-11, atol=1e-13)
    assert loss_value == pytest.approx(L.item(), rel=1e-11)
    for layer, W, b in zip(model.layers, Ws, bs):
        np.testing.assert_allclose(layer.dW, W.grad.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(layer.db, b.grad.numpy(), rtol=1e-10, atol=1e-13)
    # Autograd's ∂(mean L)/∂x_i is ∂L_i/∂x_i / B.
    np.testing.assert_allclose(gx, batch * x.grad.numpy(), rtol=1e-10, atol=1e-13)
    torch_grads = np.concatenate([np.concatenate([W.grad.numpy().ravel(),
                                                  b.grad.numpy()])
                                  for W, b in zip(Ws, bs)])
    np.testing.assert_allclose(after, before - 0.5 * torch_grads,
                               rtol=1e-10, atol=1e-13)


def test_huge_logits_match_torch():
    """Canonical pairs stay finite and agree with torch for |u| ~ 1e4."""
    model = pynn.MLP([2, 3], output="softmax", dtype="float64", seed=0)
    model.params = [1e3, 0, 0, 1e3, -1e3, -1e3, 0, 0, 0]
    X = np.array([[10.0, -10.0], [-10.0, 10.0], [5.0, 5.0]])
    T = np.array([1, 0, 2])
    L = model.backward(X, T, "cross_entropy")
    x = torch.tensor(X)
    W = torch.tensor(model.layers[0].W, requires_grad=True)
    b = torch.tensor(model.layers[0].b, requires_grad=True)
    Lt = F.cross_entropy(x @ W.T + b, torch.from_numpy(T))
    Lt.backward()
    assert np.isfinite(L)
    assert L == pytest.approx(Lt.item(), rel=1e-12)
    np.testing.assert_allclose(model.layers[0].dW, W.grad.numpy(), rtol=1e-12,
                               atol=1e-12)
