"""MLPClassifier and MLPRegressor: scikit-learn's estimators on pynn kernels.

Each class extends scikit-learn's own MLP estimator of the same name, so
parameter validation, label handling (``LabelBinarizer``: string, boolean
or any labels, binary with one logistic unit, multi-class with softmax,
multi-label indicator matrices), ``predict``/``predict_proba``/``score``,
``partial_fit``, early stopping and every fitted attribute behave exactly
as in scikit-learn.  What changes is where the arithmetic runs: the
forward and backward passes are pynn's compiled kernels
(``pynn._train.gradient``, ``pynn._network.forward``) over one flat
parameter buffer, and the optimiser steps are in-place updates of that
buffer (``pynn.sklearn._optim``).

The objective is scikit-learn's, per mini-batch B with weights s_i
(s_i = 1 without ``sample_weight``) and S = Σ_{i∈B} s_i:

    J(W) = Σ_i s_i L_i / S + α ‖W‖² / (2 S)

L_i = −Σ_k t_ik log y_ik (softmax, multi-class), −Σ_k [t log y + (1 − t)
log(1 − y)] (logistic units, binary and multi-label), or ½‖y_i − t_i‖²
(identity output, regression; the reported loss divides this by the
number of outputs as scikit-learn's ``squared_loss`` does, its gradient
does not, as in scikit-learn).  Biases are not penalised.
"""
from itertools import chain

import numpy as np
import scipy.sparse as sp
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils import check_array, check_random_state
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, validate_data
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer

from pynn import _train
from pynn._threads import limit_blas_threads, pool_threads
from pynn.activations import ACTIVATIONS
from pynn.init import INITIALIZERS
from pynn.layers import Dense
from pynn.losses import get_loss
from pynn.model import Model
from pynn.regularization import Dropout
from pynn.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from pynn.sklearn._optim import AdamState, PynnState, SGDState

# scikit-learn's activation names → pynn's (other pynn names pass through).
_ACTIVATION_NAMES = {"identity": "identity", "logistic": "sigmoid",
                     "tanh": "tanh", "relu": "relu", "softmax": "softmax"}
# Output activation → (pynn loss, factor of the reported loss).
_OUT_LOSS = {"softmax": "cross_entropy", "logistic": "multilabel_cross_entropy",
             "identity": "squared_error"}


def _pynn_activation(name):
    return _ACTIVATION_NAMES.get(name, name)


def _hidden_activations(activation, n_hidden):
    """One pynn activation name per hidden layer."""
    if isinstance(activation, str):
        return [_pynn_activation(activation)] * n_hidden
    names = list(activation)
    if len(names) != n_hidden:
        raise ValueError(f"activation lists {len(names)} names for "
                         f"{n_hidden} hidden layers")
    return [_pynn_activation(a) for a in names]


def _dropout_rates(dropout, n_hidden):
    """One dropout rate per hidden layer's output."""
    rates = [dropout] * n_hidden if isinstance(dropout, Real) else list(dropout)
    if len(rates) != n_hidden:
        raise ValueError(f"dropout lists {len(rates)} rates for {n_hidden} "
                         "hidden layers")
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, Real) or not 0 <= r < 1:
            raise ValueError(f"dropout rates must be in [0, 1), got {r!r}")
    return [float(r) for r in rates]


def _keep_args(estimator, args):
    """scikit-learn's constructor convention: each argument of ``__init__``
    (its ``locals()``) stored unchanged as the attribute of its name."""
    for name, value in args.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def _refuse_sparse(X):
    """scikit-learn's standard error for sparse input to a dense estimator."""
    if sp.issparse(X):
        check_array(X, accept_sparse=False)


_EXTRA_CONSTRAINTS = {
    "activation": [StrOptions(set(_ACTIVATION_NAMES) - {"softmax"}
                              | {ACTIVATIONS[n].name for n in ACTIVATIONS
                                 if ACTIVATIONS[n].elementwise}),
                   list, tuple],
    "dtype": [StrOptions({"auto", "float32", "float64"})],
    "init": [StrOptions({"sklearn"} | set(INITIALIZERS))],
    "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    # pynn's stochastic optimisers join scikit-learn's three names
    "solver": [StrOptions({"lbfgs", "sgd", "adam"}
                          | {n for n in OPTIMIZERS
                             if not OPTIMIZERS[n].external})],
    "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
    "optimizer": [Optimizer, None],
}


