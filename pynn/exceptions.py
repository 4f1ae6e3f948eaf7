"""Exceptions shared across pynn."""


class DivergenceError(FloatingPointError):
    """Training made the loss or a weight NaN or infinite.

    The model that raised it keeps the last finite weights.  ``history``
    holds what was recorded before the divergence (a Trainer's History;
    None for the classic rules, whose ``loss_`` etc. cover the epochs
    completed).
    """

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


class NotFittedError(ValueError, AttributeError):
    """A model was used for prediction before ``fit``."""
