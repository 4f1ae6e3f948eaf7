"""Data-parallel training under real ``mpiexec`` (MPICH through mpi4py):
2 and 4 ranks equal one process; reruns are bit-identical.

The scripts in tests/mpi/ run under ``mpiexec -n N python -m mpi4py``; the
single-process references are the ordinary Trainer on the whole data set.
Set PYNN_REQUIRE_MPI=1 (as .ci/run_mpi does) to fail instead of skipping
when mpi4py or mpiexec is missing.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pynn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# The ranks import the same pynn as this process (a build in place or the
# installed package).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pynn.__file__)))
sys.path.insert(0, os.path.join(HERE, "mpi"))
import cases  # noqa: E402


def mpiexec():
    """The mpiexec beside this Python (the mpich wheel's), else on PATH."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        exe = None
    else:
        beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        exe = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if exe is None:
        if os.environ.get("PYNN_REQUIRE_MPI"):
            pytest.fail("PYNN_REQUIRE_MPI is set but mpi4py/mpiexec is missing")
        pytest.skip("needs mpi4py and mpiexec (pip install 'pynn[mpi]')")
    return exe


def mpi_command(n, script, *args):
    """(command, environment) that run tests/mpi/<script> on n ranks (MPICH
    oversubscribes by default; one BLAS/OpenMP thread per rank)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(
                   [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    cmd = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py",
           os.path.join(HERE, "mpi", script), *map(str, args)]
    return cmd, env


def run_mpi(n, script, *args, timeout=240):
    """Run tests/mpi/<script> on n ranks; returns the CompletedProcess."""
    cmd, env = mpi_command(n, script, *args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def load(prefix, name, rank):
    with np.load(f"{prefix}.{name}.{rank}.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case trained on 2 and 4 ranks, and once more on 2 (rerun)."""
    out = {}
    for key, n in (("2", 2), ("4", 4), ("2b", 2)):
        prefix = tmp_path_factory.mktemp(f"mpi{key}") / "run"
        res = run_mpi(n, "train.py", prefix, *cases.CASES)
        assert res.returncode == 0, res.stderr[-3000:]
        out[key] = (prefix, n)
    return out


def reference(name):
    t, X, y, fit = cases.build(name)
    h = t.fit(X, y, **fit)
    return t.model.params.copy(), h


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


TOL = {"float64": 1e-12, "float32": 1e-5}


@pytest.mark.parametrize("ranks", ["2", "4"])
@pytest.mark.parametrize("name", list(cases.CASES))
def test_equals_one_process(runs, name, ranks):
    prefix, n = runs[ranks]
    params, h = reference(name)
    tol = TOL[cases.CASES[name][2]]
    r0 = load(prefix, name, 0)
    # Same epochs, same stopping reason, parameters and losses to rounding.
    assert int(r0["epochs"]) == len(h.loss)
    assert str(r0["reason"]) == h.stopped_reason
    assert rel(r0["params"], params) <= tol, rel(r0["params"], params)
    assert rel(r0["loss"], h.loss) <= tol
    if h.accuracy[0] is not None:
        np.testing.assert_allclose(r0["accuracy"], h.accuracy, rtol=0, atol=tol)
    if h.val_loss:
        assert rel(r0["val_loss"], h.val_loss) <= tol
    # Every rank holds the same bits.
    for r in range(1, n):
        rr = load(prefix, name, r)
        assert rr["params"].tobytes() == r0["params"].tobytes()
        assert rr["loss"].tobytes() == r0["loss"].tobytes()


@pytest.mark.parametrize("name", list(cases.CASES))
def test_rerun_bit_identical(runs, name):
    a = load(runs["2"][0], name, 0)
    b = load(runs["2b"][0], name, 0)
    assert a["params"].tobytes() == b["params"].tobytes()
    assert a["loss"].tobytes() == b["loss"].tobytes()


def test_cases_train():
    """The cases are not trivial: training lowers the loss by a margin."""
    for name in cases.CASES:
        params, h = reference(name)
        assert h.loss[-1] < 0.95 * h.loss[0], name


def test_checkpoint_resume_same_ranks(tmp_path):
    """3 epochs + a resume to 6 on 2 ranks is bit-identical to 6 epochs;
    rank 0 alone writes the (atomic) checkpoint; resuming on 4 ranks is
    refused on every rank."""
    ck = tmp_path / "ck.pynn"
    for args in (("full", 6, tmp_path / "ck_full.pynn"), ("first", 3, ck)):
        res = run_mpi(2, "resume.py", tmp_path / args[0], args[1], args[2])
        assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir() if "ck" in p.name) == \
        ["ck.pynn", "ck_full.pynn"]          # no temporary files left over
    res = run_mpi(2, "resume.py", tmp_path / "second", 6,
                  tmp_path / "ck2.pynn", ck)
    assert res.returncode == 0, res.stderr[-3000:]
    for r in range(2):
        full = np.load(tmp_path / f"full.{r}.npz")
        second = np.load(tmp_path / f"second.{r}.npz")
        assert full["params"].tobytes() == second["params"].tobytes()
        assert full["loss"].tobytes() == second["loss"].tobytes()
    res = run_mpi(4, "resume.py", tmp_path / "four", 6,
                  tmp_path / "ck4.pynn", ck)
    assert res.returncode == 0, res.stderr[-3000:]
    errors = {(tmp_path / f"four.{r}.err").read_text() for r in range(4)}
    assert len(errors) == 1
    assert "other trainer settings (ranks)" in errors.pop()


def test_thread_count_does_not_change_a_distributed_fit(tmp_path):
    """Each rank runs its share of a batch on pynn's pool as one process
    does (chunks independent of the thread count, summed in chunk order):
    n_threads=1 and n_threads=2 give the same bits on every rank, for
    mini-batch (shuffled, dropout), full-batch and L-BFGS fits, and the
    2-thread fits really ran on the pool (the 1-thread ones started no
    worker)."""
    res = run_mpi(2, "thread_counts.py", tmp_path / "run")
    assert res.returncode == 0, res.stderr[-3000:]
    import thread_counts            # tests/mpi/ (imports mpi4py: after the skip)
    for name in thread_counts.CASES:
        ranks = [load(tmp_path / "run", name, r) for r in range(2)]
        for r in ranks:
            assert 1 <= r["rows"] < r["share"], name     # really chunked
            assert r["params1"].tobytes() == r["params2"].tobytes(), name
            assert r["loss1"].tobytes() == r["loss2"].tobytes(), name
            assert r["loss1"][-1] < 0.9 * r["loss1"][0], name   # it learns
            assert int(r["workers_before"]) == 0
            assert int(r["workers_after"]) >= 1
        assert ranks[0]["params1"].tobytes() == ranks[1]["params1"].tobytes()
