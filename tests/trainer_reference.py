"""NumPy float64 reference of the training algorithm of the notes (issue 4).

Written from the equations (DESIGN.md §1, the docstrings of
``csrc/_train.pyx`` and ``pynn/schedules.py``), independently of pynn: nothing
here calls pynn.  ``tests/test_trainer.py`` compares ``pynn.Trainer`` with it.

Parameter layout (the contract of ``model.params``): for every layer in
order, W_ℓ (d_ℓ × d_{ℓ−1}, row-major) followed by b_ℓ.

Algorithm (one epoch):
    for each batch (consecutive rows of the epoch's sample order; the last
    batch may be smaller and uses its own mean):
        forward pass; record Σ_i L_i and correct predictions *before* the step
        g   = mean_i ∇L_i (+ λ W on weights, not biases)
        g  *= min(1, c / ‖g‖)                     (clip_norm c, global norm)
        sgd       w ← w − η g
        momentum  v ← μ v + g;  w ← w − η v       (PyTorch's SGD(momentum))
        nesterov  v ← μ v + g;  w ← w − η (g + μ v)
        adam      m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²  (t = global step)
                  w ← w − η (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
    history.loss = Σ_i L_i / n;  η of the epoch from the schedule.
"""
import math

import numpy as np


# ---------------------------------------------------------------- activations
def _sigmoid(u):
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(u):
    return np.maximum(u, 0.0) + np.log1p(np.exp(-np.abs(u)))


def _logsumexp(u):
    m = np.max(u, axis=1, keepdims=True)
    return m + np.log(np.sum(np.exp(u - m), axis=1, keepdims=True))


