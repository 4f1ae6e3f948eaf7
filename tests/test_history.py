"""History: atomic append under KeyboardInterrupt, best_epoch numbering, plot.

The interrupt tests inject a KeyboardInterrupt at every trace event (each
line and each bytecode) of ``History.append`` in turn, the finest places a
signal handler could run, and check that the lists are then either all
unchanged or all one entry longer.
"""
import sys

import numpy as np
import pytest

import pynn
from pynn import history as history_module
from pynn.history import History


class _InterruptAt:
    """A trace function that raises KeyboardInterrupt at the k-th event
    (line or opcode) of any frame running code from ``filename``."""

    def __init__(self, k, filename):
        self.k, self.filename, self.seen, self.fired = k, filename, 0, False

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename != self.filename:
            return None
        frame.f_trace_opcodes = True
        if event in ("line", "opcode") and not self.fired:
            if self.seen == self.k:
                self.fired = True
                raise KeyboardInterrupt
            self.seen += 1
        return self


def interrupt_everywhere(action, filename):
    """Run ``action()`` once per trace event of ``filename``'s code, with a
    KeyboardInterrupt injected at that event; yield after each run whether
    it was interrupted.  Stops after the first run that completes."""
    k = 0
    while True:
        tracer = _InterruptAt(k, filename)
        sys.settrace(tracer)
        try:
            action()
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        yield tracer.fired
        if not tracer.fired:
            return
        k += 1
        assert k < 10_000, "the injection loop does not terminate"


def _history_with(n):
    h = History()
    for i in range(n):
        h.append({"loss": 1.0 / (i + 1), "lr": 0.1, "time": 0.01,
                  "accuracy": 0.5, "val_loss": 2.0, "val_accuracy": 0.5})
    return h


def test_append_is_atomic_under_keyboard_interrupt():
    record = {"loss": 0.25, "lr": 0.05, "time": 0.02, "accuracy": 0.75,
              "val_loss": 0.5, "val_accuracy": 0.625}
    h = _history_with(2)
    n_interrupted = 0
    for fired in interrupt_everywhere(lambda: h.append(record),
                                      history_module.__file__):
        lengths = {len(getattr(h, k)) for k in History.KEYS}
        assert len(lengths) == 1, {k: len(getattr(h, k)) for k in History.KEYS}
        if fired and lengths == {3}:
            # Interrupted after the committing store: the epoch is complete.
            assert [getattr(h, k)[-1] for k in History.KEYS] == \
                [record[k] for k in History.KEYS]
        h = _history_with(2)               # fresh for the next injection point
        n_interrupted += fired
    # The injection really reached the body of append (many events).
    assert n_interrupted >= 5


def _dict_length(h):
    """The one length of as_dict's lists (an error if they differ)."""
    (n,) = {len(v) for k, v in h.as_dict().items() if k in History.KEYS}
    return n


def test_interrupted_append_is_undone_for_every_reader():
    """After an append stopped at any point, the first reader (epochs or
    as_dict) sees what the list attributes then show: every list with the
    old length (2) or every one with the new (3)."""
    record = {"loss": 0.25, "lr": 0.05, "time": 0.02, "accuracy": 0.75,
              "val_loss": 0.5, "val_accuracy": 0.625}
    for read in (lambda h: h.epochs, _dict_length):
        h = _history_with(2)
        for fired in interrupt_everywhere(lambda: h.append(record),
                                          history_module.__file__):
            first = read(h)
            lengths = {len(getattr(h, k)) for k in History.KEYS}
            assert lengths in ({2}, {3}) and first in lengths
            h = _history_with(2)


def test_append_extends_the_lists_in_place():
    """An append adds to the existing lists (O(1)) instead of copying
    every list each epoch, which made a fit of E epochs cost O(E^2)."""
    h = _history_with(3)
    before = {k: getattr(h, k) for k in History.KEYS}
    h.append({"loss": 0.5, "lr": 0.1, "time": 0.01})
    for k in History.KEYS:
        assert getattr(h, k) is before[k]
    assert (len(h.loss), len(h.lr), len(h.accuracy)) == (4, 4, 3)


