"""Safe persistence: models (and, for the Trainer, checkpoints) as .npz files.

Loading a file never executes code from it (DESIGN.md §2): a pynn file is an
uncompressed ``.npz`` archive of plain numeric ``.npy`` entries, read with
``np.load(..., allow_pickle=False)``, plus one entry ``meta`` holding a UTF-8
JSON document as a 1-D uint8 array.  Nothing in it is ever unpickled.

Functions
---------
save_model(model, path) / load_model(path)
    A ``pynn.Model``: its flat parameter buffer and its architecture.
save_arrays(path, arrays, meta) / load_arrays(path, expected_format)
    The general container both are built on: named numeric arrays (bool,
    int, uint, float up to 64 bits, any shape) and a JSON-serialisable dict
    ``meta`` with a ``"format"`` key naming the kind of file.

File layout (format "pynn-model", format_version 1)
----------------------------------------------------
``params``  1-D array of the model's dtype: ``model.params`` (layer ℓ's W_ℓ,
            row-major, then b_ℓ, for every layer in order), little-endian.
``meta``    JSON::

    {"format": "pynn-model", "format_version": 1, "pynn_version": "0.1.0",
     "dtype": "float32", "n_params": 2410,
     "layers": [{"type": "Dense", "n_in": 64, "n_out": 32,
                 "activation": "sigmoid", "activation_param": null}, ...],
     "arrays": {"params": {"dtype": "<f4", "shape": [2410],
                           "sha256": "<hex digest of the array's bytes>"}}}

``activation_param`` is the leaky-relu α or gaussian β, ``null`` for the
activations without a parameter.  ``arrays`` is written by ``save_arrays``
for every array: its dtype, shape and SHA-256 checksum, verified on load, so
that a damaged file is detected rather than loaded with wrong numbers.
The weight initialiser is not saved (a loaded model uses the default one if
``initialize()`` is called again).

Paths
-----
The file is written at exactly the path given: unlike ``np.savez``, no
``.npz`` suffix is appended (``save_model(m, "net")`` writes ``net``).  Use
an ``.npz`` name by convention.

Atomicity
---------
Writing goes to a temporary file in the target's directory, which is
flushed and fsync'ed and then renamed onto the target with ``os.replace``.
A failure or interrupt at any point leaves the previous file at the path
untouched and removes the temporary file.

Errors
------
A missing file raises FileNotFoundError.  Anything wrong with the contents
(not an .npz, truncated, wrong format, unsupported version, inconsistent
architecture, wrong sizes, NaN, checksum mismatch, object arrays) raises
ValueError with a message that starts with the file's path.
"""
import hashlib
import json
import math
import numbers
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from pynn.activations import ACTIVATIONS
from pynn.layers import Dense
from pynn.model import Model

__all__ = ["save_model", "load_model", "save_arrays", "load_arrays",
           "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "pynn-model"
MODEL_FORMAT_VERSION = 1

# dtypes an array entry may have: plain numbers only, at most 64 bits.
_ALLOWED_DTYPES = frozenset(np.dtype(t).newbyteorder("<").str for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
    np.uint32, np.uint64, np.float16, np.float32, np.float64))
# Names np.savez would take as its own arguments, and the JSON entry.
_RESERVED_NAMES = frozenset({"meta", "file", "allow_pickle"})
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"

# What the standard library and NumPy raise on damaged zip / .npy data (a
# damaged offset makes zipfile seek to a negative position: OSError).
_CORRUPT_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error,
                   ValueError, KeyError, IndexError, NotImplementedError,
                   UnicodeDecodeError, OverflowError, SyntaxError, TypeError,
                   OSError, RuntimeError)


class _Invalid(Exception):
    """Internal: the file is readable but its contents are wrong."""


def _fspath(path):
    path = os.fspath(path)
    return os.fsdecode(path) if isinstance(path, bytes) else path


def _label(fmt):
    return fmt.replace("-", " ")


# --------------------------------------------------------------------------
# generic container
# --------------------------------------------------------------------------

def _json_default(obj):
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if isinstance(obj, np.ndarray):
        raise TypeError("meta must not contain arrays; pass them in `arrays`")
    raise TypeError(f"meta holds {type(obj).__name__} {obj!r}, which is not "
                    "JSON-serialisable")


def _check_name(name):
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"array names must be Python identifiers, got {name!r}")
    if name in _RESERVED_NAMES:
        raise ValueError(f"array name {name!r} is reserved")


