#!/usr/bin/env python
"""Small nets near the hardware: pynn's online SGD vs FANN 2.2, one thread.

Both libraries train the same net from the same starting weights (pynn's
initial model exported with ``pynn.interop.to_fann``) on the same data for
the same number of epochs, one sample per step:

* pynn: ``Trainer(batch_size=1, optimizer="sgd", shuffle=False,
  loss="squared_error")`` on an ``MLP(sizes, hidden="sigmoid",
  output="sigmoid")``, float32, one ``fit`` of ``--epochs`` epochs;
* FANN 2.2 (Debian ``libfann-dev``, float build): ``fann_train`` per sample
  with ``FANN_TRAIN_INCREMENTAL``, ``FANN_ERRORFUNC_LINEAR`` (squared error),
  no momentum, through a small C harness compiled here with gcc
  (``-O2``, as a user would build against the shared library).

The cases are 64-32-10 on the UCI digits (1797 × 64), 784-128-10 on
MNIST (the first ``--mnist-n`` training images, when
``/work/shared/data/mnist`` or ``$PYNN_MNIST_DIR`` holds it; else random
[0, 1] data of that shape), and ``xor``: 2-4-1 on the four XOR samples for
``--xor-epochs`` epochs, where the time is mostly each library's per-epoch
overhead.  Each repeat runs pynn then FANN, alternating;
the table reports medians of µs per sample and the median of the per-repeat
ratios FANN / pynn (> 1: pynn faster).  Run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/small_nets.py

pynn takes its fused batch-1 SGD step here (csrc/_fused.c: forward,
squared-error delta, backward and update of every layer in one C call;
bit-identical to the unfused path); ``--unfused`` times the unfused path
(forward_pass + backward_pass through pynn._blas.mm) instead.

Options: ``--repeats``, ``--epochs``, ``--cases 64-32-10,784-128-10,xor``,
``--json out.json``, ``--unfused``; ``--crossover`` instead times pynn's small-product
kernels against OpenBLAS per product shape (the choice behind
``pynn._blas.get_vector_kernel_limit()``).  Needs gcc and libfann-dev;
without them only pynn is timed.

On a shared machine the times drift; a noise-free before/after is the
instruction count per sample: run one fit of E1 and of E2 epochs under
``valgrind --tool=callgrind`` (the real interpreter, not a pyenv shim) and
divide the difference of the totals by (E2 − E1)·n.
"""
import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pynn                                         # noqa: E402
from pynn.interop import to_fann                    # noqa: E402

HARNESS = r"""
/* FANN incremental training timer: argv = net file, data file, epochs, lr.
   Data file: int32 n, n_in, n_out; then n*n_in float32 X, n*n_out float32 T.
   Prints the seconds of each epoch, one a line, then the final MSE. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fann.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: net data epochs lr\n"); return 2; }
    struct fann *ann = fann_create_from_file(argv[1]);
    if (!ann) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    FILE *f = fopen(argv[2], "rb");
    int hdr[3];
    if (!f || fread(hdr, sizeof(int), 3, f) != 3) return 1;
    int n = hdr[0], n_in = hdr[1], n_out = hdr[2];
    float *X = malloc(sizeof(float) * (size_t)n * n_in);
    float *T = malloc(sizeof(float) * (size_t)n * n_out);
    if (fread(X, sizeof(float), (size_t)n * n_in, f) != (size_t)n * n_in ||
        fread(T, sizeof(float), (size_t)n * n_out, f) != (size_t)n * n_out)
        return 1;
    fclose(f);
    if ((int)fann_get_num_input(ann) != n_in ||
        (int)fann_get_num_output(ann) != n_out) return 1;
    int epochs = atoi(argv[3]);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
    fann_set_learning_momentum(ann, 0.0f);
    fann_set_learning_rate(ann, (float)atof(argv[4]));
    for (int e = 0; e < epochs; e++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            fann_train(ann, X + (size_t)i * n_in, T + (size_t)i * n_out);
        printf("%.9f\n", now() - t0);
    }
    fann_reset_MSE(ann);
    for (int i = 0; i < n; i++)
        fann_test(ann, X + (size_t)i * n_in, T + (size_t)i * n_out);
    printf("mse %.9g\n", fann_get_MSE(ann));
    fann_destroy(ann);
    return 0;
}
"""


def build_harness(tmp):
    """Compile the FANN timer; returns its path or None (with a reason)."""
    if shutil.which("gcc") is None or not os.path.exists("/usr/include/fann.h"):
        return None, "gcc or libfann-dev (fann.h) not found"
    src = os.path.join(tmp, "fann_online.c")
    exe = os.path.join(tmp, "fann_online")
    with open(src, "w") as f:
        f.write(HARNESS)
    r = subprocess.run(["gcc", "-O2", "-o", exe, src, "-lfann", "-lm"],
                       capture_output=True, text=True)
    if r.returncode:
        return None, "harness does not compile: " + r.stderr.strip()
    return exe, None


