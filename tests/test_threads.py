"""pynn._threads: the BLAS thread limiter under KeyboardInterrupt, and
available_cpus() under affinity masks and cgroup quotas.

The interrupt tests run ``with limit_blas_threads(1): ...`` once per place
where CPython can run a signal handler inside pynn/_threads.py code, with a
KeyboardInterrupt injected there, against a fake BLAS whose thread count is
a Python variable, and against the real OpenBLAS.  CPython runs the handler
(the SIGINT handler raises KeyboardInterrupt) only at its "eval breaker"
checks: on entering a function, after a call returns and on a backward
jump; a trace function that raises at exactly those instructions
reproduces every interrupt a real Ctrl-C could cause there.
"""
import dis
import sys

import pytest

from pynn import _threads


def _signal_points(code):
    """Offsets of the instructions before which CPython checks for pending
    signals: the one after each call, and each backward-jump target."""
    ins = list(dis.get_instructions(code))
    points = set()
    for a, b in zip(ins, ins[1:]):
        if a.opname in ("CALL", "CALL_FUNCTION_EX", "CALL_FUNCTION",
                        "CALL_METHOD", "CALL_KW"):
            points.add(b.offset)
        if "JUMP_BACKWARD" in a.opname and "NO_INTERRUPT" not in a.opname:
            points.add(a.argval)
    return points


