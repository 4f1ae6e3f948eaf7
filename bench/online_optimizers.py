#!/usr/bin/env python
"""Online (batch 1) training with SGD, momentum, Nesterov and Adam.

MNIST 784-300-10, tanh hidden layer, softmax output with cross-entropy,
inputs in [0, 1] (pixels / 255), float32, one thread.  For every repeat a
fresh model (the same seed) trains one epoch on the first ``--samples``
training images with each optimiser in turn; the table gives the median
time per sample over the repeats and its ratio to plain SGD (the median of
per-repeat ratios, which cancels most of a shared machine's drift).

A step of momentum, Nesterov or Adam must read and write every parameter
and its state, where SGD's step touches only the parameters (fused into
the backward pass).  Per sample SGD streams W three times (the forward
pass reads it, GER reads and writes it), momentum and Nesterov five times
(W and v read and written), Adam seven: the memory floors are 5/3 and 7/3
of SGD's time.  Adam also takes a square root and a division per
parameter, correctly rounded (so every build gives the same bits), which
bounds its loop by the CPU's divider.  The target (issue 15, item 3) is
momentum and Adam ≤ 2× SGD.  The update loops are csrc/_update.c's AVX2
ones where the CPU has AVX2; ``PYNN_SIMD=0`` measures the generic ones
(the header line names the variant).

Run it without the CI's OpenBLAS overrides::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/online_optimizers.py
    ... python bench/online_optimizers.py --samples 2000 --repeats 5 --json out.json

``--idx DIR`` names the MNIST folder (default /work/shared/data/mnist, or
$PYNN_MNIST); without the files it falls back to random [0, 1] inputs of
MNIST's shape with the same sparsity pattern (a blank border), and says so.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

import numpy as np

import pynn

OPTIMIZERS = [                      # (name, optimizer, lr)
    ("sgd", "sgd", 0.01),
    ("momentum", "momentum", 0.01),
    ("nesterov", "nesterov", 0.01),
    ("adam", "adam", 0.001),
]
DEFAULT_IDX = os.environ.get("PYNN_MNIST", "/work/shared/data/mnist")


def load_data(directory, n):
    """The first n MNIST training images in [0, 1] and their labels."""
    try:
        X, y = pynn.datasets.load_mnist(directory, "train")
        return np.ascontiguousarray(X[:n], dtype=np.float32), y[:n], "MNIST"
    except (FileNotFoundError, OSError):
        rng = np.random.default_rng(0)
        X = rng.random((n, 28, 28), dtype=np.float32)
        X[:, :4, :] = X[:, -4:, :] = X[:, :, :4] = X[:, :, -4:] = 0
        X[X < 0.5] = 0
        return X.reshape(n, 784), rng.integers(0, 10, n), "synthetic (no MNIST)"


def update_variant():
    """Which loops of csrc/_update.c the fused online step runs."""
    try:
        code = ctypes.CDLL(pynn._network.__file__).pynn_update_variant()
    except (OSError, AttributeError):       # a build without _update.c
        return "cython"
    return {0: "generic", 1: "avx2"}.get(code, str(code))


def one_epoch(X, y, optimizer, lr, seed, fuse=True):
    """Seconds for one online epoch of a fresh 784-300-10 net (``fuse``
    False: the step after a stored gradient, as before the fused pass)."""
    model = pynn.MLP([784, 300, 10], hidden="tanh", output="softmax",
                     dtype="float32", seed=seed)
    trainer = pynn.Trainer(model, loss="cross_entropy", optimizer=optimizer,
                           lr=lr, batch_size=1, epochs=1, shuffle=False,
                           n_threads=1)
    if not fuse:
        kernel = trainer.optimizer.kernel

        def unfused(*a, **k):
            upd = kernel(*a, **k)
            if hasattr(upd, "fuse_online"):
                upd.fuse_online = False
            return upd
        trainer.optimizer.kernel = unfused
    t0 = time.perf_counter()
    trainer.fit(X, y)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3000,
                    help="training samples per epoch (default 3000)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--idx", default=DEFAULT_IDX, help="MNIST IDX folder")
    ap.add_argument("--only", default=None,
                    help="comma-separated optimisers (default all)")
    ap.add_argument("--json", default=None, help="also write results here")
    ap.add_argument("--unfused", action="store_true",
                    help="gradient then step (no fused online pass), to "
                         "measure what flush-to-zero alone gives")
    args = ap.parse_args(argv)
    chosen = OPTIMIZERS if args.only is None else [
        o for o in OPTIMIZERS if o[0] in args.only.split(",")]
    X, y, source = load_data(args.idx, args.samples)
    n = X.shape[0]
    for name, opt, lr in chosen:              # warm-up, untimed
        one_epoch(X[:200], y[:200], opt, lr, 0, not args.unfused)
    times = {name: [] for name, _, _ in chosen}
    for _ in range(args.repeats):
        for name, opt, lr in chosen:
            times[name].append(one_epoch(X, y, opt, lr, 0, not args.unfused)
                               / n * 1e6)
    print(f"# online optimisers: {source} 784-300-10 tanh/softmax, batch 1, "
          f"{n} samples, float32, 1 thread, {args.repeats} repeats"
          f"{', unfused' if args.unfused else ''}; "
          f"updates {update_variant()}; "
          f"pynn {pynn.__version__}, load {os.getloadavg()[0]:.2f}")
    print(f"{'optimizer':<10} {'µs/sample':>10} {'min':>8} {'ratio to SGD':>13}")
    result = {}
    for name, _, _ in chosen:
        med = statistics.median(times[name])
        ratio = (statistics.median(a / b for a, b in zip(times[name], times["sgd"]))
                 if "sgd" in times else float("nan"))
        result[name] = {"us_per_sample": med, "min": min(times[name]),
                        "ratio_to_sgd": ratio, "all": times[name]}
        print(f"{name:<10} {med:>10.1f} {min(times[name]):>8.1f} {ratio:>12.2f}×")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": source, "samples": n, "results": result}, f,
                      indent=1)
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
