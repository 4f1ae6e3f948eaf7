"""scikit-learn estimators for radial-basis-function networks.

=============  ===========================================================
RBFRegressor   y = W φ(x) + b, φ_j(x) = exp(−β_j ‖x − c_j‖²)
RBFClassifier  p = softmax(W φ(x) + b), labels through ``classes_``
=============  ===========================================================

Both wrap ``pynn.RBFNetwork`` (fitted, in ``model_``): centres from
k-means++ (or sampled rows), a common initial width from their spread,
then the output layer by least squares / the Trainer ("two_stage") or
everything by backpropagation ("end_to_end", the default).  ``n_centers``
larger than the number of samples is reduced to it.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from pynn.rbf import RBFNetwork
from pynn.sklearn._mlp import _refuse_sparse
from pynn.sklearn._rules import _DenseEstimator, _seed

_DOC = """
    Parameters
    ----------
    n_centers : int, default=10
        Number of radial units k (at most the number of samples is used).
    init : {{"kmeans++", "sample"}}, default="kmeans++"
        Initial centres: k-means++ clustering or k random rows of X.
    beta : float > 0 or None, default=None
        Initial width of every unit; None: β = k / d_max² (d_max the largest
        distance between two centres).
    training : {{"end_to_end", "two_stage"}}, default="end_to_end"
        "two_stage" fits only the output layer on the fixed features;
        "end_to_end" then trains centres, widths and weights together.
    learning_rate_init : float, default=0.01
        Adam's step size.
    max_iter : int, default={max_iter}
        Training epochs (full batch).
    random_state : int, RandomState or None, default=None
    dtype : {{"auto", "float32", "float64"}}, default="auto"
        Computation dtype ("auto": that of X).

    Attributes
    ----------
    model_ : pynn.RBFNetwork
    centers_ (k, n_features), beta_ (k,), n_features_in_{extra}
    n_iter_ : int
        Epochs of end-to-end training (1 for "two_stage").
"""


class _RBFEstimator(_DenseEstimator):
    _parameter_constraints = {
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"kmeans++", "sample"})],
        "beta": [Interval(Real, 0, None, closed="neither"), None],
        "training": [StrOptions({"end_to_end", "two_stage"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
    }

    def __init__(self, n_centers=10, *, init="kmeans++", beta=None,
                 training="end_to_end", learning_rate_init=0.01,
                 max_iter=500, random_state=None, dtype="auto"):
        self.n_centers = n_centers
        self.init = init
        self.beta = beta
        self.training = training
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.dtype = dtype

    def _fit_network(self, X, y, output):
        dtype = X.dtype.name if self.dtype == "auto" else self.dtype
        self.model_ = RBFNetwork(
            min(self.n_centers, X.shape[0]), output=output, init=self.init,
            beta=self.beta, training=self.training,
            lr=self.learning_rate_init, epochs=self.max_iter, dtype=dtype,
            seed=_seed(self.random_state)).fit(X, y)
        self.centers_ = self.model_.centers_
        self.beta_ = self.model_.beta_
        history = self.model_.history_
        self.n_iter_ = 1 if history is None else len(history.loss)
        return self


class RBFRegressor(RegressorMixin, _RBFEstimator):
    __doc__ = ("A radial-basis-function network for regression, "
               "y = W φ(x) + b with φ_j(x) = exp(−β_j ‖x − c_j‖²), "
               "trained on the mean squared error ½‖y − t‖².\n"
               + _DOC.format(max_iter=500, extra=""))

    def fit(self, X, y):
        """Train on X (n, n_features) and targets y (n,) or (n, k)."""
        self._validate_params()
        _refuse_sparse(X)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32),
                             y_numeric=True, multi_output=True)
        return self._fit_network(X, y, "linear")

    def predict(self, X):
        """W φ(x) + b, shape (n,) or (n, k) as y in ``fit``."""
        X = self._validate_predict(X)
        return np.asarray(self.model_.predict(X), dtype=np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class RBFClassifier(ClassifierMixin, _RBFEstimator):
    __doc__ = ("A radial-basis-function network classifier, "
               "p = softmax(W φ(x) + b) with φ_j(x) = exp(−β_j ‖x − c_j‖²), "
               "trained on the cross-entropy −Σ_c t_c log p_c.\n"
               + _DOC.format(max_iter=500, extra=", classes_"))

    def fit(self, X, y):
        """Train on X (n, n_features) and class labels y (n,)."""
        self._validate_params()
        _refuse_sparse(X)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if len(self.classes_) < 2:
            raise ValueError("RBFClassifier needs samples of at least two "
                             f"classes; got one class ({self.classes_[0]!r})")
        return self._fit_network(X, enc.transform(y), "softmax")

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in ``classes_`` order."""
        X = self._validate_predict(X)
        return np.asarray(self.model_.predict_proba(X), dtype=np.float64)

    def predict(self, X):
        """The class of the largest probability (the first on ties)."""
        P = self.predict_proba(X)          # checks fitted first
        return self.classes_[P.argmax(axis=1)]
