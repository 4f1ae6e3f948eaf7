"""The training kernels' floating-point environment (csrc/_fpenv.pxd).

Training entry points run with subnormals flushed to zero (FTZ) and read as
zero (DAZ), round-to-nearest and every exception masked, and give the
caller back its own MXCSR on every way out; inference (Model.forward,
validation losses) computes in the caller's state.  The state is read and
set here through glibc's fegetenv/fesetenv (the x86-64 fenv_t ends with
the MXCSR), independently of pynn.
"""
import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pynn
from pynn import _madaline, _network, _simd, _train
from pynn.losses import get_loss

X86_64_GLIBC = (sys.platform.startswith("linux")
                and platform.machine() in ("x86_64", "AMD64")
                and platform.libc_ver()[0] == "glibc")
pytestmark = pytest.mark.skipif(not X86_64_GLIBC,
                                reason="MXCSR via glibc fenv_t: x86-64 Linux only")

DEFAULT = 0x1F80        # round to nearest, all exceptions masked, no flags
FTZ_DAZ = 0x8040
UPWARD = 0x4000         # rounding-control bits 13-14 = 10: toward +inf
CONTROL = 0xFFC0        # everything but the six sticky exception flags


class _FEnv(ctypes.Structure):
    # glibc x86-64 fenv_t: the 28-byte x87 environment, then the MXCSR.
    _fields_ = [("x87", ctypes.c_uint8 * 28), ("mxcsr", ctypes.c_uint32)]


_libm = ctypes.CDLL(ctypes.util.find_library("m")) if X86_64_GLIBC else None


def get_mxcsr():
    env = _FEnv()
    assert _libm.fegetenv(ctypes.byref(env)) == 0
    return env.mxcsr


def set_mxcsr(value):
    env = _FEnv()
    assert _libm.fegetenv(ctypes.byref(env)) == 0
    env.mxcsr = value
    assert _libm.fesetenv(ctypes.byref(env)) == 0
    assert get_mxcsr() == value


@pytest.fixture
def caller_state():
    """Set a caller MXCSR for the test; the default one is back afterwards."""
    saved = get_mxcsr()
    yield set_mxcsr
    set_mxcsr(saved)


TINY32 = np.float32(1e-39)          # subnormal in float32


def test_the_helpers_see_the_real_state(caller_state):
    caller_state(DEFAULT)
    assert TINY32 * np.float32(0.5) != 0          # subnormals computed
    caller_state(DEFAULT | FTZ_DAZ)
    assert TINY32 * np.float32(0.5) == 0          # flushed
    caller_state(DEFAULT)
    assert _train.FLUSHES_SUBNORMALS


# ------------------------------------------------------------- entry points
def small_net(dtype="float32", seed=0):
    return pynn.MLP([6, 5, 3], hidden="tanh", output="softmax", dtype=dtype,
                    seed=seed)


def data(n=24, dtype="float32"):
    rng = np.random.default_rng(0)
    X = rng.random((n, 6)).astype(dtype)
    y = rng.integers(0, 3, n)
    return X, y, np.eye(3, dtype=dtype)[y]


INFERENCE = {"network.forward", "train.evaluate"}


def kernel_calls():
    """Each compiled entry point, called directly (nothing but the kernel
    does floating-point work between the MXCSR reads)."""
    X, y, T = data()
    model = small_net()
    L = get_loss("cross_entropy")
    work = model._workspace(X.shape[0])
    out = np.empty_like(X)
    opt = pynn.optimizers.get_optimizer("adam", 0.01)
    opt.init(model.params.size, model.params.dtype)
    upd = opt.kernel(0.0, None)
    upd_clip = opt.kernel(1e-3, 0.1)
    batches = _train.Batches(X, T, None, 4, False)
    Xm = np.ascontiguousarray(np.where(X[:, :2] > 0.5, 1.0, -1.0))
    tm = np.ascontiguousarray(Xm[:, 0])
    Wm, bm = np.full((2, 2), 0.1), np.zeros(2)
    Um = np.empty((Xm.shape[0], 2))
    rules = _simd.load("_rules")
    Xr = np.ascontiguousarray(X[:10, :3].astype(np.float64))
    Tr = (Xr[:, :1] > 0.5).astype(np.float64)
    Wr, br = np.zeros((1, 3)), np.zeros(1)
    calls = {
        "network.forward": lambda: _network.forward(
            model._layout, model.params, X, work),
        "network.backward": lambda: _network.backward(
            model._layout, model.params, X, T, L.code, _network.BackwardMode.GRADIENT, 0.0,
            model.grads, out, work),
        "network.backward.sgd": lambda: _network.backward(
            model._layout, model.params, X, T, L.code, _network.BackwardMode.SGD_UPDATE,
            0.1, model.grads, out, work, 3),
        "train.run_batches.online": lambda: _train.run_batches(
            model._layout, model.params, model.grads, batches, 0, 24, 1,
            L.code, L.accuracy, upd, 0.01, work),
        "train.run_batches.minibatch": lambda: _train.run_batches(
            model._layout, model.params, model.grads, batches, 0, 24, 4,
            L.code, L.accuracy, upd_clip, 0.01, work),
        "train.gradient": lambda: _train.gradient(
            model._layout, model.params, model.grads, X, T, L.code, 1e-3, work),
        "train.step": lambda: _train.step(
            model._layout, model.params, model.grads, upd, 0.01),
        "train.evaluate": lambda: _train.evaluate(
            model._layout, model.params, X, T, L.code, L.accuracy, 8, work),
        "rules.fit_epochs": lambda: rules.fit_epochs(2, Xr, Tr, Wr, br, 0.1, 3),
        "rules.forward": lambda: rules.forward(Xr, Wr, br, np.empty((10, 1))),
        "madaline.fit_mrii": lambda: _madaline.fit_mrii(0, Xm, tm, Wm, bm,
                                                        0.5, 3),
        "madaline.forward": lambda: _madaline.forward(0, Xm, Wm, bm, Um),
    }
    return calls


