"""Threshold-logic networks: Boolean functions built by hand from step units.

A threshold unit computes ``y = I{Σ_j w_j z_j + b > 0}`` (the output
is 1 only when the sum is strictly positive; −b is the threshold).
A :class:`ThresholdNetwork` is a directed acyclic graph of such units: each
unit may read any network input and any unit added before it, so layered
networks and networks with direct input→output connections are built the
same way.

Ready-made networks (the classic hand constructions), each a fresh
:class:`ThresholdNetwork` whose weights can be read and changed:

=================  =========  ===============================================
factory            hidden     construction
=================  =========  ===============================================
AND(n), OR(n)      0          I{Σx − n + ½ > 0},  I{Σx − ½ > 0}
NAND(n), NOR(n)    0          I{−Σx + n − ½ > 0}, I{−Σx + ½ > 0}
NOT()              0          I{−x + ½ > 0}
XOR()              2          h1 = OR, h2 = NAND, y = AND(h1, h2)
IFF(hidden=4)      4          one detector per input pattern (the
                              construction theorem), output weights = table
IFF(hidden=2)      2          XOR's hidden units, output weights and bias
                              negated: y = I{−h1 − h2 + 1.5 > 0}
IFF(hidden=1)      1          h = AND(x1, x2), with direct connections:
                              y = I{−x1 − x2 + 2h + ½ > 0}
from_truth_table   2ⁿ         the construction theorem for any table
=================  =========  ===============================================

XOR (and so IFF) needs a hidden unit: no single unit separates it (the four
inequalities b ≤ 0, w2 + b > 0, w1 + b > 0, w1 + w2 + b ≤ 0 contradict).
``XNOR`` is another name for ``IFF``.

Examples
--------
>>> net = IFF(hidden=1)
>>> net([[0, 0], [0, 1], [1, 0], [1, 1]])
array([1, 0, 0, 1])
>>> print(net)
ThresholdNetwork 'IFF (1 hidden unit)': inputs x1, x2
  h1 = I{1·x1 + 1·x2 − 1.5 > 0}
  y  = I{−1·x1 − 1·x2 + 2·h1 + 0.5 > 0}  (output)
"""
import itertools
import numbers

import numpy as np

from pynn._validation import as_float_array, refuse_masked, to_array

__all__ = ["ThresholdUnit", "ThresholdNetwork", "all_inputs",
           "from_truth_table", "AND", "OR", "NOT", "NAND", "NOR", "XOR",
           "IFF", "XNOR"]


