"""A text progress bar for training epochs, cheap enough to never matter.

It redraws at most ``max_rate`` times a second (the Trainer calls
``update`` once per compiled chunk of batches, not per sample), and writes
to stderr so that piped output stays clean.  On a terminal the line is
redrawn in place; elsewhere (a log file, CI) only the final line of each
epoch is written.
"""
import sys
import time


def _si(x):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


class ProgressBar:
    def __init__(self, total, prefix="", file=None, width=24, max_rate=4.0):
        self.total, self.prefix, self.width = total, prefix, width
        self.file = file or sys.stderr
        self.min_interval = 1.0 / max_rate
        self.start = time.perf_counter()
        self._last_draw = -1.0
        self.done = 0
        self.loss = None
        isatty = getattr(self.file, "isatty", None)
        self.interactive = bool(isatty and isatty())

    def update(self, done, loss=None):
        self.done, self.loss = done, loss
        now = time.perf_counter()
        if not self.interactive or now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.file.write("\r" + self._line(now))
        self.file.flush()

    def _line(self, now):
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

    def close(self, summary=""):
        """Write the epoch's final line, with ``summary`` (replaces loss)."""
        if summary:
            self.loss = None
        line = self._line(time.perf_counter())
        prefix = "\r" if self.interactive else ""
        self.file.write(f"{prefix}{line}  {summary}\n" if summary
                        else f"{prefix}{line}\n")
        self.file.flush()
