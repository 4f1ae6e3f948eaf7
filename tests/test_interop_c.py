"""C header export: compiled with gcc -std=c99 -Wall -Werror, run, compared."""
import shutil
import subprocess

import numpy as np
import pytest

import pynn
from pynn.interop import to_c
from pynn.interop.c import fixed_point_outputs

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")

MAIN = r"""
#include <stdio.h>
#include "HEADER"
int main(void) {
    float x[NAME_N_INPUTS], y[NAME_N_OUTPUTS];
    double v;
    int i;
    for (;;) {
        for (i = 0; i < NAME_N_INPUTS; i++) {
            if (scanf("%lf", &v) != 1) return 0;
            x[i] = (float)v;
        }
        name_predict(x, y);
        for (i = 0; i < NAME_N_OUTPUTS; i++) printf("%.9g ", (double)y[i]);
        printf("\n");
    }
}
"""


def compile_and_run(tmp_path, header, name, X, n_out):
    main = tmp_path / f"main_{name}.c"
    main.write_text(MAIN.replace("HEADER", header.name)
                    .replace("NAME_", name.upper() + "_").replace("name_", name + "_"))
    exe = tmp_path / f"run_{name}"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                    "-O2", str(main), "-o", str(exe), "-lm"], check=True)
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in X)
    res = subprocess.run([str(exe)], input=text, text=True, capture_output=True,
                         check=True)
    return np.array([[float(v) for v in line.split()]
                     for line in res.stdout.splitlines()]).reshape(-1, n_out)


def data(n_in, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.zeros((2, n_in)), rng.normal(size=(60, n_in)),
                        8 * rng.normal(size=(10, n_in))])
    X[::4, 0] = 0.0
    return X.astype(np.float32)


ACTS = ["identity", "step", "sign", "sigmoid", "tanh", "relu", "leaky_relu",
        "softplus", "swish", "gaussian", "softmax"]


def make(act, dtype="float32", seed=2):
    out = act
    hidden = "tanh" if act == "softmax" else act
    p = {"leaky_relu": 0.2, "gaussian": 0.6}.get(hidden)
    q = {"leaky_relu": 0.2, "gaussian": 0.6}.get(out)
    return pynn.Model([pynn.Dense(5, 8, hidden, p), pynn.Dense(8, 6, hidden, p),
                       pynn.Dense(6, 3, out, q)], dtype=dtype, seed=seed)


@pytest.mark.parametrize("act", ACTS)
def test_float_header_matches_pynn(tmp_path, act):
    model = make(act)
    header = tmp_path / "net.h"
    assert to_c(model, header, name="net") is None
    X = data(5)
    got = compile_and_run(tmp_path, header, "net", X, 3)
    want = model(X)
    scale = max(1.0, np.abs(want).max())
    assert np.max(np.abs(got - want)) / scale <= 1e-6


def test_float64_model_and_tied_autoencoder(tmp_path):
    ae = pynn.Autoencoder([6, 3], hidden="sigmoid", output="identity",
                          tied=True, dtype="float64", seed=1)
    to_c(ae, tmp_path / "ae.h", name="ae")
    X = data(6)
    got = compile_and_run(tmp_path, tmp_path / "ae.h", "ae", X, 6)
    assert np.max(np.abs(got - ae(X))) <= 1e-6 * max(1, np.abs(ae(X)).max())


@pytest.mark.parametrize("act", ACTS)
def test_fixed_point_header(tmp_path, act):
    model = make(act)
    X = data(5, seed=1)
    header = tmp_path / "fx.h"
    report = to_c(model, header, name="fx", fixed_point=True, X=X)
    got = compile_and_run(tmp_path, header, "fx", X, 3)
    # The C integer arithmetic is exactly what to_c evaluated ...
    np.testing.assert_array_equal(got.astype(np.float32),
                                  fixed_point_outputs(model, X, report.decimal_point))
    # ... so the reported error is the header's real error on X,
    got = got.astype(np.float32).astype(np.float64)   # %.9g: exact float32
    measured = np.max(np.abs(got - model(X).astype(np.float64)))
    assert report.max_abs_error == pytest.approx(measured, rel=1e-6, abs=1e-12)
    assert 8 <= report.decimal_point <= 24
    # and it is small: table interpolation with cells of 1/16.
    assert report.max_rel_error < (2e-3 if act not in ("step", "sign") else 1.0)
    text = header.read_text()
    body = text[text.index("void fx_predict_fixed"):text.index("/* y = f(x) in float")]
    assert "float" not in body and "double" not in body      # integers only


def test_fixed_point_threshold_is_exact(tmp_path):
    model = pynn.Model([pynn.Dense(3, 4, "step"), pynn.Dense(4, 2, "sign")])
    model.layers[0].W = np.eye(4, 3)
    X = np.array([[0, 1, -1], [0.5, 0, 0], [-2, -3, 0.25]], np.float32)
    report = to_c(model, tmp_path / "t.h", name="t", fixed_point=True, X=X)
    got = compile_and_run(tmp_path, tmp_path / "t.h", "t", X, 2)
    np.testing.assert_array_equal(got, model(X))
    assert report.max_abs_error == 0


def test_fixed_point_saturates_out_of_range_inputs(tmp_path):
    model = pynn.MLP([2, 3, 1], hidden="sigmoid", output="identity", seed=0)
    report = to_c(model, tmp_path / "s.h", name="s", fixed_point=True,
                  X=np.ones((4, 2), np.float32))
    X = np.array([[1e30, -1e30], [3e38, 0.5]], np.float32)
    got = compile_and_run(tmp_path, tmp_path / "s.h", "s", X, 1)
    np.testing.assert_array_equal(got.astype(np.float32),
                                  fixed_point_outputs(model, X, report.decimal_point))


def test_bad_arguments(tmp_path):
    model = make("relu")
    for bad in ("1net", "int", "a-b", "", 3):
        with pytest.raises(ValueError, match="C identifier"):
            to_c(model, tmp_path / "x.h", name=bad)
    with pytest.raises(ValueError, match="needs X"):
        to_c(model, tmp_path / "x.h", fixed_point=True)
    with pytest.raises(ValueError, match="X"):
        to_c(model, tmp_path / "x.h", fixed_point=True, X=np.zeros((3, 4)))
    with pytest.raises(ValueError):
        to_c(model, tmp_path / "x.h", fixed_point=True, X=np.full((2, 5), np.nan))
    with pytest.raises(ValueError, match="fractional bits"):
        to_c(model, tmp_path / "x.h", fixed_point=True, X=np.full((2, 5), 1e9))
    assert not (tmp_path / "x.h").exists()