def phi(name, u):
    if name == "identity":
        return u.copy()
    if name == "sigmoid":
        return _sigmoid(u)
    if name == "tanh":
        return np.tanh(u)
    if name == "relu":
        return np.maximum(u, 0.0)
    if name == "softmax":
        e = np.exp(u - np.max(u, axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise KeyError(name)


def dphi(name, u):
    if name == "identity":
        return np.ones_like(u)
    if name == "sigmoid":
        s = _sigmoid(u)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(u) ** 2
    if name == "relu":
        return (u > 0).astype(np.float64)
    raise KeyError(name)


CANONICAL = {"squared_error": "identity", "cross_entropy": "softmax",
             "binary_cross_entropy": "sigmoid"}


def sample_losses_and_delta(loss, out_act, u, T):
    """Per-sample L_i and output delta ∂L_i/∂u_i (canonical pairs only)."""
    assert CANONICAL[loss] == out_act, (loss, out_act)
    y = phi(out_act, u)
    if loss == "squared_error":
        return 0.5 * np.sum((y - T) ** 2, axis=1), y - T
    if loss == "cross_entropy":
        log_y = u - _logsumexp(u)
        return -np.sum(T * log_y, axis=1), y - T
    # binary cross-entropy, the mean over the C outputs
    C = u.shape[1]
    bce = T * _softplus(-u) + (1 - T) * _softplus(u)
    return bce.mean(axis=1), (y - T) / C


# ---------------------------------------------------------------- network
class Net:
    """An MLP of the given widths and activations over a flat float64 vector."""

    def __init__(self, sizes, acts):
        assert len(acts) == len(sizes) - 1
        self.sizes, self.acts = list(sizes), list(acts)
        self.slices = []
        off = 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = slice(off, off + n_in * n_out)
            off += n_in * n_out
            b = slice(off, off + n_out)
            off += n_out
            self.slices.append((w, b, (n_out, n_in)))
        self.n_params = off
        self.weight_mask = np.zeros(off)
        for w, _, _ in self.slices:
            self.weight_mask[w] = 1.0

    @classmethod
    def of(cls, model):
        """Sizes and activation names read off a pynn model (no pynn maths)."""
        sizes = [model.layers[0].n_in] + [l.n_out for l in model.layers]
        return cls(sizes, [l.activation.name for l in model.layers])

    def layers(self, flat):
        return [(flat[w].reshape(shape), flat[b]) for w, b, shape in self.slices]

    def forward(self, flat, X):
        z = np.asarray(X, np.float64)
        us, zs = [], [z]
        for (W, b), name in zip(self.layers(flat), self.acts):
            u = z @ W.T + b
            z = phi(name, u)
            us.append(u)
            zs.append(z)
        return us, zs

    def predict(self, flat, X):
        return self.forward(flat, X)[1][-1]

    def losses(self, flat, X, T, loss):
        us, _ = self.forward(flat, X)
        return sample_losses_and_delta(loss, self.acts[-1], us[-1], T)[0]

    def loss_and_grad(self, flat, X, T, loss):
        """(per-sample losses, correct count, flat mean gradient)."""
        us, zs = self.forward(flat, X)
        B = zs[0].shape[0]
        L, delta = sample_losses_and_delta(loss, self.acts[-1], us[-1], T)
        grad = np.zeros(self.n_params)
        layers = self.layers(flat)
        for l in range(len(layers) - 1, -1, -1):
            w, b, shape = self.slices[l]
            grad[w] = (delta.T @ zs[l] / B).ravel()
            grad[b] = delta.sum(axis=0) / B
            if l > 0:
                delta = (delta @ layers[l][0]) * dphi(self.acts[l - 1], us[l - 1])
        return L, correct(loss, zs[-1], T), grad


def correct(loss, Y, T):
    if loss == "cross_entropy":
        return int(np.sum(np.argmax(Y, axis=1) == np.argmax(T, axis=1)))
    if loss == "squared_error":
        return 0
    return int(np.sum(np.all((Y > 0.5) == (T > 0.5), axis=1)))


def one_hot(y, C):
    out = np.zeros((len(y), C))
    out[np.arange(len(y)), np.asarray(y, int)] = 1.0
    return out


# ---------------------------------------------------------------- optimisers
class Optimizer:
    """The update rules of the module docstring, on flat float64 vectors."""

    def __init__(self, kind, n, wmask, momentum=0.9, beta1=0.9, beta2=0.999,
                 eps=1e-8, l2=0.0, clip_norm=None):
        assert kind in ("sgd", "momentum", "nesterov", "adam"), kind
        self.kind, self.wmask = kind, wmask
        self.mu, self.b1, self.b2, self.eps = momentum, beta1, beta2, eps
        self.l2, self.clip = l2, clip_norm
        self.s1, self.s2 = np.zeros(n), np.zeros(n)
        self.t = 0
        self.n_clipped = 0

    def step(self, w, grad, lr):
        g = grad + self.l2 * self.wmask * w
        if self.clip:
            norm = np.sqrt(np.sum(g * g))
            if norm > self.clip:
                g = g * (self.clip / norm)
                self.n_clipped += 1
        self.t += 1
        if self.kind == "sgd":
            return w - lr * g
        if self.kind == "momentum":
            self.s1 = self.mu * self.s1 + g
            return w - lr * self.s1
        if self.kind == "nesterov":
            self.s1 = self.mu * self.s1 + g
            return w - lr * (g + self.mu * self.s1)
        self.s1 = self.b1 * self.s1 + (1 - self.b1) * g
        self.s2 = self.b2 * self.s2 + (1 - self.b2) * g * g
        m_hat = self.s1 / (1 - self.b1 ** self.t)
        v_hat = self.s2 / (1 - self.b2 ** self.t)
        return w - lr * m_hat / (np.sqrt(v_hat) + self.eps)


# ---------------------------------------------------------------- schedules
def schedule_lr(name, lr0, epoch, **p):
    """η_k of the stateless schedules (pynn/schedules.py's table)."""
    if name == "constant":
        return lr0
    if name == "inverse_scaling":
        return lr0 / (epoch + 1) ** p.get("power", 0.5)
    if name == "step":
        return lr0 * p.get("factor", 0.5) ** (epoch // p.get("step_size", 10))
    if name == "exponential":
        return lr0 * p.get("rate", 0.95) ** epoch
    raise KeyError(name)


class Plateau:
    """Keras' ReduceLROnPlateau (no cooldown): after ``patience`` epochs in a
    row without the metric dropping below best − min_delta, η ← max(η·factor,
    min_lr) and the count restarts."""

    def __init__(self, lr0, factor=0.1, patience=5, min_delta=1e-4, min_lr=0.0):
        self.current, self.factor, self.patience = lr0, factor, patience
        self.min_delta, self.min_lr = min_delta, min_lr
        self.best, self.wait = math.inf, 0

    def update(self, metric):
        if metric < self.best - self.min_delta:
            self.best, self.wait = metric, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.current = max(self.current * self.factor, self.min_lr)
            self.wait = 0


# ---------------------------------------------------------------- orders
def trainer_orders(seed, n):
    """The sample orders pynn.Trainer draws when shuffling (one per epoch):
    SeedSequence(seed).spawn(2)[1] → default_rng → permutation(n)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    while True:
        yield rng.permutation(n)


def validation_split(seed, n, fraction):
    """(train indices, validation indices) of the Trainer's held-out split:
    ⌈fraction·n⌉ samples from SeedSequence(seed).spawn(2)[0]'s permutation;
    the training rows keep their original order."""
    perm = np.random.default_rng(
        np.random.SeedSequence(seed).spawn(2)[0]).permutation(n)
    n_val = int(math.ceil(fraction * n))
    return np.sort(perm[n_val:]), perm[:n_val]


# ---------------------------------------------------------------- training
def train(net, w0, X, T, loss, *, optimizer="sgd", lr=0.01, batch_size=None,
          epochs=1, orders=None, schedule="constant", schedule_params=None,
          momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0,
          clip_norm=None, validation=None):
    """Run ``epochs`` epochs; returns a dict of per-epoch lists.

    ``orders``: an iterator of per-epoch permutations (None: storage order).
    ``validation``: (Xv, Tv); its mean loss after each epoch is recorded and
    (as in pynn) is what "plateau" watches.

    Keys: params (after each epoch), loss, accuracy, lr, val_loss,
    grad_norm (‖∇(mean loss + λ/2 ‖W‖²)‖ over the whole training set after
    each epoch: the gradient of the objective being minimised), n_clipped
    (steps whose gradient was clipped).
    """
    X, T = np.asarray(X, np.float64), np.asarray(T, np.float64)
    n = X.shape[0]
    B = n if batch_size is None else min(batch_size, n)
    w = np.array(w0, dtype=np.float64)
    opt = Optimizer(optimizer, net.n_params, net.weight_mask, momentum, beta1,
                    beta2, eps, l2, clip_norm)
    params = dict(schedule_params or {})
    plateau = Plateau(lr, **params) if schedule == "plateau" else None
    out = {k: [] for k in ("params", "loss", "accuracy", "lr", "val_loss",
                           "grad_norm")}
    for epoch in range(epochs):
        eta = plateau.current if plateau else schedule_lr(schedule, lr, epoch,
                                                          **params)
        order = next(orders) if (orders is not None and B < n) else np.arange(n)
        total, right = 0.0, 0
        for start in range(0, n, B):
            idx = order[start:start + B]
            L, c, g = net.loss_and_grad(w, X[idx], T[idx], loss)
            total += L.sum()
            right += c
            w = opt.step(w, g, eta)
        out["params"].append(w.copy())
        out["loss"].append(total / n)
        out["accuracy"].append(right / n)
        out["lr"].append(eta)
        out["grad_norm"].append(float(np.linalg.norm(
            net.loss_and_grad(w, X, T, loss)[2] + l2 * net.weight_mask * w)))
        monitored = out["loss"][-1]
        if validation is not None:
            out["val_loss"].append(float(np.mean(
                net.losses(w, validation[0], validation[1], loss))))
            monitored = out["val_loss"][-1]
        if plateau:
            plateau.update(monitored)
    out["n_clipped"] = opt.n_clipped
    return out


def tol_stop(losses, tol, n_iter_no_change):
    """Number of epochs run under the tol rule (None if it never fires):
    stop after n_iter_no_change consecutive epochs with |L_k − L_{k−1}| < tol."""
    run = 0
    for k in range(1, len(losses)):
        run = run + 1 if abs(losses[k] - losses[k - 1]) < tol else 0
        if run >= n_iter_no_change:
            return k + 1
    return None


def early_stop(val_losses, patience, min_delta=0.0):
    """(epochs run, best epoch) under early stopping (Keras' EarlyStopping
    with restore_best_weights): stop once ``patience`` epochs have passed
    since the last improvement below best − min_delta."""
    best, best_epoch = math.inf, None
    for k, v in enumerate(val_losses):
        if v < best - min_delta:
            best, best_epoch = v, k
        elif k - best_epoch >= patience:
            return k + 1, best_epoch
    return len(val_losses), best_epoch
