"""Pickling and deep copies of Model, MLP and Autoencoder (issue 12, item 8).

The state is the architecture description + parameters + gradients + the
initialisers (a registered name, or the callable itself) — never the
compiled layout.  After a round trip: the same class and architecture,
bit-identical parameters, predictions and training-mode losses, layer views
into the new model's own buffer, and continued training that stays
bit-identical to the original's.
"""
import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import _network


def scaled_init(rng, n_out, n_in):
    """A custom (module-level, hence picklable) initialiser."""
    return rng.uniform(-0.3, 0.3, size=(n_out, n_in))


def _models():
    return {
        "mlp32": lambda: pynn.MLP([5, 7, 3], hidden="tanh", output="softmax",
                                  seed=1),
        "mlp64_he": lambda: pynn.MLP([5, 6, 4, 3], hidden="relu",
                                     output="softmax", dtype="float64",
                                     seed=2, init="he"),
        "model_dropout_noise": lambda: pynn.Model(
            [pynn.GaussianNoise(0.1), pynn.Dense(5, 6, "leaky_relu", 0.2),
             pynn.Dropout(0.3), pynn.Dense(6, 6, "gaussian", 1.5,
                                           init=scaled_init),
             pynn.Dense(6, 3, "softmax")], dtype="float64", seed=3,
            init="glorot_uniform"),
        "ae_tied_kl64": lambda: pynn.Autoencoder(
            [5, 4, 2], tied=True, sparsity=pynn.KLSparsity(0.1, 0.5),
            input_dropout=0.2, input_noise=0.05, code_dropout=0.1,
            dtype="float64", seed=4),
        "ae_l1_32": lambda: pynn.Autoencoder(
            [5, 3], sparsity=pynn.L1Activity(0.01), input_dropout=0.25,
            output="identity", seed=5, init=scaled_init),
    }


def _loss(model):
    if isinstance(model, pynn.Autoencoder):
        return "squared_error" if model.layers[-1].activation.name == \
            "identity" else "binary_cross_entropy"
    return "cross_entropy"


def _data(model, n=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, model.n_inputs))
    T = X if isinstance(model, pynn.Autoencoder) else rng.integers(
        0, model.n_outputs, n)
    return X, T


def _used(model):
    """A model that has trained a little (non-initial params, live grads)."""
    X, T = _data(model, seed=1)
    for i in range(3):
        model.train_step(X, T, _loss(model), lr=0.05, noise_seed=i)
    model.backward(X, T, _loss(model), noise_seed=7)
    return model


ROUND_TRIPS = {
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "pickle_protocol0": lambda m: pickle.loads(pickle.dumps(m, protocol=0)),
    "pickle_protocol2": lambda m: pickle.loads(pickle.dumps(m, protocol=2)),
    # a shallow copy cannot share the buffer (the layer views belong to one
    # model): it is an independent model too
    "shallow_copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "copy_method": lambda m: m.copy(),
}


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("name", sorted(_models()))
def test_round_trip_is_exact(name, how):
    model = _used(_models()[name]())
    dup = ROUND_TRIPS[how](model)
    assert type(dup) is type(model) and dup is not model
    assert dup.architecture() == model.architecture()
    assert dup.dtype == model.dtype
    assert dup.params.tobytes() == model.params.tobytes()
    assert dup.grads.tobytes() == model.grads.tobytes()
    X, T = _data(model, seed=2)
    assert dup(X).tobytes() == model(X).tobytes()
    loss = _loss(model)
    assert dup.loss(X, T, loss, noise_seed=3) == model.loss(X, T, loss,
                                                            noise_seed=3)
    if isinstance(model, pynn.Autoencoder):
        assert (dup.code_size, dup.n_encoder_layers, dup.tied) == \
            (model.code_size, model.n_encoder_layers, model.tied)
        assert dup.encode(X).tobytes() == model.encode(X).tobytes()


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("name", sorted(_models()))
def test_views_point_into_the_new_buffers(name, how):
    model = _used(_models()[name]())
    dup = ROUND_TRIPS[how](model)
    assert not np.shares_memory(dup.params, model.params)
    assert not np.shares_memory(dup.grads, model.grads)
    for a, b in zip(model.layers, dup.layers):
        assert a is not b
        assert np.shares_memory(b.W, dup.params)
        assert np.shares_memory(b.b, dup.params)
        assert np.shares_memory(b.dW, dup.grads)
        assert (a.tied_to is None) == (b.tied_to is None)
        if b.tied_to is not None:
            assert any(b.tied_to is d for d in dup.layers)
            assert np.shares_memory(b.W, b.tied_to.W)
    before = model.params.copy()
    dup.layers[0].W[0, 0] += 1.0
    dup.layers[-1].b[0] -= 1.0
    assert model.params.tobytes() == before.tobytes()
    assert dup.params[0] == before[0] + 1


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("name", sorted(_models()))
def test_continued_training_is_bit_identical(name, how):
    model = _used(_models()[name]())
    dup = ROUND_TRIPS[how](model)
    X, T = _data(model, seed=4)
    loss = _loss(model)
    for step in range(5):
        a = model.train_step(X, T, loss, lr=0.1, noise_seed=step)
        b = dup.train_step(X, T, loss, lr=0.1, noise_seed=step)
        assert a == b
    assert dup.params.tobytes() == model.params.tobytes()
    # and through the Trainer (dropout/noise masks from its seed)
    ha = pynn.Trainer(model, loss=loss, optimizer="adam", lr=1e-2,
                      batch_size=4, epochs=3, seed=0).fit(X, T)
    hb = pynn.Trainer(dup, loss=loss, optimizer="adam", lr=1e-2,
                      batch_size=4, epochs=3, seed=0).fit(X, T)
    assert ha.loss == hb.loss
    assert dup.params.tobytes() == model.params.tobytes()


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
def test_initialisers_survive(how):
    model = _models()["model_dropout_noise"]()
    dup = ROUND_TRIPS[how](model)
    assert dup.init is pynn.init.glorot_uniform
    assert dup.layers[1].init is scaled_init
    assert dup.layers[0].init is None
    model.initialize(seed=11)
    dup.initialize(seed=11)
    assert dup.params.tobytes() == model.params.tobytes()
    he = ROUND_TRIPS[how](pynn.MLP([3, 4, 2], init="he", seed=0))
    assert he.init is pynn.init.he_normal


