"""MADALINE: a layer of ADALINEs with threshold outputs and a fixed logic
unit, trained by Widrow and Winter's MRII (Madaline Rule II).

The model, for an input x of n_features values::

    u_j = W[j]·x + b_j,      h_j = +1 if u_j > 0 else −1     (j = 1..H)
    y   = L(h):  "or"        +1 iff some h_j = +1
                 "and"       +1 iff every h_j = +1
                 "majority"  +1 iff more than H/2 of the h_j are +1

MRII visits the samples in order and changes nothing on a sample the
network already gets right.  On an error it looks for the smallest
disturbance that fixes the output: it trial-flips the hidden unit whose
net input u_j is closest to 0, then the next closest, and keeps the first
flip that makes L(h) = t; that unit is then adapted toward its flipped
value d = −h_j by the α-LMS (ADALINE) rule

    W[j] ← W[j] + η (d − u_j) x / (‖x‖² + 1),   b_j ← b_j + η (d − u_j) / (‖x‖² + 1)

(the bias is the weight of a constant input 1; with η = 1 the adapted unit
lands exactly on u_j = d).  When no single flip fixes the output (e.g. "or"
with two units both +1 on a −1 target, or "majority" two votes short) it
trial-flips pairs, closest to 0 first (smallest |u_j| + |u_k|), and adapts
both units of the first pair that works.  Training stops after an epoch
without an output error (``converged_``) or after ``max_epochs``.

The epochs run in the compiled loop of ``pynn._madaline``.
"""
import numpy as np

from pynn import _madaline
from pynn._validation import (as_float_array, check_dtype, check_positive,
                              check_seed, check_X, refuse_masked, to_array)
from pynn.exceptions import DivergenceError, NotFittedError

__all__ = ["Madaline"]

_LOGIC = {"or": _madaline.Logic.OR, "and": _madaline.Logic.AND,
          "majority": _madaline.Logic.MAJORITY}


def _targets(t, n):
    """(T (n,) of ±1 floats, mode) with mode "sign" ({−1, +1}) or "step"
    ({0, 1}, mapped to 2t − 1)."""
    arr = to_array(t, "t")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"t must hold numbers, got dtype {arr.dtype}")
    refuse_masked(arr, "t")
    arr = np.asarray(arr)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"t must have shape ({n},) to match X's {n} "
                         f"samples, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("t contains NaN or infinity")
    ones = arr == 1
    if (ones | (arr == -1)).all():
        mode = "sign"
    elif (ones | (arr == 0)).all():
        mode = "step"
    else:
        raise ValueError("t must hold -1/+1 targets (or 0/1), got values "
                         f"{np.unique(arr)[:10].tolist()}")
    return np.where(ones, 1.0, -1.0), mode


