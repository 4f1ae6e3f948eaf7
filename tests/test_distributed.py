"""pynn.distributed without mpiexec: sharding of arrays, memory maps and
IDX files; the Trainer's comm argument on one process (MPI.COMM_SELF)."""
import gzip
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import distributed
from pynn.datasets import load_idx


def write_idx(path, arr, packed=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.float32): 0x0D}
    head = bytes([0, 0, codes[arr.dtype], arr.ndim])
    head += np.array(arr.shape, ">u4").tobytes()
    body = head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if packed else open
    with opener(path, "wb") as f:
        f.write(body)


@pytest.mark.parametrize("n,size", [(10, 3), (7, 4), (2, 4), (0, 2), (100, 1)])
def test_shard_range_partitions(n, size):
    bounds = [distributed.shard_range(n, r, size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (a, b), (c, d) in zip(bounds, bounds[1:]):
        assert b == c
    lengths = [b - a for a, b in bounds]
    assert max(lengths) - min(lengths) <= 1


def test_shard_range_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        distributed.shard_range(10, 3, 3)
    with pytest.raises(ValueError, match="size"):
        distributed.shard_range(10, 0, 0)
    with pytest.raises(ValueError, match="n must"):
        distributed.shard_range(-1, 0, 2)
    with pytest.raises(ValueError, match="comm or both"):
        distributed.shard(np.zeros(3), rank=0)


def test_shard_arrays_concatenate_back():
    X = np.arange(33.0).reshape(11, 3)
    parts = [distributed.shard(X, rank=r, size=4) for r in range(4)]
    np.testing.assert_array_equal(np.concatenate(parts), X)
    assert all(np.shares_memory(p, X) for p in parts if p.size)
    parts = [distributed.shard(list(range(5)), rank=r, size=2) for r in range(2)]
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4]]


def test_shard_memmap_stays_a_map(tmp_path):
    X = np.arange(60, dtype=np.float32).reshape(20, 3)
    path = tmp_path / "x.dat"
    X.tofile(path)
    mm = np.memmap(path, np.float32, "r", shape=(20, 3))
    part = distributed.shard(mm, rank=1, size=3)
    assert isinstance(part, np.memmap)
    np.testing.assert_array_equal(part, X[6:13])


@pytest.mark.parametrize("packed", [False, True])
def test_shard_idx_file_equals_load_idx(tmp_path, packed):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 4, 5)).astype(np.uint8)
    path = tmp_path / ("im.gz" if packed else "im.idx")
    write_idx(path, images, packed)
    full = load_idx(path)
    parts = [distributed.shard(path, rank=r, size=4) for r in range(4)]
    np.testing.assert_array_equal(np.concatenate(parts), full)
    assert parts[0].flags.writeable and parts[0].dtype == np.uint8
    vals = rng.standard_normal(9).astype(np.float32)
    write_idx(tmp_path / "v.idx", vals)
    np.testing.assert_array_equal(
        distributed.shard(str(tmp_path / "v.idx"), rank=1, size=2), vals[4:])


def test_shard_idx_bad_files(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(ValueError, match="not an IDX"):
        distributed.shard(bad, rank=0, size=1)
    short = tmp_path / "short.idx"
    write_idx(short, np.zeros((5, 2), np.uint8))
    short.write_bytes(short.read_bytes()[:-3])
    with pytest.raises(ValueError, match="bytes"):
        distributed.shard(short, rank=0, size=2)
    gz = tmp_path / "short.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"\0\0\x08\x01" + np.array([5], ">u4").tobytes() + b"\1\2")
    with pytest.raises(ValueError, match="truncated"):
        distributed.shard(gz, rank=1, size=2)


def test_import_pynn_does_not_import_mpi4py(tmp_path):
    # The same pynn as this process, not a source tree in the working folder.
    root = os.path.dirname(os.path.dirname(os.path.abspath(pynn.__file__)))
    code = "import sys, pynn, pynn.distributed; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=root)).stdout
    assert out.strip() == "False"


def test_comm_must_be_a_communicator():
    m = pynn.MLP([2, 3, 1])
    with pytest.raises(TypeError, match="mpi4py communicator"):
        pynn.Trainer(m, comm=object())


# ---------------------------------------------------------- one process
def comm_self():
    mpi = pytest.importorskip("mpi4py.MPI")
    return mpi.COMM_SELF


def fit_pair(comm, **kw):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 3))
    y = (X.sum(1) > 0).astype(int)
    out = []
    for c in (None, comm):
        m = pynn.MLP([3, 5, 2], hidden="tanh", output="softmax",
                     dtype="float64", seed=0)
        t = pynn.Trainer(m, loss="cross_entropy", comm=c, **kw)
        out.append((t, t.fit(X, y)))
    return out


@pytest.mark.parametrize("kw", [
    dict(batch_size=None, optimizer="sgd", lr=0.3, epochs=10),
    dict(batch_size=8, optimizer="adam", lr=0.01, epochs=3, seed=1),
    dict(batch_size=8, optimizer="sgd", lr=0.1, epochs=3, seed=1,
         early_stopping=True, validation_fraction=0.2),
])
def test_comm_self_equals_no_comm(kw):
    (t1, h1), (t2, h2) = fit_pair(comm_self(), **kw)
    np.testing.assert_allclose(t2.model.params, t1.model.params, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(h2.loss, h1.loss, rtol=1e-12)
    assert h2.accuracy == pytest.approx(h1.accuracy, abs=1e-12)
    assert h2.val_loss == pytest.approx(h1.val_loss, rel=1e-12)


def test_distributed_trainer_pickles_without_comm():
    t = pynn.Trainer(pynn.MLP([2, 3, 1]), comm=comm_self())
    t2 = pickle.loads(pickle.dumps(t))
    assert t2.comm is None and t2._group is None
    with pytest.raises(ValueError, match="partial_fit"):
        t.partial_fit(np.zeros((4, 2)), np.zeros(4))


def test_comm_self_history_holds_python_floats():
    (_, h1), (_, h2) = fit_pair(comm_self(), batch_size=8, epochs=2, seed=0,
                                early_stopping=True)
    for h in (h1, h2):
        assert all(type(v) is float for v in h.loss + h.accuracy + h.val_loss)
