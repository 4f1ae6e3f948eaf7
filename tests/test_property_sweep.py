"""Seeded random sweep of the public entry points over hostile inputs.

For every drawn case, an array argument of an entry point is replaced by a
hostile variant — dtype (float64/32/16, longdouble, big-endian, int,
uint8, bool, complex, object, str, bytes, timedelta, nested and ragged
lists) × layout (C, Fortran, strided,
negative strides, read-only, unmasked masked arrays, 0-d, 1-d, 3-d) ×
shape (0, 1 or odd rows, wrong widths) × special values (NaN, ±inf,
±1e300, −0.0, subnormals) — and the call must give

  * the same result, bit for bit, as the same call on a clean C-contiguous
    float copy of that argument (real dtypes in any layout must be
    accepted whenever the clean copy is), or
  * a ValueError/TypeError whose message names the argument, with the
    model's (estimator's) parameters unchanged;

a call that the clean copy makes fail with FloatingPointError (or its
subclass DivergenceError) must fail the same way and leave the same
parameters.  Any other exception is a failure.

Each group of entry points runs in its own subprocess (``python
test_property_sweep.py GROUP N``), so a crash fails one test, not the
runner; the child prints each case before running it, so a crash names its
case.  Draws come from numpy's seeded generator (no hypothesis needed).

Every case the first version of this sweep left out (issue 17 items 6
and 10 and the defects it found) is swept now: huge MLP widths (2**63,
2**64, beyond memory, int64-overflowing products), ``MLP(5)`` /
``MLP(None)``, float32 setters given values beyond float32, huge Perceptron
targets (1e300), Adaline's targets (named ``t``), and ragged lists and
timedelta values for every array argument, pynn.logic included.  Masked
entries (item 7) are not drawn: masked layouts mask nothing.
"""
import json
import os
import re
import subprocess
import sys
import traceback
import warnings

import numpy as np
import pytest

# ------------------------------------------------------------ hostile arrays
SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, -0.0, 5e-324, 1e-40, 0.0]
DTYPES = ["float64", "float32", "float16", ">f8", ">f4", "longdouble",
          "int64", "int32", "uint8", "bool", "complex128", "object", "str",
          "bytes", "timedelta", "list", "ragged"]
LAYOUTS = ["C", "C", "F", "strided", "negstride", "readonly", "masked", "0d",
           "1d", "3d"]
STRICT = "biuf"     # kinds whose clean copy must give the same result


def with_specials(rng, v, p=0.3):
    """v with, on probability p, one to two entries set to special values."""
    v = np.array(v, dtype=np.float64)
    if v.size and rng.random() < p:
        for _ in range(int(rng.integers(1, 3))):
            v.flat[int(rng.integers(v.size))] = SPECIALS[rng.integers(len(SPECIALS))]
    return v


def as_dtype(rng, v, dtype):
    """The values v (float64) held in ``dtype`` (ints: rounded, specials
    replaced; complex: sometimes a non-zero imaginary part)."""
    with np.errstate(all="ignore"):
        if dtype in ("int64", "int32", "uint8"):
            w = np.round(np.nan_to_num(v, nan=0.0, posinf=7.0, neginf=-7.0))
            lo, hi = (0, 255) if dtype == "uint8" else (-1e6, 1e6)
            w = np.clip(w, lo, hi)
            return w.astype(dtype)
        if dtype == "bool":
            return v > 0
        if dtype == "complex128":
            c = v.astype(np.complex128)
            if c.size and rng.random() < 0.5:
                c.flat[0] += 1j
            return c
        if dtype == "object":
            return v.astype(object)
        if dtype == "str":
            return v.astype(str)
        if dtype == "bytes":
            return v.astype("S32")
        if dtype == "timedelta":
            return np.round(np.nan_to_num(v, nan=0.0, posinf=7.0, neginf=-7.0)
                            ).clip(-1e6, 1e6).astype("m8[s]")
        if dtype == "ragged":              # rows of unequal lengths
            rows = v.tolist() if v.ndim == 2 else [v.tolist()]
            if not rows or not rows[0]:
                return [[0.0], [0.0, 0.0]]
            if len(rows) == 1:
                return rows + [rows[0] + [0.0]]
            rows[-1] = rows[-1][:-1]
            return rows
        if dtype == "list":
            return v.tolist()
        return v.astype(dtype)


