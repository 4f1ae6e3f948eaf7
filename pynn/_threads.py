"""Control of the BLAS thread pool that pynn's kernels call into.

pynn's products go to the OpenBLAS that SciPy ships (through
``scipy.linalg.cython_blas``).  Its threads pay off for large products and
cost more than they save for the matrix-vector work of a batch of one (a
784×128 GEMV runs ~2.5× slower on two threads than on one here), so the
Trainer runs small batches single-threaded.  Found through ctypes on the
library SciPy has already loaded; if it cannot be found these functions do
nothing (and ``blas_threads()`` returns None).
"""
import contextlib
import ctypes
import glob
import os
import threading

# A pass with fewer floating-point operations than this runs the BLAS on one
# thread: waking a second thread costs more than it saves.  Measured on 2
# cores, 1 vs 2 threads, training steps interleaved: batch 1 of 784-128-10
# (0.6 MFLOP) ~12 µs vs 35-60 µs; 256-512-10 at 3.3 MFLOP 2 threads 14%
# slower; from ~6.5 MFLOP on 2 threads win (256-512-10: 31% faster;
# 784-256-256-10: 16% at 12.9, 34% at 51.6 MFLOP).
SINGLE_THREAD_FLOPS = 5e6

_NAMES = [("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("openblas_set_num_threads", "openblas_get_num_threads")]
_lib = None
_find_lock = threading.Lock()


def _find():
    """(setter, getter) of the thread count of the BLAS SciPy's cython_blas
    calls, or None.  Cached; the first call searches under a lock, so no
    thread sees a half-finished search as "not found"."""
    if _lib is not None:
        return _lib or None
    with _find_lock:
        if _lib is None:
            _search()
    return _lib or None


def _search():
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


def blas_threads():
    """Threads the BLAS uses now, or None if unknown."""
    lib = _find()
    return lib[1]() if lib else None


def set_blas_threads(n):
    """Set the BLAS thread count; returns the previous one (or None)."""
    lib = _find()
    if not lib:
        return None
    old = lib[1]()
    lib[0](int(n))
    return old


def threads_for(flops):
    """The thread count to use for a pass of ``flops``: 1 or None (default)."""
    return 1 if flops < SINGLE_THREAD_FLOPS else None


_lock = threading.Lock()
_holders = 0            # blocks inside limit_blas_threads, in any thread
_saved = None           # the count to restore when the last one leaves


class _Limit:
    """The context manager ``limit_blas_threads(n)`` returns (a class, not a
    generator: it is entered on every forward call, where a generator-based
    one cost ~2 µs)."""

    __slots__ = ("n", "lib")

    def __init__(self, n):
        self.n = int(n)
        self.lib = None           # set by __enter__ when it took a hold

    def __enter__(self):
        global _holders, _saved
        lib = _find()
        if lib is None:
            return self
        self.lib = lib
        with _lock:
            old = lib[1]()
            if old != self.n:
                lib[0](self.n)
            if _holders == 0:
                _saved = old
            _holders += 1
        return self

    def __exit__(self, *exc):
        global _holders
        lib = self.lib            # release only the hold __enter__ took
        if lib is None:
            return False
        self.lib = None
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None and lib[1]() != _saved:
                lib[0](_saved)
        return False


_NO_LIMIT = contextlib.nullcontext()


def limit_blas_threads(n):
    """``with limit_blas_threads(1): ...`` runs the block with n BLAS threads
    (n None: no change).

    The count is process-wide, so overlapping blocks (other threads, or
    nesting) are reference-counted: the first saves the original count, the
    last restores it.
    """
    return _NO_LIMIT if n is None else _Limit(n)
