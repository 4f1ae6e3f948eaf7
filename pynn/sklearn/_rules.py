"""scikit-learn estimators for pynn's classic rules and the autoencoder.

=========================  ===================================================
Perceptron                 Rosenblatt's rule, w ← w + η (t − y) x; one unit
                           for two classes, one-vs-rest units for more
Adaline                    the LMS rule on ±1 targets, sign(wᵀx + b) output;
                           one-vs-rest for several classes
LMSRegressor               the LMS (Widrow–Hoff) rule for a linear unit
GeneralizedDeltaRegressor  the generalized delta rule for sigmoid/tanh units
Hebbian                    Oja's rule, w ← w + η y (x − y w): a transformer
                           onto the first principal direction
AutoencoderTransformer     pynn.Autoencoder: transform = the code,
                           inverse_transform = the decoder
=========================  ===================================================

Each wraps the pynn object of the same rule (fitted, in ``model_``) and
adds scikit-learn's conventions: input validation, ``n_features_in_`` and
``feature_names_in_``, arbitrary class labels through ``classes_``, and
``random_state`` in place of ``seed``.
"""
import numpy as np
from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin,
                          TransformerMixin)
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted,
                                      validate_data)
from numbers import Integral, Real

import pynn
from pynn.sklearn._mlp import _keep_args, _refuse_sparse


def _seed(random_state):
    """A pynn seed (int) drawn from a scikit-learn random_state."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _dtype(estimator, X):
    return X.dtype.name if estimator.dtype == "auto" else estimator.dtype


class _DenseEstimator(BaseEstimator):
    """Dense float input only: X for prediction checked against the fit
    (features, dtype float64 or float32); sparse input is refused with
    scikit-learn's standard message."""

    def _validate_predict(self, X):
        check_is_fitted(self)
        _refuse_sparse(X)
        return validate_data(self, X, dtype=(np.float64, np.float32),
                             reset=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class _RuleEstimator(_DenseEstimator):
    """Validation shared by the wrappers."""

    def _validate_fit(self, X, y="no_validation", sample_weight=None):
        _refuse_sparse(X)
        if isinstance(y, str) and y == "no_validation":
            X = validate_data(self, X, dtype=(np.float64, np.float32))
        else:
            X, y = validate_data(self, X, y, dtype=(np.float64, np.float32),
                                 y_numeric=not isinstance(self, ClassifierMixin),
                                 multi_output=isinstance(self, RegressorMixin))
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X,
                                                 dtype=np.float64)
        return X, y, sample_weight



class _OneVsRestClassifier(ClassifierMixin, _RuleEstimator):
    """Labels → 0/1 (two classes, one unit) or one-vs-rest units."""

    def _encode(self, y):
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least "
                             f"2 classes in the data, got 1 class: "
                             f"{self.classes_[0]!r}")
        return enc.transform(y)

    def _one_vs_rest(self, codes, negative):
        """Targets: one column of 1/``negative`` for two classes, else one
        column per class."""
        k = len(self.classes_)
        if k == 2:
            return np.where(codes == 1, 1.0, negative)
        T = np.full((codes.size, k), negative)
        T[np.arange(codes.size), codes] = 1.0
        return T

    def decision_function(self, X):
        """u = wᵀx + b: shape (n,) for two classes (positive: classes_[1]),
        else (n, n_classes)."""
        X = self._validate_predict(X)
        return np.asarray(self.model_.decision_function(X), dtype=np.float64)

    def predict(self, X):
        """The class of the largest u (two classes: classes_[1] iff u > 0)."""
        U = self.decision_function(X)
        idx = (U > 0).astype(int) if U.ndim == 1 else U.argmax(axis=1)
        return self.classes_[idx]


