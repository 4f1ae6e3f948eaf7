"""The optimisers of pynn.sklearn's stochastic solvers: state that persists
between ``partial_fit`` calls and pickles, and the compiled step it drives.

Each state object owns its buffers (flat, laid out like the model's
params) and builds, per call of the compiled loop, the
``pynn._train.Update`` that steps with them (``kernel()``) and the rate to
pass (``rate``).  The steps (``csrc/_train.pyx``, ``sklearn=True``) are
scikit-learn's, operation for operation as
``sklearn.neural_network._stochastic_optimizers``:

SGD (momentum μ, learning rate η; μ = 0 is plain SGD)
    v ← μ v − η g;   w ← w + v                 (classical momentum)
    v ← μ v − η g;   w ← w + μ v − η g         (Nesterov, with the new v)
    schedules: "constant"; "invscaling" η_t = η₀ / (t + 1)^power_t after
    each epoch, t = samples seen; "adaptive" divides η by 5 when training
    stalls (``trigger_stopping``) and stops once η ≤ 1e-6.
Adam (β₁, β₂, ε)
    m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²;
    η_t = η √(1 − β₂ᵗ) / (1 − β₁ᵗ);   w ← w − η_t m / (√v + ε)
    (ε is added to √v unscaled, as scikit-learn does).
pynn's optimisers (``solver="rprop"``, ``"momentum"``, ``"nesterov"`` or
``optimizer=``)
    their own step (``pynn.optimizers``), rate fixed at their ``lr``.
"""
import copy

import numpy as np

from pynn import _train


class SGDState:
    """scikit-learn's ``SGDOptimizer`` on a flat buffer of ``n`` values."""

    def __init__(self, n, dtype, learning_rate_init=0.1, lr_schedule="constant",
                 momentum=0.9, nesterov=True, power_t=0.5):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocity = np.zeros(n, dtype)
        self.t = 0

    @property
    def n_params(self):
        return self.velocity.size

    @property
    def rate(self):
        return self.learning_rate

    def kernel(self):
        code = _train.Optimizer.NESTEROV if self.nesterov \
            else _train.Optimizer.MOMENTUM
        return _train.Update(code, (self.momentum,), state1=self.velocity,
                             step=self.t, sklearn=True, track_penalty=True)

    def iteration_ends(self, time_step):
        """After an epoch; ``time_step`` = samples seen so far."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = (float(self.learning_rate_init)
                                  / (time_step + 1) ** self.power_t)

    def trigger_stopping(self, msg, verbose):
        """Whether to stop after ``n_iter_no_change`` stalled epochs."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class _ConstantRate:
    """The schedule of optimisers with no learning-rate schedule: nothing
    after an epoch, and stopping when told to (scikit-learn's interface)."""

    def iteration_ends(self, time_step):
        pass

    def trigger_stopping(self, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True


class AdamState(_ConstantRate):
    """scikit-learn's ``AdamOptimizer`` on a flat buffer of ``n`` values."""

    def __init__(self, n, dtype, learning_rate_init=0.001, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8):
        self.learning_rate_init = learning_rate_init
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.m = np.zeros(n, dtype)
        self.v = np.zeros(n, dtype)

    @property
    def n_params(self):
        return self.m.size

    @property
    def rate(self):
        return float(self.learning_rate_init)

    @property
    def learning_rate(self):
        """η_t of the last step (scikit-learn's attribute)."""
        t = max(self.t, 1)
        return (self.learning_rate_init * np.sqrt(1 - self.beta_2 ** t)
                / (1 - self.beta_1 ** t))

    def kernel(self):
        return _train.Update(_train.Optimizer.ADAM,
                             (self.beta_1, self.beta_2, self.epsilon),
                             state1=self.m, state2=self.v, step=self.t,
                             sklearn=True, track_penalty=True)


class PynnState(_ConstantRate):
    """A pynn optimiser (``pynn.optimizers``) behind the same interface; a
    full-batch one (RPROP) steps once per epoch."""

    def __init__(self, optimizer, n, dtype):
        self.optimizer = copy.deepcopy(optimizer).init(n, dtype)
        self.n_params = n

    @property
    def t(self):
        return self.optimizer.t

    @t.setter
    def t(self, value):
        self.optimizer.t = value

    @property
    def rate(self):
        return self.optimizer.lr

    @property
    def full_batch(self):
        return self.optimizer.full_batch

    def kernel(self):
        upd = self.optimizer.kernel()
        upd.track_penalty = True
        return upd