class _InterruptAt:
    """Trace function: raise KeyboardInterrupt at the k-th signal point
    (function entry, or an instruction in ``_signal_points``) of _threads.py
    code running in a function named in ``names``."""

    def __init__(self, k, names):
        self.k, self.names, self.seen, self.fired = k, names, 0, False
        self.where = None
        self.points = {}

    def _hit(self, frame, kind):
        if self.fired or frame.f_code.co_name not in self.names:
            return
        if self.seen == self.k:
            self.fired = True
            self.where = (frame.f_code.co_name, kind, frame.f_lasti)
            raise KeyboardInterrupt
        self.seen += 1

    def __call__(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != _threads.__file__:
            return None
        if event == "call":
            frame.f_trace_opcodes = True
            self._hit(frame, "entry")
        elif event == "opcode":
            if code not in self.points:
                self.points[code] = _signal_points(code)
            if frame.f_lasti in self.points[code]:
                self._hit(frame, "after call")
        return self


def run_interrupted(action, names):
    """Yield, for k = 0, 1, ...: where the k-th signal point's interrupt
    was injected (None once ``action`` ran without reaching a k-th)."""
    k = 0
    while True:
        tracer = _InterruptAt(k, names)
        sys.settrace(tracer)
        try:
            action()
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        # (No gc.collect: the interrupted block's objects die by reference
        # counting when the exception is cleared, as in a real program.)
        yield tracer.where
        if not tracer.fired:
            return
        k += 1
        assert k < 5000, "the injection loop does not terminate"


class FakeBlas:
    """A BLAS whose thread count is a plain attribute (no ctypes)."""

    def __init__(self, n):
        self.n, self.sets = n, 0

    def set(self, n):
        self.n, self.sets = n, self.sets + 1

    def get(self):
        return self.n


@pytest.fixture
def fake_blas(monkeypatch):
    blas = FakeBlas(4)
    monkeypatch.setattr(_threads, "_lib", (blas.set, blas.get))
    monkeypatch.setattr(_threads, "_held", {})
    monkeypatch.setattr(_threads, "_saved", None)
    return blas


def _one_block():
    with _threads.limit_blas_threads(1):
        pass


def _nested_blocks():
    with _threads.limit_blas_threads(2):
        with _threads.limit_blas_threads(1):
            pass


ENTER = ("__enter__", "_find")
EXIT = ("__exit__", "_release", "_settle", "_drop_dead")


@pytest.mark.parametrize("names", [ENTER, EXIT], ids=["enter", "exit"])
@pytest.mark.parametrize("action", [_one_block, _nested_blocks],
                         ids=["one", "nested"])
def test_interrupt_anywhere_in_the_limiter_restores_the_count(fake_blas, names,
                                                               action):
    """The count is back and no hold is left right after the interrupt,
    except for one place: an interrupt on entering __exit__ (before its
    first instruction) skips it, and the next block restores the count."""
    injected = []
    for where in run_interrupted(action, names):
        if where is not None and where[:2] == ("__exit__", "entry"):
            assert _threads._holders >= 1          # the skipped hold ...
            _one_block()                           # ... the next block drops
        assert fake_blas.n == 4, where
        assert _threads._holders == 0, where
        if where is not None:
            injected.append(where)
    assert len(injected) >= 5              # the injection reached the code
    # The limiter still works afterwards.
    with _threads.limit_blas_threads(1):
        assert fake_blas.n == 1
    assert fake_blas.n == 4


def test_interrupt_inside_the_block_restores_the_count(fake_blas):
    with pytest.raises(KeyboardInterrupt):
        with _threads.limit_blas_threads(1):
            assert fake_blas.n == 1
            raise KeyboardInterrupt
    assert (fake_blas.n, _threads._holders) == (4, 0)


def test_a_hold_whose_exit_never_ran_is_dropped_by_the_next_block(fake_blas):
    """An interrupt handled before __exit__'s first instruction skips it
    (the same as calling __enter__ without __exit__): the dead hold is
    dropped and the count restored when the next block ends."""
    _threads.limit_blas_threads(1).__enter__()       # object dies at once
    assert fake_blas.n == 1
    _one_block()
    assert (fake_blas.n, _threads._holders) == (4, 0)


def test_a_live_hold_in_another_block_is_kept(fake_blas):
    outer = _threads.limit_blas_threads(1)
    outer.__enter__()
    _one_block()
    assert (fake_blas.n, _threads._holders) == (1, 1)  # outer still holds
    outer.__exit__(None, None, None)
    assert (fake_blas.n, _threads._holders) == (4, 0)


def test_interrupt_in_the_limiter_restores_the_real_openblas():
    before = _threads.blas_threads()
    if before is None:
        pytest.skip("the BLAS thread count cannot be read here")
    want = 2 if before == 1 else 1
    _threads.set_blas_threads(want)
    if _threads.blas_threads() != want:
        pytest.skip("OpenBLAS here runs a single thread only")
    _threads.set_blas_threads(before)

    def block():
        with _threads.limit_blas_threads(want):
            pass
    n = 0
    for where in run_interrupted(block, ENTER + EXIT):
        if where is not None and where[:2] == ("__exit__", "entry"):
            block()
        assert _threads.blas_threads() == before, where
        assert _threads._holders == 0, where
        n += where is not None
    assert n >= 10


# ----------------------------------------------------------- available_cpus
@pytest.fixture
def cgroup(tmp_path, monkeypatch):
    """A fake /sys/fs/cgroup and /proc/self/cgroup under tmp_path, with an
    8-CPU machine and no affinity restriction."""
    root = tmp_path / "cgroup"
    root.mkdir()
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/\n")
    monkeypatch.setattr(_threads, "_CGROUP_ROOT", str(root))
    monkeypatch.setattr(_threads, "_PROC_CGROUP", str(proc))
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(_threads.os, "sched_getaffinity",
                        lambda pid: set(range(8)), raising=False)

    class Files:
        def write(self, rel, text):
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)

        def proc_cgroup(self, text):
            proc.write_text(text)
    return Files()


def test_no_limits_gives_the_machine_count(cgroup):
    assert _threads.available_cpus() == 8


def test_affinity_mask_limits(cgroup, monkeypatch):
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {2, 5, 7})
    assert _threads.available_cpus() == 3


def test_without_sched_getaffinity_the_machine_count_is_used(cgroup,
                                                             monkeypatch):
    monkeypatch.delattr(_threads.os, "sched_getaffinity")
    assert _threads.available_cpus() == 8


@pytest.mark.parametrize("text, expected", [
    ("max 100000\n", 8),                  # no quota
    ("200000 100000\n", 2),
    ("150000 100000\n", 2),               # 1.5 CPUs round up
    ("50000 100000\n", 1),                # half a CPU: still 1
    ("100000 100000", 1),
    ("garbage\n", 8),                     # unreadable: ignored
    ("0 100000\n", 8),                    # nonsense: ignored
    ("", 8),
])
def test_cgroup_v2_cpu_max(cgroup, text, expected):
    cgroup.write("cpu.max", text)
    assert _threads.available_cpus() == expected


