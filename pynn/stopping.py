"""Stopping rules: small objects the Trainer asks after every epoch.

Each rule has ``reset()`` (at the start of a fit), ``update(epoch, record,
trainer)`` returning True when training should stop, and ``state()`` /
``load_state(state)`` so that a checkpoint resumes it exactly (the state is
JSON-ready; arrays, such as early stopping's best weights, are handled by
``arrays()`` / ``load_arrays``).  ``reason`` is what ``History.stopped_reason``
records when the rule fires.

=================  ==========================================================
Tolerance          |L_k − L_{k−1}| < tol for ``n_iter_no_change`` epochs in a
                   row (L: the training loss of each epoch)
GradientNorm       ‖∇ objective‖ over the whole training set < grad_tol
EarlyStopping      no validation loss below best − min_delta for ``patience``
                   epochs; the best weights are restored at the end
Callbacks          a callback returned True or raised ``StopTraining``
=================  ==========================================================
"""
import math
import numbers

import numpy as np

__all__ = ["StopTraining", "StoppingRule", "Tolerance", "GradientNorm",
           "EarlyStopping", "Callbacks"]


class StopTraining(Exception):
    """Raise from a callback to stop training after the current epoch."""


class StoppingRule:
    reason = None

    def reset(self):
        """Forget everything seen (a new fit)."""

    def update(self, epoch, record, trainer):
        """Called after epoch ``epoch`` (0-based) with its record; True stops."""
        return False

    def state(self):
        return {}

    def load_state(self, state):
        """Restore ``state()``; ValueError naming the field if malformed."""

    def arrays(self):
        return {}

    def load_arrays(self, arrays):
        pass


def _count(state, key):
    v = state.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) \
            or not 0 <= v < 2**62:
        raise ValueError(f"stopping.{key} must be a non-negative integer, "
                         f"got {v!r}")
    return int(v)


class Tolerance(StoppingRule):
    """Stop when the epoch loss changes by less than ``tol`` for
    ``n_iter_no_change`` consecutive epochs."""
    reason = "tol"

    def __init__(self, tol, n_iter_no_change):
        self.tol, self.n_iter_no_change = tol, n_iter_no_change
        self.reset()

    def reset(self):
        self.no_change = 0

    def update(self, epoch, record, trainer):
        loss = trainer.history.loss
        if len(loss) > 1:
            self.no_change = self.no_change + 1 \
                if abs(loss[-1] - loss[-2]) < self.tol else 0
        return self.no_change >= self.n_iter_no_change

    def state(self):
        return {"no_change": self.no_change}

    def load_state(self, state):
        self.no_change = _count(state, "no_change")


class GradientNorm(StoppingRule):
    """Stop when the full-batch gradient norm falls below ``grad_tol``
    (one extra pass over the training data per epoch)."""
    reason = "grad_tol"

    def __init__(self, grad_tol):
        self.grad_tol = grad_tol

    def update(self, epoch, record, trainer):
        return trainer._full_gradient_norm() < self.grad_tol


class EarlyStopping(StoppingRule):
    """Stop after ``patience`` epochs whose validation loss is not below the
    best by more than ``min_delta``; ``restore(model)`` puts the best
    epoch's weights back."""
    reason = "early_stopping"

    def __init__(self, patience, min_delta):
        self.patience, self.min_delta = patience, min_delta
        self.reset()

    def reset(self):
        self.best_val, self.best_epoch, self.best_params = math.inf, None, None

    def update(self, epoch, record, trainer):
        if record["val_loss"] < self.best_val - self.min_delta:
            self.best_val, self.best_epoch = record["val_loss"], epoch
            self.best_params = trainer.model.params.copy()
            return False
        return epoch - self.best_epoch >= self.patience

    def restore(self, model, history):
        if self.best_params is not None:
            model.params[...] = self.best_params
            history.best_epoch = self.best_epoch

    def state(self):
        return {"best_val": None if math.isinf(self.best_val) else self.best_val,
                "best_epoch": self.best_epoch}

    def load_state(self, state):
        val, epoch = state.get("best_val"), state.get("best_epoch")
        if val is not None and (isinstance(val, bool) or not isinstance(
                val, numbers.Real) or not math.isfinite(val)):
            raise ValueError(f"stopping.best_val must be a finite number or "
                             f"null, got {val!r}")
        if epoch is not None:
            epoch = _count(state, "best_epoch")
        if (val is None) != (epoch is None):
            raise ValueError("stopping.best_val and best_epoch must both be "
                             "set or both be null")
        self.best_val = math.inf if val is None else float(val)
        self.best_epoch = epoch

    def arrays(self):
        return {} if self.best_params is None else {"best_params": self.best_params}

    def load_arrays(self, arrays):
        self.best_params = arrays.get("best_params")


class Callbacks(StoppingRule):
    """``callback(epoch, logs, trainer)`` after every epoch; True or
    ``StopTraining`` stops (the Trainer's ``stop_training`` flag too)."""
    reason = "callback"

    def __init__(self, callbacks):
        self.callbacks = callbacks

    def update(self, epoch, record, trainer):
        for cb in self.callbacks:
            try:
                if cb(epoch, dict(record), trainer):
                    trainer.stop_training = True
            except StopTraining:
                trainer.stop_training = True
        return trainer.stop_training


def check_best_params(arrays, n_params, dtype, path):
    """Early stopping's saved weights must match the model exactly."""
    best = arrays.get("best_params")
    if best is None:
        return None
    if best.shape != (n_params,) or best.dtype != dtype or \
            not np.isfinite(best).all():
        raise ValueError(f"{path}: best_params must be {n_params} finite "
                         f"{np.dtype(dtype).name}, got {best.dtype} {best.shape}")
    return best.copy()
