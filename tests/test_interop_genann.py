"""genann files, checked against genann's documented arithmetic and file.

genann cannot be built here without its source (no network in CI), so the
other side is (1) the XOR network genann ships as example/xor.ann, whose
outputs must be XOR, and (2) genann_run's arithmetic as documented in
genann.c, written out below as a loop over the flat weight list:
``sum = w[0] * -1.0; sum += w[k] * z[k-1]; z = act(sum)`` for each neuron,
with genann_act_sigmoid (1/(1+e^{-a}), 0 below −45, 1 above 45) or the
4096-entry lookup table genann uses by default.
"""
import math

import numpy as np
import pytest

import pynn
from pynn.interop import from_genann, to_genann

# genann's example/xor.ann: 2 inputs, 1 hidden layer of 2, 1 output.
XOR_ANN = "2 1 2 1 -1.777 -5.734 -6.029 -4.460 -3.261 -3.172 2.444 -6.581 5.826\n"


def genann_sigmoid(a):
    if a < -45.0:
        return 0.0
    if a > 45.0:
        return 1.0
    return 1.0 / (1 + math.exp(-a))


LO, HI, SIZE = -15.0, 15.0, 4096
TABLE = [genann_sigmoid(LO + (HI - LO) / SIZE * i) for i in range(SIZE)]


def genann_sigmoid_cached(a, lo=LO, hi=HI, size=SIZE, table=TABLE):
    if a < lo:
        return table[0]
    if a >= hi:
        return table[-1]
    return table[min(int((a - lo) * (size / (hi - lo)) + 0.5), size - 1)]


def genann_run(text, x, act_hidden=genann_sigmoid, act_output=genann_sigmoid):
    """genann_run over the file's numbers, weight pointer walking as in C."""
    tok = text.split()
    n_in, n_layers, hidden, n_out = (int(t) for t in tok[:4])
    w = iter(float(t) for t in tok[4:])
    z = list(x)
    for layer in range(n_layers + 1):
        width = n_out if layer == n_layers else hidden
        act = act_output if layer == n_layers else act_hidden
        out = []
        for _ in range(width):
            s = next(w) * -1.0
            for k in range(len(z)):
                s += next(w) * z[k]
            out.append(act(s))
        z = out
    assert next(w, None) is None
    return z


def test_reads_genann_xor_example(tmp_path):
    path = tmp_path / "xor.ann"
    path.write_text(XOR_ANN)
    model = from_genann(path)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = model(X)[:, 0]
    np.testing.assert_array_equal(y > 0.5, [False, True, True, False])
    want = [genann_run(XOR_ANN, x)[0] for x in X]
    np.testing.assert_allclose(y, want, rtol=1e-14, atol=0)
    np.testing.assert_allclose(model.layers[0].b, [1.777, 4.460])   # b = −w_0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[3, 5, 5, 5, 2], [4, 6, 1], [3, 2]])
def test_export_matches_genann_arithmetic(tmp_path, dtype, sizes):
    model = pynn.MLP(sizes, hidden="sigmoid", output="sigmoid", dtype=dtype, seed=4)
    for layer in model.layers:
        layer.b = np.random.default_rng(1).normal(size=layer.n_out)
    path = tmp_path / "m.ann"
    to_genann(model, path)
    text = path.read_text()
    assert text.split()[:4] == [str(sizes[0]), str(len(sizes) - 2),
                                str(sizes[1] if len(sizes) > 2 else 0), str(sizes[-1])]
    rng = np.random.default_rng(0)
    X = np.concatenate([np.zeros((1, sizes[0])), rng.normal(size=(30, sizes[0])),
                        60 * rng.normal(size=(5, sizes[0]))]).astype(dtype)
    want = np.array([genann_run(text, x) for x in X.astype(np.float64)])
    tol = 1e-6 if dtype == "float32" else 1e-15
    assert np.max(np.abs(model(X) - want)) <= tol
    back = from_genann(path, dtype=dtype)
    np.testing.assert_array_equal(back.params, model.params)
    # genann's default lookup-table sigmoid is within ~1e-3 of the exact one.
    cached = np.array([genann_run(text, x, genann_sigmoid_cached, genann_sigmoid_cached)
                       for x in X.astype(np.float64)])
    assert np.max(np.abs(model(X) - cached)) < 3e-3


def test_linear_and_threshold(tmp_path):
    model = pynn.Model([pynn.Dense(3, 4, "step"), pynn.Dense(4, 4, "step"),
                        pynn.Dense(4, 2, "identity")], dtype="float64", seed=0)
    to_genann(model, tmp_path / "t.ann")
    text = (tmp_path / "t.ann").read_text()
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[0] = 0
    want = [genann_run(text, x, lambda a: float(a > 0), lambda a: a) for x in X]
    np.testing.assert_allclose(model(X), want, rtol=1e-15, atol=1e-15)
    back = from_genann(tmp_path / "t.ann", hidden="step", output="identity")
    np.testing.assert_array_equal(back(X), model(X))


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="same width"):
        to_genann(pynn.MLP([2, 3, 4, 1], hidden="sigmoid", output="sigmoid"),
                  tmp_path / "x")
    with pytest.raises(ValueError, match="no 'tanh'"):
        to_genann(pynn.MLP([2, 3, 1], hidden="tanh", output="sigmoid"), tmp_path / "x")
    with pytest.raises(ValueError, match="one activation"):
        to_genann(pynn.Model([pynn.Dense(2, 3, "sigmoid"), pynn.Dense(3, 3, "step"),
                              pynn.Dense(3, 1)]), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="hidden must be"):
        from_genann(tmp_path / "x", hidden="relu")


BAD = [("empty", "", "four"), ("header", "2 1 x 1 0 0", "four"),
       ("negative", "2 -1 2 1 " + "0 " * 9, "four"),
       ("zero_inputs", "0 1 2 1 0 0 0", "inputs"),
       ("truncated", XOR_ANN[:40], "truncated"),
       ("extra", XOR_ANN + " 1.0", "means 9 weights"),
       ("nan", XOR_ANN.replace("-1.777", "nan"), "NaN"),
       ("garbage", XOR_ANN.replace("-1.777", "__import__('os')"), "weights"),
       ("huge", "100000 100 100000 1 0", "asks for"),
       ("binary", "2 1 2 1 \xff", "ASCII")]


@pytest.mark.parametrize("name,text,message", BAD, ids=[b[0] for b in BAD])
def test_bad_files(tmp_path, name, text, message):
    path = tmp_path / f"{name}.ann"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=message) as info:
        from_genann(path)
    assert str(path) in str(info.value)
