"""Safe persistence: models (and, for the Trainer, checkpoints) as .npz files.

Loading a file never executes code from it: a pynn file is an
uncompressed ``.npz`` archive of plain numeric ``.npy`` entries, read with
``allow_pickle=False``, plus one entry ``meta`` holding a UTF-8 JSON
document as a 1-D uint8 array.  Nothing in it is ever unpickled.

Functions
---------
save_model(model, path) / load_model(path)
    A ``pynn.Model``: its flat parameter buffer and its architecture.
save_arrays(path, arrays, meta) / load_arrays(path, expected_format)
    The general container both are built on: named numeric arrays (bool,
    int, uint, float up to 64 bits, any shape) and a JSON-serialisable dict
    ``meta`` with a ``"format"`` key naming the kind of file.

The architecture part of a model file (``class``, ``dtype``, ``layers`` and
a class's own keys) is read and written by ``pynn.architecture``; this
module knows the container, not the model classes (it does not import
``pynn.model``: ``Model.save`` calls ``save_model``).

File layout (format "pynn-model", format_version 1)
----------------------------------------------------
``params``  1-D array of the model's dtype: ``model.params`` (layer ℓ's W_ℓ,
            row-major, then b_ℓ, for every layer in order), little-endian.
``meta``    JSON::

    {"format": "pynn-model", "format_version": 1, "pynn_version": "0.1.0",
     "class": "MLP", "dtype": "float32", "n_params": 2410,
     "layers": [{"type": "Dense", "n_in": 64, "n_out": 32,
                 "activation": "sigmoid", "activation_param": null}, ...],
     "arrays": {"params": {"dtype": "<f4", "shape": [2410],
                           "sha256": "<hex digest of the array's bytes>"}}}

``activation_param`` is the leaky-relu α or gaussian β, ``null`` for the
activations without a parameter.  A radial-basis layer (``pynn.RBF``,
z_j = exp(−β_j ‖x − c_j‖²)) is the entry ``{"type": "RBF", "n_in": d,
"n_out": k}``; its k·d centres (row-major, row j = c_j) and then its k
values s_j = log β_j take the place of W and b in ``params``.  Its model
class is ``RBFModel``, which may add ``"rbf_network": {"output": ...,
"classes": [...], "squeeze": ...}`` for a saved ``pynn.RBFNetwork``.  ``arrays`` is written by ``save_arrays``
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

Cost of loading
---------------
Bounded by the file: the zip directory is checked first (entries disjoint,
inside the file, uncompressed, their sizes summing to at most the file's
size), then ``meta``; a model file's description is validated and its
parameter count compared with the stored array's .npy header before that
array's data is read, and no model is built or initialised before all
checks passed.  Entries that are not needed are refused by name, unread.

Saving while another thread trains
----------------------------------
Every array is copied once (``_snapshot``); that copy is checked, hashed
and written, so the file is consistent even if the model changes meanwhile.

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
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from pynn._version import __version__

from pynn.architecture import architecture, build, is_model, parse

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


def _snapshot(name, value):
    """A private little-endian C-order copy of one array: what is hashed is
    what is written, even if the caller's array changes meanwhile (another
    thread training the model)."""
    arr = np.asarray(value)
    if arr.dtype.newbyteorder("<").str not in _ALLOWED_DTYPES:
        raise TypeError(
            f"array {name!r} has dtype {arr.dtype}; only bool, int, uint and "
            "float arrays of at most 64 bits can be saved")
    # Little-endian, C order: the stored bytes (and their checksum) are the
    # same on every machine.
    return np.array(arr, dtype=arr.dtype.newbyteorder("<"), order="C",
                    copy=True)


def _sha256(arr):
    return hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()


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
    prepared = {}
    for name, value in arrays.items():
        _check_name(name)
        prepared[name] = _snapshot(name, value)
    _write_snapshots(path, prepared, meta)


def _write_snapshots(path, prepared, meta):
    """Write arrays already snapshot by ``_snapshot`` (each hashed and
    written from the same private copy) and their record."""
    record = {name: {"dtype": arr.dtype.str, "shape": list(arr.shape),
                     "sha256": _sha256(arr)} for name, arr in prepared.items()}
    try:
        text = json.dumps({**meta, "arrays": record}, allow_nan=False,
                          ensure_ascii=False, default=_json_default)
    except ValueError as exc:
        raise ValueError(f"meta must be strict JSON (no NaN or "
                         f"infinity): {exc}") from None
    entries = {**prepared,
               "meta": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}

    def write(f):
        np.savez(f, allow_pickle=False, **entries)

    _write_atomic(path, write)


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _unique_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in JSON object")
    return dict(pairs)


# Fixed part of a zip local file header (before the name and extra field).
_LOCAL_HEADER_SIZE = 30


class _Archive:
    """A pynn archive opened for reading, read only as far as needed.

    Opening checks the zip directory (names, no encryption, no compression,
    members that do not overlap and fit in the file) and reads ``meta``
    and its record of the arrays — nothing else.  ``header(name)`` then
    reads one array's .npy header, ``read(name)`` its data.  Since every
    member is stored uncompressed and the members are disjoint, everything
    read is at most the file's own size.
    """

    def __init__(self, f, file_size, expected_format):
        self.file_size = file_size
        self.zip = zipfile.ZipFile(f)
        label = _label(expected_format)
        self.infos = self._check_directory(self.zip.infolist(), label)
        if "meta" not in self.infos:
            raise _Invalid(f"not a {label} file (no 'meta' entry; found "
                           f"{sorted(self.infos)})")
        self.meta = self._read_meta(label, expected_format)
        record = self.meta.pop("arrays", None)
        if not isinstance(record, dict):
            raise _Invalid("meta has no 'arrays' record of the stored arrays")
        stored = set(self.infos) - {"meta"}
        if set(record) != stored:
            raise _Invalid(f"the arrays in the file {sorted(stored)} do not "
                           f"match its record {sorted(record)}")
        for name, entry in record.items():
            if not isinstance(entry, dict) or \
                    not {"dtype", "shape", "sha256"} <= set(entry):
                raise _Invalid(f"the record of array {name!r} is malformed")
        self.record = record

    def _check_directory(self, infos, label):
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
            if info.compress_size != info.file_size:
                raise _Invalid(f"entry {info.filename!r} is truncated or "
                               "corrupt (its sizes disagree)")
        # Disjoint members inside the file: a directory whose members share
        # their data would make a small file read as many times its size.
        end = 0
        for info in sorted(infos, key=lambda i: i.header_offset):
            if info.header_offset < end:
                raise _Invalid(f"entry {info.filename!r} overlaps another "
                               "entry; pynn archives have disjoint entries")
            end = (info.header_offset + _LOCAL_HEADER_SIZE
                   + len(info.filename.encode("utf-8")) + info.compress_size)
            if end > self.file_size:
                raise _Invalid(f"entry {info.filename!r} is truncated or "
                               "corrupt (it ends beyond the file)")
        if sum(info.compress_size for info in infos) > self.file_size:
            raise _Invalid("the entries declare more data than the file "
                           "holds (entries overlap)")
        return {info.filename[:-4]: info for info in infos}

    def _header(self, name):
        """(dtype, shape, header length) of entry ``name``, checked against
        the member's size before any allocation."""
        info = self.infos[name]
        with self.zip.open(info) as fp:
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
                           "only plain numeric arrays (object arrays are "
                           "refused, they could execute code)")
        nbytes = math.prod(shape) * dtype.itemsize
        if header_len + nbytes != info.file_size:
            raise _Invalid(f"entry {name!r} is truncated or corrupt (its size "
                           "does not match its header)")
        return dtype, tuple(shape), header_len

    def _read_meta(self, label, expected_format):
        dtype, shape, _ = self._header("meta")
        if dtype != np.uint8 or len(shape) != 1:
            raise _Invalid(f"not a {label} file ('meta' is not a 1-D uint8 "
                           "array)")
        raw = self._data("meta", dtype, shape).tobytes()
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
        return meta

    def _data(self, name, dtype, shape):
        with self.zip.open(self.infos[name]) as fp:
            arr = np.lib.format.read_array(fp, allow_pickle=False)
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype \
                or arr.shape != shape:
            raise _Invalid(f"array {name!r} could not be read")
        return arr

    def header(self, name):
        """(dtype, shape) of array ``name``, as stored and as recorded."""
        dtype, shape, _ = self._header(name)
        entry = self.record[name]
        if entry["dtype"] != dtype.str or entry["shape"] != list(shape):
            raise _Invalid(
                f"array {name!r} has dtype {dtype.str} and shape "
                f"{list(shape)}, the record says {entry['dtype']!r} and "
                f"{entry['shape']!r}")
        return dtype, shape

    def read(self, name):
        """Array ``name`` (native byte order, C order, writable), verified
        against its SHA-256."""
        arr = self._data(name, *self.header(name))
        if _sha256(arr) != self.record[name]["sha256"]:
            raise _Invalid(f"checksum mismatch for array {name!r}: the "
                           "file is corrupt")
        return np.asarray(arr, dtype=arr.dtype.newbyteorder("="), order="C")