class Perceptron(_OneVsRestClassifier):
    """Rosenblatt's perceptron, ``w ← w + η (t − y) x``, ``b ← b + η (t − y)``
    with y = I{wᵀx + b > 0} and t ∈ {0, 1}.

    Two classes train one unit; C > 2 classes train C units one-vs-rest
    and predict the label of the largest wᵀx + b.  Training stops after
    the first epoch without a mistake (separable data) or ``max_iter``
    epochs.  Parameter names follow ``sklearn.linear_model.Perceptron``.

    Parameters
    ----------
    eta0 : float, default=1.0
        Learning rate η > 0.
    max_iter : int, default=1000
        Most epochs.
    shuffle : bool, default=True
        Visit the samples in a fresh random order each epoch.
    random_state : int, RandomState or None, default=None
        Seeds the shuffle.
    dtype : {"auto", "float32", "float64"}, default="auto"
        Arithmetic precision ("auto": that of X, float64 unless float32).

    Attributes
    ----------
    classes_, coef_ (n_units, n_features), intercept_ (n_units,),
    n_iter_ (epochs run), n_features_in_, feature_names_in_, model_ (the
    fitted ``pynn.Perceptron``).

    Notes
    -----
    ``fit`` takes no ``sample_weight``: the online rule scales a sample's
    step by its weight, which is not the same as repeating the sample
    (scikit-learn's meaning of an integer weight); use ``pynn.Perceptron``
    directly for weighted steps.
    """

    _parameter_constraints = {
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
    }

    def __init__(self, *, eta0=1.0, max_iter=1000, shuffle=True,
                 random_state=None, dtype="auto"):
        _keep_args(self, locals())

    def fit(self, X, y):
        """Train on X (n, n_features) and class labels y (n,)."""
        self._validate_params()
        X, y, _ = self._validate_fit(X, y)
        T = self._one_vs_rest(self._encode(y), 0.0)
        self.model_ = pynn.Perceptron(
            lr=self.eta0, max_epochs=self.max_iter, shuffle=self.shuffle,
            seed=_seed(self.random_state), dtype=_dtype(self, X)).fit(X, T)
        self.coef_ = np.atleast_2d(self.model_.w).astype(np.float64)
        self.intercept_ = np.atleast_1d(self.model_.b).astype(np.float64)
        self.n_iter_ = self.model_.n_epochs_
        return self


class _LMSParams:
    _parameter_constraints = {
        "eta0": [Interval(Real, 0, None, closed="neither"),
                 StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch": ["boolean"],
        "shuffle": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
    }

    _gain = 1.0          # the largest φ′ of the units

    # LMSRegressor and Adaline take exactly these parameters (scikit-learn
    # reads them from this signature); GeneralizedDeltaRegressor adds its own.
    def __init__(self, *, eta0="auto", max_iter=1000, batch=True, shuffle=False,
                 tol=None, random_state=None, dtype="auto"):
        _keep_args(self, locals())

    def _learning_rate(self, X, sample_weight=None):
        """η; "auto": 1 / (φ′_max (m + 1)) with m = mean ‖x‖² (batch) or
        max ‖x‖² (online): below 2/λ_max of the (bias-augmented) Hessian,
        so gradient descent on the squared error is stable."""
        if self.eta0 != "auto":
            return self.eta0
        sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        if sample_weight is not None:         # as if repeating the samples
            m = (np.average(sq, weights=sample_weight) if self.batch
                 else sq[sample_weight > 0].max())
        else:
            m = sq.mean() if self.batch else sq.max()
        return 1.0 / (self._gain * (m + 1.0))

    def _rule_kwargs(self, X, sample_weight=None):
        return dict(lr=self._learning_rate(X, sample_weight), epochs=self.max_iter, batch=self.batch,
                    shuffle=self.shuffle, tol=self.tol,
                    seed=_seed(self.random_state), dtype=_dtype(self, X))

    def _fit_rule(self, rule, X, T, sw, **kwargs):
        """Fit the pynn rule class ``rule`` on (X, T) with weights sw and
        keep it in ``model_`` with scikit-learn's fitted attributes."""
        self.model_ = rule(**kwargs, **self._rule_kwargs(X, sw)).fit(
            X, T, sample_weight=sw)
        self.coef_ = np.atleast_2d(self.model_.w).astype(np.float64)
        self.intercept_ = np.atleast_1d(self.model_.b).astype(np.float64)
        self.n_iter_ = self.model_.n_epochs_
        self.loss_curve_ = list(np.asarray(self.model_.loss_, dtype=float))
        return self


_LMS_DOC = """
    Parameters
    ----------
    eta0 : float or "auto", default="auto"
        Learning rate η > 0; "auto" = 1 / (φ′_max (m + 1)), m = mean ‖x‖²
        (batch) or max ‖x‖² (online), which keeps the descent stable.
    max_iter : int, default={max_iter}
        Epochs to run (fewer if ``tol`` stops it first).
    batch : bool, default=True
        One step per epoch with the weighted mean of the per-sample terms
        (then integer sample weights equal repeated samples); False: one
        step per sample, scaled by its weight.
    shuffle : bool, default=False
        Reshuffle the samples each epoch (online mode).
    tol : float or None, default=None
        Stop when the epoch loss changes by less than tol.
    random_state : int, RandomState or None, default=None
    dtype : {{"auto", "float32", "float64"}}, default="auto"

    Attributes
    ----------
    coef_ (n_outputs, n_features), intercept_ (n_outputs,), n_iter_,
    loss_curve_ (mean ½‖d − y‖² per epoch), n_features_in_,
    feature_names_in_, model_ (the fitted pynn rule).
"""


class _MultiOutputRegressor(RegressorMixin, _RuleEstimator):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LMSRegressor(_LMSParams, _MultiOutputRegressor):
    __doc__ = ("The LMS (Widrow–Hoff) rule for linear units, "
               "u = wᵀx + b:  w ← w + η Σᵢ sᵢ (dᵢ − uᵢ) xᵢ / Σᵢ sᵢ (batch) "
               "— gradient descent on the weighted mean of ½‖d − u‖².\n"
               + _LMS_DOC.format(max_iter=1000))

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, n_features) and targets y (n,) or (n, k)."""
        self._validate_params()
        X, y, sw = self._validate_fit(X, y, sample_weight)
        return self._fit_rule(pynn.LMS, X, y, sw)

    def predict(self, X):
        """u = wᵀx + b."""
        X = self._validate_predict(X)
        return np.asarray(self.model_.predict(X), dtype=np.float64)


class Adaline(_LMSParams, _OneVsRestClassifier):
    __doc__ = ("ADALINE: the LMS rule on ±1 targets (trained on the linear "
               "output u = wᵀx + b), prediction sign(u); one unit for two "
               "classes, one-vs-rest units (largest u wins) for more.\n"
               + _LMS_DOC.format(max_iter=1000).replace(
                   "coef_ (n_outputs", "classes_, coef_ (n_units"))

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, n_features) and class labels y (n,)."""
        self._validate_params()
        X, y, sw = self._validate_fit(X, y, sample_weight)
        T = self._one_vs_rest(self._encode(y), -1.0)
        return self._fit_rule(pynn.Adaline, X, T, sw)