@pytest.mark.parametrize("state", [DEFAULT, DEFAULT | FTZ_DAZ, DEFAULT | UPWARD,
                                   DEFAULT | 0x20],     # precision flag set
                         ids=["default", "ftz-daz", "upward", "flag-set"])
def test_every_entry_point_restores_the_callers_mxcsr(caller_state, state):
    """Training entry points give back the exact MXCSR (the flags they
    raised inside vanish); inference ones run in it (their own flags may
    stick, as NumPy's do), so only its control bits are compared."""
    calls = kernel_calls()
    for name, call in calls.items():
        caller_state(state)
        call()
        got = get_mxcsr()
        mask = CONTROL if name in INFERENCE else 0xFFFF
        assert got & mask == state & mask, \
            f"{name}: MXCSR {got:#06x}, caller had {state:#06x}"


def test_the_kernels_clear_their_own_exception_flags(caller_state):
    """Training raises inexact/underflow flags inside; the caller's clear
    flags come back (the whole MXCSR is restored, not only the mode bits)."""
    calls = kernel_calls()
    caller_state(DEFAULT)
    calls["train.run_batches.online"]()
    assert get_mxcsr() == DEFAULT


def test_public_api_keeps_the_callers_control_bits(caller_state):
    """Through Trainer, Model, the rules and Madaline (NumPy work between
    the kernels may set sticky flags, so the control bits are compared)."""
    X, y, T = data()
    for state in (DEFAULT, DEFAULT | FTZ_DAZ, DEFAULT | UPWARD):
        caller_state(state)
        model = small_net()
        pynn.Trainer(model, loss="cross_entropy", optimizer="momentum",
                     lr=0.05, batch_size=1, epochs=2, seed=0).fit(
            X, y, validation_data=(X, y))
        model.forward(X)
        model.backward(X, T, loss="cross_entropy")
        model.input_gradient(X, T, loss="cross_entropy")
        pynn.Perceptron(lr=0.5, max_epochs=5).fit(X[:, :2], (X[:, 0] > 0.5) * 1.0)
        pynn.LMS(lr=0.01, epochs=3).fit(X[:, :2], X[:, 0])
        assert get_mxcsr() & CONTROL == state & CONTROL


def test_exception_paths_restore_the_callers_mxcsr(caller_state):
    X, y, T = data()
    # a diverging fit: the kernel stops on a non-finite loss, Trainer raises
    caller_state(DEFAULT | UPWARD)
    model = pynn.MLP([6, 5, 3], hidden="relu", output="identity",
                     dtype="float32", seed=0)
    with pytest.raises(Exception):
        pynn.Trainer(model, loss="squared_error", lr=1e30, batch_size=1,
                     epochs=5, seed=0).fit(X, T * 1e30)
    assert get_mxcsr() & CONTROL == (DEFAULT | UPWARD) & CONTROL
    # a kernel that reports status 1 (non-finite loss) returns through exit
    model = small_net()
    T_bad = T.copy()
    T_bad[2, 0] = np.inf
    opt = pynn.optimizers.get_optimizer("nesterov", 0.01)
    opt.init(model.params.size, model.params.dtype)
    args = (model._layout, model.params, model.grads,
            _train.Batches(X, T_bad, None, 1, False), 0, 24, 1,
            get_loss("squared_error").code, 0, opt.kernel(), 0.01,
            model._workspace(1))
    caller_state(DEFAULT)
    res = _train.run_batches(*args)
    assert res[-1] == 1
    assert get_mxcsr() == DEFAULT
    # validation errors raised before the kernel runs
    caller_state(DEFAULT | FTZ_DAZ)
    with pytest.raises(ValueError):
        _train.gradient(model._layout, model.params, model.grads, X[:, :3],
                        T, 0, 0.0, model._workspace(24))
    assert get_mxcsr() == DEFAULT | FTZ_DAZ