class _PynnMLPMixin:
    """The compute half shared by both estimators (see the module doc)."""

    # ------------------------------------------------------------ network
    def _init_coef(self, fan_in, fan_out, dtype):
        """scikit-learn's U(−a, a), a = √(f / (fan_in + fan_out)) with f = 2
        for logistic units and 6 otherwise, for W and b alike
        (``init="sklearn"``); or a pynn initialiser for W with b = 0, drawn
        from the same random state."""
        if self.init == "sklearn":
            return super()._init_coef(fan_in, fan_out, dtype)
        seed = self._random_state.randint(np.iinfo(np.int32).max)
        W = INITIALIZERS[self.init](np.random.default_rng(seed), fan_out, fan_in)
        return (np.ascontiguousarray(W.T, dtype=dtype),
                np.zeros(fan_out, dtype=dtype))

    def _compute_dtype(self, X):
        return X.dtype if self.dtype == "auto" else np.dtype(self.dtype)

    def _model_spec(self, dtype):
        """(dtype, layer sizes, activations, dropout rates) of the network
        that ``coefs_`` and the parameters describe."""
        sizes = [c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]]
        acts = _hidden_activations(self.activation, len(sizes) - 2)
        acts.append(_pynn_activation(self.out_activation_))
        rates = _dropout_rates(self.dropout, len(sizes) - 2)
        return np.dtype(dtype).name, sizes, acts, rates

    def _build_model(self, spec):
        """A pynn Model for ``spec`` (``_model_spec``): Dense layers, each
        hidden one followed by Dropout(rate) when its rate is > 0;
        parameters from ``coefs_``/``intercepts_`` (pynn's W is coefs_
        transposed)."""
        dtype, sizes, acts, rates = spec
        layers = []
        for a, b, act, rate in zip(sizes, sizes[1:], acts, rates + [0.0]):
            layers.append(Dense(a, b, act))
            if rate > 0:
                layers.append(Dropout(rate))
        # Model(layers) would first draw every W (init) for _load_coefs to
        # overwrite: built from zeros instead, as Model._from_plan does.
        model = Model.__new__(Model)
        parsed = Model._parse(layers)
        n_params = sum(layer.n_params for layer in parsed[0])
        Model._setup(model, layers, parsed, dtype,
                     params=np.zeros(n_params, dtype))
        self._model = model
        self._model_key = spec
        self._load_coefs()

    def _dropout_seed(self):
        """A seed for the epoch's dropout masks (None without dropout; the
        random state is then not drawn from, as in scikit-learn)."""
        if not any(self._model_key[3]):        # the model's dropout rates
            return None
        return int(self._random_state.randint(np.iinfo(np.int32).max))

    def _load_coefs(self):
        """Copy ``coefs_``/``intercepts_`` into the model unless they are
        already views of its buffer."""
        for layer, c, b in zip(self._model.layers, self.coefs_, self.intercepts_):
            if not np.shares_memory(c, layer.W):
                layer.W[...] = np.asarray(c).T
            if not np.shares_memory(b, layer.b):
                layer.b[...] = b

    def _bind_coefs(self):
        """Make ``coefs_``/``intercepts_`` views of the model's buffer."""
        self.coefs_ = [layer.W.T for layer in self._model.layers]
        self.intercepts_ = [layer.b for layer in self._model.layers]

    def _ensure_model(self, dtype):
        spec = self._model_spec(dtype)
        if getattr(self, "_model", None) is None \
                or getattr(self, "_model_key", None) != spec:
            self._build_model(spec)
        else:
            self._load_coefs()
        self._bind_coefs()
        return self._model

    def _forward_pass_fast(self, X, check_input=True):
        """Network output for X (pynn's compiled forward pass)."""
        if check_input:
            _refuse_sparse(X)
            X = validate_data(self, X, dtype=(np.float64, np.float32),
                              reset=False)
        model = self._model
        self._load_coefs()
        if X.shape[0] == 0:
            return np.empty((0, model.n_outputs), model.dtype)
        return model.forward(np.ascontiguousarray(X, dtype=model.dtype))

    # ------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental)
        _refuse_sparse(X)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = self._compute_dtype(X)
        X = np.ascontiguousarray(X, dtype=dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, dtype)
            if self._stochastic() and self.solver not in ("sgd", "adam"):
                # scikit-learn's set-up of its stochastic solvers
                self.loss_curve_, self._no_improvement_count = [], 0
                self.best_loss_ = None if self.early_stopping else np.inf
                self.validation_scores_ = [] if self.early_stopping else None
                self.best_validation_score_ = (-np.inf if self.early_stopping
                                               else None)
        model = self._ensure_model(dtype)
        if model.sizes != layer_units:
            raise ValueError(f"the network has layers {model.sizes} but X and "
                             f"y call for {layer_units}")
        T = np.ascontiguousarray(y, dtype=dtype)
        if self._stochastic():
            self._fit_stochastic(X, T, sample_weight, incremental)
        else:
            self._fit_lbfgs(X, T, sample_weight)
        self.coefs_ = [np.ascontiguousarray(c) for c in self.coefs_]
        self.intercepts_ = [np.array(b) for b in self.intercepts_]
        if not all(np.isfinite(w).all()
                   for w in chain(self.coefs_, self.intercepts_)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data "
                "may contain large values and need to be preprocessed.")
        return self

    def _objective(self, X, T, sample_weight):
        """J and its gradient (into ``model.grads``) for one batch."""
        model = self._model
        loss = get_loss(_OUT_LOSS[self.out_activation_])
        sw_sum = X.shape[0] if sample_weight is None else sample_weight.sum()
        total, wsum = _train.gradient(
            model._layout, model.params, model.grads, X, T, loss.code,
            self.alpha / sw_sum, model._workspace(X.shape[0]), sample_weight,
            n_threads=self._threads(), scratch=model._scratch())
        data = total / wsum
        if self.out_activation_ == "identity":
            data /= T.shape[1]
        return data + self.alpha * _train.l2_penalty(model._layout,
                                                     model.params) / sw_sum

    def _threads(self):
        """pynn's threads for training: ``n_threads``, or the CPUs this
        process may use (None).  The BLAS stays on one thread meanwhile;
        results are the same on any count (thread-independent chunks)."""
        return pool_threads(self.n_threads)

    def _stochastic(self):
        """Whether training runs epochs of batches (all but L-BFGS)."""
        if self.optimizer is not None:
            if self.optimizer.external:
                raise ValueError("optimizer: pynn's LBFGS is solver='lbfgs'")
            return True
        return self.solver != "lbfgs"

    def _make_optimizer(self):
        n, dtype = self._model.n_params, self._model.dtype
        if self.optimizer is None and self.solver == "sgd":
            return SGDState(n, dtype, self.learning_rate_init,
                            self.learning_rate, self.momentum,
                            self.nesterovs_momentum, self.power_t)
        if self.optimizer is None and self.solver == "adam":
            return AdamState(n, dtype, self.learning_rate_init, self.beta_1,
                             self.beta_2, self.epsilon)
        return PynnState(self._pynn_optimizer(), n, dtype)

    def _pynn_optimizer(self):
        """pynn's optimiser named by ``solver`` with the estimator's
        hyper-parameters, or the ``optimizer`` given."""
        if self.optimizer is not None:
            return self.optimizer
        return get_optimizer(self.solver, lr=self.learning_rate_init,
                             momentum=self.momentum, beta1=self.beta_1,
                             beta2=self.beta_2, eps=self.epsilon)

    def _split_validation(self, X, T, sample_weight):
        """scikit-learn's early-stopping split (same random draws)."""
        stratify = T if (self._is_classifier() and self.n_outputs_ == 1) \
            else None
        arrays = [X, T] + ([] if sample_weight is None else [sample_weight])
        parts = train_test_split(*arrays, random_state=self._random_state,
                                 test_size=self.validation_fraction,
                                 stratify=stratify)
        X_tr, X_val, T_tr, T_val = parts[:4]
        sw_tr, sw_val = (parts[4], parts[5]) if sample_weight is not None \
            else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase "
                "'validation_fraction' or the size of your dataset.")
        y_val = T_val
        if self._is_classifier():
            y_val = self._label_binarizer.inverse_transform(T_val)
        return (np.ascontiguousarray(X_tr), np.ascontiguousarray(T_tr), sw_tr,
                X_val, y_val, sw_val)

    def _fit_stochastic(self, X, T, sample_weight, incremental):
        import warnings
        model = self._model
        opt = getattr(self, "_optimizer", None)
        if not incremental or opt is None or opt.n_params != model.n_params:
            self._optimizer = self._make_optimizer()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping:
            X, T, sample_weight, X_val, y_val, sw_val = \
                self._split_validation(X, T, sample_weight)
        else:
            X_val = y_val = sw_val = None
        n_samples = X.shape[0]
        if getattr(self._optimizer, "full_batch", False):
            batch_size = n_samples
        elif self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than "
                              "sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        self.n_iter_ = 0
        with limit_blas_threads(1):        # pynn's own threads do the work
            self._epochs(_Epoch(self, X, T, sample_weight, batch_size),
                         incremental, X_val, y_val, sw_val)
        if self.early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts
            self._load_coefs()

    def _epochs(self, epoch, incremental, X_val, y_val, sw_val):
        """scikit-learn's epoch loop: an epoch of batches (``_Epoch``), the
        loss curve, the stopping rule."""
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        opt = self._optimizer
        idx = np.arange(epoch.n, dtype=np.intp)
        try:
            for _ in range(self.max_iter):
                if self.shuffle:
                    # sklearn.utils.shuffle(idx, random_state=…)'s draws
                    # without its input checks (~1 ms an epoch)
                    perm = np.arange(epoch.n)
                    self._random_state.shuffle(perm)
                    idx = idx.take(perm)
                self.loss_ = epoch.run(opt, idx if self.shuffle else None,
                                       self._dropout_seed()) / epoch.n
                self.n_iter_ += 1
                self.t_ += epoch.n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_,
                                                          self.loss_))
                self._update_no_improvement_count(self.early_stopping, X_val,
                                                  y_val, sw_val)
                opt.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = ("Validation score" if self.early_stopping
                            else "Training loss")
                    msg = (f"{what} did not improve more than tol={self.tol:f}"
                           f" for {self.n_iter_no_change} consecutive epochs.")
                    if opt.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached "
                        "and the optimization hasn't converged yet."
                        % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

    def _fit_lbfgs(self, X, T, sample_weight):
        """Full-batch L-BFGS-B over the flat parameter vector (SciPy), the
        objective and gradient J above, options as scikit-learn's."""
        from scipy.optimize import minimize
        model = self._model
        params = model.params

        def fun(x):
            params[...] = x
            return self._objective(X, T, sample_weight), \
                model.grads.astype(np.float64)

        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        with limit_blas_threads(1):
            res = minimize(fun, params.astype(np.float64), method="L-BFGS-B",
                           jac=True, options={"maxfun": self.max_fun,
                                              "maxiter": self.max_iter,
                                              "gtol": self.tol,
                                              **_lbfgs_iprint(iprint)})
        self.n_iter_ = _check_optimize_result("lbfgs", res, self.max_iter)
        self.loss_ = res.fun
        params[...] = res.x

    def _is_classifier(self):
        return isinstance(self, _SkMLPClassifier)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class _Epoch:
    """One fit's data in the compiled loop, and an epoch of it.

    ``run(opt, order, seed)`` visits the batches of scikit-learn's
    ``gen_batches`` (in ``order``, or storage order) and returns its
    accumulated loss Σ_b n_b J_b, J_b as in the module doc at the batch's
    starting weights.  Without sample weights the equal-size batches are
    one call of ``pynn._train.run_batches`` and the last, smaller one
    another (the L2 weight α/n_b differs); with them each batch is one call
    (α/S_b and the weight J_b divides by are per batch).
    """

    def __init__(self, est, X, T, sample_weight, batch_size):
        model = est._model
        self.est, self.model, self.n, self.B = est, model, X.shape[0], batch_size
        self.sw = sample_weight
        self.data = _train.Batches(X, T, sample_weight, batch_size,
                                   est.shuffle and batch_size < X.shape[0])
        self.work = model._workspace(batch_size)
        self.threads, self.scratch = est._threads(), model._scratch()
        self.loss_code = get_loss(_OUT_LOSS[est.out_activation_]).code
        # scikit-learn reports the squared error averaged over the outputs
        self.per_output = T.shape[1] if est.out_activation_ == "identity" else 1

    def run(self, opt, order, seed):
        self.data.set_order(order if self.data.x_buf is not None else None)
        upd = opt.kernel()
        n, B, alpha = self.n, self.B, self.est.alpha
        if self.sw is None:
            full = n - n % B
            runs = [(0, full, B, B), (full, n, n - full, n - full)]
        else:
            rows = order if order is not None else np.arange(n)
            runs = [(a, min(a + B, n), B,
                     self.sw[rows[a:a + B]].sum()) for a in range(0, n, B)]
        accumulated = 0.0
        for start, stop, size, norm in runs:
            if start == stop:
                continue
            upd.l2 = alpha / norm if norm else 0.0
            upd.penalty_sum = 0.0
            total, wsum, _, _, status = _train.run_batches(
                self.model._layout, self.model.params, self.model.grads,
                self.data, start, stop, size, self.loss_code, 0, upd,
                opt.rate, self.work, seed, n_threads=self.threads,
                scratch=self.scratch)
            if status:
                raise ValueError(
                    "Solver produced non-finite parameter weights. The input "
                    "data may contain large values and need to be "
                    "preprocessed.")
            if self.sw is None:
                accumulated += total / self.per_output \
                    + alpha * upd.penalty_sum
            else:
                accumulated += (stop - start) * (
                    total / wsum / self.per_output
                    + alpha * upd.penalty_sum / norm)
        opt.t = upd.step
        return accumulated