def all_inputs(n_inputs):
    """Every point of {0, 1}ⁿ as rows of an (2ⁿ, n) int array.

    Rows are in binary counting order with x1 the most significant bit:
    for n = 2, (0,0), (0,1), (1,0), (1,1).
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, numbers.Integral) \
            or not 1 <= n_inputs <= 20:
        raise ValueError(f"n_inputs must be an integer in [1, 20], got "
                         f"{n_inputs!r}")
    rows = list(itertools.product((0, 1), repeat=int(n_inputs)))
    return np.array(rows, dtype=np.int64)


def _fmt(v):
    return f"{v:g}"


class ThresholdUnit:
    """One step unit y = I{Σ_j w_j z_j + b > 0} over named sources z_j.

    Attributes
    ----------
    name : str
    sources : tuple of str
        Names of the inputs and earlier units it reads.
    weights : ndarray of float64, shape (len(sources),)
        w_j, in the order of ``sources`` (writable: edit to experiment).
    bias : float
        b (the threshold is −b).
    """

    def __init__(self, name, sources, weights, bias):
        self.name = name
        self.sources = tuple(sources)
        self.weights = np.array(weights, dtype=np.float64)
        self.bias = float(bias)

    def equation(self):
        """The unit as text, e.g. ``I{1·x1 + 1·x2 − 1.5 > 0}``."""
        terms = []
        for w, s in zip(self.weights, self.sources):
            sign = "−" if w < 0 else "+"
            terms.append((sign, f"{_fmt(abs(w))}·{s}"))
        if self.bias != 0 or not terms:
            terms.append(("−" if self.bias < 0 else "+", _fmt(abs(self.bias))))
        text = ("−" if terms[0][0] == "−" else "") + terms[0][1]
        for sign, t in terms[1:]:
            text += f" {sign} {t}"
        return f"I{{{text} > 0}}"

    def __repr__(self):
        return f"ThresholdUnit({self.name!r}: {self.equation()})"


class ThresholdNetwork:
    """A feed-forward network (a DAG) of threshold units.

    Units are added in order with :meth:`add_unit`; each may read any input
    and any earlier unit (so direct input→output connections need no special
    case).  The outputs are the units marked ``output=True``, or the last
    unit added when none is marked.

    Parameters
    ----------
    n_inputs : int
        Number of inputs, named ``x1 .. xn`` unless ``input_names`` is given.
    input_names : sequence of str, optional
    name : str, optional
        A label shown by ``repr``.

    Examples
    --------
    >>> net = ThresholdNetwork(2, name="XOR")
    >>> net.add_unit({"x1": 1, "x2": 1}, bias=-0.5, name="h1")     # OR
    'h1'
    >>> net.add_unit({"x1": -1, "x2": -1}, bias=1.5, name="h2")    # NAND
    'h2'
    >>> net.add_unit({"h1": 1, "h2": 1}, bias=-1.5, name="y")      # AND
    'y'
    >>> net.truth_table()[1]
    array([0, 1, 1, 0])
    """

    def __init__(self, n_inputs, input_names=None, name=None):
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, numbers.Integral) \
                or n_inputs < 1:
            raise ValueError(f"n_inputs must be an integer ≥ 1, got {n_inputs!r}")
        if input_names is None:
            input_names = [f"x{i + 1}" for i in range(n_inputs)]
        input_names = list(input_names)
        if len(input_names) != n_inputs:
            raise ValueError(f"input_names has {len(input_names)} names for "
                             f"{n_inputs} inputs")
        for s in input_names:
            if not isinstance(s, str) or not s:
                raise ValueError(f"input names must be non-empty strings, got "
                                 f"{s!r}")
        if len(set(input_names)) != n_inputs:
            raise ValueError("input_names must be distinct")
        self.name = name
        self.inputs = tuple(input_names)
        self.units = []
        self._outputs = []
        self._index = {s: i for i, s in enumerate(self.inputs)}

    @property
    def n_inputs(self):
        return len(self.inputs)

    @property
    def outputs(self):
        """Names of the output units."""
        if self._outputs:
            return tuple(self._outputs)
        return (self.units[-1].name,) if self.units else ()

    @property
    def hidden(self):
        """Names of the units that are not outputs."""
        out = set(self.outputs)
        return tuple(u.name for u in self.units if u.name not in out)

    @property
    def n_hidden(self):
        return len(self.hidden)

    def unit(self, name):
        """The :class:`ThresholdUnit` called ``name``."""
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"no unit named {name!r}; units: "
                       f"{', '.join(u.name for u in self.units)}")

    def add_unit(self, weights, bias, name=None, output=False):
        """Add y = I{Σ w_s z_s + bias > 0} and return its name.

        Parameters
        ----------
        weights : dict or sequence
            ``{source: weight}`` over input names and earlier units' names,
            or a sequence of one weight per network input.
        bias : float
        name : str, optional
            Default ``h1, h2, ...`` (``y`` for an output, when free).
        output : bool
            Mark the unit as an output of the network.
        """
        if isinstance(weights, dict):
            sources, values = list(weights.keys()), list(weights.values())
        else:
            if isinstance(weights, np.ndarray) and weights.dtype.kind in "cV":
                raise TypeError(f"weights must be real numbers, got dtype "
                                f"{weights.dtype}")
            values = list(np.ravel(np.asarray(weights, dtype=object)))
            if len(values) != self.n_inputs:
                raise ValueError(
                    f"weights has {len(values)} entries; a sequence needs one "
                    f"per input ({self.n_inputs}), or pass a dict "
                    "{source: weight}")
            sources = list(self.inputs)
        for s in sources:
            if s not in self._index:
                raise ValueError(
                    f"unknown source {s!r} in weights: a unit may read the "
                    f"inputs ({', '.join(self.inputs)}) or earlier units "
                    f"({', '.join(u.name for u in self.units) or 'none yet'})")
        if len(set(sources)) != len(sources):
            raise ValueError("weights names a source twice")
        w = _real_array(values, "weights")
        b = _real_array([bias], "bias")[0]
        if not (np.isfinite(w).all() and np.isfinite(b)):
            raise ValueError("weights and bias must be finite")
        if name is None:
            name = "y" if output and "y" not in self._index \
                else f"h{len(self.units) + 1}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if name in self._index:
            raise ValueError(f"the name {name!r} is already used")
        self._index[name] = len(self._index)
        self.units.append(ThresholdUnit(name, sources, w, b))
        if output:
            self._outputs.append(name)
        return name

    def set_outputs(self, *names):
        """Make the units ``names`` (in this order) the network's outputs."""
        for s in names:
            self.unit(s)
        self._outputs = list(names)

    def evaluate(self, X, return_all=False):
        """Outputs for each row of X, as ints in {0, 1}.

        X is (n, n_inputs) (any finite reals; Boolean inputs are 0/1) or a
        single sample (n_inputs,).  Returns shape (n,) for one output unit,
        (n, n_outputs) otherwise, without the sample axis for a 1-D X; with
        ``return_all`` a dict of every unit's outputs, by name.
        """
        if not self.units:
            raise ValueError("the network has no units; add_unit first")
        X = to_array(X, "X")               # ragged rows: a ValueError naming X
        single = X.ndim == 1
        X = as_float_array(X.reshape(1, -1) if single else X, "X", np.float64)
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"X has {X.shape[1]} inputs per sample, the "
                             f"network expects {self.n_inputs}")
        n = X.shape[0]
        Z = np.empty((n, len(self._index)), dtype=np.float64)
        Z[:, :self.n_inputs] = X
        for k, u in enumerate(self.units):
            idx = [self._index[s] for s in u.sources]
            s = Z[:, idx] @ u.weights if idx else np.zeros(n)
            Z[:, self.n_inputs + k] = (s + u.bias) > 0
        Z = Z.astype(np.int64)
        if return_all:
            return {u.name: (Z[0, self.n_inputs + k] if single
                             else Z[:, self.n_inputs + k])
                    for k, u in enumerate(self.units)}
        cols = [self._index[s] for s in self.outputs]
        Y = Z[:, cols[0]] if len(cols) == 1 else Z[:, cols]
        return Y[0] if single else Y

    __call__ = evaluate

    def truth_table(self):
        """(X, Y): every input of {0, 1}ⁿ (see :func:`all_inputs`) and the
        network's outputs for it."""
        X = all_inputs(self.n_inputs)
        return X, self.evaluate(X)

    def weight_matrix(self):
        """(W, b, names): all weights as one matrix.

        W has shape (n_units, n_inputs + n_units), row k holding unit k's
        weights on every input and unit (0 where not connected; the unit
        block is strictly lower triangular); b (n_units,); names lists the
        columns (inputs, then units).
        """
        names = list(self._index)
        W = np.zeros((len(self.units), len(names)))
        for k, u in enumerate(self.units):
            for s, w in zip(u.sources, u.weights):
                W[k, self._index[s]] = w
        return W, np.array([u.bias for u in self.units]), names

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        lines = [f"ThresholdNetwork{label}: inputs {', '.join(self.inputs)}"]
        width = max((len(u.name) for u in self.units), default=0)
        out = set(self.outputs)
        for u in self.units:
            tag = "  (output)" if u.name in out else ""
            lines.append(f"  {u.name:<{width}} = {u.equation()}{tag}")
        return "\n".join(lines)