def as_layout(a, layout):
    """The array (or list) a in ``layout``; lists only change dimensions."""
    if isinstance(a, list):
        arr = np.array(a, dtype=object)
        if layout == "0d":
            return float(arr.flat[0]) if arr.size else 0.0
        if layout == "1d":
            return arr.ravel().tolist()
        if layout == "3d":
            return [a]
        return a
    if layout == "0d":
        return np.asarray(a.flat[0] if a.size else a.dtype.type(0))
    if layout == "1d":
        return a.ravel()
    if layout == "3d":
        return a[None]
    if a.ndim == 0:
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.repeat(a, 2, axis=-1)
        if a.ndim == 2:
            big = np.repeat(big, 2, axis=0)[::2]
        return big[..., ::2]
    if layout == "negstride":
        return a[::-1].copy()[::-1]
    if layout == "masked":
        # Nothing masked: the data are the values.  (Masked entries are
        # issue 17 item 7, other owner.)
        return np.ma.masked_array(a, mask=np.zeros(a.shape, bool))
    if layout == "readonly":
        r = a.copy()
        r.flags.writeable = False
        return r
    return np.ascontiguousarray(a)


def hostile(rng, v, dtypes=DTYPES, layouts=LAYOUTS):
    """(description, hostile argument) from the float64 values v."""
    dtype = dtypes[rng.integers(len(dtypes))]
    layout = layouts[rng.integers(len(layouts))] if dtype != "ragged" else "C"
    a = as_layout(as_dtype(rng, v, dtype), layout)
    return f"{dtype}/{layout}/shape{np.shape(v)}", a


def clean_copy(a, dtype=np.float64):
    """A C-contiguous float64 copy of a (same dimensions; float64 holds
    every value of the hostile dtypes exactly), and whether the hostile call
    must match it: "strict" for real dtypes, "either" for object/str and
    complex with zero imaginary parts (matching or a clear error both
    fine), None when a must be refused (complex with an imaginary part: a
    float copy would drop it)."""
    if isinstance(a, (list, float)):
        try:
            arr = np.asarray(a, dtype=np.float64)
        except ValueError:                  # ragged: must be refused
            return None, None
        mode = "strict"
    else:
        arr = np.asarray(a)
        mode = "strict" if arr.dtype.kind in STRICT else "either"
        if arr.dtype.kind == "c":
            if (arr.imag != 0).any():
                return None, None
            arr = arr.real
        if mode == "either":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):     # no float copy: refuse
                return None, None
    with np.errstate(all="ignore"):
        return np.ascontiguousarray(arr, dtype=dtype).reshape(arr.shape), mode


