"""Plain NumPy implementations of the training step, the peer of pynn's
compiled kernels in the benchmarks (what a careful NumPy user would write)."""
import numpy as np


class NumpyMLP:
    """relu hidden layers, softmax output, cross-entropy, plain SGD."""

    def __init__(self, sizes, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        self.W = [rng.normal(0, np.sqrt(2 / (a + b)), (b, a)).astype(dtype)
                  for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b, dtype) for b in sizes[1:]]

    def forward(self, X):
        zs = [X]
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            u = zs[-1] @ W.T + b
            if i < len(self.W) - 1:
                np.maximum(u, 0, out=u)
            else:
                u -= u.max(axis=1, keepdims=True)
                np.exp(u, out=u)
                u /= u.sum(axis=1, keepdims=True)
            zs.append(u)
        return zs

    def step(self, X, T, lr):
        """One forward + backward + SGD update on the batch (X, one-hot T)."""
        zs = self.forward(X)
        delta = (zs[-1] - T) * (1.0 / X.shape[0])
        for l in range(len(self.W) - 1, -1, -1):
            g = delta @ self.W[l] if l else None
            self.W[l] -= lr * (delta.T @ zs[l])
            self.b[l] -= lr * delta.sum(axis=0)
            if l:
                delta = g * (zs[l] > 0)
