"""Build the compiled kernels in csrc/ as extension modules of the pynn package.

Every ``csrc/<name>.pyx`` becomes ``pynn.<name>``.  The ``.pxd`` headers live
beside their ``.pyx`` in csrc/; for ``cimport pynn._blas`` to resolve they are
staged under ``build/pxd/pynn/`` and that folder is put on Cython's include
path.

On x86-64 the modules named in ``SIMD_VARIANTS`` are built a second time with
AVX2 and FMA enabled, as ``pynn.<name>_avx2`` (from a copy of the sources
staged under ``build/simd/``); ``pynn/_simd.py`` picks that build at import on
CPUs that have both.  ``-ffp-contract=off`` keeps every a·b + c as two
roundings, as in the baseline build, so both builds give bit-identical
results (tested).

Environment switches:
  PYNN_DEBUG=1   turn bounds checking, wraparound and initialised-memoryview
                 checks back on and compile with -O0 -g (for debugging).
"""
import glob
import os
import platform
import shutil

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")
DEBUG = os.environ.get("PYNN_DEBUG", "0") not in ("", "0")
# Self-contained kernels (no other module cimports them) worth a second,
# AVX2 build: the per-sample loops of the classic rules are dot products and
# axpys on short rows, which run ~35% faster 8 floats at a time.
SIMD_VARIANTS = ["_rules"]
SIMD_ARGS = ["-mavx2", "-mfma", "-ffp-contract=off"]
X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def stage_headers():
    include = os.path.join("build", "pxd")
    dest = os.path.join(include, "pynn")
    os.makedirs(dest, exist_ok=True)
    for pxd in glob.glob(os.path.join(CSRC, "*.pxd")):
        shutil.copy(pxd, dest)
    return include


def copy_if_changed(src, dst):
    """Copy unless dst already holds the same bytes (keeps its mtime, so
    Cython does not regenerate an unchanged module)."""
    with open(src, "rb") as f:
        data = f.read()
    if os.path.exists(dst):
        with open(dst, "rb") as f:
            if f.read() == data:
                return
    with open(dst, "wb") as f:
        f.write(data)


def stage_simd_sources():
    """Copy csrc/<name>.pyx to build/simd/<name>_avx2.pyx, and its .pxd to
    build/pxd/pynn/<name>_avx2.pxd (where Cython looks for pynn.<name>_avx2's
    declarations)."""
    dest = os.path.join("build", "simd")
    headers = os.path.join("build", "pxd", "pynn")
    os.makedirs(dest, exist_ok=True)
    os.makedirs(headers, exist_ok=True)
    staged = []
    for name in SIMD_VARIANTS:
        pyx = os.path.join(dest, name + "_avx2.pyx")
        copy_if_changed(os.path.join(CSRC, name + ".pyx"), pyx)
        pxd = os.path.join(CSRC, name + ".pxd")
        if os.path.exists(pxd):
            copy_if_changed(pxd, os.path.join(headers, name + "_avx2.pxd"))
        staged.append((name + "_avx2", pyx))
    return staged


def extensions():
    # -O3 lets gcc vectorise the contiguous inner loops; never -march=native
    # in a wheel (it would crash on older CPUs).
    # -fno-math-errno lets sqrt vectorise (pynn never reads errno).
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
    exts = []
    for pyx in sorted(glob.glob(os.path.join(CSRC, "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        exts.append(Extension(
            "pynn." + name, [pyx],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
            extra_compile_args=compile_args,
        ))
    if X86_64 and os.name == "posix":
        for name, pyx in stage_simd_sources():
            exts.append(Extension(
                "pynn." + name, [pyx],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
                extra_compile_args=compile_args + SIMD_ARGS,
            ))
    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "initializedcheck": DEBUG,
        "cdivision": True,
        "embedsignature": True,
    }
    # Debug and release C files are kept apart so that switching rebuilds.
    build_dir = os.path.join("build", "cython-debug" if DEBUG else "cython")
    return cythonize(exts, include_path=[stage_headers()], build_dir=build_dir,
                     compiler_directives=directives,
                     )


setup(ext_modules=extensions())