def test_state_is_plain_data_and_parameters_not_the_compiled_layout():
    model = _used(_models()["ae_tied_kl64"]())
    state = model.__getstate__()
    assert set(state) == {"architecture", "params", "grads", "init",
                          "layer_inits", "attributes"}
    assert state["init"] == "glorot_normal" and state["layer_inits"] == \
        [None] * len(model.layers)

    def walk(obj):
        assert not isinstance(obj, (_network.Layout,)), obj
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)
    walk(state)
    assert state["params"].tobytes() == model.params.tobytes()
    assert not np.shares_memory(state["params"], model.params)


def test_autoencoder_attributes_survive():
    X = np.eye(6)
    ae = pynn.Autoencoder([6, 3], dtype="float64", seed=0)
    ae.history_ = pynn.Trainer(ae, loss="binary_cross_entropy", lr=0.5,
                               epochs=2, seed=0).fit(X, X)
    ae.stage_loss_ = (1.0, 0.5)
    for dup in (pickle.loads(pickle.dumps(ae)), copy.deepcopy(ae)):
        assert dup.history_.loss == ae.history_.loss
        assert dup.history_ is not ae.history_
        assert dup.stage_loss_ == (1.0, 0.5)


def test_unpicklable_custom_init_fails_clearly_but_deepcopies():
    model = pynn.MLP([3, 2], seed=0, init=lambda rng, o, i: np.zeros((o, i)))
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(model)
    dup = copy.deepcopy(model)         # functions are copied by reference
    assert dup.init is model.init
    assert dup.params.tobytes() == model.params.tobytes()


def test_pickle_loads_in_a_fresh_interpreter(tmp_path):
    model = _used(_models()["ae_tied_kl64"]())
    X, _ = _data(model, seed=9)
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X)
    code = ("import pickle, sys, numpy as np\n"
            "m = pickle.loads(open(sys.argv[1], 'rb').read())\n"
            "np.save(sys.argv[3], m(np.load(sys.argv[2])))\n"
            "print(type(m).__name__, m.tied, m.code_size)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.pkl"),
                          str(tmp_path / "X.npy"), str(tmp_path / "Y.npy")],
                         capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)      # not the checkout's source folder
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Autoencoder", "True", "2"]
    assert np.load(tmp_path / "Y.npy").tobytes() == model(X).tobytes()


def test_bad_state_is_refused():
    model = pynn.MLP([3, 2], seed=0)
    state = model.__getstate__()
    fresh = pynn.MLP.__new__(pynn.MLP)
    with pytest.raises(ValueError, match="params must have shape"):
        fresh.__setstate__({**state, "params": np.zeros(1)})
    with pytest.raises(ValueError, match="dtype"):
        fresh.__setstate__({**state, "architecture": {
            **state["architecture"], "dtype": "int8"}})
