#!/usr/bin/env python
"""pynn.sklearn.MLPClassifier vs sklearn.neural_network.MLPClassifier.

Identical parameters (float64, the same random_state, a fixed number of
epochs: tol=0 and n_iter_no_change above max_iter), on digits (64-100-10,
1347 train / 450 test) and MNIST (784-256-10; the first ``--mnist-train``
training images, the 10,000 test images), solvers sgd and adam, batch
sizes 200 and 32.  Each setting fits pynn then scikit-learn (one untimed
warm-up fit of each first, a pause of 0.2 s before every timed fit),
``--repeats`` times (default 3, so that one preempted fit on a shared
machine does not decide a row), and reports the median
fit times, their ratio (scikit-learn / pynn) and both test accuracies.
Since pynn follows scikit-learn's trajectory, the accuracies agree to
rounding.

Run it as a user's machine would::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/sklearn_compare.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python \
        bench/sklearn_compare.py --threads 1     # both single-threaded

On a machine whose load average exceeds its CPUs, multi-threaded BLAS
calls of either library wait for descheduled threads (fits 10–30× slower
and ratios that measure the scheduler): compare with ``--threads 1`` there.
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def load_digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=450, random_state=0, stratify=y)


def load_mnist_split(n_train):
    from pynn.datasets import load_mnist
    src = os.environ.get("PYNN_MNIST_DIR", "/work/shared/data/mnist")
    Xtr, ytr = load_mnist(src, "train")
    Xte, yte = load_mnist(src, "test")
    f = np.float64
    return (Xtr[:n_train].astype(f), Xte.astype(f), ytr[:n_train], yte)


def fit_time(cls, params, X, y):
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t0, est


# Seconds between fits, so that one library's BLAS threads (which spin for
# a while after a call) have gone to sleep before the other's fit starts,
# as bench/compare.py pauses between libraries.
PAUSE = 0.2


def run(name, data, hidden, epochs, repeats, solvers, batches, rows,
        threads=None):
    import pynn.sklearn as ps
    from sklearn.neural_network import MLPClassifier
    Xtr, Xte, ytr, yte = data
    for solver in solvers:
        for batch in batches:
            params = dict(hidden_layer_sizes=hidden, solver=solver,
                          batch_size=batch, max_iter=epochs, tol=0.0,
                          n_iter_no_change=epochs + 1, random_state=0,
                          learning_rate_init=0.01 if solver == "sgd" else 0.001)
            extra = {} if threads is None else {"n_threads": threads}
            fit_time(ps.MLPClassifier, {**params, **extra, "max_iter": 1},
                     Xtr, ytr)
            fit_time(MLPClassifier, {**params, "max_iter": 1}, Xtr, ytr)
            tp, ts = [], []
            for _ in range(repeats):
                time.sleep(PAUSE)
                t, ours = fit_time(ps.MLPClassifier, {**params, **extra},
                                   Xtr, ytr)
                tp.append(t)
                time.sleep(PAUSE)
                t, theirs = fit_time(MLPClassifier, params, Xtr, ytr)
                ts.append(t)
            p, s = statistics.median(tp), statistics.median(ts)
            rows.append((name, solver, batch, epochs, p, s, s / p,
                         100 * ours.score(Xte, yte),
                         100 * theirs.score(Xte, yte)))
            print("| " + " | ".join(_fmt(v) for v in rows[-1]) + " |",
                  flush=True)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if v < 100 else f"{v:.1f}"
    return str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--digits-epochs", type=int, default=50)
    ap.add_argument("--mnist-epochs", type=int, default=3)
    ap.add_argument("--mnist-train", type=int, default=20000)
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads of both libraries (threadpoolctl for "
                         "NumPy's and SciPy's BLAS, n_threads for pynn); "
                         "default: each library's own choice")
    args = ap.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        import scipy.linalg  # noqa: F401  (load SciPy's BLAS before limiting)
        threadpool_limits(args.threads)
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs, "
          f"BLAS threads: {args.threads or 'library default'}")
    print("| data | solver | batch | epochs | pynn s | sklearn s | "
          "speed-up | pynn acc % | sklearn acc % |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    run("digits", load_digits_split(), (100,), args.digits_epochs,
        args.repeats, ("sgd", "adam"), (200, 32), rows, args.threads)
    if not args.skip_mnist:
        run(f"MNIST[:{args.mnist_train}]", load_mnist_split(args.mnist_train),
            (256,), args.mnist_epochs, args.repeats, ("sgd", "adam"),
            (200, 32), rows, args.threads)
    return rows


if __name__ == "__main__":
    main()
