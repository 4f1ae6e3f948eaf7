"""Pick the build of a kernel module that suits this CPU.

Some kernel modules (``SIMD_VARIANTS`` in setup.py) are also built with AVX2
and FMA as ``pynn.<name>_avx2``.  Both builds compute bit-identical results
(the AVX2 build keeps a·b + c as two roundings); the AVX2 one just does 8
floats per instruction instead of 4.  The environment variable
``PYNN_SIMD=0`` (or ``off``, ``false``, ``no``) forces the baseline build,
for debugging or comparison.
"""
import importlib
import os

from pynn import _cpu


def load(name):
    """``pynn.<name>_avx2`` when the CPU has AVX2 and FMA and it was built,
    else ``pynn.<name>``."""
    off = os.environ.get("PYNN_SIMD", "").strip().lower() in ("0", "off", "false", "no")
    if not off and _cpu.has_avx2_fma():
        try:
            return importlib.import_module(f"pynn.{name}_avx2")
        except ImportError:          # built without variants (not x86-64)
            pass
    return importlib.import_module(f"pynn.{name}")
