"""pynn.sklearn against scikit-learn itself: the same trajectory, labels,
attributes and tools (Pipeline, GridSearchCV, cross_val_score, clone,
pickle/joblib, pandas, sparse input)."""
import pickle
import subprocess
import tempfile
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.7")

from sklearn import neural_network as skn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import pynn.sklearn as ps  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _rel(a_list, b_list):
    """Largest relative difference of corresponding arrays (by max |a|)."""
    return max(np.max(np.abs(a - b)) / np.max(np.abs(a))
               for a, b in zip(a_list, b_list))


def _pair(kind, X, y, sample_weight=None, **params):
    ours = getattr(ps, kind)(random_state=0, **params)
    theirs = getattr(skn, kind)(random_state=0, **params)
    ours.fit(X, y, sample_weight=sample_weight)
    theirs.fit(X, y, sample_weight=sample_weight)
    return ours, theirs


def _same_fit(ours, theirs, tol=1e-10):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert _rel(theirs.coefs_ + theirs.intercepts_,
                ours.coefs_ + ours.intercepts_) < tol
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_,
                               rtol=tol, atol=0)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=tol)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=tol)


SGD_SETTINGS = [
    dict(solver="sgd", learning_rate="constant", shuffle=False),
    dict(solver="sgd", learning_rate="constant", nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="constant", momentum=0.0),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1,
         power_t=0.3),
    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.2,
         tol=1e-2, n_iter_no_change=2, max_iter=60),
    dict(solver="adam", shuffle=False),
    dict(solver="adam", batch_size=64, beta_1=0.8, beta_2=0.99,
         epsilon=1e-6),
    dict(solver="adam", tol=1e-2, n_iter_no_change=3, max_iter=100),
]


@pytest.mark.parametrize("params", SGD_SETTINGS)
def test_classifier_trajectory_equals_sklearn(digits, params):
    X, y = digits
    params = {"max_iter": 25, "hidden_layer_sizes": (20,), **params}
    _same_fit(*_pair("MLPClassifier", X, y, **params))


@pytest.mark.parametrize("params", SGD_SETTINGS[::2])
@pytest.mark.parametrize("activation", ["logistic", "tanh", "identity"])
def test_regressor_trajectory_equals_sklearn(digits, params, activation):
    X, _ = digits
    Y = X @ np.random.default_rng(0).normal(size=(64, 3)) / 8
    params = {"max_iter": 20, "hidden_layer_sizes": (15, 7),
              "activation": activation, **params, "learning_rate_init": 0.01}
    _same_fit(*_pair("MLPRegressor", X, Y, **params))


def test_binary_multilabel_and_weighted_trajectory(digits):
    X, y = digits
    sw = np.random.default_rng(1).integers(0, 4, size=len(y)).astype(float)
    for target in (y % 2 == 0, np.stack([y % 2, y % 3 == 0, y > 4], axis=1)):
        _same_fit(*_pair("MLPClassifier", X, target, max_iter=15,
                         hidden_layer_sizes=(12,), solver="sgd"))
        _same_fit(*_pair("MLPClassifier", X, target, sample_weight=sw,
                         max_iter=15, hidden_layer_sizes=(12,)))


def test_early_stopping_equals_sklearn(digits):
    X, y = digits
    ours, theirs = _pair("MLPClassifier", X, y, early_stopping=True,
                         max_iter=40, hidden_layer_sizes=(20,),
                         n_iter_no_change=3, learning_rate_init=0.01)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.validation_scores_ == theirs.validation_scores_
    assert ours.best_validation_score_ == theirs.best_validation_score_
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    assert _rel(theirs.coefs_, ours.coefs_) < 1e-10


@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
def test_lbfgs_final_loss_equals_sklearn(digits, kind):
    X, y = digits
    target = y if kind == "MLPClassifier" else X[:, :2] + X[:, 10:12]
    ours, theirs = _pair(kind, X, target, solver="lbfgs", max_iter=60,
                         hidden_layer_sizes=(10,))
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    assert not hasattr(ours, "loss_curve_")


def test_partial_fit_equals_sklearn(digits):
    X, y = digits
    ours = ps.MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    theirs = skn.MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    classes = np.unique(y)
    for chunk in np.array_split(np.arange(len(y)), 4):
        ours.partial_fit(X[chunk], y[chunk], classes=classes)
        theirs.partial_fit(X[chunk], y[chunk], classes=classes)
    assert ours.t_ == theirs.t_ == len(y)
    assert _rel(theirs.coefs_, ours.coefs_) < 1e-10
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_,
                               rtol=1e-10)
    with pytest.raises(ValueError, match="classes"):
        ps.MLPClassifier().partial_fit(X, y)
    assert not hasattr(ps.MLPClassifier(solver="lbfgs"), "partial_fit")