# ---------------------------------------------------------- ready-made nets
def _real_array(values, name):
    """float64 array of a list of real numbers (bool, int, float, NumPy
    reals).  TypeError naming ``name`` for complex values (whose imaginary
    part a float conversion would silently drop) and structured ones;
    ValueError for anything else that is not a real number (str, None...).
    """
    for v in values:
        if isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real) \
                or np.asarray(v).dtype.kind in "cV":
            raise TypeError(f"{name} must be real numbers, got {v!r} of type "
                            f"{type(v).__name__}")
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be real numbers, got {exc}") from None


def _check_n(n_inputs):
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, numbers.Integral) \
            or n_inputs < 1:
        raise ValueError(f"n_inputs must be an integer ≥ 1, got {n_inputs!r}")
    return int(n_inputs)


def _single(n_inputs, w, bias, name):
    net = ThresholdNetwork(n_inputs, name=name)
    net.add_unit([w] * n_inputs, bias, name="y", output=True)
    return net


def AND(n_inputs=2):
    """y = x1 ∧ … ∧ xn = I{Σ x_i − n + ½ > 0} (for n = 2: x1 + x2 − 1.5)."""
    n = _check_n(n_inputs)
    return _single(n, 1, -(n - 0.5), "AND")


def OR(n_inputs=2):
    """y = x1 ∨ … ∨ xn = I{Σ x_i − ½ > 0}."""
    return _single(_check_n(n_inputs), 1, -0.5, "OR")