def test_cgroup_v2_quota_of_an_ancestor_limits(cgroup):
    cgroup.proc_cgroup("0::/user.slice/job.scope\n")
    cgroup.write("user.slice/job.scope/cpu.max", "max 100000\n")
    cgroup.write("user.slice/cpu.max", "300000 100000\n")
    cgroup.write("cpu.max", "max 100000\n")
    assert _threads.available_cpus() == 3


def test_cgroup_v2_innermost_quota_limits(cgroup):
    cgroup.proc_cgroup("0::/a/b\n")
    cgroup.write("a/b/cpu.max", "100000 100000\n")
    cgroup.write("a/cpu.max", "400000 100000\n")
    assert _threads.available_cpus() == 1


@pytest.mark.parametrize("folder", ["cpu", "cpu,cpuacct"])
@pytest.mark.parametrize("quota, period, expected", [
    ("-1\n", "100000\n", 8),               # no quota
    ("300000\n", "100000\n", 3),
    ("250000\n", "100000\n", 3),
    ("20000\n", "100000\n", 1),
    ("x\n", "100000\n", 8),
])
def test_cgroup_v1_cfs_quota(cgroup, folder, quota, period, expected):
    cgroup.proc_cgroup("2:cpu,cpuacct:/\n0::/\n")
    cgroup.write(f"{folder}/cpu.cfs_quota_us", quota)
    cgroup.write(f"{folder}/cpu.cfs_period_us", period)
    assert _threads.available_cpus() == expected


def test_smallest_of_affinity_and_quota(cgroup, monkeypatch):
    cgroup.write("cpu.max", "600000 100000\n")
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {0, 1})
    assert _threads.available_cpus() == 2
    monkeypatch.setattr(_threads.os, "sched_getaffinity",
                        lambda pid: set(range(7)))
    assert _threads.available_cpus() == 6


def test_at_least_one_cpu(cgroup, monkeypatch):
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: None)
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: set())
    assert _threads.available_cpus() == 1


def test_affinity_error_is_ignored(cgroup, monkeypatch):
    def fail(pid):
        raise OSError("not permitted")
    monkeypatch.setattr(_threads.os, "sched_getaffinity", fail)
    cgroup.write("cpu.max", "400000 100000\n")
    assert _threads.available_cpus() == 4


def test_on_this_machine_within_bounds():
    import os
    n = _threads.available_cpus()
    assert 1 <= n <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert n <= len(os.sched_getaffinity(0))


# ----------------------------------------------------------- pynn's threads
def test_pool_threads_default_is_the_available_cpus(cgroup, monkeypatch):
    monkeypatch.setattr(_threads, "_cpus", None)
    cgroup.write("cpu.max", "300000 100000\n")
    assert _threads.pool_threads() == 3
    assert _threads.pool_threads(5) == 5


def test_pool_threads_cache_is_per_process(cgroup, monkeypatch):
    """A forked child (another pid) counts again: its limits may differ."""
    monkeypatch.setattr(_threads, "_cpus", (-1, 99))
    assert _threads.pool_threads() == 8


def test_trainer_fit_keeps_the_blas_on_one_thread(monkeypatch):
    """pynn's threads do the parallel work; the BLAS stays single-threaded
    during fit (and the caller's count comes back afterwards)."""
    import numpy as np
    import pynn
    seen = []
    real = pynn.trainer._train.run_batches

    def spy(*args, **kwargs):
        seen.append((_threads.blas_threads(), kwargs.get("n_threads")))
        return real(*args, **kwargs)
    monkeypatch.setattr(pynn.trainer._train, "run_batches", spy)
    before = _threads.blas_threads()
    X = np.random.default_rng(0).random((64, 5))
    pynn.Trainer(pynn.MLP([5, 3, 1], seed=0), batch_size=8, epochs=2,
                 n_threads=3).fit(X, X[:, 0])
    assert seen and all(n == 3 for _, n in seen)
    if before is not None:
        assert all(b == 1 for b, _ in seen)
        assert _threads.blas_threads() == before
