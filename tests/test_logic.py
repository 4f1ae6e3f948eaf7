"""Threshold-logic networks (pynn.logic): full truth tables and structure."""
import itertools

import numpy as np
import pytest

from pynn import logic
from pynn.logic import ThresholdNetwork, all_inputs

TABLES = {
    # name: (factory, n_inputs, Boolean function, hidden units)
    "AND": (logic.AND, 2, lambda a, b: a and b, 0),
    "OR": (logic.OR, 2, lambda a, b: a or b, 0),
    "NAND": (logic.NAND, 2, lambda a, b: not (a and b), 0),
    "NOR": (logic.NOR, 2, lambda a, b: not (a or b), 0),
    "NOT": (logic.NOT, 1, lambda a: not a, 0),
    "XOR": (logic.XOR, 2, lambda a, b: a != b, 2),
    "IFF-4": (lambda: logic.IFF(hidden=4), 2, lambda a, b: a == b, 4),
    "IFF-2": (lambda: logic.IFF(hidden=2), 2, lambda a, b: a == b, 2),
    "IFF-1": (lambda: logic.IFF(hidden=1), 2, lambda a, b: a == b, 1),
    "XNOR-1": (lambda: logic.XNOR(1), 2, lambda a, b: a == b, 1),
}


@pytest.mark.parametrize("name", TABLES)
def test_full_truth_table(name):
    factory, n, f, hidden = TABLES[name]
    net = factory()
    X, Y = net.truth_table()
    assert X.tolist() == [list(p) for p in itertools.product((0, 1), repeat=n)]
    assert Y.tolist() == [int(f(*row)) for row in X]
    assert Y.dtype.kind == "i"
    assert net.n_hidden == hidden
    assert net.n_inputs == n and len(net.outputs) == 1
    # Row by row, as single samples, gives the same answers.
    assert [int(net(row)) for row in X] == Y.tolist()


def test_truth_tables_spelled_out():
    assert logic.AND().truth_table()[1].tolist() == [0, 0, 0, 1]
    assert logic.OR().truth_table()[1].tolist() == [0, 1, 1, 1]
    assert logic.NOT().truth_table()[1].tolist() == [1, 0]
    assert logic.NAND().truth_table()[1].tolist() == [1, 1, 1, 0]
    assert logic.XOR().truth_table()[1].tolist() == [0, 1, 1, 0]
    for h in (4, 2, 1):
        assert logic.IFF(hidden=h).truth_table()[1].tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_ary_gates(n):
    X = all_inputs(n)
    s = X.sum(axis=1)
    assert logic.AND(n)(X).tolist() == (s == n).astype(int).tolist()
    assert logic.OR(n)(X).tolist() == (s > 0).astype(int).tolist()
    assert logic.NAND(n)(X).tolist() == (s < n).astype(int).tolist()
    assert logic.NOR(n)(X).tolist() == (s == 0).astype(int).tolist()


def test_weights_are_the_notes_constructions():
    u = logic.AND().unit("y")
    assert u.sources == ("x1", "x2") and u.weights.tolist() == [1, 1]
    assert u.bias == -1.5
    xor = logic.XOR()
    assert xor.hidden == ("h1", "h2")
    assert xor.unit("h1").weights.tolist() == [1, 1]          # OR
    assert xor.unit("h2").weights.tolist() == [-1, -1]        # NAND
    assert (xor.unit("y").sources, xor.unit("y").bias) == (("h1", "h2"), -1.5)
    # IFF with 2 hidden units: XOR's hidden units, output weights negated.
    iff2 = logic.IFF(2)
    assert iff2.unit("h1").weights.tolist() == [1, 1]
    assert iff2.unit("y").weights.tolist() == [-1, -1]
    assert iff2.unit("y").bias == 1.5


def test_iff_one_hidden_unit_uses_direct_connections():
    net = logic.IFF(hidden=1)
    y = net.unit("y")
    assert set(y.sources) == {"x1", "x2", "h1"}     # inputs feed the output
    W, b, names = net.weight_matrix()
    assert names == ["x1", "x2", "h1", "y"]
    np.testing.assert_array_equal(W, [[1, 1, 0, 0], [-1, -1, 2, 0]])
    np.testing.assert_array_equal(b, [-1.5, 0.5])
    hidden = net.evaluate(all_inputs(2), return_all=True)["h1"]
    assert hidden.tolist() == [0, 0, 0, 1]


