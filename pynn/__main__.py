"""Command line: ``pynn <command>`` (also ``python -m pynn <command>``).

``pynn train`` trains an MLP classifier on the bundled 8×8 digits (or on an
IDX directory such as MNIST) with a progress bar, reports the test accuracy
and saves the model; ``pynn demo`` checks backpropagation against finite
differences and runs a few SGD epochs.  ``pynn <command> --help`` lists
each command's options with their defaults.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Sequence

import numpy as np

from pynn._version import __version__

DESCRIPTION = """\
Feed-forward neural networks on the CPU with compiled kernels.

commands:
  train   train an MLP classifier on the bundled 8x8 digits (default) or on
          an IDX directory (MNIST, Fashion-MNIST), show progress, report the
          test accuracy and save the model
  demo    build an MLP on the bundled digits, run forward/backward, print a
          finite-difference gradient check and a few plain SGD epochs

Run "pynn train --help" or "pynn demo --help" for the options of each."""

# Hidden activations the CLI offers: the element-wise ones with a useful
# gradient (step and sign have derivative 0 almost everywhere, so
# backpropagation cannot train through them; softmax is an output layer).
HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "softplus",
                      "swish", "gaussian", "identity")
DTYPES = ("float32", "float64")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                     argparse.RawDescriptionHelpFormatter):
    """Shows "(default: ...)" after every option's help that has a default
    value (flags and options without one say what happens in their help)
    and keeps the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if (action.default is None or action.default is False
                or action.default is argparse.SUPPRESS):
            return action.help or ""
        return super()._get_help_string(action) or ""


def demo(args: argparse.Namespace) -> int:
    """``pynn demo``: gradient check and a few SGD epochs on digits.

    The check compares backpropagation's gradient g with central
    differences ĝᵢ = (L(θ + h eᵢ) − L(θ − h eᵢ)) / 2h, h = 1e−6, over every
    parameter, and reports ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖).  Returns the exit status:
    0 if that relative error is below 1e−6, else 1.
    """
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


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer ≥ ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _sizes(text: str) -> list[int]:
    """An argparse type: comma-separated positive layer sizes, "256,128"."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated integers, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("--hidden sizes must be positive")
    return sizes


def _output_file(text: str) -> str:
    """An argparse type: a file that can be written, checked before any
    training (an empty name, a folder, a missing or read-only folder are
    refused)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "must name a file to save the model to (e.g. model.npz), got an "
            "empty string")
    path = os.path.abspath(os.path.expanduser(text))
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a folder; give a file name such as "
            f"{os.path.join(text, 'model.npz')!r}")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(
            f"cannot save to {text!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"cannot save to {text!r}: the folder {folder!r} is not writable")
    return os.path.expanduser(text)


def train(args: argparse.Namespace) -> int:
    """``pynn train``: fit an MLP classifier (softmax output, cross-entropy
    loss L = −(1/n) Σᵢ log y_{i,tᵢ}) and save it; returns the exit status."""
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
    full_batch = pynn.optimizers.OPTIMIZERS[args.optimizer].full_batch
    trainer = pynn.Trainer(
        model, loss="cross_entropy", optimizer=args.optimizer, lr=args.lr,
        batch_size=None if full_batch else (args.batch_size or None),
        epochs=args.epochs, shuffle=True,
        seed=args.seed, verbose=0 if args.quiet else 1,
        n_threads=args.threads)
    print(f"training: {args.optimizer}, lr {args.lr}, batch size "
          f"{trainer.batch_size or 'full'}, {args.epochs} epochs, threads "
          f"{args.threads or 'automatic'}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pynn`` command."""
    parser = argparse.ArgumentParser(prog="pynn", description=DESCRIPTION,
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"pynn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{train,demo}")
    p = sub.add_parser(
        "train", help="train an MLP classifier (digits by default)",
        description="Train an MLP classifier with a softmax output and the\n"
                    "cross-entropy loss, report its test accuracy and save it\n"
                    "(load it again with pynn.load).",
        formatter_class=_HelpFormatter)
    p.add_argument("--idx", metavar="DIR", default=None,
                   help="directory with MNIST-format IDX files "
                        "(train-images-idx3-ubyte.gz, ...); without it the "
                        "bundled 8x8 digits are used, split 75/25")
    # A string default goes through the type like a typed value: [64].
    p.add_argument("--hidden", type=_sizes, default="64", metavar="SIZES",
                   help="hidden layer sizes, comma-separated, e.g. 256,128")
    p.add_argument("--activation", default="relu", choices=HIDDEN_ACTIVATIONS,
                   help="activation of the hidden layers")
    from pynn.optimizers import OPTIMIZERS       # every registered optimiser
    p.add_argument("--optimizer", default="adam", choices=tuple(OPTIMIZERS),
                   help="update rule (rprop and lbfgs are full-batch methods: "
                        "they ignore --batch-size)")
    p.add_argument("--lr", type=_positive_float, default=0.003,
                   help="learning rate (> 0)")
    p.add_argument("--batch-size", type=_int_at_least(0), default=32,
                   metavar="N",
                   help="samples per update: 1 = online SGD, 0 = full batch")
    p.add_argument("--epochs", type=_int_at_least(1), default=30, metavar="N",
                   help="passes over the training data (>= 1)")
    p.add_argument("--threads", type=_int_at_least(1), default=None,
                   metavar="N",
                   help="pynn's threads (>= 1; results are the same on any "
                        "count); default: the CPUs this process may use")
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="N",
                   help="seed of the initial weights, the shuffling and the "
                        "digits split (>= 0)")
    p.add_argument("--dtype", default="float32", choices=DTYPES,
                   help="floating-point type of the parameters")
    p.add_argument("--output", type=_output_file, default="pynn-model.npz",
                   metavar="FILE",
                   help="where to save the trained model (.npz); its folder "
                        "must exist")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar")
    p.set_defaults(func=train)
    p = sub.add_parser(
        "demo", help="gradient check and a short SGD run on digits",
        description="Check backpropagation against central finite differences\n"
                    "on a 64-H-10 tanh/softmax network, then run a few epochs\n"
                    "of plain SGD on the bundled digits.",
        formatter_class=_HelpFormatter)
    p.add_argument("--hidden", type=_int_at_least(1), default=32, metavar="H",
                   help="hidden layer size (>= 1)")
    p.add_argument("--epochs", type=_int_at_least(1), default=5, metavar="N",
                   help="SGD epochs after the gradient check (>= 1)")
    p.add_argument("--lr", type=_positive_float, default=0.1,
                   help="learning rate (> 0)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="N",
                   help="seed of the weights and the batch order (>= 0)")
    p.set_defaults(func=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pynn`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 for bad options, data or a
    diverging fit (with a one-line message on stderr), 1 if ``pynn demo``'s
    gradient check fails.  ``--help``, ``--version`` and option errors
    found by argparse raise SystemExit, as argparse does.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ArithmeticError) as exc:
        # Bad data or options, unreadable files, a diverging fit
        # (pynn.DivergenceError): a one-line message, not a traceback.
        print(f"pynn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
