"""Per-epoch training records (like Keras' History)."""


class History:
    """What ``Trainer.fit`` records, one entry per completed epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss of each epoch (each sample's loss taken before
        the update that it drives, as Keras and scikit-learn report it).
    val_loss : list of float
        Mean validation loss after each epoch (empty without validation).
    accuracy, val_accuracy : list of float
        Fraction of correct predictions, for classification losses.
    lr : list of float
        Learning rate used in each epoch.
    time : list of float
        Wall time of each epoch in seconds.
    stopped_reason : str
        "max_epochs", "tol", "grad_tol", "early_stopping", "callback",
        "interrupted" or "diverged" (then fit raised DivergenceError).
    best_epoch : int or None
        The epoch whose weights early stopping restored.
    """

    KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "time")

    def __init__(self):
        for key in self.KEYS:
            setattr(self, key, [])
        self.stopped_reason = None
        self.best_epoch = None
        self.interrupted = False

    @property
    def epochs(self):
        return len(self.loss)

    def append(self, record):
        # Build every list first, then swap them in, so an interrupt never
        # leaves lists of different lengths.
        new = {k: getattr(self, k) + ([record[k]] if record.get(k) is not None
                                      else []) for k in self.KEYS}
        for k, v in new.items():
            setattr(self, k, v)

    def as_dict(self):
        d = {k: list(getattr(self, k)) for k in self.KEYS}
        d.update(stopped_reason=self.stopped_reason, best_epoch=self.best_epoch,
                 interrupted=self.interrupted)
        return d

    @classmethod
    def from_dict(cls, d):
        h = cls()
        for k in cls.KEYS:
            setattr(h, k, [float(x) for x in d.get(k, [])])
        h.stopped_reason = d.get("stopped_reason")
        h.best_epoch = d.get("best_epoch")
        h.interrupted = bool(d.get("interrupted", False))
        return h

    def plot(self, path=None, show=False):
        """Draw loss (and accuracy) curves with matplotlib.

        Returns the matplotlib Figure; saves it to ``path`` if given.
        Needs matplotlib: ``pip install "pynn[plot]"`` or
        ``pip install matplotlib``.
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
        for ax, (name, train, val) in zip(axes[0], curves):
            ax.plot(range(1, len(train) + 1), train, label="training")
            if val:
                ax.plot(range(1, len(val) + 1), val, label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        if show:
            plt.show()
        return fig

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.4g}" if self.loss else ""
        return (f"History({self.epochs} epochs{last}, "
                f"stopped: {self.stopped_reason})")
