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
