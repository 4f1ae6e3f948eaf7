"""Tests for pynn.datasets: bundled digits, IDX reader, MNIST, split."""
import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from pynn.datasets import load_digits, load_idx, load_mnist, train_test_split


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09,
          np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C,
          np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr):
    """Encode ``arr`` as IDX: 0, 0, type byte, ndim, big-endian dims, data."""
    arr = np.asarray(arr)
    header = bytes([0, 0, _CODES[arr.dtype], arr.ndim])
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, payload, gz):
    path = Path(path)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _mnist_dir():
    env = os.environ.get("PYNN_MNIST_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


MNIST_DIR = _mnist_dir()
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists()
    and not (MNIST_DIR / "train-images-idx3-ubyte").exists(),
    reason=f"MNIST not found in {MNIST_DIR} (set PYNN_MNIST_DIR to the "
           "directory holding the IDX files)")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# --------------------------------------------------------------------------
# load_digits
# --------------------------------------------------------------------------

def test_digits_shape_dtype_values():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.flags.c_contiguous and X.flags.writeable
    assert X.min() == 0 and X.max() == 16
    assert np.array_equal(X, np.round(X))
    assert np.array_equal(np.unique(y), np.arange(10))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181,
                                       182, 181, 179, 174, 180]


def test_digits_options():
    X64, y64 = load_digits()
    X32, y32 = load_digits(dtype="float32", scale=True)
    assert X32.dtype == np.float32 and X32.shape == (1797, 64)
    assert X32.min() == 0 and X32.max() == 1
    np.testing.assert_allclose(X32, X64 / 16, rtol=1e-7)
    assert np.array_equal(y32, y64)
    with pytest.raises(ValueError, match="dtype"):
        load_digits(dtype="int32")


def test_digits_equals_sklearn():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    Xs, ys = sk_datasets.load_digits(return_X_y=True)
    X, y = load_digits()
    assert np.array_equal(X, Xs)
    assert np.array_equal(y, ys)


# --------------------------------------------------------------------------
# load_idx
# --------------------------------------------------------------------------

_RNG = np.random.default_rng(0)
_ARRAYS = {
    "uint8-1d": np.arange(7, dtype=np.uint8),
    "uint8-3d": _RNG.integers(0, 256, size=(5, 4, 3)).astype(np.uint8),
    "int8-2d": np.array([[-128, 0, 127]], dtype=np.int8),
    "int16-2d": _RNG.integers(-2**15, 2**15, size=(3, 2)).astype(np.int16),
    "int32-2d": np.array([[-2**31, -1, 0], [1, 258, 2**31 - 1]],
                         dtype=np.int32),
    "float32-1d": np.array([-1.5, 0.0, 3.25e-7, np.inf], dtype=np.float32),
    "float64-2d": _RNG.standard_normal((4, 3)),
    "uint8-empty": np.zeros((0, 28, 28), dtype=np.uint8),
}


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("name", list(_ARRAYS))
def test_idx_round_trip(tmp_path, name, gz):
    arr = _ARRAYS[name]
    # the name does not say .gz: compression is detected from the content
    path = write(tmp_path / "a.idx", idx_bytes(arr), gz)
    out = load_idx(path)
    assert out.dtype == arr.dtype and out.dtype.isnative
    assert out.shape == arr.shape
    assert np.array_equal(out, arr)
    assert out.flags.writeable and out.flags.c_contiguous
    assert np.array_equal(load_idx(str(path)), arr)


def test_idx_header_is_big_endian(tmp_path):
    # hand-written bytes: 2x3 int32, header and data big-endian
    payload = (b"\x00\x00\x0c\x02" b"\x00\x00\x00\x02" b"\x00\x00\x00\x03"
               + b"".join(struct.pack(">i", v) for v in [1, -2, 3, 256, 0, 7]))
    out = load_idx(write(tmp_path / "b.idx", payload, gz=False))
    assert out.tolist() == [[1, -2, 3], [256, 0, 7]]


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_wrong_magic(tmp_path, gz):
    payload = bytearray(idx_bytes(np.arange(4, dtype=np.uint8)))
    payload[0] = 0x12
    path = write(tmp_path / "m.idx", bytes(payload), gz)
    with pytest.raises(ValueError, match="magic number"):
        load_idx(path)


