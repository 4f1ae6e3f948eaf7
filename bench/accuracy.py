#!/usr/bin/env python
"""Accuracy and training time: pynn vs scikit-learn and PyTorch, one run.

The same data, architecture, optimiser (Adam), learning rate, batch size
and number of epochs for every library; test accuracy and the median wall
time of ``--repeats`` fits (interleaved: pynn, scikit-learn, PyTorch, pynn,
…, so machine drift hits all alike) are printed as a markdown table.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/accuracy.py
    python bench/accuracy.py --datasets digits --epochs 20

Datasets: ``digits`` (pynn's bundled 8×8 digits, stratified 75/25 split,
64-64-10 relu/softmax) and ``mnist`` (60k/10k, 784-256-10 relu/softmax),
read from $PYNN_MNIST_DIR or ../shared/data/mnist beside the checkout.
Peers that are not installed are skipped.
"""
import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import pynn
from pynn import datasets


def mnist_dir():
    for d in (os.environ.get("PYNN_MNIST_DIR"),
              Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"):
        if d and Path(d).is_dir():
            return str(d)
    return None


def load(name, seed):
    if name == "digits":
        X, y = datasets.load_digits(scale=True, dtype=np.float32)
        return datasets.train_test_split(X, y, test_size=0.25, seed=seed), [64]
    d = mnist_dir()
    if d is None:
        return None, None
    Xtr, ytr = datasets.load_mnist(d, "train")
    Xte, yte = datasets.load_mnist(d, "test")
    return (Xtr, Xte, ytr, yte), [256]


def run_pynn(data, hidden, args):
    Xtr, Xte, ytr, yte = data
    model = pynn.MLP([Xtr.shape[1], *hidden, 10], hidden="relu",
                     output="softmax", seed=args.seed, init="he_normal")
    trainer = pynn.Trainer(model, loss="cross_entropy", optimizer="adam",
                           lr=args.lr, batch_size=args.batch_size,
                           epochs=args.epochs, seed=args.seed)
    t0 = time.perf_counter()
    trainer.fit(Xtr, ytr)
    dt = time.perf_counter() - t0
    return float((model(Xte).argmax(1) == yte).mean()), dt


def run_sklearn(data, hidden, args):
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    Xtr, Xte, ytr, yte = data
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu",
                        solver="adam", alpha=0.0, batch_size=args.batch_size,
                        learning_rate_init=args.lr, max_iter=args.epochs,
                        shuffle=True, tol=0.0, n_iter_no_change=args.epochs + 1,
                        random_state=args.seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # ConvergenceWarning
        clf.fit(Xtr, ytr)
    dt = time.perf_counter() - t0
    return float(clf.score(Xte, yte)), dt


def run_torch(data, hidden, args):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    Xtr, Xte, ytr, yte = data
    sizes = [Xtr.shape[1], *hidden, 10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), args.batch_size):
            idx = perm[i:i + args.batch_size]
            opt.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    dt = time.perf_counter() - t0
    with torch.inference_mode():
        pred = net(torch.from_numpy(Xte)).argmax(1).numpy()
    return float((pred == yte).mean()), dt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="digits,mnist")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: 30 for digits, 8 for mnist")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    from pynn._threads import set_blas_threads
    set_blas_threads(args.threads)
    epochs_given = args.epochs
    print(f"pynn {pynn.__version__}, numpy {np.__version__}; Adam lr "
          f"{args.lr}, batch {args.batch_size}, threads {args.threads}\n")
    print("| data | architecture | epochs | library | test accuracy | fit time (median) |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        data, hidden = load(name.strip(), args.seed)
        if data is None:
            print(f"| {name} | — | — | (data not found) | — | — |")
            continue
        args.epochs = epochs_given or (30 if name == "digits" else 8)
        arch = "-".join(map(str, [data[0].shape[1], *hidden, 10]))
        libs = (("pynn", run_pynn), ("scikit-learn", run_sklearn),
                ("PyTorch", run_torch))
        results = {lib: [] for lib, _ in libs}
        for _ in range(args.repeats):
            for lib, fn in libs:
                results[lib].append(fn(data, hidden, args))
                time.sleep(0.5)
        for lib, _ in libs:
            runs = results[lib]
            if runs[0] is None:
                print(f"| {name} | {arch} | {args.epochs} | {lib} | not installed | — |")
                continue
            acc = runs[-1][0]
            t = float(np.median([r[1] for r in runs]))
            print(f"| {name} | {arch} | {args.epochs} | {lib} | {acc:.4f} | "
                  f"{t:.2f} s |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