def test_training_is_independent_of_the_callers_state(caller_state):
    """The kernels set their own rounding and flush mode: the same fit
    under the caller's round-upward or FTZ/DAZ gives the same bits."""
    X, y, T = data(40)
    out = []
    for state in (DEFAULT, DEFAULT | UPWARD, DEFAULT | FTZ_DAZ):
        caller_state(state)
        model = small_net()
        caller_state(DEFAULT)           # the same initial weights
        model.params[...] = small_net().params
        caller_state(state)
        for opt in ("sgd", "adam"):
            pynn.Trainer(model, loss="cross_entropy", optimizer=opt, lr=0.05,
                         batch_size=1, epochs=2, shuffle=False).fit(X, y)
        caller_state(DEFAULT)
        out.append(model.params.view(np.uint32).copy())
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


# ------------------------------------------------------------------ flushing
@pytest.mark.parametrize("dtype,tiny", [("float32", 1e-39), ("float64", 1e-310)])
def test_subnormal_optimizer_state_is_flushed(caller_state, dtype, tiny):
    """v ← μ v + g with g = 0 and a subnormal v: IEEE gives μ v (still
    subnormal, nonzero); the kernel reads v as 0 (DAZ) and stores 0."""
    caller_state(DEFAULT)
    model = small_net(dtype)
    opt = pynn.optimizers.get_optimizer("momentum", 0.1)
    opt.init(model.params.size, model.params.dtype)
    upd = opt.kernel()
    upd.state1[...] = tiny
    model.grads[...] = 0
    w0 = model.params.copy()
    ieee = np.asarray(0.9, dtype) * upd.state1       # NumPy, caller's state
    assert (ieee != 0).all() and (np.abs(ieee) < np.finfo(dtype).tiny).all()
    _train.step(model._layout, model.params, model.grads, upd, 0.1)
    assert (upd.state1 == 0).all()
    np.testing.assert_array_equal(model.params, w0)   # w − η·0


def test_subnormal_inputs_train_as_zeros(caller_state):
    """DAZ: an input feature holding subnormals trains exactly as zeros."""
    caller_state(DEFAULT)
    X, y, T = data(30)
    X_tiny, X_zero = X.copy(), X.copy()
    X_tiny[:, 2] = TINY32
    X_zero[:, 2] = 0
    out = []
    for Xs in (X_tiny, X_zero):
        model = small_net()
        pynn.Trainer(model, loss="cross_entropy", optimizer="adam", lr=0.01,
                     batch_size=1, epochs=2, shuffle=False).fit(Xs, y)
        out.append(model.params.copy())
    np.testing.assert_array_equal(out[0], out[1])
    # gradient of the first layer's column 2 is exactly 0, not ~1e-39
    model = small_net()
    model.backward(X_tiny, T, loss="cross_entropy")
    assert (model.layers[0].dW[:, 2] == 0).all()


def test_inference_keeps_subnormals_exact(caller_state):
    """Model.forward computes as NumPy does: no flushing at inference."""
    caller_state(DEFAULT)
    model = pynn.Model([pynn.Dense(2, 2, "identity")], dtype="float32")
    model.layers[0].W = np.eye(2)
    model.layers[0].b = np.zeros(2)
    X = np.array([[TINY32, -TINY32]], dtype=np.float32)
    np.testing.assert_array_equal(model.forward(X), X)


def test_unmasked_traps_in_the_caller_do_not_crash_training():
    """A caller that unmasked invalid/overflow/divide-by-zero traps: the
    kernels mask them while they run (so inf/NaN give a status, not
    SIGFPE), and the traps are back on afterwards."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import numpy as np, pynn
        from pynn import _train
        from pynn.losses import get_loss
        from test_fpenv import get_mxcsr, set_mxcsr
        model = pynn.MLP([4, 3, 2], hidden="tanh", output="identity",
                         dtype="float64", seed=0)
        X = np.ones((3, 4)); T = np.full((3, 2), 1e300)
        data = _train.Batches(X, T, None, 1, False)
        upd = pynn.optimizers.get_optimizer("sgd", 1e300).kernel()
        work = model._workspace(1)
        traps = 0x1F80 & ~(0x0080 | 0x0200 | 0x0400)   # IM, ZM, OM off
        set_mxcsr(traps)
        res = _train.run_batches(model._layout, model.params, model.grads,
                                 data, 0, 3, 1, get_loss("squared_error").code,
                                 0, upd, 1e300, work)
        after = get_mxcsr()
        set_mxcsr(0x1F80)
        print(res[-1], hex(after), hex(traps))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, env=env, cwd=os.path.dirname(__file__),
                       timeout=120)
    assert r.returncode == 0, r.stderr
    status, after, traps = r.stdout.split()
    assert status == "1" and after == traps
