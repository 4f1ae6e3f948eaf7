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

Release builds (the default) compile with ``-g0`` and link with ``-s``: the
modules carry no debug information or symbol table (Python's own CFLAGS add
``-g``, which makes every module five to six times larger: the wheel is
1.1 MB instead of 5.7 MB, 2.6 MB installed instead of 14 MB).

Environment switches:
  PYNN_DEBUG=1   turn bounds checking, wraparound and initialised-memoryview
                 checks back on and compile with -O0 -g, unstripped (for
                 debugging).
"""
import glob
import os
import sys
import sysconfig
import tempfile

import setuptools

# pyproject.toml's ``license = "BSD-3-Clause"`` (PEP 639) needs setuptools 77;
# older ones stop with "`project.license` must be valid exactly by one
# definition".  ``pip install .`` builds with build-system.requires's
# setuptools; an in-place or --no-build-isolation build uses the one here.
MIN_SETUPTOOLS = 77
try:
    _major = int(setuptools.__version__.split(".")[0])
except ValueError:          # an unparsable development version: let it try
    _major = MIN_SETUPTOOLS
if _major < MIN_SETUPTOOLS:
    sys.exit(f"pynn's build needs setuptools >= {MIN_SETUPTOOLS} (for the "
             f"PEP 639 license field of pyproject.toml); this Python has "
             f"setuptools {setuptools.__version__}.  `pip install .` brings "
             f"its own; for an in-place build first run: python -m pip "
             f"install 'setuptools>={MIN_SETUPTOOLS}'")

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")
DEBUG = os.environ.get("PYNN_DEBUG", "0") not in ("", "0")
# Self-contained kernels (no other module cimports them) worth a second,
# AVX2 build: the per-sample loops of the classic rules are dot products and
# axpys on short rows, which run ~35% faster 8 floats at a time.
SIMD_VARIANTS = ["_rules"]
SIMD_ARGS = ["-mavx2", "-mfma", "-ffp-contract=off"]
# C sources compiled into a module beside its .pyx (also into its AVX2
# variant): pynn's worker pool serves the training loops.
# C sources compiled into a module beside its .pyx: pynn's thread pool
# (needs -pthread), the small-product kernels and the optimiser update loops
# of every module that cimports _update.pxd (generic + AVX2 chosen at run
# time, per-function target attributes; -ffp-contract=off: no contraction
# into FMA, so both variants round alike).
EXTRA_SOURCES = {"_train": [os.path.join(CSRC, "_pool.c"),
                            os.path.join(CSRC, "_update.c"),
                            os.path.join(CSRC, "_fused.c")],
                 "_network": [os.path.join(CSRC, "_update.c")],
                 "_blas": [os.path.join(CSRC, "_small.c")]}
EXTRA_ARGS = {"_train": ["-pthread", "-ffp-contract=off"],
              "_network": ["-ffp-contract=off"],
              "_blas": ["-ffp-contract=off"]}
EXTRA_DEPENDS = {"_train": [os.path.join(CSRC, "_pool.h"),
                            os.path.join(CSRC, "_update.h"),
                            os.path.join(CSRC, "_fused.h"),
                            os.path.join(CSRC, "_small.c"),
                            os.path.join(CSRC, "_small.h"),
                            os.path.join(CSRC, "_simd.h")],
                 "_network": [os.path.join(CSRC, "_update.h"),
                              os.path.join(CSRC, "_simd.h")],
                 "_blas": [os.path.join(CSRC, "_small.h"),
                           os.path.join(CSRC, "_simd.h")]}


def targets_x86_64():
    """True if the build targets x86-64 with a gcc-style compiler.

    Asks the target platform (sysconfig honours _PYTHON_HOST_PLATFORM, set
    by cross builds), not the build machine; macOS ARCHFLAGS naming arm64
    (arm64 or universal2 wheels) rules the variants out.
    """
    plat = sysconfig.get_platform().lower()
    if "arm64" in os.environ.get("ARCHFLAGS", "") or "universal2" in plat:
        return False
    return os.name == "posix" and plat.endswith(("x86_64", "amd64"))


class BuildExt(build_ext):
    """build_ext that drops the AVX2 variants when the compiler cannot
    target AVX2 and FMA (they are optional: pynn/_simd.py falls back)."""

    PROBE = ("#include <immintrin.h>\n"
             "int main(void) { __m256 x = _mm256_set1_ps(1.0f);\n"
             "  x = _mm256_fmadd_ps(x, x, x);\n"
             "  return (int)_mm256_cvtss_f32(x); }\n")

    def build_extensions(self):
        variants = [e for e in self.extensions if e.name.endswith("_avx2")]
        if variants and not self._compiles_with(SIMD_ARGS):
            print("pynn: the compiler does not take " + " ".join(SIMD_ARGS)
                  + "; building without the AVX2 variants")
            self.extensions = [e for e in self.extensions if e not in variants]
        super().build_extensions()

    def _compiles_with(self, args):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(self.PROBE)
            try:
                self.compiler.compile([src], output_dir=tmp, extra_postargs=args)
            except Exception:
                return False
        return True


def stage_headers():
    include = os.path.join("build", "pxd")
    dest = os.path.join(include, "pynn")
    os.makedirs(dest, exist_ok=True)
    for pxd in glob.glob(os.path.join(CSRC, "*.pxd")):
        copy_if_changed(pxd, os.path.join(dest, os.path.basename(pxd)))
    return include


def copy_if_changed(src, dst, force=False):
    """Copy unless dst already holds the same bytes (keeps its mtime, so
    Cython does not regenerate an unchanged module).  Returns True if it
    wrote."""
    with open(src, "rb") as f:
        data = f.read()
    if not force and os.path.exists(dst):
        with open(dst, "rb") as f:
            if f.read() == data:
                return False
    with open(dst, "wb") as f:
        f.write(data)
    return True


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
        pxd = os.path.join(CSRC, name + ".pxd")
        pxd_changed = os.path.exists(pxd) and copy_if_changed(
            pxd, os.path.join(headers, name + "_avx2.pxd"))
        # A changed .pxd must regenerate the module: rewrite the .pyx too.
        copy_if_changed(os.path.join(CSRC, name + ".pyx"), pyx,
                        force=pxd_changed)
        staged.append((name + "_avx2", pyx))
    return staged


def extensions():
    # -O3 lets gcc vectorise the contiguous inner loops; never -march=native
    # in a wheel (it would crash on older CPUs).
    # -fno-math-errno lets sqrt vectorise (pynn never reads errno).
    # -g0 comes after Python's CFLAGS (which hold -g), so it wins; -s strips
    # the symbol table at link time.  A debug build keeps both.
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno", "-g0"]
    # (macOS's linker calls -s obsolete: there the -g0 modules stay as built.)
    link_args = ["-s"] if not DEBUG and sys.platform.startswith("linux") else []

    def extension(name, pyx, extra_args=()):
        base = name[:-len("_avx2")] if name.endswith("_avx2") else name
        posix = os.name == "posix"
        args = [a for a in EXTRA_ARGS.get(base, []) if posix or a != "-pthread"]
        return Extension(
            "pynn." + name, [pyx] + EXTRA_SOURCES.get(base, []),
            include_dirs=[numpy.get_include(), CSRC],
            depends=EXTRA_DEPENDS.get(base, []),
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
            extra_compile_args=compile_args + list(extra_args) + args,
            extra_link_args=link_args + (["-pthread"] if "-pthread" in args
                                         else []),
        )
    exts = [extension(os.path.splitext(os.path.basename(pyx))[0], pyx)
            for pyx in sorted(glob.glob(os.path.join(CSRC, "*.pyx")))]
    if targets_x86_64():
        exts += [extension(name, pyx, SIMD_ARGS)
                 for name, pyx in stage_simd_sources()]
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


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