def _prepare_array(name, value):
    arr = np.asarray(value)
    if arr.dtype.newbyteorder("<").str not in _ALLOWED_DTYPES:
        raise TypeError(
            f"array {name!r} has dtype {arr.dtype}; only bool, int, uint and "
            "float arrays of at most 64 bits can be saved")
    # Little-endian, C order: the stored bytes (and their checksum) are the
    # same on every machine.
    return np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")


def _sha256(arr):
    return hashlib.sha256(arr.tobytes(order="C")).hexdigest()


def _write_atomic(path, write):
    """Call ``write(fileobj)`` on a temporary file, then rename it to path."""
    directory, base = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)   # the umask applies, as for open()
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:   # keep the permissions of a file we replace
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:   # make the rename itself durable (POSIX; best effort elsewhere)
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def save_arrays(path, arrays, meta):
    """Write named arrays and a JSON ``meta`` dict to one .npz file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Written exactly as given (no suffix is appended).
    arrays : dict of str → array-like
        Names must be Python identifiers other than "meta", "file" and
        "allow_pickle".  Values: bool, int, uint or float arrays (≤ 64 bits,
        any shape); stored little-endian and C-contiguous.
    meta : dict
        JSON-serialisable (NumPy scalars are converted; NaN/inf are not
        allowed) with a string ``"format"`` entry.  The key ``"arrays"`` is
        reserved: it receives each array's dtype, shape and SHA-256.

    ``load_arrays(path, meta["format"])`` returns equal arrays and meta.
    """
    path = _fspath(path)
    if not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict, got {type(arrays).__name__}")
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    if not isinstance(meta.get("format"), str) or not meta["format"]:
        raise ValueError("meta must have a non-empty string 'format' entry")
    if "arrays" in meta:
        raise ValueError("meta key 'arrays' is reserved for the array "
                         "checksums")
    prepared, record = {}, {}
    for name, value in arrays.items():
        _check_name(name)
        arr = _prepare_array(name, value)
        prepared[name] = arr
        record[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                        "sha256": _sha256(arr)}
    try:
        text = json.dumps({**meta, "arrays": record}, allow_nan=False,
                          ensure_ascii=False, default=_json_default)
    except ValueError as exc:
        raise ValueError(f"meta must be strict JSON (no NaN or "
                         f"infinity): {exc}") from None
    prepared["meta"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    def write(f):
        np.savez(f, allow_pickle=False, **prepared)

    _write_atomic(path, write)


def _read_header(npz, name, file_size):
    """Check entry ``name``'s .npy header before any allocation."""
    info = npz.zip.getinfo(name + ".npy")
    with npz.zip.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise _Invalid(f"entry {name!r} has unsupported .npy version "
                           f"{version}")
        header_len = fp.tell()
    if dtype.hasobject or dtype.str not in _ALLOWED_DTYPES:
        raise _Invalid(f"entry {name!r} has dtype {dtype}; pynn files hold "
                       "only plain numeric arrays (object arrays are refused, "
                       "they could execute code)")
    nbytes = math.prod(shape) * dtype.itemsize
    if header_len + nbytes != info.file_size or info.file_size > file_size:
        raise _Invalid(f"entry {name!r} is truncated or corrupt (its size "
                       "does not match its header)")
    return dtype, shape


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _unique_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in JSON object")
    return dict(pairs)


def _read_npz(f, file_size, expected_format):
    label = _label(expected_format)
    with np.load(f, allow_pickle=False) as npz:
        infos = npz.zip.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Invalid("the archive has duplicate entries")
        for info in infos:
            if not info.filename.endswith(".npy") or \
                    not info.filename[:-4].isidentifier():
                raise _Invalid(f"not a {label} file (unexpected entry "
                               f"{info.filename!r})")
            if info.flag_bits & 0x1:
                raise _Invalid(f"entry {info.filename!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                raise _Invalid(f"entry {info.filename!r} is compressed; pynn "
                               "files store entries uncompressed")
        keys = {n[:-4] for n in names}
        if "meta" not in keys:
            raise _Invalid(f"not a {label} file (no 'meta' entry; found "
                           f"{sorted(keys)})")
        dtype, shape = _read_header(npz, "meta", file_size)
        if dtype != np.uint8 or len(shape) != 1:
            raise _Invalid(f"not a {label} file ('meta' is not a 1-D uint8 "
                           "array)")
        raw = npz["meta"].tobytes()
        try:
            meta = json.loads(raw.decode("utf-8"),
                              parse_constant=_reject_constant,
                              object_pairs_hook=_unique_pairs)
        except ValueError as exc:   # includes UnicodeDecodeError
            raise _Invalid(f"'meta' is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or "format" not in meta:
            raise _Invalid(f"not a {label} file (meta has no 'format')")
        if meta["format"] != expected_format:
            raise _Invalid(f"not a {label} file (its format is "
                           f"{meta['format']!r}, expected {expected_format!r})")
        record = meta.pop("arrays", None)
        if not isinstance(record, dict):
            raise _Invalid("meta has no 'arrays' record of the stored arrays")
        if set(record) != keys - {"meta"}:
            raise _Invalid(f"the arrays in the file {sorted(keys - {'meta'})} "
                           f"do not match its record {sorted(record)}")
        arrays = {}
        for name in sorted(record):
            entry = record[name]
            if not isinstance(entry, dict) or \
                    not {"dtype", "shape", "sha256"} <= set(entry):
                raise _Invalid(f"the record of array {name!r} is malformed")
            dtype, shape = _read_header(npz, name, file_size)
            if entry["dtype"] != dtype.str or entry["shape"] != list(shape):
                raise _Invalid(
                    f"array {name!r} has dtype {dtype.str} and shape "
                    f"{list(shape)}, the record says {entry['dtype']!r} and "
                    f"{entry['shape']!r}")
            arr = npz[name]
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype \
                    or arr.shape != tuple(shape):
                raise _Invalid(f"array {name!r} could not be read")
            if _sha256(arr) != entry["sha256"]:
                raise _Invalid(f"checksum mismatch for array {name!r}: the "
                               "file is corrupt")
            arrays[name] = np.asarray(arr, dtype=arr.dtype.newbyteorder("="),
                                      order="C")
    return arrays, meta


def load_arrays(path, expected_format):
    """Read a file written by ``save_arrays``, checking everything.

    Parameters
    ----------
    path : str or os.PathLike
    expected_format : str
        The ``meta["format"]`` the file must have.

    Returns
    -------
    arrays : dict of str → ndarray (native byte order, C-contiguous, writable)
    meta : dict
        As passed to ``save_arrays`` (JSON types: lists for tuples).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not such a file, is truncated or corrupt (zip CRC or
        SHA-256 mismatch), or holds anything but plain numeric arrays.
        The message starts with the path.
    """
    path = _fspath(path)
    label = _label(expected_format)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        head = f.read(len(np.lib.format.MAGIC_PREFIX))
        if not head:
            raise ValueError(f"{path}: the file is empty, not a {label} file")
        if head == np.lib.format.MAGIC_PREFIX:
            raise ValueError(f"{path}: not a {label} file (it is a plain .npy "
                             "array; pynn files are .npz archives)")
        if not head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
            if _ZIP_MAGIC.startswith(head):
                raise ValueError(f"{path}: truncated or corrupt {label} file")
            raise ValueError(f"{path}: not a {label} file (not an .npz "
                             "archive)")
        f.seek(0)
        try:
            return _read_npz(f, file_size, expected_format)
        except _Invalid as exc:
            raise ValueError(f"{path}: {exc}") from None
        except _CORRUPT_ERRORS as exc:
            raise ValueError(f"{path}: truncated or corrupt {label} file "
                             f"({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

def save_model(model, path):
    """Save a ``pynn.Model`` (architecture and parameters) to ``path``.

    The file (written atomically at exactly ``path``; use a ``.npz`` name)
    holds no pickled objects; ``load_model(path)`` restores the model with
    bit-identical parameters of the same dtype.  Raises ValueError if the
    parameters hold NaN or infinity (such a file could not be loaded).
    """
    from pynn import __version__
    if not isinstance(model, Model):
        raise TypeError(f"model must be a pynn.Model, got "
                        f"{type(model).__name__}")
    params = model.params
    if not np.isfinite(params).all():
        raise ValueError("the model's parameters contain NaN or infinity; "
                         "refusing to save them")
    arch = model.architecture()
    layers = arch["layers"]
    meta = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
            "pynn_version": __version__, "dtype": model.dtype.name,
            "layers": layers, "n_params": int(params.size)}
    meta.update({k: v for k, v in arch.items() if k not in ("dtype", "layers")})
    save_arrays(path, {"params": params}, meta)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _build_model(meta, dtype):
    """A Model (fresh parameters) from meta["layers"], or raise _Invalid."""
    entries = meta.get("layers")
    if not isinstance(entries, list) or not entries:
        raise _Invalid("'layers' must be a non-empty list")
    layers = []
    for i, entry in enumerate(entries):
        where = f"layers[{i}]"
        if not isinstance(entry, dict):
            raise _Invalid(f"{where} must be an object, got {entry!r}")
        if entry.get("type") in ("Dropout", "GaussianNoise"):
            key = "rate" if entry["type"] == "Dropout" else "std"
            if not _is_number(entry.get(key)) or not math.isfinite(entry[key]):
                raise _Invalid(f"{where}.{key} must be a finite number")
            continue
        missing = {"type", "n_in", "n_out", "activation",
                   "activation_param"} - set(entry)
        if missing:
            raise _Invalid(f"{where} lacks {sorted(missing)}")
        if entry["type"] != "Dense":
            raise _Invalid(f"{where} has unknown layer type {entry['type']!r}")
        for key in ("n_in", "n_out"):
            if not _is_int(entry[key]) or entry[key] < 1:
                raise _Invalid(f"{where}.{key} must be a positive integer, "
                               f"got {entry[key]!r}")
        name = entry["activation"]
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise _Invalid(f"{where} has unknown activation {name!r}; valid: "
                           f"{', '.join(sorted(ACTIVATIONS))}")
        spec, param = ACTIVATIONS[name], entry["activation_param"]
        if spec.param_name:
            if not _is_number(param) or not math.isfinite(param):
                raise _Invalid(f"{where}.activation_param ({spec.param_name} "
                               f"of {name}) must be a finite number, got "
                               f"{param!r}")
        elif param is not None:
            raise _Invalid(f"{where}.activation_param must be null for "
                           f"{name}, got {param!r}")
        if layers and entry["n_in"] != layers[-1].n_out:
            raise _Invalid(f"{where} takes {entry['n_in']} inputs but "
                           f"layers[{i - 1}] gives {layers[-1].n_out} outputs")
        layers.append(Dense(entry["n_in"], entry["n_out"], name,
                            param if spec.param_name else None))
    try:
        # Tied weights, regularisers and the stack's own consistency.
        return Model.from_architecture(
            {**{k: meta[k] for k in ("class", "autoencoder") if k in meta},
             "dtype": dtype, "layers": entries})
    except (ValueError, TypeError) as exc:
        raise _Invalid(str(exc)) from None


def load_model(path):
    """Load a model saved by ``save_model``; never executes code from the file.

    Every part of the file is checked: it must be a pynn model archive of a
    supported format version, with a consistent architecture (known
    activations, positive sizes that chain), a finite 1-D parameter array
    of the declared dtype and length, and a matching SHA-256 checksum.

    Returns
    -------
    pynn.Model
        Same layers, activations, dtype and bit-identical ``params``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Anything wrong with the file; the message names it.  A file from a
        newer pynn (higher format version) asks to upgrade pynn.
    """
    from pynn import __version__
    path = _fspath(path)
    arrays, meta = load_arrays(path, MODEL_FORMAT)
    try:
        version = meta.get("format_version")
        if not _is_int(version) or version < 1:
            raise _Invalid(f"invalid format_version {version!r}")
        if version > MODEL_FORMAT_VERSION:
            raise _Invalid(
                f"the file has model format version {version} (written by "
                f"pynn {meta.get('pynn_version', '?')}), but this pynn "
                f"{__version__} reads only format version "
                f"{MODEL_FORMAT_VERSION}: upgrade pynn to load it")
        dtype = meta.get("dtype")
        if dtype not in ("float32", "float64"):
            raise _Invalid(f"dtype must be 'float32' or 'float64', got "
                           f"{dtype!r}")
        model = _build_model(meta, dtype)
        expected = model.n_params
        if not _is_int(meta.get("n_params")) or meta["n_params"] != expected:
            raise _Invalid(f"n_params is {meta.get('n_params')!r} but the "
                           f"layers have {expected} parameters")
        if set(arrays) != {"params"}:
            raise _Invalid(f"expected one array 'params', found "
                           f"{sorted(arrays)}")
        params = arrays["params"]
        if params.dtype != np.dtype(dtype) or params.ndim != 1:
            raise _Invalid(f"params must be a 1-D {dtype} array, got "
                           f"{params.ndim}-D {params.dtype}")
        if params.size != expected:
            raise _Invalid(f"params has {params.size} values, the layers "
                           f"need {expected}")
        if not np.isfinite(params).all():
            raise _Invalid("params contains NaN or infinity")
    except _Invalid as exc:
        raise ValueError(f"{path}: {exc}") from None
    model.params[...] = params
    return model
