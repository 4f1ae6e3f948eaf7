"""Build the compiled kernels in csrc/ as extension modules of the pynn package.

Every ``csrc/<name>.pyx`` becomes ``pynn.<name>``.  The ``.pxd`` headers live
beside their ``.pyx`` in csrc/; for ``cimport pynn._blas`` to resolve they are
staged under ``build/pxd/pynn/`` and that folder is put on Cython's include
path.

Environment switches:
  PYNN_DEBUG=1   turn bounds checking, wraparound and initialised-memoryview
                 checks back on and compile with -O0 -g (for debugging).
"""
import glob
import os
import shutil

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")
DEBUG = os.environ.get("PYNN_DEBUG", "0") not in ("", "0")


def stage_headers():
    include = os.path.join("build", "pxd")
    dest = os.path.join(include, "pynn")
    os.makedirs(dest, exist_ok=True)
    for pxd in glob.glob(os.path.join(CSRC, "*.pxd")):
        shutil.copy(pxd, dest)
    return include


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
