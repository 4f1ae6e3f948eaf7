"""Short epochs trained several to a compiled call (``run_batches(epochs=k)``,
``Trainer._epochs_per_call``) give exactly what one call per epoch gives.

A no-op callback makes the Trainer go back to one call per epoch (something
then runs between epochs), so each case fits twice from the same start, once
each way, and compares the parameters bit for bit and the history's lists
(``time`` aside) exactly.  A counter on ``_EpochRunner.epochs`` checks that
the first fit really took the several-epoch path.
"""
import numpy as np
import pytest

import pynn
from pynn import _train
from pynn import trainer as trainer_module
from pynn.exceptions import DivergenceError

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
XOR_T = np.array([[0], [1], [1], [0]], np.float64)


@pytest.fixture
def calls(monkeypatch):
    """Counts the several-epoch calls and the epochs they trained."""
    seen = {"calls": 0, "epochs": 0}
    original = trainer_module._EpochRunner.epochs

    def counted(self, run, k, lr):
        seen["calls"] += 1
        seen["epochs"] += k
        return original(self, run, k, lr)
    monkeypatch.setattr(trainer_module._EpochRunner, "epochs", counted)
    return seen


def _noop(epoch, logs, trainer):
    return None


def _fit_both(make_model, X, y, sample_weight=None, **kw):
    """(model, history) fitted without and with a no-op callback."""
    out = []
    for callbacks in (None, [_noop]):
        model = make_model()
        trainer = pynn.Trainer(model, callbacks=callbacks, n_threads=1, **kw)
        history = trainer.fit(X, y, sample_weight=sample_weight)
        out.append((model, trainer, history))
    return out


def _assert_same(a, b):
    (m1, t1, h1), (m2, t2, h2) = a, b
    np.testing.assert_array_equal(m1.params, m2.params)
    for key in ("loss", "accuracy", "lr", "val_loss", "val_accuracy"):
        assert getattr(h1, key) == getattr(h2, key), key
    assert len(h1.time) == len(h2.time) == len(h1.loss)
    assert all(t > 0 for t in h1.time)
    assert h1.stopped_reason == h2.stopped_reason
    assert t1.optimizer.t == t2.optimizer.t


CASES = {
    # name: (sizes, hidden, output, loss, trainer options, dtype)
    "fused sgd float32": ([2, 4, 1], "sigmoid", "sigmoid", "squared_error",
                          dict(optimizer="sgd", lr=0.5, batch_size=1,
                               shuffle=False), np.float32),
    "fused sgd shuffled": ([2, 4, 1], "sigmoid", "sigmoid", "squared_error",
                           dict(optimizer="sgd", lr=0.5, batch_size=1,
                                shuffle=True, seed=3), np.float32),
    "sgd float64 shuffled": ([2, 3, 1], "tanh", "sigmoid", "squared_error",
                             dict(optimizer="sgd", lr=0.3, batch_size=1,
                                  shuffle=True, seed=1), np.float64),
    "online adam": ([2, 4, 1], "tanh", "sigmoid", "squared_error",
                    dict(optimizer="adam", lr=0.05, batch_size=1,
                         shuffle=True, seed=2), np.float32),
    "online momentum": ([2, 4, 1], "relu", "identity", "squared_error",
                        dict(optimizer="momentum", lr=0.05, batch_size=1,
                             shuffle=False), np.float64),
    "mini-batch nesterov": ([2, 5, 1], "sigmoid", "sigmoid", "squared_error",
                            dict(optimizer="nesterov", lr=0.2, batch_size=3,
                                 shuffle=True, seed=4), np.float32),
    "full batch": ([2, 4, 1], "tanh", "sigmoid", "squared_error",
                   dict(optimizer="sgd", lr=0.5, batch_size=None),
                   np.float64),
}