def _with_archive(path, expected_format, use):
    """``use(archive)`` on the pynn archive at ``path``; every problem with
    the file becomes a ValueError that starts with the path."""
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
            return use(_Archive(f, file_size, expected_format))
        except _Invalid as exc:
            raise ValueError(f"{path}: {exc}") from None
        except _CORRUPT_ERRORS as exc:
            raise ValueError(f"{path}: truncated or corrupt {label} file "
                             f"({type(exc).__name__}: {exc})") from None


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
        SHA-256 mismatch, overlapping entries), or holds anything but plain
        numeric arrays.  The message starts with the path.
    """
    return _with_archive(path, expected_format, lambda archive: (
        {name: archive.read(name) for name in sorted(archive.record)},
        archive.meta))


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

# Keys of a model file's meta that are not part of the architecture.
_FILE_KEYS = frozenset({"format", "format_version", "pynn_version",
                        "n_params"})


def save_model(model, path):
    """Save a ``pynn.Model`` (architecture and parameters) to ``path``.

    The file (written atomically at exactly ``path``; use a ``.npz`` name)
    holds no pickled objects; ``load_model(path)`` restores the model with
    bit-identical parameters of the same dtype.  The parameters are copied
    once and that copy is checked, hashed and written, so a save while
    another thread trains the model writes one consistent state.  Raises
    ValueError if the parameters hold NaN or infinity (such a file could
    not be loaded).
    """
    if not is_model(model):
        raise TypeError(f"model must be a pynn.Model, got "
                        f"{type(model).__name__}")
    arch = architecture(model)
    params = _snapshot("params", model.params)
    if not np.isfinite(params).all():
        raise ValueError("the model's parameters contain NaN or infinity; "
                         "refusing to save them")
    meta = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
            "pynn_version": __version__, "dtype": arch["dtype"],
            "layers": arch["layers"], "n_params": int(params.size)}
    meta.update({k: v for k, v in arch.items() if k not in ("dtype", "layers")})
    _write_snapshots(_fspath(path), {"params": params}, meta)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_version(meta):
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise _Invalid(f"invalid format_version {version!r}")
    if version > MODEL_FORMAT_VERSION:
        raise _Invalid(
            f"the file has model format version {version} (written by "
            f"pynn {meta.get('pynn_version', '?')}), but this pynn "
            f"{__version__} reads only format version "
            f"{MODEL_FORMAT_VERSION}: upgrade pynn to load it")


def _read_model(archive):
    """(plan, params) of a model archive: the description is validated and
    compared with the stored array's header before its data is read."""
    meta = archive.meta
    _check_version(meta)
    try:
        plan = parse({k: v for k, v in meta.items() if k not in _FILE_KEYS})
    except (ValueError, TypeError) as exc:
        raise _Invalid(str(exc)) from None
    if not _is_int(meta.get("n_params")) or meta["n_params"] != plan.n_params:
        raise _Invalid(f"n_params is {meta.get('n_params')!r} but the "
                       f"layers have {plan.n_params} parameters")
    if set(archive.record) != {"params"}:
        raise _Invalid(f"expected one array 'params', found "
                       f"{sorted(archive.record)}")
    dtype, shape = archive.header("params")
    if dtype != np.dtype(plan.dtype).newbyteorder("<") or len(shape) != 1:
        raise _Invalid(f"params must be a 1-D {plan.dtype} array, got "
                       f"{len(shape)}-D {dtype.newbyteorder('=')}")
    if shape[0] != plan.n_params:
        raise _Invalid(f"params has {shape[0]} values, the layers need "
                       f"{plan.n_params}")
    params = archive.read("params")
    if not np.isfinite(params).all():
        raise _Invalid("params contains NaN or infinity")
    return plan, params


def load_model(path):
    """Load a model saved by ``save_model``; never executes code from the file.

    Every part of the file is checked, in an order that keeps the cost
    bounded by the file's size: the zip directory (only the entries
    ``meta`` and ``params``, disjoint, uncompressed), then the description
    (supported format version, known class, activations and layer types,
    positive sizes that chain; see ``pynn.architecture.parse``), then the
    declared parameter count against the stored array's header, and only
    then the parameter data (finite, of the declared dtype, matching its
    SHA-256).  No model is built or initialised before all of that passed.

    Returns
    -------
    pynn.Model
        Same class, layers, activations, dtype and bit-identical ``params``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Anything wrong with the file; the message starts with the path.  A
        file from a newer pynn (higher format version) asks to upgrade pynn.
    """
    plan, params = _with_archive(path, MODEL_FORMAT, _read_model)
    return build(plan, params=params)
