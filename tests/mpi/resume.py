"""Checkpoint and resume over MPI.

    mpiexec -n N python -m mpi4py tests/mpi/resume.py OUT EPOCHS CKPT [RESUME]

Trains case "mini_momentum" of cases.py for EPOCHS epochs with a checkpoint
at CKPT every epoch (rank 0 writes it), resuming from the file RESUME if
given.  Rank r writes OUT.<r>.npz (params, losses) or OUT.<r>.err (the
error message).
"""
import os
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402

import pynn  # noqa: E402
from pynn.distributed import shard  # noqa: E402


def main():
    out, epochs, ckpt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    resume = sys.argv[4] if len(sys.argv) > 4 else None
    comm = MPI.COMM_WORLD
    kw, _, dtype = cases.CASES["mini_momentum"]
    X, y, _ = cases.data(dtype=dtype)
    t = pynn.Trainer(cases.model(dtype), loss="cross_entropy", comm=comm,
                     **dict(kw, epochs=epochs), checkpoint_path=ckpt)
    try:
        h = t.fit(shard(X, comm), shard(y, comm), resume_from=resume)
    except Exception as exc:
        with open(f"{out}.{comm.rank}.err", "w") as f:
            f.write(f"{type(exc).__name__}: {exc}")
        return
    np.savez(f"{out}.{comm.rank}.npz", params=t.model.params,
             loss=np.array(h.loss))


if __name__ == "__main__":
    main()
