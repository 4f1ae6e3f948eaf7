"""A/B timing of two pynn builds on the Trainer's fused paths.

    python bench/ab.py BEFORE_DIR AFTER_DIR [--repeats 7] [--threads 1]

Each directory must hold an importable ``pynn`` package (a source tree
built in place, or a copy of an installed one).  The workloads use only
the public API, so any two versions can be compared; each (version,
workload) run is a fresh subprocess, and the runs alternate A, B, A, B, …
so that both see the same machine load.  Prints the median time per unit
and the ratio before/after (> 1: the after build is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

WORKLOADS = {
    # name: (sizes, hidden, output, loss, optimizer, batch, n, epochs, unit)
    "online sgd 64-32-10": ([64, 32, 10], "sigmoid", "softmax",
                            "cross_entropy", "sgd", 1, 1797, 3, "sample"),
    "online adam 64-32-10": ([64, 32, 10], "sigmoid", "softmax",
                             "cross_entropy", "adam", 1, 1797, 3, "sample"),
    "online sgd 784-128-10": ([784, 128, 10], "relu", "softmax",
                              "cross_entropy", "sgd", 1, 2000, 1, "sample"),
    "minibatch sgd 784-256-256-10 B=32": ([784, 256, 256, 10], "relu",
                                          "softmax", "cross_entropy", "sgd",
                                          32, 10000, 1, "sample"),
    "minibatch sgd 784-256-256-10 B=256": ([784, 256, 256, 10], "relu",
                                           "softmax", "cross_entropy", "sgd",
                                           256, 10000, 1, "sample"),
    "minibatch sgd 784-256-256-10 B=1024": ([784, 256, 256, 10], "relu",
                                            "softmax", "cross_entropy", "sgd",
                                            1024, 10240, 1, "sample"),
    "minibatch momentum 784-256-256-10 B=256": ([784, 256, 256, 10], "relu",
                                                "softmax", "cross_entropy",
                                                "momentum", 256, 10000, 1,
                                                "sample"),
    "full batch sgd 784-128-10": ([784, 128, 10], "tanh", "softmax",
                                  "cross_entropy", "sgd", None, 4000, 5,
                                  "epoch"),
}

CHILD = r"""
import json, sys, time
import numpy as np
import pynn
sizes, hidden, output, loss, opt, batch, n, epochs, unit = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.uniform(size=(n, sizes[0])).astype(np.float32)
y = rng.integers(0, sizes[-1], size=n)
m = pynn.MLP(sizes, hidden=hidden, output=output, seed=0)
kw = dict(loss=loss, optimizer=opt, lr=0.01, batch_size=batch, epochs=1,
          seed=0, n_threads=int(sys.argv[2]))
pynn.Trainer(m, **kw).fit(X[:64], y[:64])            # warm-up
best = []
for _ in range(2):
    t = time.perf_counter()
    pynn.Trainer(m, **dict(kw, epochs=epochs)).fit(X, y)
    best.append((time.perf_counter() - t) / (epochs * (n if unit == "sample" else 1)))
print(json.dumps(min(best)))
"""


def run(path, spec, threads):
    env = dict(os.environ, PYTHONPATH=path)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec),
                          str(threads)], env=env, capture_output=True,
                         text=True, check=True, cwd="/")
    return json.loads(out.stdout)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workloads", default="all")
    args = p.parse_args(argv)
    names = list(WORKLOADS) if args.workloads == "all" else \
        [w.strip() for w in args.workloads.split(",")]
    print(f"threads {args.threads}, repeats {args.repeats}, load "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'workload':44s} {'before':>10s} {'after':>10s} {'before/after':>12s}")
    for name in names:
        spec = WORKLOADS[name]
        a, b = [], []
        for _ in range(args.repeats):
            a.append(run(args.before, spec, args.threads))
            b.append(run(args.after, spec, args.threads))
        ratios = [x / y for x, y in zip(a, b)]
        unit = "µs/" + spec[-1]
        print(f"{name:44s} {statistics.median(a) * 1e6:8.2f}   "
              f"{statistics.median(b) * 1e6:8.2f}   "
              f"{statistics.median(ratios):10.3f}   ({unit})")


if __name__ == "__main__":
    main()