class GeneralizedDeltaRegressor(_LMSParams, _MultiOutputRegressor):
    __doc__ = ("The generalized delta rule for one layer of sigmoid or tanh "
               "units y = φ(wᵀx + b): w ← w + η Σᵢ sᵢ (dᵢ − yᵢ) φ′(uᵢ) xᵢ / "
               "Σᵢ sᵢ (batch).  The targets are mapped affinely onto "
               "[0.1, 0.9] (sigmoid) or [−0.8, 0.8] (tanh) by their range "
               "in ``fit`` and predictions mapped back.\n\n"
               "    activation : {\"sigmoid\", \"tanh\"}, default=\"sigmoid\"\n"
               + _LMS_DOC.format(max_iter=1000))

    _parameter_constraints = {**_LMSParams._parameter_constraints,
                              "activation": [StrOptions({"sigmoid", "tanh"})]}
    _RANGE = {"sigmoid": (0.1, 0.9), "tanh": (-0.8, 0.8)}

    @property
    def _gain(self):
        return 0.25 if self.activation == "sigmoid" else 1.0

    def __init__(self, activation="sigmoid", *, eta0="auto", max_iter=1000,
                 batch=True, shuffle=False, tol=None, random_state=None,
                 dtype="auto"):
        _keep_args(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, n_features) and real targets y (n,) or (n, k)."""
        self._validate_params()
        X, y, sw = self._validate_fit(X, y, sample_weight)
        y = np.asarray(y, dtype=np.float64)
        lo, hi = self._RANGE[self.activation]
        used = y if sw is None else y[sw > 0]      # weight 0 = removed
        self.y_min_ = used.min(axis=0)
        span = used.max(axis=0) - self.y_min_
        self.y_scale_ = np.where(span > 0, span, 1.0) / (hi - lo)
        D = (y - self.y_min_) / self.y_scale_ + lo
        return self._fit_rule(pynn.GeneralizedDelta, X, D, sw,
                              activation=self.activation)

    def predict(self, X):
        """y = φ(wᵀx + b), mapped back to the targets' range."""
        X = self._validate_predict(X)
        lo = self._RANGE[self.activation][0]
        Y = np.asarray(self.model_.predict(X), dtype=np.float64)
        return (Y - lo) * self.y_scale_ + self.y_min_