def test_extend_columns_adds_several_epochs_and_checks_keys():
    h = _history_with(1)
    h.extend_columns({"loss": [0.5, 0.25], "lr": [0.1, 0.1],
                      "time": [0.01, 0.02]})
    assert h.loss == [1.0, 0.5, 0.25] and h.time == [0.01, 0.01, 0.02]
    assert h.val_loss == [2.0] and h.epochs == 3
    with pytest.raises(ValueError, match="unknown History keys"):
        h.extend_columns({"loss": [1.0], "bogus": [1.0]})
    assert h.loss == [1.0, 0.5, 0.25]          # nothing changed


def test_append_skips_missing_and_none_values():
    h = History()
    h.append({"loss": 1.5, "lr": 0.1, "time": 0.2, "accuracy": None})
    assert (h.loss, h.lr, h.time, h.accuracy, h.val_loss) == \
        ([1.5], [0.1], [0.2], [], [])
    assert h.epochs == 1


def test_list_assignment_replaces_one_list_and_copies():
    h = _history_with(3)
    values = [3, 2, 1]
    h.loss = values
    values.append(0)                       # the history holds a copy
    assert h.loss == [3.0, 2.0, 1.0] and h.lr == [0.1] * 3


def test_round_trip_through_dict():
    h = _history_with(4)
    h.best_epoch, h.stopped_reason, h.interrupted = 2, "early_stopping", False
    back = History.from_dict(h.as_dict())
    for k in History.KEYS:
        assert getattr(back, k) == getattr(h, k)
    assert (back.best_epoch, back.stopped_reason, back.interrupted) == \
        (2, "early_stopping", False)


def test_best_epoch_is_an_index_and_best_epoch_number_is_one_based():
    X, y = pynn.datasets.load_digits(scale=True)
    X_tr, X_va, y_tr, y_va = pynn.datasets.train_test_split(X, y, seed=0)
    model = pynn.MLP([64, 16, 10], hidden="tanh", output="softmax", seed=0)
    # A large rate makes the validation loss turn up early.
    h = pynn.Trainer(model, loss="cross_entropy", optimizer="adam", lr=0.05,
                     batch_size=32, epochs=25, early_stopping=True, patience=3,
                     seed=0).fit(X_tr, y_tr, validation_data=(X_va, y_va))
    assert h.best_epoch is not None
    # The index of the lowest validation loss in the list ...
    assert h.best_epoch == int(np.argmin(h.val_loss))
    # ... and the number the progress bar and plot give that epoch.
    assert h.best_epoch_number == h.best_epoch + 1
    assert History().best_epoch_number is None


def _plot_lines(fig):
    return [line for ax in fig.axes for line in ax.get_lines()]


def test_plot_marks_the_best_epoch():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = _history_with(6)
    h.val_loss = [0.9, 0.7, 0.5, 0.6, 0.65, 0.7]
    h.best_epoch = 2                       # third epoch, shown as 3
    fig = h.plot()
    try:
        markers = [ln for ln in _plot_lines(fig) if ln.get_gid() == "best_epoch"]
        assert len(markers) == len(fig.axes) == 2      # loss and accuracy
        for ln in markers:
            assert set(np.asarray(ln.get_xdata(), float)) == {3.0}
            assert ln.get_label() == "best epoch 3"
        # The curves themselves start at epoch 1.
        curve = _plot_lines(fig)[0]
        assert list(curve.get_xdata()) == [1, 2, 3, 4, 5, 6]
    finally:
        plt.close(fig)


def test_plot_without_best_epoch_has_no_marker():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = _history_with(3).plot()
    try:
        assert not [ln for ln in _plot_lines(fig) if ln.get_gid() == "best_epoch"]
    finally:
        plt.close(fig)
