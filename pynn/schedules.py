"""Learning-rate schedules: the rate η_k used in epoch k (k = 0, 1, …).

Each schedule is a small object with ``lr(epoch)`` and, for the ones that
watch the loss, ``update(metric)`` called after every epoch; ``state()`` and
``load_state()`` let checkpoints resume them exactly.

=====================  ==============================================
"constant"             η_k = η₀
"inverse_scaling"      η_k = η₀ / (k + 1)^power           (power = 0.5)
"step"                 η_k = η₀ · factor^⌊k / step_size⌋   (0.5, 10)
"exponential"          η_k = η₀ · rate^k                   (rate = 0.95)
"plateau"              η ← max(η · factor, min_lr) after ``patience`` epochs
                       without the monitored loss improving by ``min_delta``
=====================  ==============================================
"""
import math
import numbers

from pynn._registry import Registry

SCHEDULES = Registry("lr_schedule")


def _number(value, name, low=-math.inf, high=math.inf, low_open=False,
            integer=False):
    """A finite real (or integer) in [low, high] ((low, high] if low_open)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"schedule parameter {name} must be "
                        f"{'an integer' if integer else 'a number'}, got {value!r}")
    v = int(value) if integer else float(value)
    if not math.isfinite(v) or v > high or v < low or (low_open and v == low):
        bounds = f"{'(' if low_open else '['}{low}, {high}]"
        raise ValueError(f"schedule parameter {name} must be finite and in "
                         f"{bounds}, got {value!r}")
    return v


class Schedule:
    """Base class; subclasses with a ``name`` join ``SCHEDULES``."""
    name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            SCHEDULES.register(cls)

    def __init__(self, lr0):
        self.lr0 = _number(lr0, "lr0", 0, low_open=True)

    def lr(self, epoch):
        raise NotImplementedError

    def update(self, metric):
        """Called after each epoch with the monitored loss."""

    def state(self):
        return {}

    def load_state(self, state):
        pass

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class Constant(Schedule):
    name = "constant"

    def lr(self, epoch):
        return self.lr0


class InverseScaling(Schedule):
    name = "inverse_scaling"

    def __init__(self, lr0, power=0.5):
        super().__init__(lr0)
        self.power = _number(power, "power", 0)

    def lr(self, epoch):
        return self.lr0 / (epoch + 1) ** self.power


class StepDecay(Schedule):
    name = "step"

    def __init__(self, lr0, factor=0.5, step_size=10):
        super().__init__(lr0)
        self.factor = _number(factor, "factor", 0, 1, low_open=True)
        self.step_size = _number(step_size, "step_size", 1, integer=True)

    def lr(self, epoch):
        return self.lr0 * self.factor ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    name = "exponential"

    def __init__(self, lr0, rate=0.95):
        super().__init__(lr0)
        self.rate = _number(rate, "rate", 0, 1, low_open=True)

    def lr(self, epoch):
        return self.lr0 * self.rate ** epoch


class ReduceOnPlateau(Schedule):
    name = "plateau"

    def __init__(self, lr0, factor=0.1, patience=5, min_delta=1e-4, min_lr=0.0):
        super().__init__(lr0)
        self.factor = _number(factor, "factor", 0, 1, low_open=True)
        if self.factor == 1:
            raise ValueError("schedule parameter factor must be in (0, 1), "
                             "got 1")
        self.patience = _number(patience, "patience", 1, integer=True)
        self.min_delta = _number(min_delta, "min_delta", 0)
        self.min_lr = _number(min_lr, "min_lr", 0)
        self._current, self._best, self._bad = self.lr0, math.inf, 0

    def lr(self, epoch):
        return self._current

    def update(self, metric):
        if metric < self._best - self.min_delta:
            self._best, self._bad = metric, 0
        else:
            self._bad += 1
            if self._bad > self.patience - 1:
                self._current = max(self._current * self.factor, self.min_lr)
                self._bad = 0

    def state(self):
        return {"current": self._current,
                "best": None if math.isinf(self._best) else self._best,
                "bad": self._bad}

    def load_state(self, state):
        current = _number(state.get("current"), "current", 0, low_open=True)
        best = state.get("best")
        best = math.inf if best is None else _number(best, "best")
        bad = _number(state.get("bad"), "bad", 0, 2**62, integer=True)
        self._current, self._best, self._bad = current, best, bad


def make_schedule(schedule, lr0, **params):
    """A Schedule from a name (with its parameters) or a Schedule instance."""
    if isinstance(schedule, Schedule):
        return schedule
    cls = SCHEDULES.lookup(schedule)
    try:
        return cls(lr0, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for lr_schedule {schedule!r}: {exc}") \
            from None
