"""Input checks at the Python boundary, before any compiled kernel runs.

Compiled code never sees bad input: every array that reaches a kernel has
passed through one of these functions, which either return a C-contiguous
array of the requested dtype (a copy when needed — Fortran order, strides,
other dtypes, read-only inputs are fine) or raise ValueError/TypeError naming
the argument and what was expected.

Masked arrays (``numpy.ma``): every check reads the raw data, which is what
a kernel would see; an array that passes them but still has masked entries
is then refused (pynn has no missing values, see :func:`refuse_masked`).
"""
import math
import numbers

import numpy as np

from pynn import _checks

DTYPES = {"float32": np.float32, "float64": np.float64}
_SCANNED = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype):
    """Return np.float32 or np.float64 for a dtype-like; raise otherwise."""
    try:
        name = None if dtype is None else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(
            f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return DTYPES[name]


def as_float_array(a, name, dtype, ndim=2, allow_empty=True):
    """Return ``a`` as a C-contiguous array of ``dtype`` with ``ndim`` dims.

    Raises TypeError for non-numeric data (object, str, complex) and
    ValueError for the wrong number of dimensions, NaN or inf, and for an
    empty array when ``allow_empty`` is False.
    """
    arr = to_array(a, name)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, int or float), "
            f"got dtype {arr.dtype}")
    if arr.ndim != ndim:
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = (" (one sample per row: use a.reshape(1, -1) for a single "
                    "sample or a.reshape(-1, 1) for a single feature)")
        raise ValueError(
            f"{name} must be a {ndim}-D array, got {arr.ndim}-D with shape "
            f"{arr.shape}{hint}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need at "
                         "least one sample")
    if type(arr) is np.ndarray and arr.dtype == dtype and arr.flags.c_contiguous:
        out = arr                        # the common case: no conversion
        # (subclasses such as masked arrays still go through the conversion
        # below, which turns them into plain arrays of their raw data)
    else:
        with np.errstate(over="ignore"):     # reported below as a clear error
            out = np.ascontiguousarray(arr, dtype=dtype)
    if out.dtype.kind == "f" and not all_finite(out):
        # Converting float64 → float32 can overflow to inf: say so.
        if arr.dtype.kind == "f" and np.isfinite(np.asarray(arr)).all():
            raise ValueError(
                f"{name} holds values too large for {np.dtype(dtype).name}")
        raise ValueError(f"{name} contains NaN or infinity")
    refuse_masked(arr, name)
    return out


def to_array(a, name):
    """``np.asarray(a)``, with ragged nested lists refused by a ValueError
    that names the argument (NumPy's own message speaks of an
    "inhomogeneous shape" and names nothing)."""
    if isinstance(a, np.ndarray):
        return a
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{name} must be a numeric array with rows of equal lengths "
            f"(nested lists of equal lengths); could not convert it: {exc}"
        ) from None


def refuse_masked(arr, name):
    """Raise ValueError if ``arr`` is a masked array with masked entries.

    pynn has no notion of missing values: a masked entry still holds a raw
    value, and reading it (or skipping it) silently would train on data the
    caller meant to hide.  Fill the entries (``a.filled(value)``) or drop
    those samples first.  Masked arrays without a masked entry are fine.
    """
    if isinstance(arr, np.ma.MaskedArray) and np.ma.getmaskarray(arr).any():
        raise ValueError(
            f"{name} is a masked array with {int(np.ma.count_masked(arr))} "
            "masked entries; pynn has no missing values: fill them "
            f"({name}.filled(value)) or drop those samples")


def check_sample_weight(sample_weight, n_samples, dtype, name="sample_weight"):
    """Per-sample weights as a C-contiguous 1-D array of ``dtype``, or None.

    ``None`` (every weight 1) is returned as None.  Otherwise the weights
    must be a 1-D array-like of ``n_samples`` real numbers (bool, int or
    float), finite, ≥ 0, and not all zero (after the conversion to
    ``dtype``: a weight that underflows to 0 counts as 0).  The weighted
    mean Σ wᵢ gᵢ / Σ wᵢ the rules and the trainer form needs Σ wᵢ > 0 and
    finite, so a sum that overflows float64 is refused too.

    Raises TypeError for non-real data (complex, structured, object,
    strings) and ValueError, naming ``name``, for everything else.
    """
    if sample_weight is None:
        return None
    arr = to_array(sample_weight, name)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, int or float), got dtype "
            f"{arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of one weight per "
                         f"sample, got {arr.ndim}-D with shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} weights for "
                         f"{n_samples} samples")
    raw = np.asarray(arr)                # masked arrays: their raw data
    with np.errstate(over="ignore"):     # reported below as a clear error
        out = np.ascontiguousarray(raw, dtype=dtype)
    if not all_finite(out):
        if raw.dtype.kind == "f" and np.isfinite(raw).all():
            raise ValueError(
                f"{name} holds values too large for {np.dtype(dtype).name}")
        raise ValueError(f"{name} contains NaN or infinity")
    if out.size and out.min() < 0:
        raise ValueError(f"{name} must be ≥ 0, got {out[out < 0][0]!r} "
                         f"at index {int(np.argmax(out < 0))}")
    with np.errstate(over="ignore"):
        total = float(np.sum(out, dtype=np.float64))
    if not total > 0:
        raise ValueError(f"{name} sums to 0: at least one sample needs a "
                         "positive weight")
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to more than float64 can hold; "
                         "rescale the weights (only their ratios matter)")
    refuse_masked(arr, name)
    return out


