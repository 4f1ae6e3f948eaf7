"""Classic single-layer learning rules: perceptron, LMS/Adaline, the
generalised delta rule and Hebbian learning (plain, anti-Hebbian, Oja).

=================  ===============================================  ============
class              online update (one sample x, target t or d)      unit
=================  ===============================================  ============
Perceptron         w ← w + η (t − y) x,  b ← b + η (t − y)          step / sign
LMS, Adaline       w ← w + η (d − u) x,  b ← b + η (d − u)          linear
GeneralizedDelta   w ← w + η (d − y) φ′(u) x                        σ / tanh
Hebbian "hebb"     w ← w + η y x                                    linear
Hebbian "anti"     w ← w − η y x                                    linear
Hebbian "oja"      w ← w + η y (x − y w)                            linear
=================  ===============================================  ============

with u = wᵀx + b and y = φ(u).  Each ``fit`` makes one call into the compiled
loop of ``pynn._rules`` (its AVX2 build ``pynn._rules_avx2`` where the CPU
has AVX2, see ``pynn._simd``), which runs every epoch without the GIL over
contiguous float32/float64 buffers (dot products summed in double); this
module validates input and hyper-parameters, allocates, and turns the
kernel's status into attributes or errors.

Training never loses the user's work: when the weights or the loss stop
being finite, ``fit`` raises :class:`DivergenceError` and the model keeps the
weights of the last finite epoch.

``shuffle=True`` visits the samples of epoch k in the order obtained by
applying ``rng.shuffle`` k times to 0..n−1, with one
``rng = np.random.default_rng(seed)`` per ``fit`` (the compiled loop runs
NumPy's own shuffle algorithm on that generator's bit stream).  The
supervised rules take ``sample_weight`` in ``fit``: each sample's factor
r_i is multiplied by s_i ≥ 0 (batch: the weighted mean over Σ s_i; online:
a step scaled by s_i; s_i = 0 is exactly removing the sample).  Memory
follows the epochs actually run, never ``max_epochs``/``epochs``.
"""

import numpy as np

from pynn import _activations, _simd
from pynn._activations import Activation
from pynn._rules import Rule, Status
from pynn.exceptions import DivergenceError, NotFittedError
from pynn._validation import (as_float_array, check_dtype, check_positive,
                              check_sample_weight, check_seed, check_targets,
                              check_X, refuse_masked, to_array)

# The AVX2 build of the epoch loop on CPUs that have it (same results).
_rules = _simd.load("_rules")

__all__ = ["Perceptron", "LMS", "Adaline", "GeneralizedDelta", "Hebbian",
           "DivergenceError", "NotFittedError"]


# ------------------------------------------------------------------ helpers
def _accuracy(pred, t):
    """Fraction of rows of ``pred`` equal to ``t`` (whole rows when 2-D)."""
    t = np.asarray(t)
    if t.shape != pred.shape:
        raise ValueError(f"t has shape {t.shape}, expected {pred.shape}")
    hit = pred == t
    return float(np.mean(hit if hit.ndim == 1 else hit.all(axis=1)))


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_tol(tol):
    if tol is None:
        return None
    return float(check_positive(tol, "tol", allow_zero=True))


def _init_params(w_init, b_init, n_out, n_in, single, dtype, rng=None):
    """W (n_out, n_in) and b (n_out,) as fresh C-contiguous arrays."""
    if w_init is None:
        W = np.zeros((n_out, n_in), dtype=dtype)
    else:
        shape = (n_in,) if single else (n_out, n_in)
        W = as_float_array(w_init, "w_init", dtype, ndim=len(shape))
        if W.shape != shape:
            raise ValueError(f"w_init must have shape {shape} (one weight per "
                             f"input{'' if single else ' per unit'}), got "
                             f"{W.shape}")
        W = W.reshape(n_out, n_in).copy()
    if b_init is None:
        b = np.zeros(n_out, dtype=dtype)
    elif np.ndim(b_init) == 0:
        b = as_float_array(np.full(n_out, b_init), "b_init", dtype, ndim=1)
    else:
        b = as_float_array(b_init, "b_init", dtype, ndim=1)
        if b.shape != (n_out,):
            raise ValueError(f"b_init must be a number or have shape "
                             f"({n_out},), got {b.shape}")
        b = b.copy()
    return W, b