class Hebbian(TransformerMixin, _RuleEstimator):
    """Oja's rule on centred data, w ← w + η y (x − x̄ − y w), y = wᵀ(x − x̄):
    w converges to ± the first principal direction; ``transform`` gives
    the projection y (one column).

    Parameters
    ----------
    eta0 : float or "auto", default="auto"
        Learning rate η; "auto" = 0.05 / mean ‖x − x̄‖² (stable for Oja's
        rule, which needs η λ_max well below 1).
    max_iter : int, default=100
        Epochs.
    shuffle : bool, default=True
    random_state : int, RandomState or None, default=None
        Seeds the starting w (a random unit vector) and the shuffle.
    dtype : {"auto", "float32", "float64"}, default="auto"

    Attributes
    ----------
    components_ (1, n_features) : w.  mean_ (n_features,) : x̄.
    n_iter_, n_features_in_, feature_names_in_, model_ (the pynn.Hebbian).
    """

    _parameter_constraints = {
        "eta0": [Interval(Real, 0, None, closed="neither"),
                 StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
    }

    def __init__(self, *, eta0="auto", max_iter=100, shuffle=True,
                 random_state=None, dtype="auto"):
        _keep_args(self, locals())

    def fit(self, X, y=None):
        """Learn w from X (n, n_features); y is ignored."""
        self._validate_params()
        X, _, _ = self._validate_fit(X, "no_validation")
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        lr = self.eta0
        if lr == "auto":
            power = float(np.mean(np.sum(Xc * Xc, axis=1)))
            lr = 0.05 / power if power > 0 else 0.05
        self.model_ = pynn.Hebbian(
            rule="oja", lr=lr, epochs=self.max_iter, shuffle=self.shuffle,
            seed=_seed(self.random_state), dtype=_dtype(self, X)).fit(Xc)
        self.components_ = np.asarray(self.model_.w,
                                      dtype=np.float64).reshape(1, -1)
        self.n_iter_ = self.model_.n_epochs_
        return self

    def transform(self, X):
        """y = wᵀ(x − x̄), shape (n, 1)."""
        X = self._validate_predict(X)
        return (X - self.mean_) @ self.components_.T.astype(X.dtype)

    def get_feature_names_out(self, input_features=None):
        return np.asarray([f"{type(self).__name__.lower()}0"], dtype=object)


class AutoencoderTransformer(TransformerMixin, _RuleEstimator):
    """A pynn.Autoencoder x → code → x̂ trained on ½‖x̂ − x‖² (mean over
    samples) with Adam; ``transform`` is the code, ``inverse_transform``
    the decoder.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(8,)
        Encoder widths after the input; the last is the code size.
    activation : str, default="tanh"
        pynn activation of the encoder and the decoder's hidden layers (the
        reconstruction is linear).
    tied : bool, default=False
        Decoder weights are the encoder's transposed.
    learning_rate_init : float, default=0.01
    max_iter : int, default=200
        Epochs.
    batch_size : int, default=32
    alpha : float, default=0.0
        L2 weight λ (adds λ/2 ‖W‖²).
    random_state : int, RandomState or None, default=None
    dtype : {"auto", "float32", "float64"}, default="auto"

    Attributes
    ----------
    model_ (the pynn.Autoencoder), loss_curve_, n_iter_, n_features_in_,
    feature_names_in_.
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None,
                                                      closed="left")],
        "activation": [str],
        "tied": ["boolean"],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
    }

    def __init__(self, hidden_layer_sizes=(8,), activation="tanh", *,
                 tied=False, learning_rate_init=0.01, max_iter=200,
                 batch_size=32, alpha=0.0, random_state=None, dtype="auto"):
        _keep_args(self, locals())

    def fit(self, X, y=None):
        """Train the autoencoder on X (n, n_features); y is ignored."""
        self._validate_params()
        X, _, _ = self._validate_fit(X, "no_validation")
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.ndim(sizes) == 0 else list(sizes)
        rs = check_random_state(self.random_state)
        seeds = rs.randint(np.iinfo(np.int32).max, size=2)
        model = pynn.Autoencoder([X.shape[1]] + sizes, hidden=self.activation,
                                 output="identity", tied=self.tied,
                                 dtype=_dtype(self, X), seed=int(seeds[0]))
        trainer = pynn.Trainer(
            model, loss="squared_error",
            optimizer=pynn.optimizers.Adam(lr=self.learning_rate_init),
            batch_size=min(self.batch_size, X.shape[0]),
            epochs=self.max_iter, shuffle=True, seed=int(seeds[1]),
            l2=self.alpha)
        history = trainer.fit(X, X)
        self.model_ = model
        self.loss_curve_ = [float(v) for v in history.loss]
        self.n_iter_ = len(self.loss_curve_)
        return self

    def transform(self, X):
        """The code of each row, shape (n, code size)."""
        X = self._validate_predict(X)
        return self.model_.encode(X).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """The decoder's reconstruction from codes X (n, code size)."""
        check_is_fitted(self)
        _refuse_sparse(X)
        from sklearn.utils import check_array
        C = check_array(X, dtype=(np.float64, np.float32))
        return self.model_.decode(C).astype(C.dtype, copy=False)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        k = self.model_.code_size
        return np.asarray([f"autoencodertransformer{i}" for i in range(k)],
                          dtype=object)
