"""One rank misbehaves; every rank must stop with the same error.

    mpiexec -n N python -m mpi4py tests/mpi/faults.py MODE OUT_PREFIX

Rank 1 (the last rank for "root_callback": rank 0) is the faulty one.  Each
rank writes OUT_PREFIX.<rank>.json: the exception it got (type, message,
failing rank), whether the History says interrupted, the epochs done and a
hash of its parameters.
"""
import hashlib
import json
import os
import signal
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402

import pynn  # noqa: E402
from pynn import distributed  # noqa: E402


def faulty_local_sum(after, action):
    """Replace Runner.local_sum so that its ``after``-th call does ``action``."""
    real = distributed.Runner.local_sum
    calls = [0]

    def local_sum(self, *a):
        calls[0] += 1
        if calls[0] == after:
            action()
        return real(self, *a)
    distributed.Runner.local_sum = local_sum


def raise_memory():
    raise MemoryError("simulated: out of memory in the gradient pass")


def main():
    mode, out = sys.argv[1], sys.argv[2]
    comm = MPI.COMM_WORLD
    rank = comm.rank
    bad = rank == 1
    X, y, _ = cases.data()
    X, y = distributed.shard(X, comm), distributed.shard(y, comm)
    kw = dict(optimizer="momentum", lr=0.05, batch_size=8, epochs=6, seed=1)
    callbacks = []
    if mode == "nan" and bad:
        X = X.copy()
        X[3, 2] = np.nan
    elif mode == "width" and bad:
        X = np.hstack([X, X[:, :1]])
    elif mode == "labels" and bad:
        y = y.copy()
        y[0] = 7
    elif mode == "config" and bad:
        kw["lr"] = 0.06
    elif mode == "step_error" and bad:
        faulty_local_sum(20, raise_memory)
    elif mode == "sigint" and bad:
        faulty_local_sum(20, lambda: os.kill(os.getpid(), signal.SIGINT))
    elif mode == "callback" and bad:
        def cb(epoch, logs, trainer):
            if epoch == 2:
                raise RuntimeError("simulated: callback failed")
        callbacks.append(cb)
    elif mode == "interrupt_callback" and bad:
        def cb(epoch, logs, trainer):
            if epoch == 2:
                raise KeyboardInterrupt
        callbacks.append(cb)
    elif mode == "root_stops" and rank == 0:
        callbacks.append(lambda epoch, logs, trainer: epoch == 1)
    elif mode == "diverge":      # ReLU, identity output, squared error
        kw.update(lr=1e4, optimizer="sgd")
        y = np.eye(3)[y] * 1e3
    elif mode == "noseed":       # seed=None: every rank the same orders
        kw["seed"] = None
        orders = []
        real = distributed.Runner._local_batches

        def local_batches(self, order):
            orders.append(hashlib.sha256(order.tobytes()).hexdigest())
            return real(self, order)
        distributed.Runner._local_batches = local_batches
    elif mode == "long":         # Ctrl-C sent to mpiexec by the test
        kw["epochs"] = 100000

        def started(epoch, logs, trainer):
            if epoch == 0:
                open(f"{out}.{rank}.started", "w").close()
        callbacks.append(started)
    elif mode == "crash" and bad:
        faulty_local_sum(20, lambda: os._exit(3))
    elif mode == "checkpoint" and rank == 0:
        # A folder where the checkpoint file should go: rank 0's write fails.
        kw["checkpoint_path"] = out + ".ck"
        os.makedirs(kw["checkpoint_path"])
    model = cases.model()
    loss = "cross_entropy"
    if mode == "diverge":
        model = pynn.MLP([6, 16, 3], hidden="relu", dtype="float64", seed=1)
        loss = "squared_error"
    if mode == "penalty":        # refused the same way on every rank
        model = pynn.Model([
            pynn.Dense(6, 4, "sigmoid",
                       activity_regularizer=pynn.KLSparsity(0.2, 1.5)),
            pynn.Dense(4, 3, "softmax")], dtype="float64", seed=1)
    report = {"rank": rank, "error": None, "message": None, "failed_rank": None}
    try:
        t = pynn.Trainer(model, loss=loss, callbacks=callbacks,
                         comm=comm, **kw)
        h = t.fit(X, y)
        report.update(interrupted=h.interrupted, epochs=len(h.loss),
                      reason=h.stopped_reason)
    except Exception as exc:
        report.update(error=type(exc).__name__, message=str(exc),
                      failed_rank=getattr(exc, "rank", None))
    if mode == "noseed":
        report["orders"] = orders
    report["params"] = hashlib.sha256(model.params.tobytes()).hexdigest()
    with open(f"{out}.{rank}.json", "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