class _SingleLayerRule:
    """Shared machinery: hyper-parameters, the kernel call, the linear map."""

    _params = ()

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._params)
        return f"{type(self).__name__}({args})"

    # -- after fit: w (n_in,) and scalar b for one unit, else (k, n_in), (k,)
    def _store(self, W, b, single):
        self._single = single
        self.w = W[0] if single else W
        self.b = float(b[0]) if single else b

    def _check_fitted(self):
        if getattr(self, "w", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted "
                                 "yet; call fit(X, ...) first")

    def _weights(self):
        W = np.ascontiguousarray(self.w, dtype=self._dtype)
        W = W.reshape(1, -1) if W.ndim == 1 else W
        b = np.ascontiguousarray(np.reshape(self.b, -1), dtype=self._dtype)
        return W, b

    def _linear(self, X):
        """u = W x + b for every row of X, as float64 of shape (n, k)."""
        self._check_fitted()
        W, b = self._weights()
        X = check_X(X, W.shape[1], self._dtype)
        U = np.empty((X.shape[0], W.shape[0]), dtype=np.float64)
        return _rules.forward(X, W, b, U)

    def _shape_out(self, U):
        return U[:, 0] if self._single else U

    def _run(self, rule, X, T, W, b, lr, epochs, batch=False, fit_bias=True,
             shuffle=False, seed=None, tol=None, sample_weight=None):
        """One call of the compiled loop.  With ``shuffle`` the order of
        epoch k is the k-th ``np.random.default_rng(seed).shuffle`` of the
        previous epoch's order (``seed`` may also be a Generator)."""
        return _rules.fit_epochs(int(rule), X, T, W, b, float(lr), int(epochs),
                                 batch=batch, fit_bias=fit_bias,
                                 shuffle=shuffle, seed=seed,
                                 tol=-1.0 if tol is None else tol,
                                 sample_weight=sample_weight)


# --------------------------------------------------------------- perceptron
def _below_2_63(x):
    """x < 2**63 (so int64 holds it), exactly: an integer is compared as a
    Python int (2**63 − 1 in uint64 would round up to 2.0**63 in float)."""
    return int(x) < 2 ** 63 if isinstance(x, np.integer) else x < 2.0 ** 63


def _perceptron_targets(t, n, dtype):
    """Return (T (n, k), mode, single, classes) for the perceptron's targets.

    mode is "step" ({0, 1}), "sign" ({−1, +1}) or "classes" (class labels:
    whole numbers ≥ 0 with at least 3 distinct values, or 2 that are not
    {0, 1}; trained one-vs-rest with step units, one unit per distinct
    label in ``classes`` (sorted), so memory follows the number of classes,
    not the largest label).
    """
    arr = to_array(t, "t")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"t must hold numbers, got dtype {arr.dtype}")
    refuse_masked(arr, "t")
    arr = np.asarray(arr)                  # a plain array from here on
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ValueError(f"t must have shape ({n},) or ({n}, n_units) to match "
                         f"X's {n} samples, got {arr.shape}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError("t has no columns; need at least one unit")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("t contains NaN or infinity")
    # Elementwise tests first: no sort of a long t in the common cases.
    ones = arr == 1
    if (ones | (arr == 0)).all():
        return np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype), "step", \
            arr.ndim == 1, None
    if (ones | (arr == -1)).all():
        return np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype), "sign", \
            arr.ndim == 1, None
    if not (arr.ndim == 1 and arr.min() >= 0 and (arr == np.round(arr)).all()
            and _below_2_63(arr.max())):
        raise ValueError(
            "t must hold {0, 1} targets (step unit), {-1, +1} targets (sign "
            "unit) or, 1-D, class labels (whole numbers in [0, 2**63)) "
            f"trained one-vs-rest; got values {np.unique(arr)[:10].tolist()}")
    classes, idx = np.unique(arr, return_inverse=True)
    T = np.zeros((n, classes.size), dtype=dtype)
    T[np.arange(n), idx] = 1
    return T, "classes", False, classes.astype(np.int64)


