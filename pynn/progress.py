"""A text progress bar for training epochs, cheap enough to never matter.

It redraws at most ``max_rate`` times a second (the Trainer calls
``update`` once per compiled chunk of batches, not per sample), and writes
to stderr so that piped output stays clean.
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

    def update(self, done, loss=None, force=False):
        self.done = done
        now = time.perf_counter()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        frac = done / self.total if self.total else 1.0
        bar = "=" * int(frac * self.width)
        eta = (self.total - done) / rate if rate > 0 else 0.0
        text = (f"\r{self.prefix} [{bar:<{self.width}}] {done}/{self.total}"
                f"  {_si(rate)} samples/s")
        if loss is not None:
            text += f"  loss {loss:.4f}"
        text += f"  ETA {eta:.1f}s" if done < self.total else f"  {elapsed:.2f}s"
        self.file.write(text)
        self.file.flush()

    def close(self, summary=""):
        self.update(self.done, force=True)
        self.file.write(f"  {summary}\n" if summary else "\n")
        self.file.flush()
