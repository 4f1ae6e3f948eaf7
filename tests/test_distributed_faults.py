"""Faults under real ``mpiexec``: one rank fails, every rank stops with the
same clear error (or, for Ctrl-C, the same interrupted History) — within
the subprocess timeout, never a hang."""
import json
import os
import signal
import subprocess
import time

import pytest

from test_distributed_mpi import mpi_command, run_mpi

TIMEOUT = 120   # a hang fails the test here instead of blocking CI


def fault(tmp_path, mode, n=2):
    prefix = tmp_path / mode
    t0 = time.monotonic()
    res = run_mpi(n, "faults.py", mode, prefix, timeout=TIMEOUT)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    return read_reports(prefix, n), elapsed


def read_reports(prefix, n):
    reports = []
    for r in range(n):
        with open(f"{prefix}.{r}.json") as f:
            reports.append(json.load(f))
    return reports


def same_error(reports, error, failed_rank, *words):
    for rep in reports:
        assert rep["error"] == error, rep
        assert rep["failed_rank"] == failed_rank, rep
        for w in words:
            assert w in rep["message"], rep
    assert len({rep["message"] for rep in reports}) == 1
    assert len({rep["params"] for rep in reports}) == 1


@pytest.mark.parametrize("n", [2, 4])
def test_nan_in_one_shard(tmp_path, n):
    reports, _ = fault(tmp_path, "nan", n)
    same_error(reports, "DistributedError", 1, "rank 1", "ValueError", "NaN")


def test_wrong_width_shard(tmp_path):
    reports, _ = fault(tmp_path, "width")
    same_error(reports, "DistributedError", 1, "rank 1", "X (rank 1)", "7")


def test_bad_labels_on_one_rank(tmp_path):
    reports, _ = fault(tmp_path, "labels")
    same_error(reports, "DistributedError", 1, "rank 1", "ValueError")


def test_other_configuration_on_one_rank(tmp_path):
    reports, _ = fault(tmp_path, "config")
    for rep in reports:
        assert rep["error"] == "ValueError"
        assert "rank 1 has another model or trainer configuration" in rep["message"]


@pytest.mark.parametrize("n", [2, 4])
def test_exception_in_a_step(tmp_path, n):
    reports, _ = fault(tmp_path, "step_error", n)
    same_error(reports, "DistributedError", 1, "MemoryError", "out of memory")


def test_exception_in_a_callback(tmp_path):
    reports, _ = fault(tmp_path, "callback")
    same_error(reports, "DistributedError", 1, "RuntimeError", "callback failed")


def test_checkpoint_write_fails_on_root(tmp_path):
    reports, _ = fault(tmp_path, "checkpoint")
    same_error(reports, "DistributedError", 0, "rank 0")


@pytest.mark.parametrize("mode", ["sigint", "interrupt_callback"])
def test_ctrl_c_on_one_rank_stops_all(tmp_path, mode):
    reports, _ = fault(tmp_path, mode, 4 if mode == "sigint" else 2)
    for rep in reports:
        assert rep["error"] is None, rep
        assert rep["interrupted"] is True
        assert rep["reason"] == "interrupted"
    assert len({rep["epochs"] for rep in reports}) == 1
    assert len({rep["params"] for rep in reports}) == 1


def test_root_callback_decides(tmp_path):
    """Only rank 0's callback says stop (after epoch 1): all ranks stop."""
    reports, _ = fault(tmp_path, "root_stops")
    for rep in reports:
        assert rep["error"] is None and rep["epochs"] == 2
        assert rep["reason"] == "callback"
    assert len({rep["params"] for rep in reports}) == 1


def test_divergence_everywhere(tmp_path):
    reports, _ = fault(tmp_path, "diverge")
    for rep in reports:
        assert rep["error"] == "DivergenceError", rep
    assert len({rep["message"] for rep in reports}) == 1
    assert len({rep["params"] for rep in reports}) == 1


def test_crashed_rank_ends_the_job(tmp_path):
    """A rank that dies (os._exit) mid-training: mpiexec ends the others
    with an error status instead of leaving them in a collective."""
    res = run_mpi(2, "faults.py", "crash", tmp_path / "crash", timeout=TIMEOUT)
    assert res.returncode != 0


def test_seed_none_gives_every_rank_the_same_orders(tmp_path):
    """seed=None: rank 0's random seed is used everywhere, so the ranks
    split the same global batches (else batches would mix samples)."""
    reports, _ = fault(tmp_path, "noseed", 4)
    orders = [rep["orders"] for rep in reports]
    assert len(orders[0]) == 6 and len(set(orders[0])) == 6
    assert all(o == orders[0] for o in orders)
    assert all(rep["error"] is None for rep in reports)
    assert len({rep["params"] for rep in reports}) == 1


def test_ctrl_c_to_mpiexec_stops_all_ranks(tmp_path):
    """Ctrl-C at the terminal: mpiexec forwards SIGINT to every rank; all
    return an interrupted History with the same weights."""
    prefix = tmp_path / "long"
    cmd, env = mpi_command(2, "faults.py", "long", prefix)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all(os.path.exists(f"{prefix}.{r}.started") for r in range(2)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    reports = read_reports(prefix, 2)
    for rep in reports:
        assert rep["error"] is None and rep["interrupted"] is True
        assert rep["epochs"] < 100000
    assert len({rep["params"] for rep in reports}) == 1
    assert len({rep["epochs"] for rep in reports}) == 1


def test_activity_penalty_refused_on_every_rank(tmp_path):
    reports, _ = fault(tmp_path, "penalty")
    for rep in reports:
        assert rep["error"] == "ValueError"
        assert "activity penalties" in rep["message"]
