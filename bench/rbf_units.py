"""Units versus error: RBF networks against tanh MLPs on the bump and rings.

A radial unit exp(−β‖x − c‖²) is a "cylinder" over one point of the input
plane; a tanh unit tanh(wᵀx + b) a ridge along a line.  On a 2-D Gaussian
bump (``pynn.rbf.bump_dataset``) and on two concentric rings
(``pynn.rbf.ring_dataset``, targets 1 inside, 0 outside) this prints, for
1, 2, 4, 8 and 16 hidden units, the relative test MSE
mean((f(x) − y)²) / var(y) of

* RBFNetwork, training="two_stage" (k-means++ centres, widths from their
  spread, output layer by least squares),
* RBFNetwork, end to end (the same start, then backpropagation through
  centres, widths and weights),
* MLP [2, units, 1], tanh hidden, identity output,

the last two with the same Trainer budget (Adam, lr 0.01, full batch,
``--epochs`` epochs, squared error).  Each entry is the median over
``--seeds`` seeds; training and test sets have 400 points each.

Usage: ``python bench/rbf_units.py [--epochs 500] [--seeds 3]``
"""
import argparse

import numpy as np

import pynn
from pynn.rbf import RBFNetwork, bump_dataset, ring_dataset

UNITS = (1, 2, 4, 8, 16)
DATASETS = {"bump": bump_dataset, "ring": ring_dataset}


def relative_mse(pred, y):
    return float(((pred - y) ** 2).mean() / y.var())


def rbf_error(data, units, seed, epochs, training):
    (X, y), (Xt, yt) = data
    net = RBFNetwork(units, training=training, epochs=epochs, lr=0.01,
                     seed=seed).fit(X, y)
    return relative_mse(net.predict(Xt), yt)


def mlp_error(data, units, seed, epochs):
    (X, y), (Xt, yt) = data
    mlp = pynn.MLP([2, units, 1], hidden="tanh", dtype="float64", seed=seed)
    pynn.Trainer(mlp, optimizer="adam", lr=0.01, batch_size=None,
                 epochs=epochs, seed=seed).fit(X, y)
    return relative_mse(mlp(Xt)[:, 0], yt)


def table(epochs, seeds):
    rows = []
    for name, make in DATASETS.items():
        data = (make(400, seed=0), make(400, seed=1))
        for units in UNITS:
            errs = [np.median([f(s) for s in range(seeds)]) for f in (
                lambda s: rbf_error(data, units, s, epochs, "two_stage"),
                lambda s: rbf_error(data, units, s, epochs, "end_to_end"),
                lambda s: mlp_error(data, units, s, epochs))]
            rows.append((name, units, *errs))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500,
                        help="Trainer epochs per fit (default 500)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds per entry, median reported (default 3)")
    args = parser.parse_args(argv)
    print(f"relative test MSE (median of {args.seeds} seeds; Adam lr 0.01, "
          f"full batch, {args.epochs} epochs)")
    print(f"{'data':<6}{'units':>6}{'RBF two-stage':>16}{'RBF end-to-end':>16}"
          f"{'MLP tanh':>12}")
    for name, units, two, e2e, mlp in table(args.epochs, args.seeds):
        print(f"{name:<6}{units:>6}{two:>16.2e}{e2e:>16.2e}{mlp:>12.2e}")


if __name__ == "__main__":
    main()
