"""Models and trainers cross process boundaries by pickling: training in
joblib's loky workers (what GridSearchCV uses) gives the same bits as in
this process."""
import numpy as np
import pytest

import pynn

joblib = pytest.importorskip("joblib")


def train(trainer, X, y):
    trainer.fit(X, y)
    return trainer.model


def test_fit_in_loky_workers_equals_in_process():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    trainers = [pynn.Trainer(pynn.MLP([4, 6, 2], hidden="tanh",
                                      output="softmax", seed=s),
                             loss="cross_entropy", optimizer=opt, lr=0.05,
                             batch_size=8, epochs=3, seed=s)
                for s, opt in enumerate(["sgd", "adam", "momentum"])]
    with joblib.parallel_config(backend="loky", n_jobs=2):
        remote = joblib.Parallel()(joblib.delayed(train)(t, X, y)
                                   for t in trainers)
    for t, m in zip(trainers, remote):
        assert m is not t.model          # came back through pickling
        local = train(t, X, y)
        assert m.params.tobytes() == local.params.tobytes()
        np.testing.assert_array_equal(m.forward(X), local.forward(X))


def test_grid_search_over_loky_workers():
    """GridSearchCV with joblib's loky backend (process-based: every
    estimator is pickled to a worker and back) gives the scores and the
    refitted model of the in-process search."""
    sk = pytest.importorskip("sklearn.model_selection")
    from pynn.sklearn import MLPClassifier
    X, y = pynn.datasets.load_digits(scale=True)
    X, y = X[:300], y[:300]
    grid = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-2]}
    est = MLPClassifier(max_iter=15, random_state=0, batch_size=32,
                        learning_rate_init=0.01)
    results = []
    for backend, n_jobs in (("loky", 2), ("sequential", 1)):
        with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
            search = sk.GridSearchCV(est, grid, cv=3).fit(X, y)
        results.append(search)
    remote, local = results
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X),
                                  local.predict_proba(X))
    assert remote.best_score_ > 0.5