@pytest.mark.parametrize("name", list(CASES))
def test_several_epochs_per_call_match_one_per_call(name, calls):
    sizes, hidden, output, loss, kw, dtype = CASES[name]
    X, T = XOR_X.astype(dtype), XOR_T.astype(dtype)
    runs = _fit_both(lambda: pynn.MLP(sizes, hidden=hidden, output=output,
                                      seed=0, dtype=dtype),
                     X, T, loss=loss, epochs=300, **kw)
    assert calls["calls"] >= 1 and calls["epochs"] > 100   # the fast path ran
    _assert_same(*runs)
    assert len(runs[0][2].loss) == 300


def test_classification_with_weights_and_accuracy(calls):
    X, y = pynn.datasets.load_digits(scale=True)
    X, y = X[:40].astype(np.float32), y[:40]
    w = np.linspace(0.5, 2.0, 40)
    runs = _fit_both(lambda: pynn.MLP([64, 8, 10], hidden="relu",
                                      output="softmax", seed=0,
                                      dtype=np.float32),
                     X, y, sample_weight=w, loss="cross_entropy",
                     optimizer="adam", lr=0.01, batch_size=4, epochs=60,
                     seed=5)
    assert calls["calls"] >= 1
    _assert_same(*runs)
    assert runs[0][2].accuracy and runs[0][2].accuracy[-1] > 0.5


def test_divergence_inside_a_call_restores_the_same_weights(calls):
    """A loss that grows ×~4 an epoch crosses the divergence ceiling in a
    later epoch: both paths raise for the same epoch, with the same
    history and the weights of the last epoch that ended within bounds."""
    X = np.linspace(-1, 1, 8).reshape(-1, 1)
    y = 3 * X[:, 0] + 1          # the bias error doubles each step (lr 3)
    outcomes = []
    for callbacks in (None, [_noop]):
        model = pynn.MLP([1, 1], output="identity", seed=0)
        trainer = pynn.Trainer(model, optimizer="sgd", lr=3.0, batch_size=8,
                               epochs=500, callbacks=callbacks, n_threads=1)
        with pytest.raises(DivergenceError) as info:
            trainer.fit(X, y)
        outcomes.append((model.params.copy(), info.value.history.loss,
                         str(info.value)))
    assert calls["calls"] >= 1
    (p1, l1, e1), (p2, l2, e2) = outcomes
    assert 5 < len(l1) < 100 and l1 == l2 and e1 == e2
    np.testing.assert_array_equal(p1, p2)
    assert np.isfinite(p1).all()


@pytest.mark.parametrize("option", [
    dict(verbose=1), dict(tol=1e-9), dict(lr_schedule="inverse_scaling"),
    dict(validation_data=True), dict(early_stopping=True)])
def test_per_epoch_work_keeps_one_epoch_per_call(option, calls, capsys):
    model = pynn.MLP([2, 3, 1], hidden="sigmoid", output="sigmoid", seed=0)
    option = dict(option)
    fit_kw = {}
    if option.pop("validation_data", False):
        fit_kw["validation_data"] = (XOR_X, XOR_T)
    trainer = pynn.Trainer(model, loss="squared_error", lr=0.5, batch_size=1,
                           epochs=50, n_threads=1, **option)
    trainer.fit(XOR_X, XOR_T, **fit_kw)
    assert calls["calls"] == 0


def _xor_call(epochs, order=None, ceiling=float("inf"), targets=XOR_T):
    model = pynn.MLP([2, 3, 1], hidden="sigmoid", output="sigmoid", seed=0)
    trainer = pynn.Trainer(model, loss="squared_error", lr=0.5, batch_size=1)
    data = _train.Batches(XOR_X.astype(np.float32),
                          targets.astype(np.float32), None, 1,
                          order is not None)
    data.set_order(order)
    records = np.full((epochs, 3), -1.0)
    snapshot = np.empty_like(model.params)
    res = _train.run_batches(
        model._layout, model.params, model.grads, data, 0, 4, 1,
        pynn.losses.get_loss("squared_error").code, 0,
        trainer.optimizer.kernel(0.0, None), 0.5,
        model._workspace(1), None, epochs=epochs, records=records,
        snapshot=snapshot, ceiling=ceiling)
    return res, records, snapshot, model


