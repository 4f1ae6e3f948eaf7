"""Slow twin of every compiled kernel: plain NumPy, float64, from the equations.

Like bottleneck's ``bottleneck/slow/``: each function here is the textbook
formula of DESIGN.md §1, written independently of pynn (nothing here calls
pynn's kernels), so the tests can compare the fast code against it.

Notation (DESIGN.md §1): a batch holds one sample per row; layer ℓ computes
``u_ℓ = W_ℓ z_{ℓ−1} + b_ℓ`` (W_ℓ of shape (d_ℓ, d_{ℓ−1})), ``z_ℓ = φ_ℓ(u_ℓ)``.
Conventions shared with pynn's docs: step(u) = I{u > 0}, sign(u) = +1 if
u > 0 else −1, both with derivative 0; relu′(0) = 0; leaky relu slope α on
u ≤ 0 (default 0.01); gaussian e^{−βu²} (default β = 1).

Losses (per sample; a batch reports the mean over samples):
  squared_error             ½ Σ_j (y_j − t_j)²
  binary_cross_entropy      −(1/C) Σ_j [t_j log y_j + (1−t_j) log(1−y_j)]
  multilabel_cross_entropy  −Σ_j [t_j log y_j + (1−t_j) log(1−y_j)]
  cross_entropy             −Σ_j t_j log y_j  (t: one-hot rows or indices)
"""
import contextlib

import numpy as np

# ---------------------------------------------------------------- activations
DEFAULT_PARAM = {"leaky_relu": 0.01, "gaussian": 1.0}


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def sigmoid(u):
    """σ(u) = 1/(1+e^{−u}), written with e^{−|u|} so nothing overflows."""
    u = _f64(u)
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(u):
    """log(1+e^u) = max(u, 0) + log(1 + e^{−|u|})."""
    u = _f64(u)
    return np.maximum(u, 0.0) + np.log1p(np.exp(-np.abs(u)))


def logsumexp(u):
    """log Σ_j e^{u_j} over the last axis, with the maximum subtracted."""
    u = _f64(u)
    m = np.max(u, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(u - m), axis=-1, keepdims=True)))[..., 0]