def _lbfgs_iprint(iprint):
    try:
        from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
        return _get_additional_lbfgs_options_dict("iprint", iprint)
    except ImportError:                               # pragma: no cover
        return {}


_DOC_EXTRA = """
    pynn's extra parameters (after scikit-learn's; their defaults keep
    scikit-learn's behaviour):

    dtype : {"auto", "float32", "float64"}, default="auto"
        Precision of parameters and arithmetic; "auto" keeps float32 input
        in float32 and computes everything else in float64.
    init : {"sklearn", "glorot_normal", "glorot_uniform", "he_normal",
            "he_uniform"}, default="sklearn"
        "sklearn": scikit-learn's U(−a, a), a = √(f/(fan_in + fan_out)),
        f = 2 for logistic hidden units and 6 otherwise, for W and b; the
        others are pynn's initialisers for W (b = 0).
    solver may also name one of pynn's optimisers (``pynn.optimizers``),
        run in scikit-learn's epoch loop (loss_curve_, tol stopping) at
        rate learning_rate_init: "momentum" (v ← μv + g; w ← w − ηv) and
        "nesterov" (w ← w − η(g + μv)) with μ = momentum, or "rprop"
        (iRPROP−, full batch, initial step Δ₀ = learning_rate_init,
        η⁻ = 0.5, η⁺ = 1.2, Δ in [1e-6, 50]).  ``partial_fit`` stays
        scikit-learn's: "sgd" and "adam" only.
    optimizer : pynn.optimizers.Optimizer or None, default=None
        A configured pynn optimiser to train with instead of ``solver``
        (its own rate and hyper-parameters; copied at fit, not changed).
    dropout : float or sequence of float, default=0.0
        Dropout rate p after each hidden layer (one value, or one per
        hidden layer): while training, each hidden unit's output is zeroed
        with probability p and the others scaled by 1/(1 − p) (inverted
        dropout; masks drawn from random_state); predictions use all
        units.  0 keeps scikit-learn's network.
    n_threads : int or None, default=None
        pynn's threads for the training passes (None: the CPUs this process
        may use, its affinity and CPU quota considered).  A batch is split
        into chunks that do not depend on the count, so the fitted
        parameters are the same on any number of threads.
    activation may also be any element-wise pynn activation name
    ("leaky_relu", "softplus", "swish", …) or one name per hidden layer.
"""


