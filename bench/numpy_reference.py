"""Plain NumPy implementations of the training step, the peer of pynn's
compiled kernels in the benchmarks (what a careful NumPy user would write)."""
import numpy as np


class NumpyMLP:
    """relu (or sigmoid) hidden layers, softmax output, cross-entropy,
    plain SGD.

    Parameters
    ----------
    sizes : list of int
        [d_0, d_1, …, d_L].
    dtype : numpy dtype
    seed : int
    hidden : {"relu", "sigmoid"}
        Activation of every hidden layer.
    """

    def __init__(self, sizes, dtype=np.float32, seed=0, hidden="relu"):
        if hidden not in ("relu", "sigmoid"):
            raise ValueError(f"hidden must be 'relu' or 'sigmoid', got {hidden!r}")
        rng = np.random.default_rng(seed)
        self.hidden = hidden
        self.W = [rng.normal(0, np.sqrt(2 / (a + b)), (b, a)).astype(dtype)
                  for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b, dtype) for b in sizes[1:]]

    def forward(self, X):
        """Activations z_0 = X, z_1, …, z_L (z_L the softmax output)."""
        zs = [X]
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            u = zs[-1] @ W.T + b
            if i < len(self.W) - 1:
                if self.hidden == "relu":
                    np.maximum(u, 0, out=u)
                else:                       # σ(u) = 1 / (1 + e^{−u})
                    np.negative(u, out=u)
                    np.exp(u, out=u)
                    u += 1
                    np.reciprocal(u, out=u)
            else:
                u -= u.max(axis=1, keepdims=True)
                np.exp(u, out=u)
                u /= u.sum(axis=1, keepdims=True)
            zs.append(u)
        return zs

    def predict(self, X):
        """The network output (softmax probabilities) for the rows of X."""
        return self.forward(X)[-1]

    def step(self, X, T, lr):
        """One forward + backward + SGD update on the batch (X, one-hot T)."""
        zs = self.forward(X)
        delta = (zs[-1] - T) * (1.0 / X.shape[0])
        for l in range(len(self.W) - 1, -1, -1):
            g = delta @ self.W[l] if l else None
            self.W[l] -= lr * (delta.T @ zs[l])
            self.b[l] -= lr * delta.sum(axis=0)
            if l:
                if self.hidden == "relu":
                    delta = g * (zs[l] > 0)
                else:                       # σ′ = σ (1 − σ)
                    delta = g * zs[l] * (1 - zs[l])
