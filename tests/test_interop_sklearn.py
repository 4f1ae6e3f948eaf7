"""from_sklearn: the pynn model reproduces scikit-learn's own predictions."""
import warnings

import numpy as np
import pytest

import pynn
from pynn.interop import from_sklearn

nn = pytest.importorskip("sklearn.neural_network")
RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def fitted(kind, activation, dtype, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 5)).astype(dtype)
    est_cls = nn.MLPClassifier if kind == "clf" else nn.MLPRegressor
    if kind == "clf":
        y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) if n_out == 2 else \
            np.digitize(X[:, 0] + X[:, 2], [-0.7, 0, 0.7])
    elif kind == "multilabel":
        est_cls = nn.MLPClassifier
        y = np.c_[X[:, 0] > 0, X[:, 1] > 0.3, X[:, 2] * X[:, 3] > 0].astype(int)
    else:
        y = np.c_[X[:, 0] * X[:, 1], np.sin(X[:, 2])][:, :n_out].squeeze()
    est = est_cls(hidden_layer_sizes=(7, 4), activation=activation,
                  max_iter=20, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # ConvergenceWarning
        est.fit(X, y)
    Xt = np.concatenate([np.zeros((3, 5)), rng.normal(size=(50, 5)),
                         40 * rng.normal(size=(10, 5))]).astype(dtype)
    return est, Xt


def expected(est, X):
    if isinstance(est, nn.MLPRegressor):
        return est.predict(X).reshape(len(X), -1)
    p = est.predict_proba(X)
    return p[:, 1:] if est.out_activation_ == "logistic" and p.shape[1] == 2 \
        and est.n_outputs_ == 1 else p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind,n_out", [("clf", 2), ("clf", 4), ("multilabel", 3),
                                        ("reg", 1), ("reg", 2)])
def test_same_predictions(kind, n_out, activation, dtype):
    est, X = fitted(kind, activation, dtype, n_out)
    model = from_sklearn(est)
    assert model.dtype == dtype
    want = expected(est, X)
    got = model(X)
    assert got.shape == want.shape
    scale = max(1.0, np.abs(want).max())
    assert np.max(np.abs(got - want)) / scale <= RTOL[dtype]
    if kind == "clf":
        labels = est.classes_[np.argmax(got, 1)] if n_out > 2 else \
            est.classes_[(got[:, 0] > 0.5).astype(int)]
        np.testing.assert_array_equal(labels, est.predict(X))


def test_dtype_override_and_errors():
    est, X = fitted("reg", "tanh", np.float64, 1)
    assert from_sklearn(est, dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="not fitted"):
        from_sklearn(nn.MLPRegressor())
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        from_sklearn(pynn.MLP([2, 1]))
    est.coefs_ = [est.coefs_[0], est.coefs_[0]]
    with pytest.raises(ValueError, match="inconsistent"):
        from_sklearn(est)
