"""Packaging metadata that can be checked without building: one version
source, the licence file, py.typed, and what the sdist's MANIFEST.in ships
(evaluated with setuptools' own template reader).

The full check (build the sdist, unpack it, build and run pytest in it;
``pip wheel`` + ``auditwheel``) is too slow for the suite; these tests pin
what it relies on.
"""
import ast
import glob
import os
import re

import pytest

import pynn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tomllib = pytest.importorskip("tomllib")   # Python >= 3.11


def _in_checkout():
    if not os.path.exists(os.path.join(ROOT, "pyproject.toml")):
        pytest.skip("not run from a source tree (no pyproject.toml)")


@pytest.fixture
def pyproject():
    _in_checkout()
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


@pytest.fixture
def manifest(monkeypatch):
    """The files MANIFEST.in adds to the sdist, as setuptools computes them
    (paths relative to the project root, with forward slashes)."""
    _in_checkout()
    from setuptools.command.egg_info import FileList
    monkeypatch.chdir(ROOT)
    files = FileList()
    files.findall()
    with open("MANIFEST.in") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                files.process_template_line(line)
    return {p.replace(os.sep, "/") for p in files.files}


# ------------------------------------------------------------------ version
def test_version_is_read_from_pynn_version_only(pyproject):
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "pynn._version.__version__"}


def test_version_file_is_a_plain_assignment_setuptools_can_read():
    """setuptools reads ``attr`` statically when the module assigns a
    literal; importing pynn at build time would fail (no compiled modules
    yet)."""
    _in_checkout()
    with open(os.path.join(ROOT, "pynn", "_version.py")) as f:
        tree = ast.parse(f.read())
    values = [node.value.value for node in tree.body
              if isinstance(node, ast.Assign)
              and [t.id for t in node.targets] == ["__version__"]
              and isinstance(node.value, ast.Constant)]
    assert len(values) == 1
    assert pynn.__version__ == values[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev|\.post)?\d*", values[0])


def test_no_other_module_assigns_a_version():
    _in_checkout()
    from pynn import _version
    assert pynn.__version__ is _version.__version__
    pattern = re.compile(r"^\s*__version__\s*=", re.M)
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "pynn", "*.py")) + [
            os.path.join(ROOT, "setup.py")]:
        if os.path.basename(path) == "_version.py":
            continue
        with open(path, encoding="utf-8") as f:
            if pattern.search(f.read()):
                offenders.append(path)
    assert offenders == []


# ------------------------------------------------------------------ licence
def test_license_file_matches_the_declared_license(pyproject):
    assert pyproject["project"]["license"] == "BSD-3-Clause"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    with open(os.path.join(ROOT, "LICENSE")) as f:
        text = f.read()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, The pynn developers" in text
    # The three clauses and the disclaimer of the SPDX BSD-3-Clause text.
    for fragment in ["Redistributions of source code must retain",
                     "Redistributions in binary form must reproduce",
                     "Neither the name of the copyright holder",
                     'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND '
                     'CONTRIBUTORS "AS IS"']:
        assert fragment in " ".join(text.split()), fragment


def test_license_and_changelog_are_in_the_sdist(manifest):
    assert {"LICENSE", "CHANGELOG.md"} <= manifest


# ----------------------------------------------------------------- py.typed
def test_py_typed_is_shipped(pyproject, manifest):
    assert os.path.isfile(os.path.join(ROOT, "pynn", "py.typed"))
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["pynn"]
    assert "pynn/py.typed" in manifest
    assert "Typing :: Typed" in pyproject["project"]["classifiers"]


# -------------------------------------------------------------------- sdist
def test_sdist_ships_every_test_file_and_helper(manifest):
    tests = {os.path.relpath(p, ROOT).replace(os.sep, "/")
             for p in glob.glob(os.path.join(ROOT, "tests", "*.py"))}
    assert {"tests/oracle.py", "tests/trainer_reference.py"} <= tests
    assert tests <= manifest, sorted(tests - manifest)


def test_sdist_ships_the_kernel_sources_and_stubs(manifest):
    sources = {os.path.relpath(p, ROOT).replace(os.sep, "/")
               for ext in ("pyx", "pxd", "pyi")
               for p in glob.glob(os.path.join(ROOT, "*", f"*.{ext}"))
               if not p.startswith(os.path.join(ROOT, "build"))}
    assert any(s.endswith(".pyx") for s in sources)
    assert sources <= manifest, sorted(sources - manifest)
    assert "pynn/data/digits.csv.gz" in manifest


def test_sdist_ships_no_build_products(manifest):
    assert not [p for p in manifest
                if p.endswith((".so", ".pyd", ".pyc", ".o"))
                or p.startswith("build/")]


# --------------------------------------------- self-contained documentation
def _shipped_sources():
    pats = ["pynn/**/*.py", "pynn/**/*.pyi", "csrc/*.pyx", "csrc/*.pxd"]
    return sorted(p for pat in pats
                  for p in glob.glob(os.path.join(ROOT, pat), recursive=True))


def test_docstrings_do_not_point_at_documents_that_do_not_ship():
    # Users have neither the lecture notes nor DESIGN.md: a docstring states
    # the equation itself.
    sources = _shipped_sources()
    assert len(sources) > 30
    bad = re.compile(r"DESIGN\.md|\bthe notes\b|\bnotes'", re.IGNORECASE)
    hits = [f"{os.path.relpath(p, ROOT)}:{i}: {line.strip()}"
            for p in sources
            for i, line in enumerate(open(p, encoding="utf-8"), 1)
            if bad.search(line)]
    assert hits == []


# ---------------------------------------------------------------- setuptools
def test_setup_py_needs_the_setuptools_that_build_system_requires(pyproject):
    """setup.py's MIN_SETUPTOOLS is build-system.requires's bound (PEP 639's
    license string needs setuptools 77)."""
    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    minimum = [node.value.value for node in tree.body
               if isinstance(node, ast.Assign)
               and [t.id for t in node.targets] == ["MIN_SETUPTOOLS"]]
    assert minimum and f"setuptools>={minimum[0]}" in \
        pyproject["build-system"]["requires"]


def test_setup_py_refuses_an_old_setuptools_by_name(tmp_path):
    """With setuptools 65.5 (a stand-in package first on the path) setup.py
    stops before building, naming the version it needs and how to get it,
    instead of setuptools' own "project.license must be valid" error."""
    import subprocess
    import sys
    _in_checkout()
    fake = tmp_path / "setuptools"
    fake.mkdir()
    (fake / "__init__.py").write_text('__version__ = "65.5.0"\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "needs setuptools >= 77" in proc.stderr
    assert "setuptools 65.5.0" in proc.stderr
    assert "pip install 'setuptools>=77'" in proc.stderr
    assert "Traceback" not in proc.stderr
