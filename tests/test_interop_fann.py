"""FANN export/import checked against the real libfann 2.2 (Debian libfann-dev).

A small C program, compiled here with gcc against -lfloatfann or
-ldoublefann, loads a network file with fann_create_from_file and prints
fann_run's outputs; it can also create and save networks with libfann's own
fann_create_standard / fann_create_shortcut, for the import tests.
"""
import shutil
import subprocess

import numpy as np
import pytest

import pynn
from pynn.interop import from_fann, to_fann
from pynn.interop.fann import ShortcutNetwork

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef USE_DOUBLE
#include <doublefann.h>
#else
#include <floatfann.h>
#endif

/* run NET N_IN N_OUT < inputs   : print fann_run's outputs, one row a line
   create NET TYPE ACT_H ACT_O S_H S_O SEED SIZES... : save a new network */
int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "run") == 0) {
        struct fann *ann = fann_create_from_file(argv[2]);
        if (!ann) return 2;
        unsigned n_in = atoi(argv[3]), n_out = atoi(argv[4]);
        if (fann_get_num_input(ann) != n_in || fann_get_num_output(ann) != n_out)
            return 3;
        fann_type *x = malloc(sizeof(fann_type) * n_in);
        double v;
        for (;;) {
            for (unsigned i = 0; i < n_in; i++) {
                if (scanf("%lf", &v) != 1) { fann_destroy(ann); return 0; }
                x[i] = (fann_type)v;
            }
            fann_type *y = fann_run(ann, x);
            for (unsigned j = 0; j < n_out; j++) printf("%.17g ", (double)y[j]);
            printf("\n");
        }
    }
    if (argc >= 11 && strcmp(argv[1], "create") == 0) {
        unsigned n = argc - 9, sizes[16];
        for (unsigned i = 0; i < n; i++) sizes[i] = atoi(argv[9 + i]);
        struct fann *ann = atoi(argv[3]) ? fann_create_shortcut_array(n, sizes)
                                         : fann_create_standard_array(n, sizes);
        fann_set_activation_function_hidden(ann, atoi(argv[4]));
        fann_set_activation_function_output(ann, atoi(argv[5]));
        fann_set_activation_steepness_hidden(ann, atof(argv[6]));
        fann_set_activation_steepness_output(ann, atof(argv[7]));
        srand(atoi(argv[8]));
        fann_randomize_weights(ann, -1.5, 1.5);
        return fann_save(ann, argv[2]) == 0 ? 0 : 4;
    }
    return 1;
}
"""


def _have_libfann():
    return shutil.which("gcc") is not None and subprocess.run(
        ["gcc", "-xc", "-", "-o", "/dev/null", "-ldoublefann", "-lfloatfann",
         "-lm"], input="#include <doublefann.h>\nint main(void){return 0;}",
        text=True, capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _have_libfann(),
                                reason="gcc or libfann-dev (Debian) missing")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = tmp_path_factory.mktemp("fann")
    (d / "driver.c").write_text(DRIVER)
    exes = {}
    for dtype, flags in (("float32", ["-lfloatfann"]),
                         ("float64", ["-DUSE_DOUBLE", "-ldoublefann"])):
        exe = d / f"driver_{dtype}"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-O1",
                        str(d / "driver.c"), "-o", str(exe)] + flags + ["-lm"],
                       check=True)
        exes[dtype] = str(exe)
    return exes


def fann_run(driver, dtype, path, X, n_out):
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in X)
    res = subprocess.run([driver[dtype], "run", str(path), str(X.shape[1]),
                          str(n_out)], input=text, text=True,
                         capture_output=True)
    assert res.returncode == 0, (res.returncode, res.stderr)
    return np.array([[float(v) for v in line.split()]
                     for line in res.stdout.splitlines()]).reshape(-1, n_out)


def inputs(n_in, dtype, seed=0, big=1e3):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.zeros((2, n_in)), rng.normal(size=(40, n_in)),
                        30 * rng.normal(size=(10, n_in)),
                        big * rng.normal(size=(5, n_in))])
    X[::5, 0] = 0.0
    return X.astype(dtype)


# Tolerance on |libfann − pynn| / max(1, max|pynn|): the two sum the products
# in different orders (in float32 a sum with cancellation, fed to a gaussian,
# shows it at ~4e-6), and FANN evaluates tanh as 2/(1+e^{−2u}) − 1.
TOL = {"float32": 1e-5, "float64": 1e-13}


def rel(a, b):
    return np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))


EXPORTABLE = [("sigmoid", "sigmoid", None), ("tanh", "identity", None),
              ("gaussian", "tanh", 2.5), ("identity", "gaussian", 0.7),
              ("step", "sigmoid", None), ("sign", "identity", None)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden,output,beta", EXPORTABLE)
def test_libfann_runs_exported_model(driver, tmp_path, dtype, hidden, output, beta):
    p = beta if hidden == "gaussian" else None
    q = beta if output == "gaussian" else None
    # A threshold layer is followed by a smooth one: after two threshold
    # layers, a u that is exactly 0 in pynn may be ±1 ulp in FANN (the
    # folded bias b + W·1 is rounded), and the second threshold flips.
    second = "tanh" if hidden in ("step", "sign") else hidden
    model = pynn.Model([pynn.Dense(4, 6, hidden, p), pynn.Dense(6, 5, second, p),
                        pynn.Dense(5, 3, output, q)], dtype=dtype, seed=3)
    path = tmp_path / "net.net"
    to_fann(model, path)
    X = inputs(4, dtype)
    got = fann_run(driver, dtype, path, X, 3)
    assert rel(got, model(X)) <= TOL[dtype]
    back = from_fann(path, dtype=dtype)
    assert rel(back(X), model(X)) <= TOL[dtype]
    assert [l.activation.name for l in back.layers] == [hidden, second, output]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threshold_kink_exact_at_zero(driver, tmp_path, dtype):
    # u = 0 exactly in the hidden step/sign layers: FANN's threshold would
    # give 1 there; the negated export keeps pynn's step(0) = 0, sign(0) = −1.
    model = pynn.Model([pynn.Dense(3, 3, "step"), pynn.Dense(3, 3, "sign"),
                        pynn.Dense(3, 3, "identity")], dtype=dtype)
    for layer in model.layers:
        layer.W = np.eye(3)
        layer.b = np.zeros(3)
    X = np.array([[0.0, 1.0, -1.0], [0.0, 0.0, 0.0], [-2.0, 0.0, 3.0]], dtype)
    want = model(X)
    np.testing.assert_array_equal(want, [[-1, 1, -1], [-1, -1, -1], [-1, -1, 1]])
    to_fann(model, tmp_path / "t.net")
    np.testing.assert_array_equal(fann_run(driver, dtype, tmp_path / "t.net", X, 3),
                                  want)


def test_linear_output_beyond_fann_clamp(driver, tmp_path):
    # FANN clamps s·Σ at ±150/s; the small steepness keeps |u| ≈ 1e6 exact.
    model = pynn.Model([pynn.Dense(2, 2, "identity")], dtype="float64")
    model.layers[0].W = [[1000.0, 0.0], [0.0, -1000.0]]
    X = np.array([[1000.0, 1000.0], [1e-3, -7.0]])
    to_fann(model, tmp_path / "l.net")
    np.testing.assert_array_equal(fann_run(driver, "float64", tmp_path / "l.net",
                                           X, 2), model(X))


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "softplus", "swish",
                                 "softmax"])
def test_refuses_what_fann_cannot_express(tmp_path, act):
    model = pynn.MLP([3, 4, 2], hidden="sigmoid", output=act, seed=0)
    with pytest.raises(ValueError, match=r"layers\[1\].*FANN 2.2 has no"):
        to_fann(model, tmp_path / "x.net")
    assert not (tmp_path / "x.net").exists()
    for out in ("step", "sign"):
        with pytest.raises(ValueError, match="output layer"):
            to_fann(pynn.MLP([3, 2], output=out, seed=0), tmp_path / "x.net")


# libfann activation codes: LINEAR 0, THRESHOLD 1, THRESHOLD_SYMMETRIC 2,
# SIGMOID 3, SIGMOID_SYMMETRIC 5, GAUSSIAN 7.
FANN_NETS = [(0, 3, 3, 0.5, 0.5), (0, 5, 0, 0.9, 0.3), (0, 7, 5, 1.3, 1.0),
             (0, 1, 3, 0.7, 0.5), (0, 2, 0, 1.0, 0.25), (1, 3, 5, 0.5, 0.8),
             (1, 5, 0, 1.1, 1.0), (1, 2, 7, 1.0, 0.6)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shortcut,act_h,act_o,s_h,s_o", FANN_NETS)
def test_reads_files_libfann_wrote(driver, tmp_path, dtype, shortcut, act_h,
                                   act_o, s_h, s_o):
    path = tmp_path / "made.net"
    subprocess.run([driver[dtype], "create", str(path), str(shortcut), str(act_h),
                    str(act_o), str(s_h), str(s_o), "7", "4", "5", "3", "2"],
                   check=True)
    net = from_fann(path, dtype=dtype)
    assert isinstance(net, ShortcutNetwork if shortcut else pynn.Model)
    # Inputs up to ~100: libfann clamps a linear unit's s·Σ at ±150/s.
    X = inputs(4, dtype, seed=1, big=10.0)
    want = fann_run(driver, dtype, path, X, 2)
    assert rel(net(X), want) <= TOL[dtype]


def test_sparse_layered_network(driver, tmp_path):
    # Remove connections from a libfann file: missing ones are zero weights.
    path = tmp_path / "sparse.net"
    model = pynn.MLP([3, 4, 2], hidden="tanh", output="sigmoid",
                     dtype="float64", seed=1)
    model.layers[0].W[1, 2] = 0.0
    model.layers[1].W[0, 0] = 0.0
    to_fann(model, path)
    lines = path.read_text().split("\n")
    i = next(k for k, l in enumerate(lines) if l.startswith("connections"))
    j = next(k for k, l in enumerate(lines) if l.startswith("neurons"))
    conns = lines[i].split("=", 1)[1].split(") ")
    # neuron 5 (hidden 2) input 2 is connection 4*1 + 2 = 6; output 0 from
    # hidden 0 is connection 16.
    assert conns[6].startswith("(2, 0.0") and conns[16].startswith("(4, 0.0")
    del conns[16], conns[6]
    lines[i] = "connections (connected_to_neuron, weight)=" + ") ".join(conns)
    neurons = lines[j].split("=", 1)[1].split(") ")
    neurons[5] = neurons[5].replace("(4,", "(3,")
    neurons[9] = neurons[9].replace("(5,", "(4,")
    lines[j] = lines[j].split("=", 1)[0] + "=" + ") ".join(neurons)
    # libfann reads connections sparsely only when connection_rate < 1.
    text = "\n".join(lines).replace("connection_rate=1.000000", "connection_rate=0.900000")
    path.write_text(text)
    X = inputs(3, "float64")
    want = fann_run(driver, "float64", path, X, 2)
    assert rel(want, model(X)) <= TOL["float64"]
    assert rel(from_fann(path, dtype="float64")(X), want) <= TOL["float64"]
    # The same file claiming full connectivity is inconsistent.
    path.write_text(text.replace("connection_rate=0.900000", "connection_rate=1.000000"))
    with pytest.raises(ValueError, match="connection_rate"):
        from_fann(path)


# ------------------------------------------------------------- bad files
def good_text(tmp_path):
    # 2-3-1: hidden tanh neurons "(3, 5, 1.0)", the output "(4, 3, 0.5)".
    model = pynn.MLP([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    to_fann(model, tmp_path / "good.net")
    return (tmp_path / "good.net").read_text()


def edit(old, new):
    def apply(text):
        assert old in text
        return text.replace(old, new, 1)
    return apply


CONN = "connections (connected_to_neuron, weight)=(0, "
BAD = [
    ("truncated", lambda t: t[: len(t) // 2], "missing|malformed|not key=value"),
    ("cut_connections", lambda t: t[: t.index(CONN) + 200], "connections"),
    ("empty", lambda t: "", "not a FANN_FLO_2.1"),
    ("version", edit("FANN_FLO_2.1", "FANN_FLO_9.9"), "not a FANN_FLO"),
    ("fixed", edit("FANN_FLO_2.1", "FANN_FIX_2.0"), "fixed-point"),
    ("code", edit("num_layers=3", "num_layers=__import__('os')"), "num_layers must"),
    ("layers", edit("num_layers=3", "num_layers=4"), "layer_sizes"),
    ("huge", edit("layer_sizes=3 4 2", "layer_sizes=3 99999999 2"), "out of range"),
    ("count", edit("(3, 5, 1.0)", "(4, 5, 1.0)"), "connections"),
    ("source", edit(CONN, CONN.replace("(0, ", "(99, ")), "neuron 99|libfann's order"),
    ("order", edit(CONN, CONN.replace("(0, ", "(1, ")), "libfann's order"),
    ("garbage", edit(CONN, CONN + "x"), "malformed"),
    ("nan", edit(CONN, CONN + "nan) (0, "), "NaN|connections"),
    ("nan_only", lambda t: t[:t.index(CONN)] + CONN + "nan) " +
     t[t.index(CONN) + len(CONN):].split(") ", 1)[1], "NaN"),
    ("relu", lambda t: t.replace("(3, 5, 1.0)", "(3, 18, 1.0)"), "code 18.*relu"),
    ("elliot", edit("(4, 3, 0.5)", "(4, 10, 0.5)"), "ELLIOT"),
    ("mixed", edit("(3, 5, 1.0)", "(3, 3, 1.0)"), "mixes"),
    ("threshold_out", edit("(4, 3, 0.5)", "(4, 1, 0.5)"), "output layer uses a threshold"),
    ("steepness", edit("(3, 5, 1.0)", "(3, 5, -1.0)"), "steepness"),
    ("type", edit("network_type=0", "network_type=2"), "network_type"),
    ("duplicate", edit("num_layers=3\n", "num_layers=3\nnum_layers=3\n"), "twice"),
    ("binary", lambda t: "FANN_FLO_2.1\n\xff\xfe", "not ASCII"),
]


@pytest.mark.parametrize("name,change,message", BAD, ids=[b[0] for b in BAD])
def test_bad_files_give_clear_errors(tmp_path, name, change, message):
    bad = tmp_path / f"{name}.net"
    bad.write_bytes(change(good_text(tmp_path)).encode("latin-1"))
    with pytest.raises(ValueError, match=message) as info:
        from_fann(bad)
    assert str(bad) in str(info.value)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        from_fann(tmp_path / "missing.net")
    with pytest.raises(TypeError, match="path"):
        from_fann(3.5)
    (tmp_path / "ok.net").write_text(good_text(tmp_path))
    with pytest.raises(ValueError, match="dtype"):
        from_fann(tmp_path / "ok.net", dtype="int8")
    with pytest.raises(TypeError, match="model must be a pynn.Model"):
        to_fann(object(), tmp_path / "x.net")