def test_idx_unknown_type(tmp_path):
    payload = bytearray(idx_bytes(np.arange(4, dtype=np.uint8)))
    payload[2] = 0x0A
    path = write(tmp_path / "t.idx", bytes(payload), gz=False)
    with pytest.raises(ValueError, match="unknown IDX type byte 0x0A"):
        load_idx(path)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_truncated_data(tmp_path, gz):
    payload = idx_bytes(np.arange(12, dtype=np.int32).reshape(3, 4))
    path = write(tmp_path / "d.idx", payload[:-1], gz)
    with pytest.raises(ValueError, match="truncated"):
        load_idx(path)


def test_idx_truncated_header(tmp_path):
    payload = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))
    for cut in (2, 9):     # inside the magic number; inside the dims
        path = write(tmp_path / f"h{cut}.idx", payload[:cut], gz=False)
        with pytest.raises(ValueError, match="IDX"):
            load_idx(path)


def test_idx_empty_file(tmp_path):
    path = write(tmp_path / "e.idx", b"", gz=False)
    with pytest.raises(ValueError, match="not an IDX file"):
        load_idx(path)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_trailing_bytes(tmp_path, gz):
    payload = idx_bytes(np.arange(6, dtype=np.float64))
    path = write(tmp_path / "x.idx", payload + b"\x00\x01\x02", gz)
    with pytest.raises(ValueError, match="3 unexpected trailing bytes"):
        load_idx(path)


def test_idx_corrupt_gzip(tmp_path):
    path = write(tmp_path / "g.idx.gz",
                 idx_bytes(np.arange(1000, dtype=np.int32)), gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])      # cut the gzip stream
    with pytest.raises(ValueError, match="gzip"):
        load_idx(path)


def test_idx_missing_file(tmp_path):
    missing = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(FileNotFoundError, match="nope-idx1-ubyte.gz") as info:
        load_idx(missing)
    assert info.value.filename == str(missing)


# --------------------------------------------------------------------------
# load_mnist
# --------------------------------------------------------------------------

def _fake_mnist(directory, prefix, n_images, n_labels, gz=True):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n_images, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=n_labels).astype(np.uint8)
    ext = ".gz" if gz else ""
    write(directory / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images), gz)
    write(directory / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_mnist_small_fake(tmp_path, gz):
    images, labels = _fake_mnist(tmp_path, "t10k", 6, 6, gz=gz)
    X, y = load_mnist(tmp_path, kind="test")
    assert X.shape == (6, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(X, images.reshape(6, 784) / np.float32(255))
    assert y.dtype == np.int64 and np.array_equal(y, labels)
    Xr, yr = load_mnist(str(tmp_path), "test", scale=False)
    assert Xr.dtype == np.uint8 and np.array_equal(Xr, images.reshape(6, -1))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, kind="train")


def test_mnist_count_mismatch(tmp_path):
    _fake_mnist(tmp_path, "train", 5, 4)
    with pytest.raises(ValueError, match="5 images .* 4 labels"):
        load_mnist(tmp_path)


def test_mnist_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        load_mnist(tmp_path, kind="validation")
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        load_mnist(tmp_path / "no-such-dir")


def test_mnist_wrong_file_shape(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte",
          idx_bytes(np.zeros((4, 784), dtype=np.uint8)), gz=False)
    write(tmp_path / "train-labels-idx1-ubyte",
          idx_bytes(np.zeros(4, dtype=np.uint8)), gz=False)
    with pytest.raises(ValueError, match="3-D uint8"):
        load_mnist(tmp_path)


@needs_mnist
@pytest.mark.parametrize("kind, n", [("train", 60000), ("test", 10000)])
def test_mnist_real(kind, n):
    X, y = load_mnist(MNIST_DIR, kind=kind)
    assert X.shape == (n, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.shape == (n,) and y.dtype == np.int64
    assert y.min() == 0 and y.max() == 9
    counts = np.bincount(y, minlength=10)
    assert counts.sum() == n and counts.min() > n // 20
    if kind == "test":
        Xr, yr = load_mnist(MNIST_DIR, kind=kind, scale=False)
        assert Xr.dtype == np.uint8 and Xr.max() == 255
        np.testing.assert_array_equal(X, Xr / np.float32(255))
        assert np.array_equal(y, yr)


@pytest.mark.skipif(not (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_optional():
    X, y = load_mnist(FASHION_DIR, kind="test")
    assert X.shape == (10000, 784)
    assert np.array_equal(np.bincount(y), np.full(10, 1000))


# --------------------------------------------------------------------------
# train_test_split
# --------------------------------------------------------------------------

def test_split_stratified_digits():
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=3)
    assert X_te.shape == (360, 64) and X_tr.shape == (1437, 64)   # ceil
    assert y_te.shape == (360,) and y_tr.shape == (1437,)
    # every class gets floor or ceil of its exact share
    exact = np.bincount(y) * 360 / 1797
    got = np.bincount(y_te, minlength=10)
    assert np.all(got >= np.floor(exact)) and np.all(got <= np.ceil(exact))
    # a partition of the rows, rows still paired with their labels
    rows = {tuple(r) + (t,) for r, t in zip(X, y)}
    assert {tuple(r) + (t,) for r, t in zip(X_tr, y_tr)} <= rows
    assert {tuple(r) + (t,) for r, t in zip(X_te, y_te)} <= rows
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])),
                                  np.sort(y))


