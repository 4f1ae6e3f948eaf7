"""Command line: ``python -m pynn <command>`` (also the ``pynn`` script).

Commands
--------
train   train an MLP classifier on the bundled digits (default) or on an
        IDX directory (MNIST, Fashion-MNIST), show progress, report the test
        accuracy and save the model.
demo    build an MLP on the bundled digits, run forward/backward, print a
        finite-difference gradient check and a few plain SGD epochs.
"""
import argparse
import os
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


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated integers, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("--hidden sizes must be positive")
    return sizes


def train(args):
    import pynn
    from pynn import datasets

    if args.idx:
        X_train, y_train = datasets.load_mnist(args.idx, "train")
        X_test, y_test = datasets.load_mnist(args.idx, "test")
        name = f"IDX data in {args.idx}"
    else:
        X, y = datasets.load_digits(scale=True)
        X_train, X_test, y_train, y_test = datasets.train_test_split(
            X, y, test_size=0.25, stratify=True, seed=args.seed)
        name = "digits (8×8, bundled)"
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    sizes = [X_train.shape[1], *args.hidden, n_classes]
    print(f"data: {name}: {len(X_train)} training and {len(X_test)} test "
          f"samples, {X_train.shape[1]} features, {n_classes} classes")
    model = pynn.MLP(sizes, hidden=args.activation, output="softmax",
                     dtype=args.dtype, seed=args.seed,
                     init="he_normal" if args.activation in ("relu", "leaky_relu")
                     else "glorot_normal")
    print(model)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir) or os.path.isdir(args.output):
        raise ValueError(f"--output {args.output!r}: cannot write a file there "
                         "(missing folder, or it is a folder)")
    trainer = pynn.Trainer(
        model, loss="cross_entropy", optimizer=args.optimizer, lr=args.lr,
        batch_size=args.batch_size or None, epochs=args.epochs, shuffle=True,
        seed=args.seed, verbose=0 if args.quiet else 1)
    print(f"training: {args.optimizer}, lr {args.lr}, batch size "
          f"{args.batch_size or 'full'}, {args.epochs} epochs")
    start = time.perf_counter()
    history = trainer.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    accuracy = float((model(X_test).argmax(axis=1) == y_test).mean())
    print(f"trained {history.epochs} epochs in {elapsed:.2f} s "
          f"(stopped: {history.stopped_reason}); final training loss "
          f"{history.loss[-1]:.4f}")
    print(f"test accuracy: {accuracy:.4f}")
    model.save(args.output)
    print(f"model saved to {args.output} (load it with pynn.load)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pynn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train an MLP classifier (digits by default)")
    p.add_argument("--idx", metavar="DIR",
                   help="directory with MNIST-format IDX files "
                        "(train-images-idx3-ubyte.gz, ...); default: digits")
    p.add_argument("--hidden", type=_sizes, default=[64],
                   help="hidden layer sizes, comma-separated (default 64)")
    p.add_argument("--activation", default="relu",
                   help="hidden activation (default relu)")
    p.add_argument("--optimizer", default="adam",
                   choices=["sgd", "momentum", "nesterov", "adam"])
    p.add_argument("--lr", type=_positive_float, default=0.003)
    p.add_argument("--batch-size", type=_int_at_least(0), default=32,
                   help="1 = online SGD, 0 = full batch (default 32)")
    p.add_argument("--epochs", type=_int_at_least(1), default=30)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--output", default="pynn-model.npz",
                   help="where to save the trained model")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=train)
    p = sub.add_parser("demo", help="gradient check and a short SGD run on digits")
    p.add_argument("--hidden", type=_int_at_least(1), default=32)
    p.add_argument("--epochs", type=_int_at_least(1), default=5)
    p.add_argument("--lr", type=_positive_float, default=0.1)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ArithmeticError) as exc:
        # Bad data or options, unreadable files, a diverging fit
        # (pynn.DivergenceError): a one-line message, not a traceback.
        print(f"pynn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
