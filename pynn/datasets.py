"""Small datasets and readers, so that examples and the CLI need no scikit-learn.

Contents
--------
load_digits
    The 8x8 handwritten digits (1797 samples, 10 classes) bundled with pynn.
load_idx
    Read one IDX file (the MNIST / Fashion-MNIST format), gzip or plain.
load_mnist
    Read the MNIST (or Fashion-MNIST) training or test set from a directory.
train_test_split
    A small, deterministic, stratified train/test split.

Data origin and licence
-----------------------
``pynn/data/digits.csv.gz`` is the test set of the UCI Machine Learning
Repository's "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin and C. Kaynak, 1998;
https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits),
which the UCI repository licenses under Creative Commons Attribution 4.0
(CC BY 4.0).
The file itself is the unchanged copy distributed with scikit-learn
(``sklearn/datasets/data/digits.csv.gz``, BSD-3-Clause, (c) the scikit-learn
developers). See ``pynn/data/README.md`` for details and checksums.

MNIST and Fashion-MNIST are not bundled: pass the directory that holds the
four IDX files to :func:`load_mnist`. On Debian/Ubuntu,
``apt-get install dataset-fashion-mnist`` puts Fashion-MNIST (MIT licence,
Zalando SE) under ``/usr/share/datasets/fashion-mnist/`` with the standard
names ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``.
"""
from __future__ import annotations

import errno
import gzip
import numbers
import os
import zlib
from importlib import resources
from typing import Any, Union

import numpy as np

__all__ = ["load_digits", "load_idx", "load_mnist", "train_test_split"]

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------

_DIGITS_FILE = "digits.csv.gz"
_DIGITS_SHAPE = (1797, 65)        # 64 pixels + 1 label per row


def load_digits(*, dtype: Any = np.float64,
                scale: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load the 8x8 handwritten digits data set (classification, 10 classes).

    1797 grey-scale images of the digits 0-9, each 8x8 pixels whose values
    are integers 0..16 (the count of "on" pixels in a 4x4 block of the
    original 32x32 bitmap), flattened row by row to 64 features. This is the
    test set of the UCI "Optical Recognition of Handwritten Digits" data
    (Alpaydin & Kaynak, 1998, CC BY 4.0), read from the copy bundled with
    pynn; it equals ``sklearn.datasets.load_digits(return_X_y=True)``.

    Parameters
    ----------
    dtype : {"float64", "float32"} or numpy dtype, default=np.float64
        Floating-point dtype of ``X``.
    scale : bool, default=False
        If True, divide the pixel values by 16 so that ``X`` lies in [0, 1].

    Returns
    -------
    X : ndarray of shape (1797, 64)
        Pixel values, 0..16 (or 0..1 when ``scale=True``). Row ``i`` reshaped
        to (8, 8) is image ``i``.
    y : ndarray of shape (1797,), dtype int64
        Digit labels 0..9 (about 180 of each).

    Raises
    ------
    ValueError
        If ``dtype`` is not float32/float64, or the bundled file is damaged.

    Examples
    --------
    >>> from pynn.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, y.shape
    ((1797, 64), (1797,))
    """
    from ._validation import check_dtype

    dtype = check_dtype(dtype)
    res = resources.files(__package__).joinpath("data").joinpath(_DIGITS_FILE)
    try:
        with res.open("rb") as raw, \
                gzip.open(raw, "rt", encoding="ascii") as text:
            data = np.loadtxt(text, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise ValueError(
            f"the bundled digits file pynn/data/{_DIGITS_FILE} could not be "
            f"read ({exc}); reinstall pynn") from exc
    if data.shape != _DIGITS_SHAPE:
        raise ValueError(
            f"the bundled digits file pynn/data/{_DIGITS_FILE} has shape "
            f"{data.shape}, expected {_DIGITS_SHAPE}; reinstall pynn")
    X = np.ascontiguousarray(data[:, :64], dtype=dtype)
    y = data[:, 64].astype(np.int64)
    if scale:
        X /= 16.0
    return X, y


# --------------------------------------------------------------------------
# IDX files (MNIST format)
# --------------------------------------------------------------------------

# type byte -> big-endian NumPy dtype, per the IDX format description at
# http://yann.lecun.com/exdb/mnist/ (bottom of the page).
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str) -> bytes:
    """Return the (decompressed) contents of ``path``.

    A file is gunzipped when it starts with the gzip magic bytes, whatever
    its name.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "IDX file not found", path)
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != _GZIP_MAGIC:
            return f.read()
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                return gz.read()
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(
                f"{path}: corrupt or truncated gzip data ({exc})") from exc