def _integer_labels(y):
    """(classes, codes) of a 1-D integer ndarray with at least two distinct
    labels (classes sorted, y = classes[codes]), else None."""
    if type(y) is not np.ndarray or y.ndim != 1 or y.dtype.kind not in "iu":
        return None
    classes, codes = np.unique(y, return_inverse=True)
    return (classes, codes) if classes.size >= 2 else None


def _fitted_binarizer(classes):
    """The ``LabelBinarizer`` that ``LabelBinarizer().fit(y)`` returns for
    a 1-D integer y whose sorted distinct labels are ``classes`` (≥ 2)."""
    lb = LabelBinarizer()
    lb.y_type_ = "multiclass" if classes.size > 2 else "binary"
    lb.sparse_input_ = False
    lb.classes_ = classes
    return lb


def _one_hot(codes, n_classes):
    """``LabelBinarizer.transform`` as booleans from class indices: row i
    has True in column codes[i] (K > 2), or is [codes[i] == 1] (K = 2)."""
    if n_classes == 2:
        return (codes == 1).reshape(-1, 1)
    Y = np.zeros((codes.size, n_classes), dtype=bool)
    Y[np.arange(codes.size), codes] = True
    return Y


class MLPClassifier(_PynnMLPMixin, _SkMLPClassifier):
    __doc__ = (
        "Multi-layer perceptron classifier: scikit-learn's "
        "``MLPClassifier`` trained by pynn's compiled kernels.\n\n"
        "Same parameters, defaults, fitted attributes and results as "
        "``sklearn.neural_network.MLPClassifier`` (see its documentation); "
        "with ``init='sklearn'`` (the default), the same ``random_state`` "
        "and float64 data the weights follow scikit-learn's trajectory to "
        "rounding.\n" + _DOC_EXTRA)

    _parameter_constraints = {**_SkMLPClassifier._parameter_constraints,
                              **_EXTRA_CONSTRAINTS}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype="auto", init="sklearn", n_threads=None, dropout=0.0,
                 optimizer=None):
        _keep_args(self, locals())

    def _validate_input(self, X, y, incremental, reset):
        """scikit-learn's ``_validate_input``; when it would fit a new
        ``LabelBinarizer`` on a 1-D integer y of ≥ 2 classes, the same
        binarizer and one-hot targets from one ``np.unique`` (the general
        label checks cost milliseconds a fit)."""
        new_classes = not hasattr(self, "classes_") or (
            not self.warm_start and not incremental)
        labels = _integer_labels(y) if new_classes else None
        if labels is None:
            return super()._validate_input(X, y, incremental, reset)
        X, _ = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                             multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        classes, codes = labels
        self._label_binarizer = _fitted_binarizer(classes)
        self.classes_ = self._label_binarizer.classes_
        return X, _one_hot(codes, classes.size)


class MLPRegressor(_PynnMLPMixin, _SkMLPRegressor):
    __doc__ = (
        "Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` "
        "(squared error) trained by pynn's compiled kernels.\n\n"
        "Same parameters, defaults, fitted attributes and results as "
        "``sklearn.neural_network.MLPRegressor`` with "
        "``loss='squared_error'`` (the only loss offered here); 1-D or "
        "multi-output targets.\n" + _DOC_EXTRA)

    _parameter_constraints = {**_SkMLPRegressor._parameter_constraints,
                              **_EXTRA_CONSTRAINTS,
                              "loss": [StrOptions({"squared_error"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,),
                 activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype="auto", init="sklearn", n_threads=None, dropout=0.0,
                 optimizer=None):
        _keep_args(self, locals())
