"""Import a fitted scikit-learn multilayer perceptron.

scikit-learn's MLPClassifier / MLPRegressor compute, for each layer ℓ,
``a_ℓ = φ_ℓ(a_{ℓ−1} C_ℓ + c_ℓ)`` with ``C_ℓ = coefs_[ℓ]`` of shape
(n_in, n_out) and ``c_ℓ = intercepts_[ℓ]``; the hidden φ is ``activation``
and the last one ``out_activation_``.  That is pynn's ``u = W z + b`` with
``W = C_ℓᵀ``, ``b = c_ℓ`` and the activations

=================  ===============
scikit-learn       pynn
=================  ===============
identity           identity
logistic           sigmoid
tanh               tanh
relu               relu
softmax            softmax
=================  ===============
"""
import numpy as np

from pynn.interop._common import build_model

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh",
                "relu": "relu", "softmax": "softmax"}


def from_sklearn(estimator, dtype=None):
    """A pynn Model computing the network of a fitted MLPClassifier/Regressor.

    ``model(X)`` equals the estimator's network output: ``predict`` of a
    regressor (as an (n, n_outputs) array), ``predict_proba`` of a
    multi-class classifier (softmax), ``predict_proba(X)[:, 1:]`` of a binary
    one (one sigmoid output: the probability of ``classes_[1]``), and the
    per-label probabilities of a multi-label one.  Class labels stay with
    the estimator: row i's class is ``estimator.classes_[argmax model(X)[i]]``
    (binary: ``classes_[int(model(X)[i, 0] > 0.5)]``).

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        Fitted (it has ``coefs_``).
    dtype : {"float32", "float64"}, optional
        Of the returned model; default the dtype of ``estimator.coefs_``
        (scikit-learn fits in float32 when given float32 data).

    Returns
    -------
    pynn.Model
    """
    try:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    except ImportError:
        raise ImportError("from_sklearn needs scikit-learn: pip install "
                          "scikit-learn") from None
    if not isinstance(estimator, (MLPClassifier, MLPRegressor)):
        raise TypeError("estimator must be a scikit-learn MLPClassifier or "
                        f"MLPRegressor, got {type(estimator).__name__}")
    coefs = getattr(estimator, "coefs_", None)
    intercepts = getattr(estimator, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise ValueError("estimator is not fitted (no coefs_): call fit first")
    if len(coefs) != len(intercepts) or not coefs:
        raise ValueError("estimator has inconsistent coefs_ / intercepts_")
    if dtype is None:
        dtype = np.asarray(coefs[0]).dtype
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    acts = [estimator.activation] * (len(coefs) - 1) + [estimator.out_activation_]
    layers = []
    for i, (C, c, act) in enumerate(zip(coefs, intercepts, acts)):
        C, c = np.asarray(C, dtype=np.float64), np.asarray(c, dtype=np.float64)
        if act not in _ACTIVATIONS:
            raise ValueError(f"layer {i}: unknown scikit-learn activation {act!r}")
        if C.ndim != 2 or c.shape != (C.shape[1],) or (
                layers and layers[-1][0].shape[0] != C.shape[0]):
            raise ValueError(f"estimator.coefs_[{i}] has shape {C.shape}, "
                             "inconsistent with its neighbours")
        layers.append((C.T, c, _ACTIVATIONS[act], None))
    return build_model(layers, np.dtype(dtype).name)