def test_split_partition_indices():
    n = 103
    idx = np.arange(n)
    y = np.repeat([0, 1, 2], [50, 40, 13])
    tr, te, ytr, yte = train_test_split(idx, y, test_size=0.3, seed=0)
    assert len(te) == 31 and len(tr) == 72            # ceil(0.3 * 103)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(n))
    assert np.array_equal(ytr, y[tr]) and np.array_equal(yte, y[te])
    # exact shares 15.05, 12.04, 3.91: floors 15, 12, 3 plus one for the
    # largest remainder (class 2)
    assert np.bincount(yte).tolist() == [15, 12, 4]
    # the test part is shuffled, not grouped by class
    assert not np.all(np.diff(yte) >= 0)


def test_split_deterministic():
    X, y = load_digits()
    a = train_test_split(X, y, seed=7)
    b = train_test_split(X, y, seed=7)
    c = train_test_split(X, y, seed=8)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[3], c[3])
    g1 = train_test_split(X, y, seed=np.random.default_rng(5))
    g2 = train_test_split(X, y, seed=np.random.default_rng(5))
    assert np.array_equal(g1[1], g2[1])


def test_split_int_size_and_unstratified():
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.linspace(0, 1, 10)                 # regression targets
    tr, te, ytr, yte = train_test_split(X, y, test_size=3, stratify=False)
    assert te.shape == (3, 2) and tr.shape == (7, 2)
    assert np.array_equal(te[:, 0] / 2, np.round(yte * 9))
    assert sorted(np.concatenate([ytr, yte]).tolist()) == y.tolist()


def test_split_one_hot_targets():
    y = np.repeat(np.arange(4), 25)
    T = np.eye(4)[y]
    X = np.arange(100)
    tr, te, Ttr, Tte = train_test_split(X, T, test_size=0.2)
    assert Tte.shape == (20, 4)
    assert Tte.sum(axis=0).tolist() == [5, 5, 5, 5]
    assert np.array_equal(Tte, T[te])


@pytest.mark.parametrize("size", [0, 1.0, 0.0, -0.1, 10, 1.5])
def test_split_bad_test_size(size):
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, test_size=size)


def test_split_bad_inputs():
    with pytest.raises(ValueError, match="same number of samples"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(TypeError, match="test_size"):
        train_test_split(np.zeros((10, 2)), np.zeros(10), test_size="0.2")
