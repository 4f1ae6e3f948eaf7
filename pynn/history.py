"""Per-epoch training records (like Keras' History).

A History is what :meth:`pynn.Trainer.fit` returns: one entry per completed
epoch in each of its lists.  Epochs are numbered from 1 where they are shown
(the progress bar, the x axis of :meth:`History.plot`) and indexed from 0 in
the lists: ``history.loss[0]`` is the loss of epoch 1.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:                                   # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["History"]


def _key_property(key: str) -> property:
    """A read/write attribute for the list ``key`` of a History.

    Reading returns the stored list; assigning stores a new list (a copy of
    the values, as floats) without touching the other lists.
    """
    def get(self: History) -> list[float]:
        return self._committed()[key]

    def set_(self: History, values: Any) -> None:
        new = [float(v) for v in values]
        self._lists = {**self._committed(), key: new}

    return property(get, set_, doc=f"Per-epoch ``{key}`` values (list of float).")


class History:
    """What ``Trainer.fit`` records, one entry per completed epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss of each epoch, L = (1/n) Σᵢ ℓ(y(xᵢ), tᵢ) over the
        n training samples, each sample's loss ℓ taken before the update
        that it drives (as Keras and scikit-learn report it).
    val_loss : list of float
        Mean validation loss after each epoch (empty without validation).
    accuracy, val_accuracy : list of float
        Fraction of samples whose arg-max output equals the class label, for
        classification losses (empty otherwise).
    lr : list of float
        Learning rate used in each epoch.
    time : list of float
        Wall time of each epoch in seconds.  Short epochs that the Trainer
        ran several to one compiled call (nothing between them needed the
        interpreter) each get that call's mean.
    stopped_reason : str or None
        "max_epochs", "tol", "grad_tol", "early_stopping", "callback",
        "interrupted" or "diverged" (then fit raised DivergenceError).
    best_epoch : int or None
        0-based *index* into the lists above of the epoch whose weights
        early stopping restored (the epoch with the lowest validation loss),
        or None without early stopping: ``history.val_loss[best_epoch]`` is
        the best validation loss.  The progress bar and :meth:`plot` number
        epochs from 1, so that epoch is shown as ``best_epoch + 1``
        (:attr:`best_epoch_number`).
    interrupted : bool
        True if fit stopped on Ctrl-C (KeyboardInterrupt).

    Notes
    -----
    :meth:`append` (and :meth:`extend_columns`) is atomic with respect to
    KeyboardInterrupt: it notes the lists' lengths (one attribute store),
    appends in place and clears the note (a second store).  Reading a
    History whose append was interrupted in between first truncates the
    lists to the noted lengths, so an interrupt leaves either the old lists or the new ones,
    never lists of different lengths.  An append costs O(1), whatever the
    number of epochs recorded.
    """

    KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "time")
    _undo: dict[str, int] | None = None      # (also for older pickles)

    loss = _key_property("loss")
    val_loss = _key_property("val_loss")
    accuracy = _key_property("accuracy")
    val_accuracy = _key_property("val_accuracy")
    lr = _key_property("lr")
    time = _key_property("time")

    def __init__(self) -> None:
        # All per-epoch lists in one dict.  _undo: their lengths before an
        # append that has not finished (None when none is under way).
        self._lists: dict[str, list[float]] = {k: [] for k in self.KEYS}
        self._undo = None
        self.stopped_reason: str | None = None
        self.best_epoch: int | None = None
        self.interrupted: bool = False

    @property
    def epochs(self) -> int:
        """Number of completed epochs (the length of ``loss``)."""
        return len(self._committed()["loss"])

    @property
    def best_epoch_number(self) -> int | None:
        """The best epoch as the progress bar and plot number it (1-based):
        ``best_epoch + 1``, or None when ``best_epoch`` is None."""
        return None if self.best_epoch is None else int(self.best_epoch) + 1

    def append(self, record: Mapping[str, Any]) -> None:
        """Record one epoch: ``record[key]`` is appended to each list whose
        key it holds with a value other than None (others are unchanged).

        Atomic with respect to KeyboardInterrupt (see Notes of the class).
        """
        self.extend_columns({k: [record[k]] for k in self.KEYS
                             if record.get(k) is not None})

    def extend_columns(self, columns: Mapping[str, list[float]]) -> None:
        """Add ``columns[key]`` to the end of each list, for the keys given
        (several epochs at once), atomically as a whole."""
        unknown = sorted(set(columns) - set(self.KEYS))
        if unknown:
            raise ValueError(f"unknown History keys {unknown}; the keys are "
                             f"{', '.join(self.KEYS)}")
        lists = self._committed()
        self._undo = {k: len(v) for k, v in lists.items()}
        for k, values in columns.items():
            lists[k].extend(values)
        self._undo = None                      # the committing store

    def _committed(self) -> dict[str, list[float]]:
        """The lists, first cut back to their lengths before an append
        that a KeyboardInterrupt stopped half-way (if one did)."""
        undo = self._undo
        if undo is not None:
            for k, n in undo.items():
                del self._lists[k][n:]
            self._undo = None
        return self._lists

    def as_dict(self) -> dict[str, Any]:
        """The records as a plain dict (lists copied), for checkpoints."""
        lists = self._committed()
        d: dict[str, Any] = {k: list(lists[k]) for k in self.KEYS}
        d.update(stopped_reason=self.stopped_reason, best_epoch=self.best_epoch,
                 interrupted=self.interrupted)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        """Rebuild a History from :meth:`as_dict`'s output."""
        h = cls()
        h._lists = {k: [float(x) for x in d.get(k, [])] for k in cls.KEYS}
        h.stopped_reason = d.get("stopped_reason")
        h.best_epoch = d.get("best_epoch")
        h.interrupted = bool(d.get("interrupted", False))
        return h

    def plot(self, path: Any = None, show: bool = False) -> Figure:
        """Draw loss (and accuracy) curves against the epoch number (from 1).

        One panel for the loss and, for classification, one for the
        accuracy; training and (when recorded) validation curves.  With
        early stopping, each panel marks the best epoch (``best_epoch + 1``
        on the x axis) with a dotted vertical line labelled "best epoch N".

        Parameters
        ----------
        path : str or path-like, optional
            Save the figure there (any format matplotlib infers from the
            suffix).
        show : bool, default=False
            Call ``matplotlib.pyplot.show()``; otherwise the non-interactive
            Agg backend is selected if no backend was chosen yet.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ImportError
            If matplotlib is not installed (``pip install "pynn[plot]"``).
        """
        try:
            import matplotlib
            if not show:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib: pip install matplotlib "
                "(or pip install 'pynn[plot]')") from None
        curves = [("loss", self.loss, self.val_loss)]
        if self.accuracy:
            curves.append(("accuracy", self.accuracy, self.val_accuracy))
        fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5),
                                 squeeze=False)
        best = self.best_epoch_number
        for ax, (name, train, val) in zip(axes[0], curves):
            ax.plot(range(1, len(train) + 1), train, label="training")
            if val:
                ax.plot(range(1, len(val) + 1), val, label="validation")
            if best is not None:
                ax.axvline(best, color="0.4", linestyle=":", linewidth=1.2,
                           label=f"best epoch {best}", gid="best_epoch")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        if show:
            plt.show()
        return fig

    def __repr__(self) -> str:
        last = f", last loss {self.loss[-1]:.4g}" if self.loss else ""
        return (f"History({self.epochs} epochs{last}, "
                f"stopped: {self.stopped_reason})")