def load_case(name, mnist_n):
    """(sizes, X, T, description) for a case name 'a-b-c', or 'xor' (the
    2-4-1 net on the four XOR samples, where an epoch is four steps and a
    library's per-epoch overhead shows)."""
    if name == "xor":
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
        T = np.array([[0], [1], [1], [0]], np.float32)
        return [2, 4, 1], X, T, "XOR, 4 samples"
    sizes = [int(s) for s in name.split("-")]
    rng = np.random.default_rng(0)
    X = y = None
    what = ""
    if sizes[0] == 64:
        from pynn.datasets import load_digits
        X, y = load_digits(dtype=np.float32, scale=True)
        what = "UCI digits 1797 × 64"
    elif sizes[0] == 784:
        d = next((p for p in (os.environ.get("PYNN_MNIST_DIR"),
                              "/work/shared/data/mnist") if p and os.path.isdir(p)),
                 None)
        if d is not None:
            try:
                from pynn.datasets import load_mnist
                X, y = load_mnist(d, kind="train")
                X, y = X[:mnist_n], y[:mnist_n]
                what = f"MNIST, first {mnist_n} training images"
            except Exception as e:                   # noqa: BLE001
                what = f"(MNIST not loadable: {e}) "
    if X is None:
        X = rng.random((mnist_n, sizes[0]), dtype=np.float32)
        y = rng.integers(0, sizes[-1], mnist_n)
        what += f"random [0, 1] {mnist_n} × {sizes[0]}"
    X = np.ascontiguousarray(X, dtype=np.float32)
    T = np.zeros((X.shape[0], sizes[-1]), np.float32)
    T[np.arange(X.shape[0]), np.asarray(y) % sizes[-1]] = 1
    return sizes, X, T, what


def pynn_trainer(sizes, lr, epochs):
    model = pynn.MLP(sizes, hidden="sigmoid", output="sigmoid", seed=0)
    trainer = pynn.Trainer(model, loss="squared_error", optimizer="sgd",
                           lr=lr, batch_size=1, epochs=epochs, shuffle=False,
                           n_threads=1)
    return model, trainer


def write_inputs(tmp, name, model, X, T):
    """(net file, data file) in ``tmp`` for the harness: the model's
    weights through ``to_fann`` and the data as HARNESS reads it (int32 n,
    n_in, n_out; then float32 X and T, row-major)."""
    net_file = os.path.join(tmp, f"net-{name}.net")
    data_file = os.path.join(tmp, f"data-{name}.bin")
    to_fann(model, net_file)
    X = np.ascontiguousarray(X, dtype=np.float32)
    T = np.ascontiguousarray(T, dtype=np.float32)
    with open(data_file, "wb") as f:
        f.write(struct.pack("3i", X.shape[0], X.shape[1], T.shape[1]))
        f.write(X.tobytes())
        f.write(T.tobytes())
    return net_file, data_file


def time_pynn(sizes, X, T, lr, epochs):
    """Seconds per sample of one fit of `epochs` epochs (fresh model)."""
    model, trainer = pynn_trainer(sizes, lr, epochs)
    t0 = time.perf_counter()
    trainer.fit(X, T)
    return (time.perf_counter() - t0) / (epochs * X.shape[0])


def time_fann(exe, net_file, data_file, n, epochs, lr):
    """Seconds per sample over all epochs of one FANN run, and its MSE."""
    out = subprocess.run([exe, net_file, data_file, str(epochs), str(lr)],
                         capture_output=True, text=True, check=True).stdout
    lines = out.split()
    times = [float(x) for x in lines[:epochs]]
    return sum(times) / (epochs * n), float(lines[-1])


