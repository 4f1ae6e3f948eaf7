"""Exceptions shared across pynn."""
from __future__ import annotations

from typing import Any

__all__ = ["DivergenceError", "NotFittedError"]


class DivergenceError(FloatingPointError):
    """Training made the loss or a weight NaN or infinite.

    The model that raised it keeps the last finite weights.  ``history``
    holds what was recorded before the divergence (a Trainer's History;
    None for the classic rules, whose ``loss_`` etc. cover the epochs
    completed).

    Parameters
    ----------
    message : str
        What diverged and what to try (a lower learning rate, scaled
        inputs).
    history : pynn.History or None, default=None
        The records up to the divergence.
    """

    def __init__(self, message: str, history: Any = None) -> None:
        super().__init__(message)
        self.history = history


class NotFittedError(ValueError, AttributeError):
    """A model was used for prediction before ``fit``.

    A subclass of both ValueError and AttributeError, as scikit-learn's
    exception of the same name, so either ``except`` clause catches it.
    """
