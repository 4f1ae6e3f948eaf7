"""Command line: ``python -m pynn <command>`` (also the ``pynn`` script).

Commands
--------
demo    build an MLP on the bundled digits, run forward/backward, print a
        finite-difference gradient check and a few plain SGD epochs.
"""
import argparse
import sys
import time

import numpy as np


def demo(args):
    import pynn
    from pynn.datasets import load_digits

    X, y = load_digits()
    X = X / 16.0
    print(f"digits: {X.shape[0]} samples × {X.shape[1]} features, 10 classes")
    model = pynn.MLP([64, args.hidden, 10], hidden="tanh", output="softmax",
                     dtype="float64", seed=args.seed)
    print(model)

    # Gradient check: backprop vs central differences on every parameter.
    rng = np.random.default_rng(args.seed)
    batch = rng.choice(len(X), 32, replace=False)
    Xb, yb = X[batch], y[batch]
    loss = model.backward(Xb, yb, loss="cross_entropy")
    grads = model.grads.copy()
    numeric = np.empty_like(grads)
    h = 1e-6
    for i in range(model.params.size):
        old = model.params[i]
        model.params[i] = old + h
        up = model.loss(Xb, yb, loss="cross_entropy")
        model.params[i] = old - h
        down = model.loss(Xb, yb, loss="cross_entropy")
        model.params[i] = old
        numeric[i] = (up - down) / (2 * h)
    err = np.linalg.norm(grads - numeric) / (np.linalg.norm(grads)
                                             + np.linalg.norm(numeric))
    print(f"loss on 32 samples: {loss:.4f}; gradient check over "
          f"{grads.size} parameters: relative error {err:.2e}")

    # A few epochs of plain mini-batch SGD with the fused update.
    order = np.arange(len(X))
    start = time.perf_counter()
    for epoch in range(args.epochs):
        rng.shuffle(order)
        for i in range(0, len(X), 32):
            idx = order[i:i + 32]
            model.train_step(X[idx], y[idx], loss="cross_entropy", lr=args.lr)
        acc = (model(X).argmax(1) == y).mean()
        print(f"epoch {epoch + 1}: loss {model.loss(X, y, 'cross_entropy'):.4f}"
              f"  training accuracy {acc:.3f}")
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.2f} s")
    return 0 if err < 1e-6 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pynn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="gradient check and a short SGD run on digits")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
