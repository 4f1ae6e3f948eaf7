"""A text progress bar for training epochs, cheap enough to never matter.

It redraws at most ``max_rate`` times a second (the Trainer calls
``update`` once per compiled chunk of batches, not per sample), and writes
to stderr so that piped output stays clean.  On a terminal the line is
redrawn in place; elsewhere (a log file, CI) only the final line of each
epoch is written.

The line shows the samples done of the epoch's total, the rate
r = done / elapsed in samples per second, the running loss if given, and
the estimated time left (total − done) / r (the elapsed time once done).
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


def _si(x: float) -> str:
    """``x`` with a k (10³) or M (10⁶) suffix: 12345 → "12.3k"."""
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


class ProgressBar:
    """One epoch's progress line.

    Parameters
    ----------
    total : int
        Samples in the epoch.
    prefix : str, default=""
        Text before the bar, e.g. "epoch 3/10" (epochs numbered from 1).
    file : text stream, default=sys.stderr
        Where to write; redrawn in place only if ``file.isatty()``.
    width : int, default=24
        Characters of the bar itself.
    max_rate : float, default=4.0
        Most redraws per second on a terminal.
    """

    def __init__(self, total: int, prefix: str = "", file: TextIO | None = None,
                 width: int = 24, max_rate: float = 4.0) -> None:
        self.total, self.prefix, self.width = total, prefix, width
        self.file = file or sys.stderr
        self.min_interval = 1.0 / max_rate
        self.start = time.perf_counter()
        self._last_draw = -1.0
        self.done = 0
        self.loss: float | None = None
        isatty = getattr(self.file, "isatty", None)
        self.interactive = bool(isatty and isatty())

    def update(self, done: int, loss: float | None = None) -> None:
        """Record ``done`` samples so far (and the running loss); redraw if
        on a terminal and the last redraw is older than 1 / max_rate s."""
        self.done, self.loss = done, loss
        now = time.perf_counter()
        if not self.interactive or now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.file.write("\r" + self._line(now))
        self.file.flush()

    def _line(self, now: float) -> str:
        done, loss = self.done, self.loss
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        frac = done / self.total if self.total else 1.0
        bar = "=" * int(frac * self.width)
        eta = (self.total - done) / rate if rate > 0 else 0.0
        text = (f"{self.prefix} [{bar:<{self.width}}] {done}/{self.total}"
                f"  {_si(rate)} samples/s")
        if loss is not None:
            text += f"  loss {loss:.4f}"
        text += f"  ETA {eta:.1f}s" if done < self.total else f"  {elapsed:.2f}s"
        return text

    def close(self, summary: str = "") -> None:
        """Write the epoch's final line, with ``summary`` (replaces loss)."""
        if summary:
            self.loss = None
        line = self._line(time.perf_counter())
        prefix = "\r" if self.interactive else ""
        self.file.write(f"{prefix}{line}  {summary}\n" if summary
                        else f"{prefix}{line}\n")
        self.file.flush()
