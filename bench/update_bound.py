#!/usr/bin/env python
"""What bounds an optimiser's per-parameter step: memory or arithmetic?

Times one optimiser step from a stored gradient (``Optimizer.update``, the
compiled ``pynn._train.step``: csrc/_update.c's loops) on three nets, float32,
one thread:

- tiny (a few dozen parameters): the call's fixed cost, subtracted from
  the others;
- cache (~24,000 parameters: weights, gradient and Adam's two state
  arrays fit in one core's L2);
- MNIST 784-300-10 (238,510 parameters, 3.8 MB with Adam's state: from
  L3 or memory).

and prints nanoseconds per parameter for SGD, momentum, Nesterov and Adam
on each, and the ratio MNIST / cache.  A ratio at or below 1 means the step
costs no more streamed than with its data in cache, so arithmetic bounds it
(Adam: a correctly rounded square root and division per parameter, which
the CPU's divider serves at a few cycles per vector); well above 1, memory
does.  (The cache net's figure also carries what is left of the per-region
fixed costs after subtracting the tiny net's, so it reads a little high.)

Seen on the 2-core AMD EPYC of issue 15 (two runs): ratios 0.75-0.88 for
every rule, Adam 0.53-0.56 ns per parameter streamed against SGD's
0.19-0.20, i.e. 126 µs of Adam step per MNIST sample where a whole online
SGD sample takes ~70 µs: online Adam cannot reach 2x SGD's epoch without
cheaper (not correctly rounded) square roots or divisions.

Run it as a user's machine would::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/update_bound.py
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pynn                                           # noqa: E402
from pynn import optimizers                           # noqa: E402

NETS = {"tiny": [4, 4, 2], "cache": [100, 200, 20], "MNIST": [784, 300, 10]}
RULES = ["sgd", "momentum", "nesterov", "adam"]


def seconds_per_step(sizes, rule, steps, repeats):
    """Median over repeats of the mean time of `steps` steps."""
    model = pynn.MLP(sizes, hidden="tanh", output="softmax", seed=0,
                     dtype="float32")
    rng = np.random.default_rng(0)
    model.grads[:] = rng.standard_normal(model.n_params).astype(np.float32)
    opt = optimizers.get_optimizer(rule, lr=1e-4)
    opt.update(model)                                 # allocate the state
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.update(model)
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times), model.n_params


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()}; PYNN_SIMD="
          f"{os.environ.get('PYNN_SIMD', '(unset: AVX2 where the CPU has it)')}")
    print("| rule | cache ns/param | MNIST ns/param | MNIST / cache |")
    print("|---|---|---|---|")
    rows = []
    for rule in RULES:        # (a step from stored grads runs on one thread)
        fixed, _ = seconds_per_step(NETS["tiny"], rule, 2000, args.repeats)
        per = {}
        for name in ("cache", "MNIST"):
            steps = 400 if name == "cache" else 40
            t, n = seconds_per_step(NETS[name], rule, steps, args.repeats)
            per[name] = max(t - fixed, 0.0) / n * 1e9
        ratio = per["MNIST"] / per["cache"] if per["cache"] else float("nan")
        rows.append((rule, per["cache"], per["MNIST"], ratio))
        print(f"| {rule} | {per['cache']:.3f} | {per['MNIST']:.3f} | "
              f"{ratio:.2f} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
