"""The ``pynn`` command: --version, help text, option checks before training,
--threads, and end-to-end runs on the bundled digits."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import pynn
from pynn.__main__ import build_parser, main

def run_cli(*argv):
    """``python -m pynn argv...`` in a fresh process, run outside the source
    tree so that it imports the pynn this test session tests (the installed
    one, or the build in place when its folder is on PYTHONPATH)."""
    return subprocess.run([sys.executable, "-m", "pynn", *argv],
                          capture_output=True, text=True, timeout=300,
                          cwd=tempfile.gettempdir())


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions
               if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


# ------------------------------------------------------------------ version
def test_version_option_prints_the_package_version():
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"pynn {pynn.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev|\.post)?\d*",
                        pynn.__version__)


def test_version_option_in_process(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pynn {pynn.__version__}"


# --------------------------------------------------------------------- help
@pytest.mark.parametrize("command", ["train", "demo"])
def test_help_shows_every_default_and_choice(command):
    _, commands = _subparsers()
    text = commands[command].format_help()
    flat = " ".join(text.split())                  # undo line wrapping
    for action in commands[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        option = action.option_strings[0]
        assert option in text
        assert action.help, f"{option} has no help text"
        if action.choices is not None:
            assert "{" + ",".join(action.choices) + "}" in text, option
        default = action.default
        if default is not None and default is not False:
            shown = default if isinstance(default, str) else repr(default)
            assert f"(default: {shown})" in flat, (option, default)


def test_specific_defaults_are_stated():
    _, commands = _subparsers()
    flat = " ".join(commands["train"].format_help().split())
    for fragment in ["--epochs N passes over the training data (>= 1) "
                     "(default: 30)",
                     "(default: adam)", "(default: relu)", "(default: 0.003)",
                     "(default: 32)", "(default: 64)", "(default: float32)",
                     "(default: pynn-model.npz)"]:
        assert fragment in flat, fragment


def test_help_has_no_raw_restructured_text():
    parser, commands = _subparsers()
    for text in [parser.format_help()] + [p.format_help()
                                          for p in commands.values()]:
        assert "``" not in text and "--------" not in text and ":func:" not in text


def test_help_runs_from_the_command_line():
    proc = run_cli("train", "--help")
    assert proc.returncode == 0 and "--threads" in proc.stdout
    assert "(default: 30)" in " ".join(proc.stdout.split())


# --------------------------------------- options refused before any training
@pytest.fixture
def no_training(monkeypatch):
    """Make any attempt to build a Trainer fail the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("training started although an option was bad")
    monkeypatch.setattr(pynn, "Trainer", forbidden)


def _refused(capsys, argv, option):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert f"argument {option}" in err, err
    assert "data:" not in out                  # not even the data was loaded
    return err


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_output_is_refused_before_training(capsys, no_training, value):
    err = _refused(capsys, ["train", "--output", value, "--quiet"], "--output")
    assert "empty" in err


def test_output_in_a_missing_folder_is_refused_before_training(
        capsys, no_training, tmp_path):
    target = tmp_path / "no-such-folder" / "model.npz"
    err = _refused(capsys, ["train", "--output", str(target)], "--output")
    assert "does not exist" in err and not target.parent.exists()


def test_output_that_is_a_folder_is_refused(capsys, no_training, tmp_path):
    err = _refused(capsys, ["train", "--output", str(tmp_path)], "--output")
    assert "is a folder" in err


def test_output_in_a_read_only_folder_is_refused(capsys, no_training, tmp_path,
                                                 monkeypatch):
    # Root may write anywhere, so the folder's permission is simulated.
    folder = str(tmp_path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False
                        if os.path.abspath(path) == folder
                        else real_access(path, mode))
    err = _refused(capsys, ["train", "--output", os.path.join(folder, "m.npz")],
                   "--output")
    assert "not writable" in err


@pytest.mark.parametrize("argv, option", [
    (["train", "--threads", "0"], "--threads"),
    (["train", "--threads", "two"], "--threads"),
    (["train", "--activation", "softmax"], "--activation"),
    (["train", "--optimizer", "rmsprop"], "--optimizer"),
    (["train", "--dtype", "float16"], "--dtype"),
    (["train", "--hidden", "64,0"], "--hidden"),
    (["demo", "--hidden", "0"], "--hidden"),
])
def test_bad_options_are_refused_naming_the_option(capsys, no_training, argv,
                                                   option):
    _refused(capsys, argv, option)


def test_empty_output_from_the_command_line_is_refused_without_training():
    proc = run_cli("train", "--output", "", "--quiet")
    assert proc.returncode == 2
    assert "--output" in proc.stderr and "Traceback" not in proc.stderr
    assert "training:" not in proc.stdout


# ------------------------------------------------------------------ threads
class _RecordingTrainer(pynn.Trainer):
    seen = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _RecordingTrainer.seen.append(self.n_threads)


@pytest.mark.parametrize("argv, expected", [([], None),
                                            (["--threads", "1"], 1),
                                            (["--threads", "3"], 3)])
def test_threads_option_reaches_the_trainer(monkeypatch, tmp_path, capsys,
                                            argv, expected):
    monkeypatch.setattr(pynn, "Trainer", _RecordingTrainer)
    _RecordingTrainer.seen = []
    out = tmp_path / "m.npz"
    status = main(["train", "--epochs", "1", "--hidden", "8", "--quiet",
                   "--output", str(out), *argv])
    assert status == 0
    assert _RecordingTrainer.seen == [expected]
    assert out.exists()
    stdout = capsys.readouterr().out
    assert f"threads {expected or 'automatic'}" in stdout


# --------------------------------------------------------------- end to end
def _digits_test_split():
    X, y = pynn.datasets.load_digits(scale=True)
    _, X_te, _, y_te = pynn.datasets.train_test_split(
        X, y, test_size=0.25, stratify=True, seed=0)
    return X_te, y_te


def test_train_end_to_end_saves_the_model_it_reports(tmp_path):
    out = tmp_path / "digits.npz"
    proc = run_cli("train", "--epochs", "3", "--hidden", "32", "--threads",
                   "1", "--quiet", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"test accuracy: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    reported = float(match.group(1))
    model = pynn.load(out)
    assert [layer.W.shape for layer in model.layers] == [(32, 64), (10, 32)]
    X_te, y_te = _digits_test_split()
    accuracy = np.mean(model(X_te.astype(np.float32)).argmax(axis=1) == y_te)
    assert abs(accuracy - reported) < 1e-4          # the saved model is it
    assert reported > 0.8                           # and it learned


def test_train_progress_bar_goes_to_stderr(tmp_path):
    proc = run_cli("train", "--epochs", "2", "--hidden", "8", "--output",
                   str(tmp_path / "m.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "epoch" in proc.stderr.lower() and "test accuracy" in proc.stdout


def test_demo_gradient_check_passes(capsys):
    assert main(["demo", "--epochs", "1", "--hidden", "8"]) == 0
    out = capsys.readouterr().out
    err = float(re.search(r"relative error ([0-9.e+-]+)", out).group(1))
    assert err < 1e-6


def test_full_batch_optimisers_train_from_the_cli(tmp_path):
    """rprop and lbfgs come from the optimiser registry and run full batch."""
    from pynn.__main__ import main
    for opt in ("rprop", "lbfgs"):
        out = tmp_path / f"{opt}.npz"
        main(["train", "--optimizer", opt, "--epochs", "15", "--quiet",
              "--output", str(out)])
        model = pynn.load(str(out))
        X, y = pynn.datasets.load_digits(scale=True)
        assert (model(X).argmax(1) == y).mean() > 0.5
