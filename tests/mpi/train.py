"""Run training cases of cases.py over MPI and save each rank's results.

    mpiexec -n N python -m mpi4py tests/mpi/train.py OUT_PREFIX CASE...

Writes OUT_PREFIX.<case>.<rank>.npz with the parameters and the history.
"""
import os
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402

from pynn.distributed import shard  # noqa: E402


def save(path, trainer, history):
    np.savez(path, params=trainer.model.params, loss=np.array(history.loss),
             accuracy=np.array([np.nan if a is None else a
                                for a in history.accuracy]),
             val_loss=np.array(history.val_loss or []),
             reason=history.stopped_reason, epochs=len(history.loss),
             best_epoch=-1 if history.best_epoch is None else history.best_epoch)


def main():
    out, names = sys.argv[1], sys.argv[2:]
    comm = MPI.COMM_WORLD
    for name in names:
        t, X, y, fit = cases.build(name, lambda a: shard(a, comm), comm)
        h = t.fit(X, y, **fit)
        save(f"{out}.{name}.{comm.rank}.npz", t, h)


if __name__ == "__main__":
    main()