def load_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST / Fashion-MNIST format) into an array.

    The IDX format is a 4-byte magic number -- two zero bytes, a type byte
    and a byte giving the number of dimensions ``d`` -- then ``d`` big-endian
    uint32 sizes, then the data in C order, big-endian. Type bytes:

    ====  =======
    0x08  uint8
    0x09  int8
    0x0B  int16
    0x0C  int32
    0x0D  float32
    0x0E  float64
    ====  =======

    Parameters
    ----------
    path : str or os.PathLike
        The file, gzip-compressed or plain (detected from its first bytes,
        not its name).

    Returns
    -------
    ndarray
        A new, writable, native-byte-order array of the shape given by the
        header, with the dtype given by the type byte.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the exception names it).
    ValueError
        If the file is not IDX (wrong magic number or unknown type byte), is
        shorter than its header announces (truncated), has bytes after the
        announced data (trailing garbage), or is corrupt gzip.

    Examples
    --------
    >>> from pynn.datasets import load_idx
    >>> images = load_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype                        # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = os.fspath(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise ValueError(
            f"{path}: not an IDX file: {len(buf)} bytes, shorter than the "
            "4-byte magic number")
    if buf[0] != 0 or buf[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: wrong magic number "
            f"0x{buf[:4].hex().upper()} (an IDX file starts with two zero "
            "bytes, a type byte and the number of dimensions)")
    type_code, ndim = buf[2], buf[3]
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise ValueError(
            f"{path}: unknown IDX type byte 0x{type_code:02X} "
            f"(expected one of {known})")
    dtype = _IDX_TYPES[type_code]
    header_len = 4 + 4 * ndim
    if len(buf) < header_len:
        raise ValueError(
            f"{path}: truncated IDX file: the header announces {ndim} "
            f"dimensions ({header_len} header bytes) but the file has only "
            f"{len(buf)} bytes")
    shape = tuple(int(s) for s in
                  np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    count = 1
    for s in shape:
        count *= s
    data_len = count * dtype.itemsize
    have = len(buf) - header_len
    if have < data_len:
        raise ValueError(
            f"{path}: truncated IDX file: the header announces shape {shape} "
            f"of {dtype.newbyteorder('=').name} ({data_len} data bytes) but "
            f"only {have} data bytes follow")
    if have > data_len:
        raise ValueError(
            f"{path}: {have - data_len} unexpected trailing bytes after the "
            f"{data_len} data bytes announced by the header (shape {shape}, "
            f"{dtype.newbyteorder('=').name})")
    data = np.frombuffer(buf, dtype=dtype, count=count, offset=header_len)
    # astype copies: the result is writable and in native byte order.
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


_MNIST_PREFIX = {"train": "train", "test": "t10k"}


def _find_idx(directory: str, prefix: str, what: str, idx_dims: int) -> str:
    """Return the first existing file among the usual MNIST spellings."""
    stem = f"{prefix}-{what}"
    names = [f"{stem}-idx{idx_dims}-ubyte.gz", f"{stem}-idx{idx_dims}-ubyte",
             f"{stem}.idx{idx_dims}-ubyte.gz", f"{stem}.idx{idx_dims}-ubyte"]
    for name in names:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        errno.ENOENT,
        f"no MNIST {what} file in {directory!r} (looked for "
        f"{', '.join(names)})", directory)