def test_warm_start_continues(digits):
    X, y = digits
    est = ps.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5,
                           warm_start=True, random_state=0).fit(X, y)
    first = [c.copy() for c in est.coefs_]
    est.fit(X, y)
    ref = skn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5,
                            warm_start=True, random_state=0).fit(X, y).fit(X, y)
    assert _rel(ref.coefs_, est.coefs_) < 1e-10
    assert _rel(first, est.coefs_) > 1e-3


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"]), np.array([True, False]),
    np.array([-7, 30]), np.array(["a", "b"], dtype=object)])
def test_arbitrary_labels(digits, labels):
    X, y = digits
    yl = labels[y % len(labels)]
    ours, theirs = _pair("MLPClassifier", X, yl, max_iter=10,
                         hidden_layer_sizes=(10,))
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.predict(X).dtype == theirs.predict(X).dtype
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict_log_proba(X),
                               theirs.predict_log_proba(X), rtol=1e-9,
                               atol=1e-12)
    assert ours.score(X, yl) == theirs.score(X, yl)
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.n_layers_ == theirs.n_layers_ == 3
    assert ours.n_outputs_ == theirs.n_outputs_


@pytest.mark.parametrize("y", [
    np.array([3, 1, 2, 1, 3, 0]), np.array([5, -2, 5, 5], dtype=np.int8),
    np.array([7, 9, 9, 7], dtype=np.uint16), np.array([4, 4, 4]),
    np.array([[1], [0], [2], [1]]), np.array([1.0, 0.0, 2.0, 1.0]),
    np.array([True, False, True]), [2, 0, 1, 0], np.array([2, 0, 1])[::-1]])
@pytest.mark.filterwarnings("ignore:A column-vector y")
def test_label_encoding_equals_sklearn(y):
    """The integer-label shortcut of _validate_input gives scikit-learn's
    targets, classes_ and fitted LabelBinarizer (and the other inputs go
    through scikit-learn's own code), also on a second fit."""
    X = np.arange(2.0 * len(y)).reshape(len(y), 2)
    for warm_start in (False, True):
        ours = ps.MLPClassifier(warm_start=warm_start)
        theirs = skn.MLPClassifier(warm_start=warm_start)
        for _ in range(2):
            Xo, To = ours._validate_input(X, y, False, True)
            Xt, Tt = theirs._validate_input(X, y, False, True)
            np.testing.assert_array_equal(Xo, Xt)
            assert To.dtype == Tt.dtype and To.shape == Tt.shape
            np.testing.assert_array_equal(To, Tt)
            assert ours.classes_.dtype == theirs.classes_.dtype
            np.testing.assert_array_equal(ours.classes_, theirs.classes_)
            lo, lt = vars(ours._label_binarizer), vars(theirs._label_binarizer)
            assert lo.keys() == lt.keys()
            for key in lt:
                np.testing.assert_array_equal(lo[key], lt[key])
            np.testing.assert_array_equal(
                ours._label_binarizer.inverse_transform(Tt),
                theirs._label_binarizer.inverse_transform(Tt))


def test_label_encoding_errors_as_sklearn():
    """Bad targets fail with scikit-learn's exception on both paths."""
    X = np.zeros((4, 2))
    for y in (np.array([1, 2, 3]), np.array([1.5, 2.0, 1.0, 2.0])):
        for est in (ps.MLPClassifier(), skn.MLPClassifier()):
            with pytest.raises(ValueError) as err:
                est._validate_input(X, y, False, True)
        assert type(err.value) is ValueError


