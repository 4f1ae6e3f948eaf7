"""Data-parallel training over MPI: steps/s on 1, 2 and 4 ranks and the
share of a step spent in the gradient all-reduce.

    python bench/mpi_bench.py [--ranks 1,2,4] [--batch 256] [--steps 40]

launches itself under ``mpiexec -n N`` (one BLAS thread per rank) for each
N and prints one table.  Per rank count it trains 784-256-256-10 (ReLU,
softmax, cross-entropy, float32, SGD) with ``Trainer(comm=...)`` on random
data, the global batch B split over the ranks, and measures

- step: wall time per optimiser step (rank 0, whole epochs / steps);
- reduce: time inside the rank-ordered sum per step, measured in the run
  (includes waiting for the slowest rank) and alone after a barrier
  (the transfer itself), for the ordered sum and for MPI_Allreduce;
- the one-process fused Trainer (no comm) for reference.

Times on a 2-core machine with 4 ranks are oversubscribed: read the
reduce-alone column as the cost model's per-step communication on shared
memory, not the speed-up of a real cluster.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = [784, 256, 256, 10]


def worker(args):
    from mpi4py import MPI

    import pynn
    from pynn import distributed

    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    X = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n)
    Xs, ys = distributed.shard(X, comm), distributed.shard(y, comm)

    spent = [0.0]
    real = distributed.Group._exchange

    def timed(self, n):
        t0 = time.perf_counter()
        try:
            return real(self, n)
        finally:
            spent[0] += time.perf_counter() - t0
    distributed.Group._exchange = timed

    def trainer(c):
        m = pynn.MLP(SIZES, hidden="relu", output="softmax", seed=0)
        return pynn.Trainer(m, loss="cross_entropy", optimizer="sgd", lr=0.01,
                            batch_size=args.batch, epochs=1, seed=1,
                            n_threads=1, comm=c)

    trainer(comm).fit(Xs, ys)                          # warm-up
    steps = []
    for _ in range(args.repeats):
        spent[0] = 0.0
        comm.Barrier()
        t0 = time.perf_counter()
        trainer(comm).fit(Xs, ys)
        steps.append(((time.perf_counter() - t0) / args.steps,
                      spent[0] / args.steps))
    step, in_run = min(steps)

    n_params = sum(a * b + b for a, b in zip(SIZES, SIZES[1:]))
    vec = np.ones(n_params + 4)
    alone = {}
    for ordered in (True, False):
        group = distributed.Group(comm, ordered=ordered)
        best = []
        for _ in range(args.repeats):
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(10):
                group.ordered_sum(vec)
            best.append((time.perf_counter() - t0) / 10)
        alone["ordered" if ordered else "allreduce"] = min(best)
    single = None
    if comm.rank == 0 and comm.size == 1:
        fused = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            trainer(None).fit(X, y)
            fused.append((time.perf_counter() - t0) / args.steps)
        single = min(fused)
    if comm.rank == 0:
        print(json.dumps({"ranks": comm.size, "step": step, "in_run": in_run,
                          "alone": alone, "fused": single,
                          "bytes": 8 * (n_params + 4)}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", default="1,2,4")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    print(f"784-256-256-10 float32 SGD, global batch {args.batch}, "
          f"{args.steps} steps per epoch, best of {args.repeats}; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| ranks | step ms | steps/s | reduce in run ms (share) | "
          "ordered sum alone ms | MPI_Allreduce alone ms |")
    print("|---|---|---|---|---|---|")
    for n in [int(r) for r in args.ranks.split(",")]:
        cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py",
               os.path.abspath(__file__), "--worker", "--batch",
               str(args.batch), "--steps", str(args.steps), "--repeats",
               str(args.repeats)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                             check=True, timeout=1800).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {n} | {1e3 * r['step']:.2f} | {1 / r['step']:.1f} | "
              f"{1e3 * r['in_run']:.2f} ({r['in_run'] / r['step']:.0%}) | "
              f"{1e3 * r['alone']['ordered']:.2f} | "
              f"{1e3 * r['alone']['allreduce']:.2f} |")
        if r["fused"]:
            print(f"| 1, no comm (fused loop) | {1e3 * r['fused']:.2f} | "
                  f"{1 / r['fused']:.1f} | – | – | – |")
    print(f"(reduced vector: {r['bytes'] / 1e6:.2f} MB of float64 per step)")


if __name__ == "__main__":
    main()
