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


class Schedule:
    name = "base"

    def __init__(self, lr0):
        self.lr0 = float(lr0)

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
        self.power = float(power)

    def lr(self, epoch):
        return self.lr0 / (epoch + 1) ** self.power


class StepDecay(Schedule):
    name = "step"

    def __init__(self, lr0, factor=0.5, step_size=10):
        super().__init__(lr0)
        if not 0 < factor <= 1:
            raise ValueError(f"factor must be in (0, 1], got {factor!r}")
        if int(step_size) < 1:
            raise ValueError(f"step_size must be ≥ 1, got {step_size!r}")
        self.factor, self.step_size = float(factor), int(step_size)

    def lr(self, epoch):
        return self.lr0 * self.factor ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    name = "exponential"

    def __init__(self, lr0, rate=0.95):
        super().__init__(lr0)
        if not 0 < rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {rate!r}")
        self.rate = float(rate)

    def lr(self, epoch):
        return self.lr0 * self.rate ** epoch


class ReduceOnPlateau(Schedule):
    name = "plateau"

    def __init__(self, lr0, factor=0.1, patience=5, min_delta=1e-4, min_lr=0.0):
        super().__init__(lr0)
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.factor, self.patience = float(factor), int(patience)
        self.min_delta, self.min_lr = float(min_delta), float(min_lr)
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
        self._current = float(state["current"])
        self._best = math.inf if state["best"] is None else float(state["best"])
        self._bad = int(state["bad"])


SCHEDULES = {cls.name: cls for cls in
             [Constant, InverseScaling, StepDecay, ExponentialDecay,
              ReduceOnPlateau]}


def make_schedule(schedule, lr0, **params):
    """A Schedule from a name (with its parameters) or a Schedule instance."""
    if isinstance(schedule, Schedule):
        return schedule
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"unknown lr_schedule {schedule!r}; valid names: "
                         f"{', '.join(sorted(SCHEDULES))}")
    try:
        return SCHEDULES[schedule](lr0, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for lr_schedule {schedule!r}: {exc}") \
            from None