def test_multilabel_and_multioutput_shapes(digits):
    X, y = digits
    Y = np.stack([y % 2, y % 3 == 0], axis=1).astype(int)
    clf = ps.MLPClassifier(max_iter=5, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == Y.shape
    assert clf.predict_proba(X).shape == Y.shape
    assert clf.out_activation_ == "logistic"
    reg = ps.MLPRegressor(max_iter=5, random_state=0).fit(X, X[:, :4])
    assert reg.predict(X).shape == (len(X), 4)
    assert reg.predict(X[:3]).dtype == np.float64


def test_float32_preserved_and_dtype_option(digits):
    X, y = digits
    est = ps.MLPClassifier(max_iter=5, random_state=0).fit(
        X.astype(np.float32), y)
    assert est.coefs_[0].dtype == np.float32
    assert est.predict_proba(X.astype(np.float32)).dtype == np.float32
    est64 = ps.MLPRegressor(max_iter=5, random_state=0, dtype="float32").fit(
        X, X[:, 0])
    assert est64.coefs_[0].dtype == np.float32


def test_pynn_extras(digits):
    X, y = digits
    for activation in ("leaky_relu", ["tanh", "swish"]):
        est = ps.MLPClassifier(hidden_layer_sizes=(20, 10),
                               activation=activation, init="he_normal",
                               max_iter=60, learning_rate_init=0.01,
                               random_state=0).fit(X, y)
        assert est.score(X, y) > 0.9
    assert np.all(est.intercepts_[0] != 0)      # trained from b = 0
    with pytest.raises(ValueError, match="activation"):
        ps.MLPClassifier(activation="softmax").fit(X, y)
    with pytest.raises(ValueError, match="init"):
        ps.MLPClassifier(init="nope").fit(X, y)
    with pytest.raises(ValueError, match="activation lists 1"):
        ps.MLPClassifier(hidden_layer_sizes=(3, 3), activation=["tanh"]).fit(X, y)


def test_sklearn_tools(digits):
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = digits
    pipe = make_pipeline(StandardScaler(), ps.MLPClassifier(max_iter=30,
                                                            random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.95
    scores = cross_val_score(ps.MLPClassifier(max_iter=30, random_state=0,
                                              learning_rate_init=0.01),
                             X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7
    grid = GridSearchCV(ps.MLPClassifier(max_iter=20, random_state=0),
                        {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(8,),
                                                                       (32,)]},
                        cv=2, n_jobs=2).fit(X, y)
    assert set(grid.best_params_) == {"alpha", "hidden_layer_sizes"}
    assert isinstance(grid.best_estimator_, ps.MLPClassifier)
    assert grid.best_estimator_.predict(X).shape == y.shape
    c = clone(grid.best_estimator_)
    assert c.get_params() == grid.best_estimator_.get_params()
    assert not hasattr(c, "coefs_")


def test_pickle_and_joblib_round_trip(digits, tmp_path):
    import joblib
    X, y = digits
    est = ps.MLPClassifier(max_iter=10, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    joblib.dump(est, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    # training continues identically after the round trip
    est.partial_fit(X, y)
    again.partial_fit(X, y)
    np.testing.assert_array_equal(again.coefs_[0], est.coefs_[0])
    # coefs_ edited by hand are what predicts
    again.coefs_[1][...] = 0
    again.intercepts_[1][...] = 0
    np.testing.assert_allclose(again.predict_proba(X), 0.1)


def test_pandas_feature_names(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    df = pd.DataFrame(X[:, :5], columns=[f"f{i}" for i in range(5)])
    est = ps.MLPRegressor(max_iter=5, random_state=0).fit(df, pd.Series(X[:, 6]))
    assert list(est.feature_names_in_) == list(df.columns)
    assert est.n_features_in_ == 5
    est.predict(df)
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X[:, :5])
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[df.columns[::-1]])


def test_sparse_refused_with_sklearn_message(digits):
    import scipy.sparse as sp
    X, y = digits
    for est in (ps.MLPClassifier(max_iter=2), ps.Perceptron(),
                ps.AutoencoderTransformer(max_iter=2)):
        with pytest.raises(TypeError, match="Sparse data was passed"):
            est.fit(sp.csr_matrix(X), y)
    est = ps.MLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        est.predict(sp.csr_matrix(X))


def test_bad_input_names_argument(digits):
    X, y = digits
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ps.MLPClassifier().fit(Xn, y)
    with pytest.raises(ValueError, match="sample_weight"):
        ps.MLPClassifier().fit(X, y, sample_weight=np.ones(3))
    est = ps.MLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :10])


def test_import_pynn_does_not_import_sklearn():
    code = ("import sys, pynn; assert 'sklearn' not in sys.modules; "
            "assert 'pynn.sklearn' not in sys.modules; import pynn.sklearn; "
            "assert 'sklearn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=tempfile.gettempdir())   # not the checkout's source folder


# ------------------------------------------------------------ the rules
def test_rule_estimators_learn(digits):
    from sklearn.datasets import make_blobs, make_regression
    Xb, yb = make_blobs(200, centers=3, random_state=0)
    labels = np.array(["x", "y", "z"])[yb]
    for est in (ps.Perceptron(random_state=0), ps.Adaline()):
        est.fit(Xb, labels)
        assert est.score(Xb, labels) > 0.85
        assert est.coef_.shape == (3, 2)
    Xr, yr = make_regression(200, 4, noise=1.0, random_state=0)
    lms = ps.LMSRegressor().fit(Xr, yr)
    ref = np.linalg.lstsq(np.c_[Xr, np.ones(len(Xr))], yr, rcond=None)[0]
    np.testing.assert_allclose(lms.coef_[0], ref[:4], rtol=1e-4)
    assert ps.GeneralizedDeltaRegressor().fit(Xr, yr).score(Xr, yr) > 0.8


def test_hebbian_finds_first_principal_direction():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)) * [3.0, 1.0, 0.3] + 5
    h = ps.Hebbian(random_state=0, max_iter=200).fit(X)
    w = h.components_[0] / np.linalg.norm(h.components_[0])
    top = np.linalg.eigh(np.cov(X.T))[1][:, -1]
    assert abs(abs(w @ top) - 1) < 5e-3     # online: O(η) jitter
    assert h.transform(X).shape == (500, 1)


def test_autoencoder_transformer():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 2))
    X = Z @ rng.normal(size=(2, 6))
    ae = ps.AutoencoderTransformer(hidden_layer_sizes=(2,),
                                   activation="identity", max_iter=300,
                                   random_state=0).fit(X)
    C = ae.transform(X)
    assert C.shape == (300, 2)
    err = np.mean((ae.inverse_transform(C) - X) ** 2) / np.mean(X ** 2)
    assert err < 1e-3
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_readme_section_runs():
    """The code of README's "Use it from scikit-learn" runs as written."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    section = text.split("## Use it from scikit-learn", 1)[1].split("\n## ")[0]
    code = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(code) == 1
    out = subprocess.run([sys.executable, "-c", code[0]], check=True,
                         capture_output=True, text=True,
                         cwd=tempfile.gettempdir()).stdout.split("\n")
    assert float(out[0]) > 0.95
    assert out[1].startswith("{'alpha': ")


def test_rprop_solver(digits):
    X, y = digits
    est = ps.MLPClassifier(solver="rprop", hidden_layer_sizes=(20,),
                           max_iter=60, learning_rate_init=0.01,
                           random_state=0).fit(X, y)
    assert est.n_iter_ == len(est.loss_curve_) > 10
    assert est.loss_curve_[-1] < 0.2 * est.loss_curve_[0]
    assert est.score(X, y) > 0.95
    assert not hasattr(est, "partial_fit")
    # the same steps as pynn's RPROP driven by hand through the seam
    import pynn
    from pynn import _train
    from pynn._losses import Loss
    ref = ps.MLPClassifier(solver="rprop", hidden_layer_sizes=(20,),
                           max_iter=1, random_state=0).fit(X, y)
    ref_coefs = [c.copy() for c in ref._best_coefs]       # the initial W
    model = ref._model
    for layer, c, b in zip(model.layers, ref_coefs, ref._best_intercepts):
        layer.W[...] = c.T
        layer.b[...] = b
    T = np.eye(10)[y]
    opt = pynn.optimizers.RPROP(lr=0.01)
    for _ in range(5):
        _train.gradient(model._layout, model.params, model.grads, X, T,
                        Loss.CROSS_ENTROPY,
                        1e-4 / len(X), model._workspace(len(X)))
        opt.update(model)
    five = ps.MLPClassifier(solver="rprop", hidden_layer_sizes=(20,),
                            max_iter=5, learning_rate_init=0.01,
                            random_state=0).fit(X, y)
    np.testing.assert_allclose(five.coefs_[0], model.layers[0].W.T,
                               rtol=0, atol=1e-15)


def test_float32_trajectory_close_to_sklearn(digits):
    """The compiled updates in float32 follow scikit-learn's float32 run
    (which keeps float32 data in float32) to float32 rounding."""
    X, y = digits
    X = X.astype(np.float32)
    for solver in ("sgd", "adam"):
        ours, theirs = _pair("MLPClassifier", X, y, solver=solver, max_iter=10,
                             hidden_layer_sizes=(20,), shuffle=False)
        assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype == np.float32
        assert _rel(theirs.coefs_, ours.coefs_) < 1e-4
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_,
                                   rtol=1e-4)


@pytest.mark.parametrize("solver", ["momentum", "nesterov"])
def test_pynn_momentum_solvers_follow_their_equations(digits, solver):
    """solver="momentum"/"nesterov": v ← μv + g; w ← w − ηv, or
    w ← w − η(g + μv), from the same start as scikit-learn's
    initialisation, checked against those equations in NumPy."""
    from pynn import _train
    from pynn._losses import Loss
    X, y = digits
    T = np.eye(10)[y]
    params = dict(solver=solver, hidden_layer_sizes=(16,), batch_size=len(X),
                  shuffle=False, learning_rate_init=0.05, momentum=0.8,
                  alpha=1e-3, random_state=0)
    est = ps.MLPClassifier(**params, max_iter=1, warm_start=True).fit(X, y)
    rng = np.random.default_rng(3)          # a start of our own
    est.coefs_ = [rng.normal(0, 0.3, c.shape) for c in est.coefs_]
    est.intercepts_ = [rng.normal(0, 0.1, b.shape) for b in est.intercepts_]
    start = [c.copy() for c in est.coefs_ + est.intercepts_]
    est.set_params(max_iter=4).fit(X, y)    # a fresh optimiser (v = 0)
    model = ps.MLPClassifier(**params, max_iter=1).fit(X, y)._model
    for layer, c, b in zip(model.layers, start[:2], start[2:]):
        layer.W[...] = c.T
        layer.b[...] = b
    w = model.params
    v = np.zeros_like(w)
    losses = []
    for _ in range(4):
        total, _ = _train.gradient(model._layout, w, model.grads, X, T,
                                   Loss.CROSS_ENTROPY, 1e-3 / len(X),
                                   model._workspace(len(X)))
        W = np.concatenate([layer.W.ravel() for layer in model.layers])
        losses.append((total + 1e-3 * 0.5 * W @ W) / len(X))
        g = model.grads.copy()
        v = 0.8 * v + g
        w -= 0.05 * (v if solver == "momentum" else g + 0.8 * v)
    np.testing.assert_allclose(est.coefs_[0], model.layers[0].W.T,
                               rtol=1e-12, atol=1e-14)
    assert est.n_iter_ == 4
    np.testing.assert_allclose(est.loss_curve_[1:], losses, rtol=1e-12)


def test_optimizer_object_and_dropout(digits):
    import pynn
    X, y = digits
    opt = pynn.optimizers.Adam(lr=0.01)
    est = ps.MLPClassifier(optimizer=opt, hidden_layer_sizes=(32,),
                           max_iter=40, random_state=0).fit(X, y)
    assert opt.t == 0 and opt.state == []        # the estimator's copy trained
    assert est.score(X, y) > 0.95
    assert clone(est).get_params()["optimizer"] == opt
    # dropout: a different, reproducible trajectory that still learns
    base = dict(hidden_layer_sizes=(32, 16), max_iter=60,
                learning_rate_init=0.01, random_state=0)
    plain = ps.MLPClassifier(**base).fit(X, y)
    drop = ps.MLPClassifier(**base, dropout=[0.3, 0.0]).fit(X, y)
    again = ps.MLPClassifier(**base, dropout=[0.3, 0.0]).fit(X, y)
    assert _rel(plain.coefs_, drop.coefs_) > 1e-3
    assert _rel(drop.coefs_, again.coefs_) == 0
    assert drop.score(X, y) > 0.9
    zero = ps.MLPClassifier(**base, dropout=0.0).fit(X, y)
    assert _rel(plain.coefs_, zero.coefs_) == 0
    with pytest.raises(ValueError, match="dropout lists 1"):
        ps.MLPClassifier(hidden_layer_sizes=(3, 3), dropout=[0.1]).fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        ps.MLPClassifier(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="lbfgs"):
        ps.MLPClassifier(optimizer=pynn.optimizers.LBFGS()).fit(X, y)


def test_sklearn_form_update_kernel_refuses_rprop():
    from pynn import _train
    with pytest.raises(ValueError, match="rprop"):
        _train.Update(_train.Optimizer.RPROP, sklearn=True)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_fit_is_identical_on_any_thread_count(solver):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    fits = [ps.MLPClassifier(hidden_layer_sizes=(64,), solver=solver,
                             batch_size=300, max_iter=5, random_state=0,
                             n_threads=k).fit(X, y) for k in (1, 2, 3)]
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_,
                        other.coefs_ + other.intercepts_):
            assert a.tobytes() == b.tobytes()
