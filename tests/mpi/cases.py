"""Training cases shared by the MPI scripts (run under mpiexec) and the
single-process references in tests/test_distributed_mpi.py.

Each case builds the full data set deterministically; a rank trains on its
``pynn.distributed.shard`` of it, the reference on all of it.
"""
import numpy as np

import pynn


def data(n=203, n_in=6, n_out=3, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    y = (X[:, 0] + X[:, 1] ** 2 - X[:, 2] > 0.5).astype(int) + (X[:, 3] > 1)
    w = rng.integers(0, 4, n).astype(float)
    return X.astype(dtype), y % n_out, w


def model(dtype="float64", sizes=(6, 16, 3), seed=1):
    return pynn.MLP(list(sizes), hidden="tanh", output="softmax",
                    dtype=dtype, seed=seed)


# name -> (trainer keyword arguments, fit options, dtype)
CASES = {
    "full_sgd": (dict(optimizer="sgd", lr=0.5, batch_size=None, epochs=30,
                      l2=1e-3), {}, "float64"),
    "full_adam32": (dict(optimizer="adam", lr=0.01, batch_size=None,
                         epochs=30), {}, "float32"),
    "full_rprop": (dict(optimizer="rprop", epochs=25), {}, "float64"),
    "lbfgs": (dict(optimizer="lbfgs", epochs=20, l2=1e-4), {}, "float64"),
    "mini_momentum": (dict(optimizer="momentum", lr=0.05, batch_size=16,
                           epochs=6, seed=7, clip_norm=1.0), {}, "float64"),
    "mini_weighted": (dict(optimizer="nesterov", lr=0.05, batch_size=10,
                           epochs=5, seed=3, l2=1e-3), {"weights": True},
                      "float64"),
    "mini_adam32": (dict(optimizer="adam", lr=0.01, batch_size=32, epochs=5,
                         seed=5), {}, "float32"),
    "early": (dict(optimizer="sgd", lr=0.1, batch_size=20, epochs=40, seed=2,
                   early_stopping=True, patience=3, validation_fraction=0.2,
                   tol=1e-4, n_iter_no_change=3, grad_tol=1e-9),
              {}, "float64"),
}


def build(name, shard=None, comm=None):
    """(trainer, X, y, fit kwargs) for case ``name``; ``shard`` a function
    taking the full array and returning this rank's part."""
    kw, opts, dtype = CASES[name]
    X, y, w = data(dtype=dtype)
    m = model(dtype)
    t = pynn.Trainer(m, loss="cross_entropy", comm=comm, **kw)
    part = shard or (lambda a: a)
    fit = {"sample_weight": part(w)} if opts.get("weights") else {}
    return t, part(X), part(y), fit