def run_case(name, args, exe, tmp):
    sizes, X, T, what = load_case(name, args.mnist_n)
    n = X.shape[0]
    lr = args.lr
    epochs = args.xor_epochs if name == "xor" else args.epochs
    model, _ = pynn_trainer(sizes, lr, epochs)
    net_file, data_file = write_inputs(tmp, name, model, X, T)
    time_pynn(sizes, X[:256], T[:256], lr, 1)        # warm-up
    p_times, f_times, ratios = [], [], []
    fann_mse = None
    for _ in range(args.repeats):
        tp = time_pynn(sizes, X, T, lr, epochs)
        p_times.append(tp)
        if exe is not None:
            tf, fann_mse = time_fann(exe, net_file, data_file, n, epochs, lr)
            f_times.append(tf)
            ratios.append(tf / tp)
    m, trainer = pynn_trainer(sizes, lr, epochs)
    trainer.fit(X, T)
    pynn_mse = float(np.mean((m.forward(X) - T) ** 2))
    row = {"case": name, "data": what, "n": n, "epochs": epochs, "lr": lr,
           "pynn_us": 1e6 * statistics.median(p_times),
           "pynn_us_all": [1e6 * t for t in p_times],
           "pynn_mse": pynn_mse}
    if f_times:
        row.update(fann_us=1e6 * statistics.median(f_times),
                   fann_us_all=[1e6 * t for t in f_times],
                   ratio=statistics.median(ratios), fann_mse=fann_mse)
    return row


def crossover(repeats=7):
    """Per-call µs of pynn's kernels vs OpenBLAS on the batch-1 product
    shapes (forward u = W z, backward g = δᵀ W, rank-1 W += α δ zᵀ) through
    ``_blas.matmul(path="auto")`` with the vector-kernel limit huge / 0.
    Python's call overhead (the same in both) is in both figures."""
    import timeit
    from pynn import _blas
    rng = np.random.default_rng(0)
    rows = []
    for n_out, n_in in [(10, 32), (32, 64), (10, 128), (128, 784), (256, 784),
                        (300, 784), (512, 1024), (1024, 1024)]:
        W = rng.standard_normal((n_out, n_in)).astype(np.float32)
        z = rng.standard_normal((1, n_in)).astype(np.float32)
        d = rng.standard_normal((1, n_out)).astype(np.float32)
        u = np.zeros((1, n_out), np.float32)
        g = np.zeros((1, n_in), np.float32)
        calls = {"W z": lambda: _blas.matmul(z, W, u, False, True, 1.0, 1.0),
                 "dT W": lambda: _blas.matmul(d, W, g, False, False, 1.0, 0.0),
                 "W += a d zT": lambda: _blas.matmul(d, z, W, True, False,
                                                    -1e-9, 1.0)}
        number = max(10, 200000 // (n_in * n_out))
        for name, f in calls.items():
            t = {}
            for label, lim in (("pynn", 1 << 40), ("openblas", 0)):
                old = _blas.set_vector_kernel_limit(lim)
                try:
                    t[label] = min(timeit.repeat(f, number=number,
                                                 repeat=repeats)) / number
                finally:
                    _blas.set_vector_kernel_limit(old)
            rows.append((f"{n_out}x{n_in}", name, 1e6 * t["pynn"],
                         1e6 * t["openblas"]))
    print(f"{'W':<10} {'product':<12} {'pynn µs':>9} {'OpenBLAS µs':>12}")
    for r in rows:
        print(f"{r[0]:<10} {r[1]:<12} {r[2]:>9.3f} {r[3]:>12.3f}")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--mnist-n", type=int, default=5000)
    ap.add_argument("--cases", default="64-32-10,784-128-10,xor")
    ap.add_argument("--xor-epochs", type=int, default=20000,
                    help="epochs of the 'xor' case (4 samples each)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--unfused", action="store_true",
                    help="time pynn without its fused batch-1 SGD step")
    ap.add_argument("--crossover", action="store_true",
                    help="time pynn's kernels vs OpenBLAS per product shape")
    args = ap.parse_args(argv)
    if args.crossover:
        return crossover()
    from pynn import _blas, _network
    variant = getattr(_blas, "kernel_variant", lambda: "n/a")()
    if args.unfused:
        _network.set_fused_sgd(False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe, why = build_harness(tmp)
        if exe is None:
            print(f"FANN not timed: {why}", file=sys.stderr)
        for name in args.cases.split(","):
            rows.append(run_case(name.strip(), args, exe, tmp))
    print(f"# pynn {pynn.__version__} vs FANN 2.2, online SGD (batch 1), "
          f"float32, sigmoid/squared error, one thread; small kernels: "
          f"{variant}{' (unfused step)' if args.unfused else ''}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'net':<12} {'data':<34} {'pynn µs/sample':>15} "
          f"{'FANN µs/sample':>15} {'FANN/pynn':>10} {'MSE pynn/FANN':>16}")
    for r in rows:
        f_us = f"{r['fann_us']:.3f}" if "fann_us" in r else "—"
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else "—"
        mse = f"{r['pynn_mse']:.4f}/{r.get('fann_mse', float('nan')):.4f}"
        print(f"{r['case']:<12} {r['data'][:34]:<34} {r['pynn_us']:>15.3f} "
              f"{f_us:>15} {ratio:>10} {mse:>16}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