def test_run_batches_epochs_records_each_epoch():
    res, records, _, _ = _xor_call(5)
    assert res[3] == 20 and res[4] == 0          # 5 epochs of 4 samples
    assert (records[:, 1] == 4).all()            # Σ w of every epoch
    assert records[-1, 0] == res[0]              # the last epoch's Σ loss
    assert (records[:, 0] > 0).all()


def test_run_batches_epochs_stops_at_the_ceiling():
    res, records, snapshot, model = _xor_call(5, ceiling=1e-9)
    assert res[4] == 2 and res[3] == 4           # stopped after epoch 1
    assert records[0, 1] == 4 and (records[1:] == -1).all()
    start = pynn.MLP([2, 3, 1], hidden="sigmoid", output="sigmoid", seed=0)
    np.testing.assert_array_equal(snapshot, start.params)


def test_run_batches_epochs_stops_on_a_non_finite_loss():
    bad = XOR_T.copy()
    bad[2, 0] = np.nan
    res, records, _, _ = _xor_call(3, targets=bad)
    assert res[4] == 1 and res[3] == 2           # two samples, then the NaN
    assert (records == -1).all()


@pytest.mark.parametrize("kw, message", [
    (dict(epochs=0), "epochs"),
    (dict(epochs=2, records=np.zeros((1, 3))), "records"),
    (dict(epochs=2, records=np.zeros((2, 3))), "snapshot"),
])
def test_run_batches_epochs_checks_its_arguments(kw, message):
    model = pynn.MLP([2, 3, 1], hidden="sigmoid", output="sigmoid", seed=0)
    trainer = pynn.Trainer(model, loss="squared_error", lr=0.5, batch_size=1)
    data = _train.Batches(XOR_X.astype(np.float32),
                          XOR_T.astype(np.float32), None, 1, False)
    with pytest.raises(ValueError, match=message):
        _train.run_batches(model._layout, model.params, model.grads, data, 0,
                           4, 1, 0, 0, trainer.optimizer.kernel(0.0, None),
                           0.5, model._workspace(1), None, **kw)


def test_run_batches_epochs_needs_one_permutation_per_epoch():
    with pytest.raises(ValueError, match="one permutation per epoch"):
        _xor_call(2, order=np.array([0, 1, 2, 3, 0], np.intp))


def test_ctrl_c_stops_a_fit_of_short_epochs_soon(calls):
    """A real SIGINT during a long fit of short epochs: the compiled calls
    are short, so fit returns the History (interrupted, lists of one
    length) long before its epochs are done, with finite weights."""
    import os
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    model = pynn.MLP([2, 4, 1], hidden="sigmoid", output="sigmoid", seed=0)
    trainer = pynn.Trainer(model, loss="squared_error", lr=0.5, batch_size=1,
                           epochs=10**8, n_threads=1)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        history = trainer.fit(XOR_X, XOR_T)
    finally:
        timer.cancel()
    assert calls["calls"] >= 1
    assert history.interrupted and history.stopped_reason == "interrupted"
    assert 0 < history.epochs < 10**8
    assert {len(history.loss), len(history.lr), len(history.time)} == \
        {history.epochs}
    assert np.isfinite(model.params).all()


def test_chunked_batches_on_several_threads_match_too(calls):
    """Batches large enough to be cut into chunks on pynn's threads: the
    several-epoch path gives the one-call-per-epoch bits on 1, 2 and 3
    threads (item 1's identity holds through it)."""
    X, y = pynn.datasets.load_digits(dtype=np.float32, scale=True)
    results = []
    for n_threads in (1, 2, 3):
        for callbacks in (None, [_noop]):
            model = pynn.MLP([64, 128, 128, 10], hidden="relu",
                             output="softmax", seed=0)
            history = pynn.Trainer(
                model, loss="cross_entropy", optimizer="momentum", lr=0.05,
                batch_size=512, epochs=30, seed=0, n_threads=n_threads,
                callbacks=callbacks).fit(X, y)
            results.append((model.params, history.loss))
    assert calls["calls"] >= 3
    for params, loss in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        assert loss == results[0][1]