def test_iff_four_hidden_units_detect_one_pattern_each():
    net = logic.IFF(hidden=4)
    out = net.evaluate(all_inputs(2), return_all=True)
    H = np.stack([out[h] for h in net.hidden], axis=1)
    np.testing.assert_array_equal(H, np.eye(4, dtype=int))


@pytest.mark.parametrize("table", list(itertools.product((0, 1), repeat=4)))
def test_construction_theorem_every_two_input_function(table):
    net = logic.from_truth_table(table)
    assert net.truth_table()[1].tolist() == list(table)
    assert net.n_hidden == 4


def test_construction_theorem_three_inputs():
    rng = np.random.default_rng(0)
    for _ in range(5):
        table = rng.integers(0, 2, 8)
        net = logic.from_truth_table(table)
        assert net.truth_table()[1].tolist() == table.tolist()


def test_xor_is_not_linearly_separable_by_one_unit():
    # The notes' argument, checked over a grid: no single unit computes XOR.
    X = all_inputs(2)
    grid = np.linspace(-3, 3, 25)
    for w1, w2, b in itertools.product(grid, grid, grid):
        net = ThresholdNetwork(2)
        net.add_unit([w1, w2], b)
        assert net(X).tolist() != [0, 1, 1, 0]


def test_step_is_strict_at_zero():
    net = ThresholdNetwork(1)
    net.add_unit({"x1": 1.0}, 0.0)
    assert net([[0.0], [1e-300], [-1.0]]).tolist() == [0, 1, 0]


def test_custom_network_with_several_outputs_and_real_inputs():
    # Half adder: sum = XOR, carry = AND; an output may also feed a unit.
    net = ThresholdNetwork(2, input_names=["a", "b"], name="half adder")
    net.add_unit({"a": 1, "b": 1}, -1.5, name="carry", output=True)
    net.add_unit({"a": 1, "b": 1, "carry": -2}, -0.5, name="sum", output=True)
    assert net.outputs == ("carry", "sum") and net.hidden == ()
    X, Y = net.truth_table()
    np.testing.assert_array_equal(Y, [[0, 0], [0, 1], [0, 1], [1, 0]])
    net.set_outputs("sum")
    assert net([1, 0]) == 1
    assert net([[0.9, 0.2]]).tolist() == [1]        # real inputs are fine
    net.set_outputs("sum", "carry")
    assert net([1, 1]).tolist() == [0, 1]


def test_weights_are_editable():
    net = logic.AND()
    net.unit("y").bias = -0.5                      # now it is OR
    assert net.truth_table()[1].tolist() == [0, 1, 1, 1]
    net.unit("y").weights[:] = [-1, -1]
    net.unit("y").bias = 0.5                       # NOR
    assert net.truth_table()[1].tolist() == [1, 0, 0, 0]


def test_repr_shows_the_equations():
    text = repr(logic.IFF(1))
    assert "ThresholdNetwork 'IFF (1 hidden unit)': inputs x1, x2" in text
    assert "h1 = I{1·x1 + 1·x2 − 1.5 > 0}" in text
    assert "y  = I{−1·x1 − 1·x2 + 2·h1 + 0.5 > 0}  (output)" in text
    assert repr(logic.NOT().unit("y")) == "ThresholdUnit('y': I{−1·x1 + 0.5 > 0})"


# ---------------------------------------------------------------- bad input
def test_bad_units():
    net = ThresholdNetwork(2)
    with pytest.raises(ValueError, match="unknown source 'h1'"):
        net.add_unit({"h1": 1}, 0)                 # no later/self references
    with pytest.raises(ValueError, match="one per input"):
        net.add_unit([1, 2, 3], 0)
    with pytest.raises(ValueError, match="finite"):
        net.add_unit({"x1": np.nan}, 0)
    with pytest.raises(ValueError, match="finite"):
        net.add_unit({"x1": 1}, np.inf)
    with pytest.raises(ValueError, match="real numbers"):
        net.add_unit({"x1": "heavy"}, 0)
    net.add_unit({"x1": 1}, 0, name="h1")
    with pytest.raises(ValueError, match="already used"):
        net.add_unit({"x1": 1}, 0, name="h1")
    with pytest.raises(ValueError, match="already used"):
        net.add_unit({"x1": 1}, 0, name="x2")
    with pytest.raises(KeyError, match="no unit named"):
        net.set_outputs("zz")