def all_finite(a):
    """True if no element of the float array ``a`` is NaN or ±inf.

    float32/float64 arrays are scanned by the compiled ``_checks.all_finite``
    (one pass, no temporary, ~0.3 µs per call); other dtypes by NumPy.
    """
    if a.dtype in _SCANNED:
        return _checks.all_finite(np.ascontiguousarray(a).reshape(-1))
    return bool(np.isfinite(a).all())


def check_X(X, n_features, dtype, name="X", allow_empty=True):
    """A 2-D (n_samples, n_features) float array of ``dtype``."""
    X = as_float_array(X, name, dtype, ndim=2)
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features per sample, the model expects "
            f"{n_features} (shape (n_samples, {n_features}))")
    if not allow_empty and X.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); need at least "
                         "one sample")
    return X


def check_targets(T, n_samples, n_outputs, dtype, name="T",
                  class_indices=False, unit_interval=False):
    """Targets as a (n_samples, n_outputs) float array of ``dtype``.

    A 1-D array is accepted as one column when ``n_outputs == 1``.  With
    ``class_indices`` a 1-D integer array (or floats holding whole numbers),
    or a single column of them when ``n_outputs > 1``, is read as class
    indices in [0, n_outputs) and one-hot encoded.  With
    ``unit_interval`` every value must lie in [0, 1] (probabilities).
    """
    given = to_array(T, name)
    if given.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {given.dtype}")
    T = _check_targets(np.asarray(given), n_samples, n_outputs, dtype, name,
                       class_indices, unit_interval)
    refuse_masked(given, name)     # after the checks of the raw data
    return T


def _check_targets(arr, n_samples, n_outputs, dtype, name, class_indices,
                   unit_interval):
    """check_targets on a plain ndarray of real numbers."""
    if class_indices and arr.ndim == 2 and arr.shape[1] == 1 and n_outputs > 1:
        arr = arr[:, 0]                  # a column of class indices
    if arr.ndim == 1 and class_indices:
        if arr.shape[0] != n_samples:
            raise ValueError(f"{name} has {arr.shape[0]} labels for "
                             f"{n_samples} samples")
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} contains NaN or infinity")
            if (arr != np.round(arr)).any():
                raise ValueError(
                    f"{name} is 1-D, so it must hold class indices (whole "
                    "numbers); pass one-hot rows for soft targets")
        if arr.size and (arr.min() < 0 or arr.max() >= n_outputs):
            bad = arr[(arr < 0) | (arr >= n_outputs)][0]
            raise ValueError(
                f"{name} holds class index {bad}, outside [0, {n_outputs}) "
                f"for a model with {n_outputs} outputs")
        idx = arr.astype(np.intp)
        onehot = np.zeros((n_samples, n_outputs), dtype=dtype)
        onehot[np.arange(n_samples), idx] = 1
        return onehot
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        expect = f"({n_samples}, {n_outputs})"
        if class_indices:
            expect += f" or class indices of shape ({n_samples},)"
        raise ValueError(f"{name} must have shape {expect}, got {arr.shape}")
    T = as_float_array(arr, name, dtype, ndim=2)
    if T.shape != (n_samples, n_outputs):
        hint = (f" (or class indices of shape ({n_samples},))"
                if class_indices else "")
        raise ValueError(f"{name} has shape {T.shape}, expected "
                         f"({n_samples}, {n_outputs}){hint} to match X and "
                         "the model's outputs")
    if unit_interval and T.size and (T.min() < 0 or T.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] for this loss")
    return T


_INDEX_MAX = 2 ** 63 - 1          # the largest count a kernel takes


def check_seed(seed, name="seed"):
    """None or a non-negative int of any size (what np.random.default_rng
    accepts), NumPy integers included (returned as int).  TypeError for
    anything else (float, Fraction, bool, str), ValueError for a negative
    int; both name ``name``."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None or a non-negative integer, "
                        f"got {seed!r}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"{name} must be None or a non-negative integer, "
                         f"got {seed!r}")
    return seed


def check_positive(value, name, integer=False, allow_zero=False):
    """A positive (or, with ``allow_zero``, non-negative) finite number.

    ``integer=True``: an int (or NumPy integer, returned as int) no larger
    than 2**63 − 1, the largest count a compiled loop takes.  Otherwise any
    real number whose float64 value is finite: int, float, NumPy scalars,
    and ``fractions.Fraction`` when it converts exactly (it is then returned
    as that float; Fraction(1, 3) has no exact float and is refused: pass
    ``float(x)`` to accept the rounding).  bool is refused.  TypeError for a
    value of the wrong kind, ValueError otherwise; both name ``name``.
    """
    kind = numbers.Integral if integer else numbers.Real
    what = "an integer" if integer else "a real number"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    sign = "≥ 0" if allow_zero else "> 0"
    if integer:
        value = int(value)
        if value > _INDEX_MAX:
            raise ValueError(f"{name} must be at most 2**63 - 1, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name} must be {sign}, got {value!r}")
        return value
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be {sign} and finite, got a value too "
                         f"large for float64 ({str(value)[:30]}...)") from None
    if not isinstance(value, (int, float, np.integer, np.floating)):
        if f != value:                   # e.g. Fraction(1, 3)
            raise ValueError(f"{name} = {value!r} is not exactly a float64; "
                             f"pass float({name}) to accept the rounding")
        value = f
    if not math.isfinite(f) or f < 0 or (f == 0 and not allow_zero):
        raise ValueError(f"{name} must be {sign} and finite, got {value!r}")
    return value