class Perceptron(_SingleLayerRule):
    """Rosenblatt's perceptron: w ← w + η (t − y) x, b ← b + η (t − y).

    With targets in {0, 1} the unit is the step y = I{wᵀx + b > 0}; with
    targets in {−1, +1} it is the sign unit y = +1 if wᵀx + b > 0 else −1,
    so a mistake moves w by 2η t x (the textbook form ``w ← w ± x`` is η = ½).
    Samples are visited in the given order (or a fresh random order each
    epoch with ``shuffle=True``); training stops after the first epoch that
    makes no update, which happens iff the data are linearly separable.

    Parameters
    ----------
    lr : float, default 1.0
        Learning rate η > 0.
    max_epochs : int, default 100
        Upper bound on the epochs run.
    shuffle : bool, default False
        Reshuffle the sample order at the start of every epoch (epoch k:
        ``np.random.default_rng(seed).shuffle`` applied k times).
    seed : int or None, default None
        Seed of the shuffle (None: fresh entropy); unused without shuffle.
    dtype : {"float32", "float64"}, default "float32"
        Floating type of X, the weights and the arithmetic (dot products are
        summed in double either way).

    Attributes
    ----------
    w : ndarray of shape (n_features,) or (n_units, n_features)
        Weights; 2-D for several units (2-D targets or class indices).
    b : float or ndarray of shape (n_units,)
        Bias(es).
    converged_ : bool
        True iff an epoch without any update occurred.
    n_epochs_ : int
        Epochs run, including that final epoch without an update.
    errors_ : ndarray of int
        Updates (misclassified samples, summed over units) of each epoch.
    classes_ : ndarray or None
        The distinct class labels (sorted, int64) when trained one-vs-rest
        on class labels, else None.

    Notes
    -----
    Targets: 1-D {0, 1} or {−1, +1} (one unit); 2-D (n, k) of either kind
    (k independent units); or 1-D class labels (whole numbers ≥ 0, e.g.
    0..C−1 with C ≥ 3), trained one-vs-rest: unit c learns I{t = classes_[c]}
    with a step unit, one unit per distinct label, and the prediction is the
    label of the largest wᵀx + b.

    Sample weights s_i ≥ 0 scale each sample's step:
    w ← w + η s_i (t_i − y_i) x_i.  A zero weight is exactly the same as
    removing the sample (it is skipped: no update, not counted in
    ``errors_``, not needed for convergence).  An integer weight k is one
    visit with a k times larger step — *not* k consecutive visits, which
    would recompute y after each step.  ``errors_`` still counts the
    updates (samples), not their weights.

    Examples
    --------
    >>> X = [[1, 0], [0, 1], [0, 0], [1, 1]]; t = [0, 0, 0, 1]
    >>> p = Perceptron(lr=0.9, dtype="float64")
    >>> p.fit(X, t, w_init=[-0.3, -0.4], b_init=-1.2).w, p.b, p.n_epochs_
    (array([1.5, 2.3]), -3.0, 9)
    """

    _params = ("lr", "max_epochs", "shuffle", "seed", "dtype")

    def __init__(self, lr=1.0, max_epochs=100, shuffle=False, seed=None,
                 dtype="float32"):
        self.lr = check_positive(lr, "lr")
        self.max_epochs = check_positive(max_epochs, "max_epochs", integer=True)
        self.shuffle = _check_bool(shuffle, "shuffle")
        self.seed = check_seed(seed)
        self._dtype = check_dtype(dtype)
        self.dtype = np.dtype(self._dtype).name
        self.w = None
        self.b = None

    def fit(self, X, t, w_init=None, b_init=None, sample_weight=None):
        """Train on X (n, n_features) with targets t; returns self.

        ``w_init`` (default zeros) and ``b_init`` (default 0) set the
        starting point; shapes follow ``w`` and ``b``.  ``sample_weight``
        (n,) of finite weights ≥ 0, not all 0 (default: all 1) scales each
        sample's step, see Notes.
        """
        X = as_float_array(X, "X", self._dtype, allow_empty=False)
        n, n_in = X.shape
        T, mode, single, classes = _perceptron_targets(t, n, self._dtype)
        sw = check_sample_weight(sample_weight, n, self._dtype)
        W, b = _init_params(w_init, b_init, T.shape[1], n_in, single,
                            self._dtype)
        rule = Rule.PERCEPTRON_SIGN if mode == "sign" else Rule.PERCEPTRON_STEP
        n_epochs, status, stats, _ = self._run(
            rule, X, T, W, b, self.lr, self.max_epochs, shuffle=self.shuffle,
            seed=self.seed, sample_weight=sw)
        self._mode = mode
        self.classes_ = classes
        self._store(W, b, single)
        self.n_epochs_ = n_epochs
        self.errors_ = stats.astype(np.int64)
        self.converged_ = status == Status.CONVERGED
        if status == Status.DIVERGED:
            raise DivergenceError(
                f"the perceptron's weights overflowed in epoch {n_epochs + 1}; "
                "try a lower learning rate or scaling the inputs (the model "
                "keeps the last finite weights)")
        return self

    def decision_function(self, X):
        """u = wᵀx + b per sample: shape (n,) for one unit, else (n, k)."""
        return self._shape_out(self._linear(X)).astype(self._dtype)

    def predict(self, X):
        """Unit outputs: I{u > 0} or sign(u) (ints), or the class argmax u."""
        U = self._linear(X)
        if self._mode == "classes":
            return self.classes_[np.argmax(U, axis=1)]
        pos = U > 0
        out = pos.astype(np.int64) if self._mode == "step" \
            else np.where(pos, 1, -1)
        return self._shape_out(out)

    def score(self, X, t):
        """Accuracy: the fraction of samples whose prediction equals t
        (for 2-D targets, whose whole row of unit outputs is right)."""
        return _accuracy(self.predict(X), t)


