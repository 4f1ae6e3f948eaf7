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
# thread: waking a second thread costs more than it saves (a 784-128-10
# training step at batch 1 takes ~12 µs on one thread, ~35-60 µs on two;
# measured in bench/test_bench_core.py).
SINGLE_THREAD_FLOPS = 60e6

_NAMES = [("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("openblas_set_num_threads", "openblas_get_num_threads")]
_lib = None


def _find():
    global _lib
    if _lib is not None:
        return _lib or None
    _lib = False
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library)
    import scipy
    base = os.path.dirname(os.path.dirname(scipy.__file__))
    candidates = glob.glob(os.path.join(base, "scipy.libs", "*openblas*"))
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
                return _lib
    return None


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


@contextlib.contextmanager
def limit_blas_threads(n):
    """``with limit_blas_threads(1): ...`` runs the block with n BLAS threads.

    The count is process-wide, so overlapping blocks (other threads, or
    nesting) are reference-counted: the first saves the original count, the
    last restores it.
    """
    global _holders, _saved
    if n is None:
        yield
        return
    with _lock:
        old = set_blas_threads(n)
        if _holders == 0:
            _saved = old
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                set_blas_threads(_saved)