class Madaline:
    """MADALINE with the MRII rule: H threshold ADALINEs and a logic unit.

    y = L(h), h_j = sign(W[j]·x + b_j), L = OR, AND or majority; trained by
    minimal disturbance (see the module docstring for the full rule):
    on an error, trial-flip hidden units in order of |u_j| (closest to 0
    first), keep the first flip that corrects the output and adapt that
    unit toward its flipped value d by α-LMS,
    ``W[j] ← W[j] + η (d − u_j) x / (‖x‖² + 1)``; if no single flip helps,
    trial-flip pairs the same way.

    Parameters
    ----------
    n_hidden : int
        H ≥ 1, the number of hidden ADALINEs.
    output : {"majority", "or", "and"}, default "majority"
        The fixed logic unit L.  "majority" counts ties (even H) as −1.
    lr : float, default 1.0
        η of α-LMS, 0 < η < 2 (the range in which α-LMS is stable); η = 1
        moves u_j exactly onto d.
    max_epochs : int, default 100
        Upper bound on the epochs run.
    pairs : bool, default True
        Trial-flip pairs when no single flip helps (Widrow and Winter's
        fallback); False gives single-flip MRII only.
    seed : int or None, default None
        Seeds the initial weights and biases, drawn uniformly from
        [−1, 1] (None: fresh entropy).
    dtype : {"float32", "float64"}, default "float32"
        Floating type of X, the weights and the arithmetic (dot products
        are summed in double either way).

    Attributes
    ----------
    W : ndarray of shape (n_hidden, n_features)
    b : ndarray of shape (n_hidden,)
    converged_ : bool
        True iff an epoch without an output error occurred.
    n_epochs_ : int
        Epochs run, including that error-free one.
    errors_ : ndarray of int
        Samples with a wrong output in each epoch (counted on visit).

    Notes
    -----
    Targets are 1-D, {−1, +1} or {0, 1}; ``predict`` answers in the same
    encoding.  Inputs are best coded bipolar (±1), as in Widrow and
    Winter's experiments: with 0/1 inputs the pattern (0, 0) can only move
    the biases, and on XOR MRII converged from about half as many random
    starts in our runs (e.g. "or", 2 units, η = 1: 26/50 with pairs against
    49/50 for ±1 inputs).

    MRII is a heuristic, not a gradient method, and fails to converge in
    known cases: (1) when the logic unit over H threshold units cannot
    represent the function at all, e.g. XOR with ``n_hidden=1`` (a single
    line; MRII then cycles until ``max_epochs`` with ``converged_`` False,
    it never hangs); (2) from unlucky starts even when it can — on XOR with
    2 hidden units single flips alone reach a state where the needed change
    moves a unit that other samples depend on, and the rule cycles (Widrow
    and Winter report 20–56 % success for single flips, 88–100 % with
    pairs); (3) when the needed disturbance involves three or more units
    at once (no single flip or pair fixes the output), the sample is left
    unfixed.  Restarting from another seed is the usual remedy.

    Examples
    --------
    >>> X = [[-1, -1], [-1, 1], [1, -1], [1, 1]]; t = [-1, 1, 1, -1]
    >>> m = Madaline(2, output="or", seed=0).fit(X, t)
    >>> m.converged_, m.predict(X).tolist()
    (True, [-1, 1, 1, -1])
    """

    _params = ("n_hidden", "output", "lr", "max_epochs", "pairs", "seed",
               "dtype")

    def __init__(self, n_hidden, output="majority", lr=1.0, max_epochs=100,
                 pairs=True, seed=None, dtype="float32"):
        self.n_hidden = check_positive(n_hidden, "n_hidden", integer=True)
        if not isinstance(output, str) or output not in _LOGIC:
            raise ValueError(f"output must be 'majority', 'or' or 'and', got "
                             f"{output!r}")
        self.output = output
        self.lr = check_positive(lr, "lr")
        if not self.lr < 2:
            raise ValueError(f"lr must be < 2 (α-LMS is stable for "
                             f"0 < lr < 2), got {lr!r}")
        self.max_epochs = check_positive(max_epochs, "max_epochs", integer=True)
        if not isinstance(pairs, (bool, np.bool_)):
            raise TypeError(f"pairs must be True or False, got {pairs!r}")
        self.pairs = bool(pairs)
        self.seed = check_seed(seed)
        self._dtype = check_dtype(dtype)
        self.dtype = np.dtype(self._dtype).name
        self.W = None
        self.b = None

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._params)
        return f"Madaline({args})"

    def fit(self, X, t):
        """Train on X (n, n_features) with targets t (n,); returns self.

        The weights start from ``seed`` at every call (U(−1, 1)).
        """
        X = as_float_array(X, "X", self._dtype, allow_empty=False)
        n, n_in = X.shape                # both ≥ 1: X is not empty
        T, mode = _targets(t, n)
        rng = np.random.default_rng(self.seed)
        W = rng.uniform(-1, 1, (self.n_hidden, n_in)).astype(self._dtype)
        b = rng.uniform(-1, 1, self.n_hidden).astype(self._dtype)
        n_epochs, status, errors = _madaline.fit_mrii(
            int(_LOGIC[self.output]), X, T.astype(self._dtype), W, b,
            float(self.lr), int(self.max_epochs), pairs=self.pairs)
        self.W, self.b, self._mode = W, b, mode
        self.n_epochs_ = int(n_epochs)
        self.errors_ = errors.astype(np.int64)
        self.converged_ = status == _madaline.Status.CONVERGED
        if status == _madaline.Status.DIVERGED:    # pragma: no cover
            raise DivergenceError(
                f"MRII's weights overflowed in epoch {n_epochs + 1}; try "
                "scaling the inputs (the model keeps the last finite weights)")
        return self

    def _forward(self, X):
        if self.W is None:
            raise NotFittedError("this Madaline is not fitted yet; call "
                                 "fit(X, t) first")
        X = check_X(X, self.W.shape[1], self._dtype)
        U = np.empty((X.shape[0], self.n_hidden), dtype=np.float64)
        y = _madaline.forward(int(_LOGIC[self.output]), X, self.W, self.b, U)
        return U, y

    def decision_function(self, X):
        """The hidden net inputs u = W x + b, shape (n, n_hidden), float64."""
        return self._forward(X)[0]

    def hidden(self, X):
        """The hidden outputs h = sign(u) in {−1, +1}, shape (n, n_hidden)."""
        return np.where(self._forward(X)[0] > 0, 1, -1)

    def predict(self, X):
        """y = L(h) per sample, in the encoding of the training targets."""
        y = self._forward(X)[1].astype(np.int64)
        return (y + 1) // 2 if self._mode == "step" else y

    def score(self, X, t):
        """Accuracy: the fraction of samples whose prediction equals t."""
        pred = self.predict(X)
        t = np.asarray(t)
        if t.shape != pred.shape:
            raise ValueError(f"t has shape {t.shape}, expected {pred.shape}")
        return float(np.mean(pred == t))