def softmax(u):
    u = _f64(u)
    e = np.exp(u - np.max(u, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _param(name, param):
    return DEFAULT_PARAM.get(name, 0.0) if param is None else float(param)


def phi(name, u, param=None):
    """φ(u) (softmax over the last axis)."""
    u = _f64(u)
    p = _param(name, param)
    if name == "identity":
        return u.copy()
    if name == "step":
        return (u > 0).astype(np.float64)
    if name == "sign":
        return np.where(u > 0, 1.0, -1.0)
    if name == "sigmoid":
        return sigmoid(u)
    if name == "tanh":
        return np.tanh(u)
    if name == "relu":
        return np.where(u > 0, u, 0.0)
    if name == "leaky_relu":
        return np.where(u > 0, u, p * u)
    if name == "softplus":
        return softplus(u)
    if name == "swish":
        return u * sigmoid(u)
    if name == "gaussian":
        return np.exp(-p * u * u)
    if name == "softmax":
        return softmax(u)
    raise KeyError(name)


def dphi(name, u, param=None):
    """φ′(u) elementwise, from u (not from the stored output)."""
    u = _f64(u)
    p = _param(name, param)
    if name == "identity":
        return np.ones_like(u)
    if name in ("step", "sign"):
        return np.zeros_like(u)
    if name == "sigmoid":
        s = sigmoid(u)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(u) ** 2
    if name == "relu":
        return (u > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(u > 0, 1.0, p)
    if name == "softplus":
        return sigmoid(u)
    if name == "swish":
        s = sigmoid(u)
        return s + u * s * (1 - s)
    if name == "gaussian":
        return -2 * p * u * np.exp(-p * u * u)
    raise KeyError(f"{name} is not elementwise")


def softmax_jacobian(u):
    """J = diag(z) − z zᵀ for one row u (symmetric)."""
    z = softmax(_f64(u))
    return np.diag(z) - np.outer(z, z)


def vjp(name, u, g, param=None):
    """J_φ(u)ᵀ g: ∂L/∂u given g = ∂L/∂z (rows of a batch)."""
    u, g = _f64(u), _f64(g)
    if name == "softmax":
        u2 = u.reshape(-1, u.shape[-1]) if u.size else u.reshape(0, 1)
        g2 = g.reshape(u2.shape)
        out = np.array([softmax_jacobian(r).T @ q for r, q in zip(u2, g2)])
        return out.reshape(u.shape)
    return dphi(name, u, param) * g


# ---------------------------------------------------------------- losses
LOSS_NAMES = ("squared_error", "binary_cross_entropy", "cross_entropy",
              "multilabel_cross_entropy")
CANONICAL = {("identity", "squared_error"), ("sigmoid", "binary_cross_entropy"),
             ("sigmoid", "multilabel_cross_entropy"), ("softmax", "cross_entropy")}


def one_hot(t, n_classes):
    t = np.asarray(t)
    out = np.zeros((t.shape[0], n_classes))
    out[np.arange(t.shape[0]), t.astype(np.intp)] = 1.0
    return out


def as_targets(t, n_out, loss):
    """Targets as float64 (n, n_out): class indices → one-hot for CE."""
    t = np.asarray(t)
    if loss == "cross_entropy" and t.ndim == 1:
        return one_hot(t, n_out)
    return _f64(t).reshape(-1, n_out)


def _log_y(out_act, u, param):
    """log y of y = φ(u), as stably as the activation allows."""
    if out_act == "sigmoid":
        return -softplus(-u)
    if out_act == "softmax":
        return u - logsumexp(u)[:, None]
    return np.log(phi(out_act, u, param))


def _log_1my(out_act, u, param):
    """log(1 − y) of y = φ(u)."""
    if out_act == "sigmoid":
        return -softplus(u)
    return np.log1p(-phi(out_act, u, param))


def sample_losses(loss, out_act, u, t, param=None):
    """L_i for each row, with y = φ(u) (u: the output layer's pre-activation)."""
    u = _f64(u)
    t = as_targets(t, u.shape[1], loss)
    if loss == "squared_error":
        y = phi(out_act, u, param)
        return 0.5 * np.sum((y - t) ** 2, axis=1)
    log_y = _log_y(out_act, u, param)
    if loss == "cross_entropy":
        # 0·log 0 = 0: only the terms with t_j ≠ 0 count.
        return -np.sum(np.where(t != 0, t * log_y, 0.0), axis=1)
    log_1my = _log_1my(out_act, u, param)
    bce = -(np.where(t != 0, t * log_y, 0.0)
            + np.where(t != 1, (1 - t) * log_1my, 0.0))
    if loss == "binary_cross_entropy":
        return np.mean(bce, axis=1)
    if loss == "multilabel_cross_entropy":
        return np.sum(bce, axis=1)
    raise KeyError(loss)


def dloss_dy(loss, y, t):
    """∂L_i/∂y (per sample, not divided by the batch size)."""
    y, t = _f64(y), _f64(t)
    if loss == "squared_error":
        return y - t
    if loss == "cross_entropy":
        return -t / y
    d = (y - t) / (y * (1 - y))
    if loss == "binary_cross_entropy":
        return d / y.shape[1]
    if loss == "multilabel_cross_entropy":
        return d
    raise KeyError(loss)


def output_delta(loss, out_act, u, t, param=None, chain_rule=False):
    """δ_i = ∂L_i/∂u_i for each row.

    Canonical pairs use the closed forms of DESIGN.md §1 (y − t; divided by C
    for the mean BCE; y·Σt − t for softmax + cross-entropy, = y − t for
    one-hot rows); any other pair, or ``chain_rule=True``, uses
    J_φ(u)ᵀ ∂L/∂y.
    """
    u = _f64(u)
    t = as_targets(t, u.shape[1], loss)
    y = phi(out_act, u, param)
    if not chain_rule and (out_act, loss) in CANONICAL:
        if loss == "binary_cross_entropy":
            return (y - t) / u.shape[1]
        if loss == "cross_entropy":
            return y * t.sum(axis=1, keepdims=True) - t
        return y - t
    return vjp(out_act, u, dloss_dy(loss, y, t), param)


# ---------------------------------------------------------------- the MLP
def unflatten(sizes, flat):
    """[(W_1, b_1), …] from the flat buffer: W_ℓ row-major, then b_ℓ."""
    flat = _f64(flat)
    out, off = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = flat[off:off + n_out * n_in].reshape(n_out, n_in)
        off += n_out * n_in
        b = flat[off:off + n_out]
        off += n_out
        out.append((W.copy(), b.copy()))
    assert off == flat.size, (off, flat.size)
    return out


def flatten(layers):
    return np.concatenate([np.concatenate([_f64(W).ravel(), _f64(b)])
                           for W, b in layers])


def describe(model):
    """(sizes, [(W, b)], [(act name, param)]) read off a pynn model's state."""
    sizes = [model.layers[0].n_in] + [l.n_out for l in model.layers]
    acts = [(l.activation.name, l.activation_param) for l in model.layers]
    return sizes, unflatten(sizes, model.params), acts


def forward(layers, acts, X):
    """Return (us, zs) with zs[0] = X, u_ℓ = z_{ℓ−1} W_ℓᵀ + b_ℓ, z_ℓ = φ_ℓ(u_ℓ)."""
    z = _f64(X)
    us, zs = [], [z]
    for (W, b), (name, p) in zip(layers, acts):
        u = z @ _f64(W).T + _f64(b)
        z = phi(name, u, p)
        us.append(u)
        zs.append(z)
    return us, zs


def predict(layers, acts, X):
    return forward(layers, acts, X)[1][-1]


def backprop(layers, acts, X, T, loss):
    """Mean loss, [(∇W_ℓ, ∇b_ℓ)] (mean over the batch), per-sample ∂L_i/∂x_i.

    δ_L = ∂L/∂u_L; g_{ℓ−1} = δ_ℓ W_ℓ; δ_{ℓ−1} = J_φ(u_{ℓ−1})ᵀ g_{ℓ−1};
    ∇W_ℓ = mean_i δ_ℓ(i) z_{ℓ−1}(i)ᵀ, ∇b_ℓ = mean_i δ_ℓ(i).
    """
    us, zs = forward(layers, acts, X)
    out_name, out_p = acts[-1]
    B = zs[0].shape[0]
    L = sample_losses(loss, out_name, us[-1], T, out_p)
    delta = output_delta(loss, out_name, us[-1], T, out_p)
    grads = [None] * len(layers)
    for l in range(len(layers) - 1, -1, -1):
        W = _f64(layers[l][0])
        grads[l] = (delta.T @ zs[l] / B, delta.sum(axis=0) / B)
        g = delta @ W
        if l > 0:
            name, p = acts[l - 1]
            delta = vjp(name, us[l - 1], g, p)
    return L.mean(), grads, g


def sgd_step(layers, grads, lr):
    """W ← W − η ∇W, b ← b − η ∇b with the mean-over-batch gradients."""
    return [(_f64(W) - lr * dW, _f64(b) - lr * db)
            for (W, b), (dW, db) in zip(layers, grads)]


# ---------------------------------------------------------------- finite differences
FD_STEP = 1e-6


def numeric_gradient(f, x, h=FD_STEP):
    """Central differences (f(x + h e) − f(x − h e)) / 2h of the scalar f()
    over every element of the live array ``x`` (any shape), which f reads."""
    g = np.empty(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


def rel_error(g, g_num):
    """‖g − g_num‖ / (‖g‖ + ‖g_num‖), 0 when both are 0."""
    denom = np.linalg.norm(g) + np.linalg.norm(g_num)
    return 0.0 if denom == 0 else float(np.linalg.norm(g - g_num) / denom)


# ---------------------------------------------------------------- helpers
@contextlib.contextmanager
def temporarily(setter, value):
    """``setter(value)`` for the block, then the old value back (pynn's
    kernel switches return the value they replace)."""
    old = setter(value)
    try:
        yield
    finally:
        setter(old)


def small_product_limit(limit):
    """Temporarily set pynn._blas's hand-loop/BLAS crossover."""
    from pynn import _blas
    return temporarily(_blas.set_small_product_limit, limit)


def kernel_variant(name):
    """Temporarily run pynn._blas's small kernels in variant ``name``
    ("generic" or "avx2")."""
    from pynn import _blas
    return temporarily(_blas.set_kernel_variant, name)


HUGE_LIMIT = 2 ** 62        # every product through the hand loops
PATHS = {"blas": 0, "loops": HUGE_LIMIT}


def tol(dtype):
    """(rtol, atol) for comparing a dtype's result with the float64 oracle."""
    return (2e-5, 2e-6) if np.dtype(dtype) == np.float32 else (1e-10, 1e-12)