def NAND(n_inputs=2):
    """y = ¬(x1 ∧ … ∧ xn) = I{−Σ x_i + n − ½ > 0}."""
    n = _check_n(n_inputs)
    return _single(n, -1, n - 0.5, "NAND")


def NOR(n_inputs=2):
    """y = ¬(x1 ∨ … ∨ xn) = I{−Σ x_i + ½ > 0}."""
    return _single(_check_n(n_inputs), -1, 0.5, "NOR")


def NOT():
    """y = ¬x = I{−x + ½ > 0}."""
    return _single(1, -1, 0.5, "NOT")


def XOR():
    """y = x1 ⊕ x2 with two hidden units: h1 = OR, h2 = NAND, y = AND(h1, h2)."""
    net = ThresholdNetwork(2, name="XOR")
    net.add_unit({"x1": 1, "x2": 1}, -0.5, name="h1")        # OR
    net.add_unit({"x1": -1, "x2": -1}, 1.5, name="h2")       # NAND
    net.add_unit({"h1": 1, "h2": 1}, -1.5, name="y", output=True)   # AND
    return net


def from_truth_table(values, name=None):
    """The construction theorem: a one-hidden-layer net for any Boolean table.

    ``values`` lists f(x) for the 2ⁿ inputs in :func:`all_inputs` order.
    Hidden unit p detects pattern p exactly — weight +1 on x_i where p_i = 1,
    −1 where p_i = 0, bias ½ − |p|, so its sum is ½ at x = p and ≤ −½
    elsewhere — and the output is I{Σ_p f(p) h_p − ½ > 0}.

    Raises TypeError, naming ``values``, for values that are not real
    numbers (complex, str, bytes, timedelta, datetime, structured) and
    ValueError for anything else that is not 2ⁿ values in {0, 1} (ragged
    lists included).
    """
    v = to_array(values, "values")
    if v.dtype.kind not in "biufO":
        raise TypeError(f"values must be 0/1 numbers (bool, int or float), "
                        f"got dtype {v.dtype}")
    n = int(np.log2(v.size)) if v.size else 0
    if v.ndim != 1 or v.size < 2 or 2 ** n != v.size \
            or not np.isin(v, (0, 1)).all():
        shown = v.ravel()[:16].tolist()
        raise ValueError("values must be a 1-D sequence of 2ⁿ (n ≥ 1) values "
                         f"in {{0, 1}}, got shape {v.shape}: {shown!r}"
                         + (" ..." if v.size > 16 else ""))
    refuse_masked(v, "values")
    bits = np.asarray(v == 1)            # 0/1 objects: no int() of them
    net = ThresholdNetwork(n, name=name)
    hidden = []
    for k, p in enumerate(all_inputs(n)):
        hidden.append(net.add_unit(
            {x: (1 if bit else -1) for x, bit in zip(net.inputs, p)},
            0.5 - p.sum(), name=f"h{k + 1}"))
    net.add_unit({h: int(f) for h, f in zip(hidden, bits)}, -0.5, name="y",
                 output=True)
    return net


def IFF(hidden=2):
    """y = x1 ↔ x2 (XNOR) with 4, 2 or 1 hidden units (see module doc).

    ``hidden=1`` uses direct input→output connections.
    """
    if hidden == 4 and not isinstance(hidden, bool):
        return from_truth_table([1, 0, 0, 1], name="IFF (4 hidden units)")
    if hidden == 2 and not isinstance(hidden, bool):
        # XOR's hidden units keep their roles; the output's weights and bias
        # are negated, which negates its sum (never 0 here) and so its value.
        net = XOR()
        net.name = "IFF (2 hidden units)"
        out = net.unit("y")
        out.weights = -out.weights
        out.bias = -out.bias
        return net
    if hidden == 1 and not isinstance(hidden, bool):
        net = ThresholdNetwork(2, name="IFF (1 hidden unit)")
        net.add_unit({"x1": 1, "x2": 1}, -1.5, name="h1")           # AND
        net.add_unit({"x1": -1, "x2": -1, "h1": 2}, 0.5, name="y", output=True)
        return net
    raise ValueError(f"hidden must be 4, 2 or 1, got {hidden!r}")


XNOR = IFF