def test_bad_network_arguments():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_inputs"):
            ThresholdNetwork(bad)
    with pytest.raises(ValueError, match="input_names"):
        ThresholdNetwork(2, input_names=["a"])
    with pytest.raises(ValueError, match="distinct"):
        ThresholdNetwork(2, input_names=["a", "a"])
    with pytest.raises(ValueError, match="hidden must be 4, 2 or 1"):
        logic.IFF(hidden=3)
    with pytest.raises(ValueError, match="n_inputs"):
        logic.AND(0)
    with pytest.raises(ValueError, match="2ⁿ"):
        logic.from_truth_table([0, 1, 1])
    with pytest.raises(ValueError, match="2ⁿ"):
        logic.from_truth_table([0, 2])
    with pytest.raises(ValueError, match="no units"):
        ThresholdNetwork(2)([0, 1])


@pytest.mark.parametrize("X,exc,msg", [
    ([[0, 1, 1]], ValueError, "X has 3 inputs"),
    ([[0, np.nan]], ValueError, "X contains NaN"),
    ([[0, np.inf]], ValueError, "X contains NaN"),
    ([["a", "b"]], TypeError, "X must hold real"),
    (np.zeros((2, 2, 2)), ValueError, "X must be a 2-D"),
])
def test_bad_inputs_to_evaluate(X, exc, msg):
    with pytest.raises(exc, match=msg):
        logic.XOR()(X)


def test_input_layouts():
    X = all_inputs(2).astype(float)
    ref = logic.XOR()(X)
    ro = X.copy()
    ro.flags.writeable = False
    for Xl in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2], ro,
               X.astype(bool), X.tolist()):
        np.testing.assert_array_equal(logic.XOR()(Xl), ref)
    assert logic.XOR()(np.zeros((0, 2))).shape == (0,)


@pytest.mark.parametrize("X", [[[1, 2], [1]], [[0, 1], [1, 0, 1]], [[0], 1]])
def test_ragged_inputs_to_evaluate_name_x(X):
    """Regression (issue 17 items 10/16): NumPy's "inhomogeneous shape"
    error, which names no argument."""
    with pytest.raises(ValueError, match=r"^X must be a numeric array with "
                       "rows of equal lengths"):
        logic.XOR().evaluate(X)


@pytest.mark.parametrize("values", [[[0, 1], [1]], [0, [1, 0]]])
def test_ragged_truth_table_names_values(values):
    with pytest.raises(ValueError, match=r"^values must be a numeric array "
                       "with rows of equal lengths"):
        logic.from_truth_table(values)


@pytest.mark.parametrize("values", [
    np.array([0, 1, 1, 0], dtype="m8[s]"),
    [np.timedelta64(0, "s"), np.timedelta64(1, "s")],
    np.array([0, 1], dtype="M8[D]"),
    np.array([0, 1, 1, 0], dtype=complex),
    np.array(["0", "1"]),
    np.array([b"0", b"1"]),
])
def test_non_numeric_truth_table_is_a_type_error_naming_values(values):
    """Regression (issue 17 item 16's sweep): timedelta values reached
    int(), whose TypeError names nothing."""
    with pytest.raises(TypeError, match=r"^values must be 0/1 numbers .*got "
                       r"dtype"):
        logic.from_truth_table(values)


def test_truth_table_value_kinds_that_are_accepted():
    ref = logic.from_truth_table([0, 1, 1, 0]).truth_table()[1]
    for values in (np.array([0.0, 1, 1, 0]), np.array([False, True, True, False]),
                   np.array([0, 1, 1, 0], dtype=object), (0, 1, 1, 0),
                   np.array([0, 1, 1, 0], dtype=np.uint8)[::-1][::-1]):
        np.testing.assert_array_equal(
            logic.from_truth_table(values).truth_table()[1], ref)
    np.testing.assert_array_equal(ref, [0, 1, 1, 0])
    masked = np.ma.masked_array([0, 1, 1, 0], mask=[0, 1, 0, 0])
    with pytest.raises(ValueError, match=r"values is a masked array"):
        logic.from_truth_table(masked)