# --------------------------------------------------- LMS / ADALINE / delta
class LMS(_SingleLayerRule):
    """The LMS (Widrow–Hoff, ADALINE, delta) rule for a linear unit.

    Online (``batch=False``): for each sample in order,
    ``w ← w + η (d − u) x``, ``b ← b + η (d − u)`` with u = wᵀx + b.
    Batch (``batch=True``): one step per epoch with the mean,
    ``w ← w + (η/n) Σ_i (d_i − u_i) x_i`` (gradient descent on the mean of
    ½(d − u)²).  On a well-conditioned problem both reach the least-squares
    solution (the online rule to within O(η) unless η decays).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate η > 0.  The online rule is stable for η < 2/‖x‖².
    epochs : int, default 10
        Epochs to run (fewer if ``tol`` stops it first).
    batch : bool, default False
        Mean update once per epoch instead of one update per sample.
    shuffle : bool, default False
        Reshuffle the sample order at the start of every epoch (epoch k:
        ``np.random.default_rng(seed).shuffle`` applied k times).
    tol : float or None, default None
        Stop when |L_k − L_{k−1}| < tol (L_k = ``loss_[k]``); None: never.
    seed : int or None, default None
        Seed of the shuffle.
    dtype : {"float32", "float64"}, default "float32"
        Floating type of X, the weights and the arithmetic.

    Attributes
    ----------
    w : ndarray of shape (n_features,) or (n_outputs, n_features)
    b : float or ndarray of shape (n_outputs,)
    loss_ : ndarray
        Per epoch, the mean over samples of ½‖d − y‖², each measured just
        before its own update (batch: the loss at the start of the epoch).
    norms_ : ndarray
        ‖w‖ (Frobenius) after each epoch.
    n_epochs_ : int
    converged_ : bool
        True iff ``tol`` stopped the training.

    Notes
    -----
    Sample weights s_i ≥ 0 (``fit(..., sample_weight=s)``) follow
    scikit-learn's semantics.  Batch: one step with the weighted mean,
    ``w ← w + (η / Σ_i s_i) Σ_i s_i (d_i − u_i) x_i``, and ``loss_`` is the
    weighted mean Σ_i s_i ½‖d_i − u_i‖² / Σ_i s_i; so integer weights equal
    repeating the samples (up to the rounding of the sums, which are then
    formed in another order) and zero weights equal removing them
    (bit-exact).  Online: each sample's step is scaled,
    ``w ← w + η s_i (d_i − u_i) x_i``; a zero weight is exactly removing
    the sample, and an integer weight k is one visit with a k times larger
    step (not k consecutive visits, which would recompute u each time);
    ``loss_`` is the same weighted mean.  All weights 1 give bit-identical
    results to no weights.
    """

    _params = ("lr", "epochs", "batch", "shuffle", "tol", "seed", "dtype")
    _rule = Rule.LMS
    _name = "LMS"
    _tname = "d"          # the targets' name in fit and in error messages

    def __init__(self, lr=0.01, epochs=10, batch=False, shuffle=False,
                 tol=None, seed=None, dtype="float32"):
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)
        self.batch = _check_bool(batch, "batch")
        self.shuffle = _check_bool(shuffle, "shuffle")
        self.tol = _check_tol(tol)
        self.seed = check_seed(seed)
        self._dtype = check_dtype(dtype)
        self.dtype = np.dtype(self._dtype).name
        self.w = None
        self.b = None

    def _targets(self, d, n):
        """(D (n, k), single) from 1-D or 2-D targets."""
        name = self._tname
        d = to_array(d, name)
        nd = d.ndim
        if nd not in (1, 2):
            raise ValueError(f"{name} must have shape ({n},) or ({n}, "
                             f"n_outputs), got {d.shape}")
        k = 1 if nd == 1 else d.shape[1]
        if k == 0:
            raise ValueError(f"{name} has no columns; need at least one output")
        D = check_targets(d, n, k, self._dtype, name=name)
        return D, nd == 1

    def _check_range(self, D):
        """LMS takes any real target; subclasses restrict the range."""

    def fit(self, X, d, w_init=None, b_init=None, sample_weight=None):
        """Train on X (n, n_features) with targets d (n,) or (n, k).

        ``w_init`` (default zeros) and ``b_init`` (default 0) set the
        starting point; ``sample_weight`` (n,) of finite weights ≥ 0, not
        all 0 (default: all 1) weights the samples, see Notes.  Returns
        self.
        """
        X = as_float_array(X, "X", self._dtype, allow_empty=False)
        D, single = self._targets(d, X.shape[0])
        self._check_range(D)
        sw = check_sample_weight(sample_weight, X.shape[0], self._dtype)
        W, b = _init_params(w_init, b_init, D.shape[1], X.shape[1], single,
                            self._dtype)
        n_epochs, status, stats, norms = self._run(
            self._rule, X, D, W, b, self.lr, self.epochs, batch=self.batch,
            shuffle=self.shuffle, seed=self.seed, tol=self.tol,
            sample_weight=sw)
        self._store(W, b, single)
        self.n_epochs_ = n_epochs
        self.loss_ = stats
        self.norms_ = norms
        self.converged_ = status == Status.CONVERGED
        if status == Status.DIVERGED:
            raise DivergenceError(
                f"{self._name} diverged in epoch {n_epochs + 1}: the loss or "
                "the weights became inf/NaN; try a lower learning rate (the "
                "online rule needs lr < 2/‖x‖²) or scaling the inputs. The "
                f"model keeps the weights after epoch {n_epochs}.")
        return self

    def decision_function(self, X):
        """u = wᵀx + b per sample: shape (n,) for one output, else (n, k)."""
        return self._shape_out(self._linear(X)).astype(self._dtype)

    def predict(self, X):
        """The linear output u = wᵀx + b."""
        return self.decision_function(X)

    def score(self, X, d):
        """Coefficient of determination R² = 1 − SS_res / SS_tot of predict."""
        pred = np.asarray(self.predict(X), dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        if d.shape != pred.shape:
            raise ValueError(f"d has shape {d.shape}, expected {pred.shape}")
        ss_res = ((d - pred) ** 2).sum()
        ss_tot = ((d - d.mean(axis=0)) ** 2).sum()
        return float(1 - ss_res / ss_tot) if ss_tot > 0 else float(ss_res == 0)


class Adaline(LMS):
    """ADALINE classifier: the LMS rule on ±1 targets, thresholded output.

    Trains exactly as :class:`LMS` (``w ← w + η (t − u) x`` on the linear
    output u = wᵀx + b, not on the thresholded one — that is what separates
    it from the perceptron) and predicts sign(u) = +1 if u > 0 else −1.
    Parameters and attributes are those of :class:`LMS`; targets t must be
    in {−1, +1} (1-D, or 2-D for several units).
    """

    _name = "Adaline"
    _tname = "t"

    def _targets(self, d, n):
        arr = to_array(d, "t")
        refuse_masked(arr, "t")
        arr = np.asarray(arr)
        if arr.dtype.kind in "biuf" and arr.size and np.isfinite(arr).all() \
                and not np.isin(arr, (-1, 1)).all():
            raise ValueError(
                "t must hold -1/+1 class targets for Adaline, got values "
                f"{np.unique(arr)[:10].tolist()} (map {{0, 1}} labels with "
                "2 * t - 1)")
        return super()._targets(d, n)

    def fit(self, X, t, w_init=None, b_init=None, sample_weight=None):
        """Train on X (n, n_features) with ±1 targets t; returns self.

        ``sample_weight`` as in :meth:`LMS.fit` (see :class:`LMS`, Notes).
        """
        return super().fit(X, t, w_init=w_init, b_init=b_init,
                           sample_weight=sample_weight)

    def predict(self, X):
        """sign(wᵀx + b) as ints in {−1, +1}."""
        U = self._linear(X)
        return self._shape_out(np.where(U > 0, 1, -1))

    def score(self, X, t):
        """Accuracy of predict against t (rows must match exactly)."""
        return _accuracy(self.predict(X), t)


class GeneralizedDelta(LMS):
    """The generalized delta rule for one layer of sigmoid or tanh units.

    Online: ``w ← w + η (d − y) φ′(u) x``, ``b ← b + η (d − y) φ′(u)`` with
    u = wᵀx + b, y = φ(u), and φ′ = y (1 − y) (sigmoid) or 1 − y² (tanh);
    batch: one step per epoch with the mean of those terms.  This is gradient
    descent on ½‖d − y‖², i.e. backpropagation through a single layer.

    Parameters
    ----------
    activation : {"sigmoid", "tanh"}, default "sigmoid"
        φ of every unit; targets must lie in [0, 1] or [−1, 1] respectively.
    lr, epochs, batch, shuffle, tol, seed, dtype
        As in :class:`LMS` (default lr 0.1, epochs 100).

    Attributes
    ----------
    As in :class:`LMS`; ``loss_`` is the mean of ½‖d − y‖².

    Notes
    -----
    ``sample_weight`` as in :class:`LMS`: the factor (d − y) φ′(u) of
    sample i is multiplied by s_i (batch: weighted mean over Σ s_i; online:
    a step scaled by s_i; zero weight = removal exactly).
    """

    _params = ("activation",) + LMS._params
    _name = "the generalized delta rule"
    _RULES = {"sigmoid": (Rule.DELTA_SIGMOID, (0.0, 1.0)),
              "tanh": (Rule.DELTA_TANH, (-1.0, 1.0))}

    def __init__(self, activation="sigmoid", lr=0.1, epochs=100, batch=False,
                 shuffle=False, tol=None, seed=None, dtype="float32"):
        if not isinstance(activation, str) or activation not in self._RULES:
            raise ValueError(f"activation must be 'sigmoid' or 'tanh', got "
                             f"{activation!r}")
        self.activation = activation
        self._rule, self._range = self._RULES[activation]
        super().__init__(lr=lr, epochs=epochs, batch=batch, shuffle=shuffle,
                         tol=tol, seed=seed, dtype=dtype)

    def _check_range(self, D):
        lo, hi = self._range
        if D.min() < lo or D.max() > hi:
            raise ValueError(f"{self._tname} must lie in [{lo:g}, {hi:g}] for "
                             f"{self.activation} units")

    def predict(self, X):
        """y = φ(wᵀx + b)."""
        U = self._linear(X)
        code = Activation.SIGMOID if self.activation == "sigmoid" \
            else Activation.TANH
        Y = _activations.forward(code, 0.0, U, U)   # stable σ, in place
        return self._shape_out(Y).astype(self._dtype)


# ------------------------------------------------------------------ Hebbian
class Hebbian(_SingleLayerRule):
    """Hebbian learning of one linear unit y = wᵀx (no bias).

    ``rule="hebb"``: ``w ← w + η y x``; ``"anti"``: ``w ← w − η y x``;
    ``"oja"``: ``w ← w + η y (x − y w)``, Oja's normalised form.  Online
    (per sample) or batch (mean update per epoch).

    Plain Hebbian learning is unstable by nature: on average
    w ← (I + η C) w with C = E[x xᵀ], so ‖w‖ grows geometrically without
    bound along the top eigenvector of C, until it overflows — ``fit`` then
    raises :class:`DivergenceError` ("try a lower learning rate or
    rule='oja'") and keeps the last finite weights.  Anti-Hebbian learning
    shrinks w instead (and oscillates out of bound if η λ_max(C) > 2).  Oja's
    decay term −η y² w keeps ‖w‖ near 1 and, for a small enough η, w
    converges to ± the first principal direction of C (the top eigenvector
    of the covariance when X is centred).

    Parameters
    ----------
    rule : {"hebb", "anti", "oja"}, default "hebb"
    lr : float, default 0.01
        Learning rate η > 0.
    epochs : int, default 10
    batch : bool, default False
    shuffle : bool, default False
    seed : int or None, default None
        Seeds the default w_init (a random unit vector) and the shuffle.
    dtype : {"float32", "float64"}, default "float32"

    Attributes
    ----------
    w : ndarray of shape (n_features,)
    norms_ : ndarray
        ‖w‖ after each epoch.
    output_power_ : ndarray
        Mean of y² over each epoch's samples (for Oja's rule on centred X it
        tends to the top eigenvalue of the covariance).
    n_epochs_ : int

    Notes
    -----
    ``fit`` takes no ``sample_weight``: Hebbian learning has no loss whose
    samples could be weighted, it follows the correlation E[x xᵀ] of the
    data.  A weighted correlation Σ s_i x_i x_iᵀ is had by scaling the
    rows, x_i → √s_i x_i (y then scales by √s_i too, so y x by s_i).

    The seed drives one ``np.random.default_rng(seed)``: first the default
    w_init, then the per-epoch shuffles.
    """

    _params = ("rule", "lr", "epochs", "batch", "shuffle", "seed", "dtype")
    _RULES = {"hebb": Rule.HEBB, "anti": Rule.ANTI_HEBB, "oja": Rule.OJA}

    def __init__(self, rule="hebb", lr=0.01, epochs=10, batch=False,
                 shuffle=False, seed=None, dtype="float32"):
        if not isinstance(rule, str) or rule not in self._RULES:
            raise ValueError(f"rule must be 'hebb', 'anti' or 'oja', got "
                             f"{rule!r}")
        self.rule = rule
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)
        self.batch = _check_bool(batch, "batch")
        self.shuffle = _check_bool(shuffle, "shuffle")
        self.seed = check_seed(seed)
        self._dtype = check_dtype(dtype)
        self.dtype = np.dtype(self._dtype).name
        self.w = None
        self.b = 0.0

    def fit(self, X, w_init=None):
        """Train on X (n, n_features); returns self.

        ``w_init`` defaults to a random unit vector drawn from ``seed``
        (w = 0 is a fixed point of every Hebbian rule).
        """
        X = as_float_array(X, "X", self._dtype, allow_empty=False)
        n, n_in = X.shape
        rng = np.random.default_rng(self.seed)
        if w_init is None:
            v = rng.standard_normal(n_in)
            w_init = v / np.linalg.norm(v)
        W, b = _init_params(w_init, None, 1, n_in, True, self._dtype)
        T = np.empty((n, 0), dtype=self._dtype)
        n_epochs, status, stats, norms = self._run(
            self._RULES[self.rule], X, T, W, b, self.lr, self.epochs,
            batch=self.batch, fit_bias=False, shuffle=self.shuffle,
            seed=rng)
        self._store(W, b, True)
        self.b = 0.0
        self.n_epochs_ = n_epochs
        self.norms_ = norms
        self.output_power_ = stats
        if status == Status.DIVERGED:
            if self.rule == "oja":
                why = ("the learning rate is too large for Oja's rule (it "
                       "needs lr · λ_max(E[x xᵀ]) well below 1); try a lower "
                       "learning rate or scaling the inputs")
            else:
                why = ("plain Hebbian learning grows without bound"
                       if self.rule == "hebb" else
                       "anti-Hebbian learning oscillates out of bound when "
                       "lr · λ_max(E[x xᵀ]) > 2")
                why += "; try a lower learning rate or rule='oja'"
            raise DivergenceError(
                f"Hebbian learning (rule={self.rule!r}) overflowed in epoch "
                f"{n_epochs + 1}: {why}. The model keeps the weights after "
                f"epoch {n_epochs}.")
        return self

    def transform(self, X):
        """The unit's output y = wᵀx per sample, shape (n,)."""
        return self._linear(X)[:, 0].astype(self._dtype)
