"""pynn's threads, and control of the BLAS thread pool its kernels call into.

pynn owns its parallelism: the compiled training and inference loops split
a batch into chunks whose boundaries depend only on the batch size and the
layout (``pynn._train.chunk_rows``), run them on pynn's own persistent
worker threads (csrc/_pool.c: between jobs a worker polls for the next
one for at most 50 µs, yielding its core between polls, then sleeps; the
environment variable PYNN_SPIN_US sets that time, 0 never polls), add the
chunks' loss sums in a fixed order and form a gradient's weight products
over the whole batch in blocks fixed by the layout (a batch of one chunk
splits its wide products by columns instead), so results are
bit-identical on any number of threads and a busy core just takes fewer
chunks.  While they
run, the BLAS stays on one thread (``limit_blas_threads(1)``): OpenBLAS's
own threads spin at a barrier on every call, collapse when another process
takes a core, and round differently from one thread count to another.

``pool_threads(n)`` is the thread count a pass uses: n, or with None the
CPUs this process may use.  Work too small to split stays on one thread by
construction (one chunk holds at least ``pynn._train.CHUNK_FLOPS``).

The BLAS is the OpenBLAS that SciPy ships (``scipy.linalg.cython_blas``),
found through ctypes on the library SciPy has already loaded; if it cannot
be found the BLAS functions here do nothing (and ``blas_threads()`` returns
None).

``available_cpus()`` counts the CPUs this process may actually use: the
affinity mask and the cgroup CPU quota of a container or systemd slice can
both be smaller than the machine's count.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import math
import os
import threading
import weakref
from typing import Any, Callable, Literal, Tuple

_NAMES = [("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("openblas_set_num_threads", "openblas_get_num_threads")]
# (setter(n) -> None, getter() -> n): the BLAS's ctypes functions.
_Lib = Tuple[Callable[[int], None], Callable[[], int]]
_lib: _Lib | Literal[False] | None = None   # None: not searched; False: none
_find_lock = threading.Lock()


def _find() -> _Lib | None:
    """(setter, getter) of the thread count of the BLAS SciPy's cython_blas
    calls, or None.  Cached; the first call searches under a lock, so no
    thread sees a half-finished search as "not found"."""
    if _lib is not None:
        return _lib or None
    with _find_lock:
        if _lib is None:
            _search()
    return _lib or None


def _search() -> None:
    global _lib
    import scipy.linalg.cython_blas as cython_blas
    # First the precise answer: dlsym on cython_blas's own handle searches
    # that module and the libraries it was linked against, so it finds the
    # BLAS behind pynn's kernels even when NumPy loaded another OpenBLAS.
    candidates = [cython_blas.__file__]
    # Then, should that fail, the places SciPy wheels keep it and any
    # OpenBLAS already mapped into the process.
    import scipy
    base = os.path.dirname(os.path.dirname(scipy.__file__))
    candidates += glob.glob(os.path.join(base, "scipy.libs", "*openblas*"))
    candidates += glob.glob(os.path.join(base, "scipy_openblas*", "lib", "*.so*"))
    with open("/proc/self/maps") if os.path.exists("/proc/self/maps") else \
            contextlib.nullcontext(None) as maps:
        if maps is not None:
            candidates += sorted({line.split()[-1] for line in maps
                                  if "openblas" in line.lower()
                                  and line.split()[-1].startswith("/")})
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _NAMES:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                _lib = (setter, getter)
                return
    _lib = False


def blas_threads() -> int | None:
    """Threads the BLAS uses now, or None if unknown."""
    lib = _find()
    return lib[1]() if lib else None


def set_blas_threads(n: int) -> int | None:
    """Set the BLAS thread count; returns the previous one (or None)."""
    lib = _find()
    if not lib:
        return None
    old = lib[1]()
    lib[0](int(n))
    return old


_cpus: Tuple[int, int] | None = None      # (pid, available_cpus()) cache


def pool_threads(n_threads: int | None = None) -> int:
    """Threads for pynn's chunked passes: ``n_threads``, or when None the
    CPUs this process may use (``available_cpus``, cached per process)."""
    global _cpus
    if n_threads is not None:
        return int(n_threads)
    pid = os.getpid()
    if _cpus is None or _cpus[0] != pid:
        _cpus = (pid, available_cpus())
    return _cpus[1]


# --------------------------------------------------------------------------
# CPUs this process may use
# --------------------------------------------------------------------------

_CGROUP_ROOT = "/sys/fs/cgroup"          # where cgroup file systems mount
_PROC_CGROUP = "/proc/self/cgroup"       # this process's cgroup paths


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _cpus_of_quota(quota: float, period: float) -> int | None:
    """CPUs a CFS quota allows: ⌈quota / period⌉, at least 1; None if the
    quota is unlimited (negative) or the numbers make no sense."""
    if not (quota > 0 and period > 0 and math.isfinite(quota / period)):
        return None
    return max(1, math.ceil(quota / period))


def _cgroup_dirs(controller: str) -> list[str]:
    """Folders holding this process's cgroup files for ``controller``
    ("" for the unified cgroup v2 hierarchy), innermost first, up to the
    mount point.  A quota set on any ancestor limits the process too."""
    mounts = ([_CGROUP_ROOT, os.path.join(_CGROUP_ROOT, "unified")]
              if controller == "" else
              [os.path.join(_CGROUP_ROOT, "cpu"),
               os.path.join(_CGROUP_ROOT, "cpu,cpuacct"),
               os.path.join(_CGROUP_ROOT, "cpuacct,cpu")])
    rel = ""
    for line in (_read(_PROC_CGROUP) or "").splitlines():
        parts = line.split(":", 2)      # "id:controllers:path"; v2: "0::path"
        if len(parts) == 3 and controller in (parts[1].split(",")
                                              if parts[1] else [""]):
            rel = parts[2].strip().strip("/")
            break
    dirs = []
    for mount in mounts:
        steps = rel.split("/") if rel else []
        for i in range(len(steps), -1, -1):
            d = os.path.join(mount, *steps[:i])
            if d not in dirs:
                dirs.append(d)
    return dirs


def _cgroup_cpu_limit() -> int | None:
    """The smallest CPU count any cgroup quota of this process allows, or
    None when no quota is set (or none can be read).

    cgroup v2: ``cpu.max`` holds "<quota> <period>" in µs, or "max <period>"
    for no limit.  cgroup v1: ``cpu.cfs_quota_us`` (−1 for no limit) and
    ``cpu.cfs_period_us``.  Each allows ⌈quota / period⌉ CPUs.
    """
    limits: list[int | None] = []
    for d in _cgroup_dirs(""):
        fields = (_read(os.path.join(d, "cpu.max")) or "").split()
        if len(fields) == 2 and fields[0] != "max":
            try:
                limits.append(_cpus_of_quota(float(fields[0]), float(fields[1])))
            except ValueError:
                pass
    for d in _cgroup_dirs("cpu"):
        quota = _read(os.path.join(d, "cpu.cfs_quota_us"))
        period = _read(os.path.join(d, "cpu.cfs_period_us"))
        if quota is not None and period is not None:
            try:
                limits.append(_cpus_of_quota(float(quota), float(period)))
            except ValueError:
                pass
    found = [n for n in limits if n is not None]
    return min(found) if found else None


def available_cpus() -> int:
    """The number of CPUs this process may use, at least 1.

    The minimum of the machine's count (``os.cpu_count()``), the CPUs in the
    process's affinity mask (``os.sched_getaffinity(0)``, where the platform
    has it: ``taskset``, ``numactl``, a batch scheduler) and the CPU quota
    of its cgroup (a container's ``--cpus``, a systemd ``CPUQuota=``), read
    from ``/sys/fs/cgroup`` (v2 ``cpu.max``; v1 ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us``) for the process's own cgroup and each ancestor.
    A quota of q µs per period of p µs allows ⌈q / p⌉ CPUs.  Anything that
    cannot be read is left out of the minimum.

    Returns
    -------
    int
        CPUs available, ≥ 1.
    """
    counts = [os.cpu_count() or 1]
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            counts.append(len(getaffinity(0)))
        except OSError:
            pass
    quota = _cgroup_cpu_limit()
    if quota is not None:
        counts.append(quota)
    return max(1, min(c for c in counts if c > 0))


_lock = threading.Lock()
# The holds now taken by limit_blas_threads blocks, in any thread: id of the
# _Limit object -> a weak reference to it.  Taking or dropping a hold is one
# dict operation, so an interrupt never leaves it half done; a hold whose
# object has died was leaked by an interrupt that skipped __exit__, and the
# next block drops it (_drop_dead).
_held: dict[int, weakref.ref] = {}
# The count to put back when the last hold is dropped (None: nothing to
# restore).  Read only when no hold exists and nothing is pending, so a
# restore that an interrupt cut short is finished by the next block.
_saved: int | None = None


def __getattr__(name: str) -> Any:
    # ``_holders``: the number of holds (kept for tests and debugging).
    if name == "_holders":
        return len(_held)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _drop_dead() -> None:
    """Under ``_lock``: forget holds whose block object no longer exists."""
    for key, ref in list(_held.items()):
        if ref() is None:
            _held.pop(key, None)


def _settle(lib: _Lib) -> None:
    """Under ``_lock``: once no hold is left, put the saved count back.

    Idempotent: calling it again after it ran (or after an interrupt cut it
    short) does the rest and nothing more.
    """
    global _saved
    if _held:
        _drop_dead()
    if not _held and _saved is not None:
        if lib[1]() != _saved:
            lib[0](_saved)
        _saved = None


class _Limit:
    """The context manager ``limit_blas_threads(n)`` returns (a class, not a
    generator: it is entered on every forward call, where a generator-based
    one cost ~2 µs).

    Safe against a KeyboardInterrupt at any point of ``__enter__`` or
    ``__exit__``: each undoes or finishes its (idempotent) work before the
    interrupt propagates.  Only a signal handled before ``__exit__``'s first
    instruction skips it; that hold dies with the object and the next block
    drops it and restores the count.
    """

    __slots__ = ("n", "lib", "__weakref__")

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.lib: _Lib | None = None

    def __enter__(self) -> _Limit:
        global _saved
        try:
            lib = _lib or _find()               # _find: first call only
            if lib is None:
                return self
            self.lib = lib
            with _lock:
                if _held:
                    _drop_dead()
                if not _held and _saved is None:
                    _saved = lib[1]()
                _held[id(self)] = weakref.ref(self)     # the hold is taken
                if lib[1]() != self.n:
                    lib[0](self.n)
            return self
        except BaseException:
            self._release()
            raise

    def __exit__(self, *exc: object) -> Literal[False]:
        try:
            lib = self.lib
            if lib is not None:
                with _lock:
                    _held.pop(id(self), None)   # the hold is dropped
                    _settle(lib)
        except BaseException:
            self._release()                     # idempotent: finish the job
            raise
        return False

    def _release(self) -> None:
        """Drop this block's hold (if it has one) and restore the saved
        count if it was the last; safe to call any number of times."""
        lib = self.lib
        if lib is not None:
            with _lock:
                _held.pop(id(self), None)
                _settle(lib)


_NO_LIMIT = contextlib.nullcontext()


def limit_blas_threads(n: int | None) -> contextlib.AbstractContextManager:
    """``with limit_blas_threads(1): ...`` runs the block with n BLAS threads
    (n None: no change).

    The count is process-wide, so overlapping blocks (other threads, or
    nesting) are reference-counted: the first saves the original count, the
    last restores it.  A KeyboardInterrupt anywhere inside the block or the
    manager itself still restores it (see ``_Limit``).
    """
    return _NO_LIMIT if n is None else _Limit(n)