# ------------------------------------------------------------ outcomes
def run(fn):
    """("ok", value) | ("error", exc) for ValueError/TypeError |
    ("fpe", exc) for FloatingPointError | ("other", exc)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except (ValueError, TypeError) as exc:
        return "error", exc
    except FloatingPointError as exc:
        return "fpe", exc
    except Exception as exc:                      # noqa: BLE001 - recorded
        return "other", exc


def same(a, b):
    """Bit-for-bit equality of nested results (NaN equal to NaN)."""
    if isinstance(a, (tuple, list)):
        return (isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")) \
            or np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def names(msg, arg):
    """True if the message names the argument ``arg`` (as a whole word)."""
    return re.search(r"(?<![A-Za-z_])" + re.escape(arg) + r"(?![A-Za-z_\d])",
                     msg) is not None


class Sweep:
    """Collects failures of one group."""

    def __init__(self, group):
        self.group = group
        self.failures = []
        self.counts = {}

    def case(self, desc):
        print(f"case {desc}", file=sys.stderr, flush=True)
        self.desc = desc

    def fail(self, why):
        self.failures.append(f"{self.desc}: {why}")

    def check(self, arg, call, a, state, after=None, fpe_unchanged=False):
        """Run ``call(a)`` against ``call(clean copy of a)``.

        ``call(x)`` builds a fresh subject (model/estimator) and returns
        (subject, fn) with fn() the call; ``state(subject)`` its parameters;
        ``after(subject, value)`` the result to compare (default: value).
        An argument holding NaN or ±inf must be refused; with
        ``fpe_unchanged`` a FloatingPointError must leave the parameters
        unchanged too.
        """
        clean, mode = clean_copy(a)
        if clean is not None and clean.size and not np.isfinite(clean).all():
            mode = None                           # NaN/inf: must be refused
        subj, fn = call(a)
        before = state(subj)
        kind, value = run(fn)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        got = None if kind != "ok" else (after(subj, value) if after else value)
        if kind == "other":
            self.fail(f"{arg}: raised {type(value).__name__}: {value}")
            return
        if kind == "fpe" and fpe_unchanged and not same(state(subj), before):
            self.fail(f"{arg}: {type(value).__name__} changed the parameters")
        if kind == "error":
            if not names(str(value), arg):
                self.fail(f"{type(value).__name__} does not name {arg!r}: {value}")
            if not same(state(subj), before):
                self.fail(f"{arg}: parameters changed although the call raised")
        if mode is None:
            if kind != "error":
                self.fail(f"{arg}: accepted although it must be refused "
                          f"(outcome {kind})")
            return
        rsubj, rfn = call(clean)
        rkind, rvalue = run(rfn)
        want = None if rkind != "ok" else (after(rsubj, rvalue) if after else rvalue)
        if rkind == "other":
            self.fail(f"{arg} (clean copy): raised {type(rvalue).__name__}: {rvalue}")
        elif rkind == "error" and not names(str(rvalue), arg):
            self.fail(f"{type(rvalue).__name__} (clean copy) does not name "
                      f"{arg!r}: {rvalue}")
        if kind == "error" and (rkind != "ok" or mode == "either"):
            return                              # refused, as it may be
        if kind != rkind:
            self.fail(f"{arg}: outcome {kind} ({value!s:.200}) but the clean "
                      f"copy gives {rkind} ({rvalue!s:.200})")
        elif kind == "ok" and not same(got, want):
            self.fail(f"{arg}: result differs from the clean copy's")
        elif kind == "fpe" and (type(value) is not type(rvalue)
                                or not same(state(subj), state(rsubj))):
            self.fail(f"{arg}: {type(value).__name__} leaves other parameters "
                      f"than the clean copy's {type(rvalue).__name__}")


# ------------------------------------------------------------ groups
def _rows(rng):
    return int(rng.choice([0, 1, 1, 2, 3, 5, 7]))


def _width(rng, good):
    if rng.random() < 0.85:
        return good
    return int(rng.choice([max(good - 1, 0), good + 1]))


ARCHS = [  # (sizes, hidden, output, loss, target kind)
    ([3, 4, 2], "tanh", "softmax", "cross_entropy", "onehot"),
    ([3, 4, 2], "relu", "softmax", "cross_entropy", "labels"),
    ([3, 5, 1], "sigmoid", "identity", "squared_error", "real"),
    ([3, 2], "tanh", "sigmoid", "binary_cross_entropy", "unit"),
    ([3, 4, 3], "leaky_relu", "identity", "squared_error", "real"),
]


def targets(rng, kind, n, c, bad=False):
    """Target values (float64) of a kind: labels (n,), else (n, c); with
    ``bad``, sometimes a label outside [0, c) or not whole."""
    if kind == "labels":
        v = rng.integers(0, c, size=n).astype(np.float64)
        if bad and n and rng.random() < 0.2:
            v[0] = rng.choice([-1, c, 0.5])
        return v
    if kind == "onehot":
        v = np.zeros((n, c))
        if n:
            v[np.arange(n), rng.integers(0, c, size=n)] = 1
        return v
    if kind == "unit":
        return rng.uniform(0, 1, size=(n, c))
    return rng.standard_normal((n, c)) * rng.choice([1.0, 1e3])


def group_model(sw, rng, n_cases):
    import pynn
    entries = ["forward", "backward", "loss", "input_gradient", "train_step"]
    for i in range(n_cases):
        sizes, hidden, output, loss, tkind = ARCHS[rng.integers(len(ARCHS))]
        dtype = ["float32", "float64"][rng.integers(2)]
        base = pynn.MLP(sizes, hidden=hidden, output=output, dtype=dtype,
                        seed=int(rng.integers(100)))
        entry = entries[rng.integers(len(entries))]
        # Only the swept argument is hostile; the other one is valid (and
        # X has a row unless X is swept).
        arg = "X" if entry == "forward" or rng.random() < 0.5 else "T"
        n = _rows(rng) if arg == "X" else max(_rows(rng), 1)
        X = rng.standard_normal((n, sizes[0]))
        T = targets(rng, tkind, n, sizes[-1])
        if arg == "X":
            h = with_specials(rng, rng.standard_normal((n, _width(rng, sizes[0])))
                              * rng.choice([1.0, 1.0, 1e200]))
        else:
            h = with_specials(rng, targets(rng, tkind, n + (rng.random() < 0.1),
                                           sizes[-1], bad=True), p=0.2)
        desc, a = hostile(rng, h)
        sw.case(f"{i} {entry}({arg}={desc}) {sizes} {hidden}/{output} "
                f"{loss} {dtype}")

        def call(x, entry=entry, arg=arg, base=base, X=X, T=T, loss=loss):
            m = base.copy()
            Xa, Ta = (x, T) if arg == "X" else (X, x)
            if entry == "forward":
                return m, lambda: m.forward(Xa)
            if entry == "train_step":
                return m, lambda: m.train_step(Xa, Ta, loss=loss, lr=0.1)
            return m, lambda: getattr(m, entry)(Xa, Ta, loss=loss)

        def after(m, value, entry=entry):
            if entry == "backward":
                return value, m.grads.copy(), m.params.copy()
            if entry == "train_step":
                return value, m.params.copy()
            return value, m.params.copy()

        sw.check(arg, call, a, lambda m: m.params.copy(), after,
                 fpe_unchanged=entry == "train_step")


def group_setters(sw, rng, n_cases):
    """model.params = a, layer.W = a, layer.b = a."""
    import pynn
    for i in range(n_cases):
        dtype = ["float32", "float64"][rng.integers(2)]
        base = pynn.MLP([3, 4, 2], hidden="tanh", dtype=dtype, seed=3)
        target = ["params", "W", "b"][rng.integers(3)]
        shape = {"params": (base.n_params,), "W": (4, 3), "b": (4,)}[target]
        if rng.random() < 0.1:
            shape = shape[:-1] + (shape[-1] + 1,)
        v = with_specials(rng, rng.standard_normal(shape))
        desc, a = hostile(rng, v)
        sw.case(f"{i} {target} = {desc} {dtype}")

        def call(x, base=base, target=target):
            m = base.copy()
            obj = m if target == "params" else m.layers[0]
            return m, lambda: setattr(obj, target, x)

        sw.check(target, call, a, lambda m: m.params.copy(),
                 lambda m, value: m.params.copy())


def group_mlp(sw, rng, n_cases):
    import pynn
    good = [3, 4, 2]
    sizes_variants = [
        ("list", good), ("tuple", tuple(good)), ("int64", np.array(good)),
        ("int32 list", [np.int32(s) for s in good]), ("range", range(3, 5)),
        ("floats", [3.0, 4.0, 2.0]), ("bool", [3, True, 2]), ("zero", [3, 0, 2]),
        ("negative", [3, -4, 2]), ("one", [3]), ("empty", []), ("str", "342"),
        ("nested", [[3, 4], 2]), ("complex", [3, 4j, 2]),
        ("2**64", [3, 2 ** 64, 2]), ("2**63", [3, 2 ** 63, 2]),
        ("beyond memory", [3, 2 ** 40, 2]),
        ("int64 overflow", np.array([2 ** 62, 2 ** 62])),
        ("float array", np.array(good, dtype=float)),
        ("int", 5), ("None", None),
        ("object", np.array(good, dtype=object)),
        ("nan", [3, float("nan"), 2]), ("generator", (s for s in good)),
    ]
    acts = ["relu", "tanh", "Relu", "", None, 3, "softmax", "step"]
    dtypes = ["float32", "float64", np.float32, np.dtype("float64"), "f4",
              "float16", "int32", None, "double", object, 1.5]
    seeds = [0, 7, np.int64(3), None, -1, 1.5, "1", True, 2**70, np.uint8(5)]
    for i in range(n_cases):
        which = ["sizes", "hidden", "output", "dtype", "seed"][rng.integers(5)]
        kw = dict(sizes=list(good), hidden="tanh", output="identity",
                  dtype="float64", seed=1)
        if which == "sizes":
            label, value = sizes_variants[rng.integers(len(sizes_variants))]
            if label == "generator":
                value = (s for s in good)
        else:
            pool = {"hidden": acts, "output": acts, "dtype": dtypes,
                    "seed": seeds}[which]
            value = pool[rng.integers(len(pool))]
            label = repr(value)
        kw[which] = value
        sw.case(f"{i} MLP({which}={label})")
        kind, model = run(lambda: pynn.MLP(**kw))
        sw.counts[kind] = sw.counts.get(kind, 0) + 1
        if kind == "other":
            sw.fail(f"raised {type(model).__name__}: {model}")
        elif kind == "error":
            msg = str(model)
            hint = {"hidden": "activation", "output": "activation"}.get(which)
            if not (names(msg, which) or (hint and hint in msg)):
                sw.fail(f"{type(model).__name__} does not name {which!r}: {msg}")
        elif kind == "ok":
            # Built: it must equal the model built from the clean values.
            ref = pynn.MLP(sizes=[int(s) for s in model.sizes],
                           hidden=model.layers[0].activation.name,
                           output=model.layers[-1].activation.name,
                           dtype=model.dtype.name,
                           seed=kw["seed"] if which == "seed" else 1)
            if which == "sizes" and label != "range" and model.sizes != good:
                sw.fail(f"sizes {label} built {model.sizes}")
            if which == "dtype" and model.dtype.name not in ("float32", "float64"):
                sw.fail(f"dtype {label} built {model.dtype}")
            if kw["seed"] is not None and not same(model.params, ref.params):
                sw.fail("parameters differ from the clean construction")


def group_trainer(sw, rng, n_cases):
    import pynn
    for i in range(n_cases):
        sizes, hidden, output, loss, tkind = ARCHS[rng.integers(len(ARCHS))]
        dtype = ["float32", "float64"][rng.integers(2)]
        base = pynn.MLP(sizes, hidden=hidden, output=output, dtype=dtype, seed=2)
        n = int(rng.choice([1, 2, 3, 5, 8]))
        nv = int(rng.choice([1, 2, 3]))
        X = rng.standard_normal((n, sizes[0]))
        T = targets(rng, tkind, n, sizes[-1])
        Xv = rng.standard_normal((nv, sizes[0]))
        Tv = targets(rng, tkind, nv, sizes[-1])
        arg = ["X", "y", "validation_data[0]", "validation_data[1]"][rng.integers(4)]
        if arg in ("X", "validation_data[0]"):
            rows = n if arg == "X" else nv
            h = with_specials(rng, rng.standard_normal(
                (rows, _width(rng, sizes[0]))) * rng.choice([1.0, 1e150]))
        else:
            rows = n if arg == "y" else nv
            h = with_specials(rng, targets(rng, tkind, rows + (rng.random() < 0.1),
                                           sizes[-1], bad=True), p=0.2)
        desc, a = hostile(rng, h)
        batch = [None, 1, 2][rng.integers(3)]
        opt = ["sgd", "adam", "momentum"][rng.integers(3)]
        sw.case(f"{i} fit({arg}={desc}) {sizes} {loss} {dtype} batch={batch} {opt}")

        def call(x, arg=arg, base=base, parts=(X, T, Xv, Tv), loss=loss,
                 batch=batch, opt=opt):
            m = base.copy()
            args = dict(zip(["X", "y", "validation_data[0]", "validation_data[1]"],
                            parts))
            args[arg] = x
            tr = pynn.Trainer(m, loss=loss, optimizer=opt, lr=0.05,
                              batch_size=batch, epochs=2, shuffle=True, seed=0)
            return m, lambda: tr.fit(args["X"], args["y"], validation_data=(
                args["validation_data[0]"], args["validation_data[1]"]))

        def after(m, h):
            return (np.array(h.loss), np.array(h.val_loss),
                    np.array(h.accuracy or []), m.params.copy())

        sw.check(arg, call, a, lambda m: m.params.copy(), after)


def group_rules(sw, rng, n_cases):
    import pynn
    kinds = ["Perceptron", "LMS", "Adaline", "GeneralizedDelta", "Hebbian"]
    for i in range(n_cases):
        kind = kinds[rng.integers(len(kinds))]
        dtype = ["float32", "float64"][rng.integers(2)]
        n_in = 3
        n = int(rng.choice([1, 2, 3, 5, 8]))
        nt = n + 1 if rng.random() < 0.1 else n     # a wrong length, if swept
        if kind == "Perceptron":
            t = rng.integers(0, 2, size=nt).astype(float)
            make = lambda: pynn.Perceptron(max_epochs=5, dtype=dtype)
            targ = "t"
        elif kind == "Adaline":
            t = rng.choice([-1.0, 1.0], size=nt)
            make = lambda: pynn.Adaline(lr=0.01, epochs=3, dtype=dtype)
            targ = "t"
        elif kind == "GeneralizedDelta":
            t = rng.uniform(0, 1, size=nt)
            make = lambda: pynn.GeneralizedDelta(lr=0.1, epochs=3, dtype=dtype)
            targ = "d"
        elif kind == "LMS":
            t = rng.standard_normal(nt)
            make = lambda: pynn.LMS(lr=0.01, epochs=3, dtype=dtype)
            targ = "d"
        else:
            t = None
            make = lambda: pynn.Hebbian("oja", lr=0.01, epochs=2, seed=4, dtype=dtype)
            targ = None
        X = rng.standard_normal((n, n_in))
        entry = "predict" if rng.random() < 0.3 else "fit"
        arg = targ if (entry == "fit" and targ and rng.random() < 0.5) else "X"
        if arg == "X":
            h = with_specials(rng, rng.standard_normal((n, _width(rng, n_in))))
        else:
            h = with_specials(rng, t, p=0.2)
        t = None if t is None else t[:n]
        desc, a = hostile(rng, h)
        sw.case(f"{i} {kind}.{entry}({arg}={desc}) {dtype}")
        X0 = np.random.default_rng(5).standard_normal((4, n_in))
        t0 = {"Perceptron": [0.0, 1, 1, 0], "Adaline": [-1.0, 1, 1, -1],
              "GeneralizedDelta": [0.2, 0.4, 0.6, 0.8], "LMS": [1.0, 2, 3, 4],
              "Hebbian": None}[kind]

        def fitted():
            est = make()
            return est.fit(X0) if t0 is None else est.fit(X0, t0)

        def call(x, arg=arg, entry=entry, X=X, t=t, kind=kind):
            est = fitted()
            if entry == "predict":
                fn = est.transform if kind == "Hebbian" else est.predict
                return est, lambda: fn(x)
            Xa, ta = (x, t) if arg == "X" else (X, x)
            if t is None:
                return est, lambda: est.fit(Xa)
            return est, lambda: est.fit(Xa, ta)

        def state(est):
            return np.array(est.w, copy=True), np.array(est.b, copy=True)

        def after(est, value, entry=entry):
            if entry == "predict":
                return value
            return state(est)

        sw.check(arg, call, a, state, after)


def group_logic(sw, rng, n_cases):
    from pynn import logic
    for i in range(n_cases):
        entry = ["evaluate", "evaluate", "from_truth_table",
                 "add_unit"][rng.integers(4)]
        if entry == "evaluate":
            n = _rows(rng)
            X = with_specials(rng, rng.integers(0, 2, size=(n, _width(rng, 2))))
            desc, a = hostile(rng, X)
            sw.case(f"{i} XOR().evaluate(X={desc})")
            call = lambda x: (None, lambda: logic.XOR().evaluate(x))
            sw.check("X", call, a, lambda s: None)
        elif entry == "from_truth_table":
            v = rng.integers(0, 2, size=int(rng.choice([2, 3, 4, 8])))
            desc, a = hostile(rng, with_specials(rng, v, p=0.15), DTYPES,
                              layouts=["C", "F", "strided", "readonly", "0d", "3d"])
            sw.case(f"{i} from_truth_table(values={desc})")
            call = lambda x: (None, lambda: logic.from_truth_table(x).truth_table())
            sw.check("values", call, a, lambda s: None)
        else:
            w = with_specials(rng, rng.standard_normal(_width(rng, 3)), p=0.2)
            desc, a = hostile(rng, w,
                              layouts=["C", "strided", "readonly", "1d", "3d"])
            sw.case(f"{i} add_unit(weights={desc})")

            def call(x):
                net = logic.ThresholdNetwork(3)
                return net, lambda: (net.add_unit(x, 0.5, output=True),
                                     net.truth_table())[1]
            sw.check("weights", call, a,
                     lambda net: [u.weights.copy() for u in net.units])


GROUPS = {"model": (group_model, 800), "setters": (group_setters, 300),
          "mlp": (group_mlp, 300), "trainer": (group_trainer, 300),
          "rules": (group_rules, 600), "logic": (group_logic, 400)}


def main(group, n_cases, seed):
    fn, _ = GROUPS[group]
    sw = Sweep(group)
    rng = np.random.default_rng(seed)
    try:
        fn(sw, rng, n_cases)
    except Exception:                               # noqa: BLE001
        sw.failures.append("sweep aborted:\n" + traceback.format_exc())
    print(json.dumps({"failures": sw.failures, "counts": sw.counts}))


# ------------------------------------------------------------ the tests
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_sweep(group):
    n_cases = GROUPS[group][1]
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), group,
                           str(n_cases), "17"], capture_output=True, text=True,
                          timeout=300, env=env,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    last_case = (proc.stderr.strip().splitlines() or ["(none)"])[-1]
    assert proc.returncode == 0, (
        f"the {group} sweep crashed (exit {proc.returncode}) at {last_case}\n"
        f"{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    failures = out["failures"]
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures[:25])
    counts = out["counts"]
    # Not vacuous: the group ran its cases, some accepted and some refused.
    assert sum(counts.values()) == n_cases, counts
    assert counts.get("ok", 0) > n_cases // 10, counts
    assert counts.get("error", 0) > n_cases // 10, counts


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