def load_mnist(directory: PathLike, kind: str = "train", *,
               scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST (or Fashion-MNIST) training or test set.

    Reads ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``
    (``kind="train"``, 60,000 samples) or ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (``kind="test"``, 10,000 samples) from
    ``directory``; the un-gzipped names (without ``.gz``) and the variants
    ``train-images.idx3-ubyte`` are accepted too. Fashion-MNIST uses the
    same names and format, so it loads the same way, e.g. from
    ``/usr/share/datasets/fashion-mnist`` (Debian package
    ``dataset-fashion-mnist``).

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the IDX files.
    kind : {"train", "test"}, default="train"
        Which set to load.
    scale : bool, default=True
        If True, return ``X`` as float32 divided by 255, in [0, 1]; if False,
        return the raw uint8 pixel values 0..255.

    Returns
    -------
    X : ndarray of shape (n_samples, rows * cols)
        One flattened image per row (784 = 28 * 28 columns for MNIST);
        float32 in [0, 1], or uint8 when ``scale=False``.
    y : ndarray of shape (n_samples,), dtype int64
        Class labels (0..9 for MNIST and Fashion-MNIST).

    Raises
    ------
    FileNotFoundError
        If ``directory`` or one of the two files is missing.
    ValueError
        If ``kind`` is not "train" or "test", a file is not valid IDX, the
        images are not a 3-D uint8 array or the labels a 1-D integer array,
        or their numbers of samples differ.

    Examples
    --------
    >>> from pynn.datasets import load_mnist
    >>> X, y = load_mnist("data/mnist", kind="test")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape                     # doctest: +SKIP
    ((10000, 784), dtype('float32'), (10000,))
    """
    if kind not in _MNIST_PREFIX:
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            errno.ENOENT, "MNIST directory not found", directory)
    prefix = _MNIST_PREFIX[kind]
    images_path = _find_idx(directory, prefix, "images", 3)
    labels_path = _find_idx(directory, prefix, "labels", 1)

    images = load_idx(images_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected a 3-D uint8 array (n, rows, cols), got "
            f"shape {images.shape} of {images.dtype}")
    labels = load_idx(labels_path)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{labels_path}: expected a 1-D integer array of labels, got "
            f"shape {labels.shape} of {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} "
            f"holds {labels.shape[0]} labels")

    X = images.reshape(images.shape[0], -1)
    if scale:
        X = X.astype(np.float32)
        X /= np.float32(255.0)
    return X, labels.astype(np.int64)


# --------------------------------------------------------------------------
# train/test split
# --------------------------------------------------------------------------

def _n_test(test_size: Any, n: int) -> int:
    """Number of test samples for ``test_size`` (fraction or count)."""
    if isinstance(test_size, bool) or not isinstance(
            test_size, (numbers.Integral, numbers.Real)):
        raise TypeError(
            f"test_size must be a float in (0, 1) or an int, got "
            f"{test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"test_size={n_test} must be between 1 and n_samples - 1 = "
                f"{n - 1}")
        return n_test
    test_size = float(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(
            f"test_size must be in the open interval (0, 1) as a fraction, "
            f"got {test_size}")
    n_test = int(np.ceil(test_size * n))
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size} with {n} samples leaves an empty train "
            f"or test set ({n_test} test samples)")
    return n_test


def train_test_split(X: Any, y: Any, test_size: float | int = 0.25,
                     stratify: bool = True, seed: Any = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``X`` and ``y`` into random train and test subsets.

    With ``stratify=True`` each class keeps (as nearly as integers allow)
    the same proportion in both subsets: class ``c`` with ``n_c`` of the
    ``n`` samples gets ``n_c * n_test / n`` test samples, rounded by the
    largest-remainder method so that the counts add up to ``n_test``
    exactly (ties broken at random). Samples are drawn within each class at
    random, then each subset is shuffled. The same ``seed`` gives the same
    split.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets: class labels, or one-hot rows (each distinct row is a class
        when stratifying).
    test_size : float or int, default=0.25
        Fraction of the samples in (0, 1), rounded up to a whole number of
        samples, or the number of test samples.
    stratify : bool, default=True
        Preserve the class proportions of ``y`` in both subsets. Use False
        for regression targets (a plain random split).
    seed : int, numpy.random.Generator or None, default=0
        Seed of the random permutation; None draws fresh entropy.

    Returns
    -------
    X_train, X_test : ndarray
        Rows of ``X`` (copies), ``n_samples - n_test`` and ``n_test`` of them.
    y_train, y_test : ndarray
        The matching rows of ``y``.

    Raises
    ------
    ValueError
        If ``X`` and ``y`` have different numbers of samples, or
        ``test_size`` leaves an empty subset.
    TypeError
        If ``test_size`` is not a number.

    Examples
    --------
    >>> from pynn.datasets import load_digits, train_test_split
    >>> X, y = load_digits()
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2)
    >>> X_tr.shape, X_te.shape
    ((1437, 64), (360, 64))
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("X and y must be arrays with one row per sample")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(
            f"X and y must have the same number of samples, got "
            f"{n} and {y.shape[0]}")
    if n < 2:
        raise ValueError(f"need at least 2 samples to split, got {n}")
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(seed)

    if not stratify:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        if y.ndim == 1:
            _, labels = np.unique(y, return_inverse=True)
        else:
            _, labels = np.unique(y.reshape(n, -1), axis=0,
                                  return_inverse=True)
        labels = labels.reshape(-1)
        counts = np.bincount(labels)
        # Largest remainder: floor of the exact share, then one more for
        # the classes with the largest fractional parts (random tie-break).
        exact = counts * (n_test / n)
        per_class = np.floor(exact).astype(np.int64)
        short = n_test - int(per_class.sum())
        if short > 0:
            frac = exact - per_class
            order = np.lexsort((rng.permutation(len(counts)), -frac))
            per_class[order[:short]] += 1
        test_parts, train_parts = [], []
        for c, k in enumerate(per_class):
            members = rng.permutation(np.flatnonzero(labels == c))
            test_parts.append(members[:k])
            train_parts.append(members[k:])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
