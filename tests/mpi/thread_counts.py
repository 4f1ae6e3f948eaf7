"""Distributed fits on 1 and on 2 of pynn's threads per rank.

    mpiexec -n N python -m mpi4py tests/mpi/thread_counts.py OUT_PREFIX

Each case of ``CASES`` trains a net wide enough that every rank's share of a
batch is several chunks (``pynn._train.chunk_rows``), once with
``n_threads=1`` and once with ``n_threads=2``, from the same start.  Writes
OUT_PREFIX.<case>.<rank>.npz with both parameter vectors and loss
histories, the rank's mean share of a batch and its chunk length, and how many
of pynn's pool workers existed before and after the 2-thread fits (the
1-thread fits run first and must not start any).
"""
import sys

import numpy as np
from mpi4py import MPI

import pynn
from pynn import _train
from pynn.distributed import shard

# name -> (dtype, dropout, trainer keyword arguments)
CASES = {
    "mini_sgd32": ("float32", 0.0, dict(optimizer="sgd", lr=0.05,
                                        batch_size=600, shuffle=True, seed=4,
                                        epochs=3)),
    "mini_dropout_momentum32": ("float32", 0.3, dict(
        optimizer="momentum", lr=0.02, batch_size=600, seed=5, epochs=3)),
    "full_adam64": ("float64", 0.0, dict(optimizer="adam", lr=0.01,
                                         batch_size=None, epochs=4)),
    "lbfgs64": ("float64", 0.0, dict(optimizer="lbfgs", epochs=4)),
}
N, D, K = 1400, 40, 5


def data(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)).astype(dtype)
    y = (X[:, 0] - X[:, 1] + X[:, 2] * X[:, 3] > 0).astype(int) \
        + 2 * (X[:, 4] > 0.5) + (X[:, 5] > 1.5)
    return X, y % K


def model(dtype, dropout):
    layers = [pynn.Dense(D, 300, activation="tanh")]
    if dropout:
        layers.append(pynn.Dropout(dropout))
    layers += [pynn.Dense(300, 200, activation="relu"),
               pynn.Dense(200, K, activation="softmax")]
    return pynn.Model(layers, dtype=dtype, seed=1)


def fit(name, n_threads, comm):
    dtype, dropout, kw = CASES[name]
    X, y = data(dtype)
    m = model(dtype, dropout)
    t = pynn.Trainer(m, loss="cross_entropy", comm=comm, n_threads=n_threads,
                     **kw)
    h = t.fit(shard(X, comm), shard(y, comm))
    return m, h


def main():
    out = sys.argv[1]
    comm = MPI.COMM_WORLD
    results = {name: {} for name in CASES}
    for name in CASES:                      # all 1-thread fits first
        m, h = fit(name, 1, comm)
        results[name]["params1"] = m.params.copy()
        results[name]["loss1"] = np.array(h.loss)
    workers_before = _train.pool_workers()
    for name in CASES:
        m, h = fit(name, 2, comm)
        results[name]["params2"] = m.params.copy()
        results[name]["loss2"] = np.array(h.loss)
    workers_after = _train.pool_workers()
    for name, r in results.items():
        dtype, dropout, kw = CASES[name]
        lo, hi = pynn.distributed.shard_range(N, comm.rank, comm.size)
        # a rank's mean share of a global batch
        share = min(-(-(kw.get("batch_size") or N) // comm.size), hi - lo)
        rows = _train.chunk_rows(model(dtype, dropout)._layout, share)
        np.savez(f"{out}.{name}.{comm.rank}.npz", share=share, rows=rows,
                 workers_before=workers_before, workers_after=workers_after,
                 **r)


if __name__ == "__main__":
    main()
