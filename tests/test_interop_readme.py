"""The README's "Export and import" example runs as written."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

import pynn

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_export_and_import_example(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn")
    text = README.read_text(encoding="utf-8")
    start = text.index("## Export and import")
    section = text[start:text.index("\n## ", start + 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the section has no python example"
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks))
    # The same pynn as this test's (installed, or the worktree on the path).
    root = str(pathlib.Path(pynn.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    res = subprocess.run([sys.executable, "-W", "error::UserWarning", str(script)],
                         cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    for name in ("digits.onnx", "digits.net", "digits.ann", "digits.h",
                 "digits_fixed.h"):
        assert (tmp_path / name).stat().st_size > 0
