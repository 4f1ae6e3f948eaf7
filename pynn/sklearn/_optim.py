"""scikit-learn's stochastic optimisers over pynn's flat parameter buffer.

The same arithmetic as ``sklearn.neural_network._stochastic_optimizers``,
operation for operation (so the float64 trajectory is the same to
rounding), but on one contiguous vector instead of a list of per-layer
arrays and with in-place NumPy updates:

SGD (momentum μ, learning rate η)
    v ← μ v − η g;   w ← w + v                 (classical momentum)
    v ← μ v − η g;   w ← w + μ v − η g         (Nesterov, with the new v)
    schedules: "constant"; "invscaling" η_t = η₀ / (t + 1)^power_t after
    each epoch, t = samples seen; "adaptive" divides η by 5 when training
    stalls (``trigger_stopping``) and stops once η ≤ 1e-6.
Adam (β₁, β₂, ε)
    m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²;
    η_t = η √(1 − β₂ᵗ) / (1 − β₁ᵗ);   w ← w − η_t m / (√v + ε)
    (ε is added to √v unscaled, as scikit-learn does).
RPROP
    pynn's iRPROP− (``pynn.optimizers.RPROP``), one full-batch step per
    epoch through the compiled ``update`` seam.
"""
import numpy as np


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
        self._step = np.empty(n, dtype)
        self._tmp = np.empty(n, dtype)

    def update_params(self, params, grads):
        """One step: ``params`` += the update computed from ``grads``."""
        v, step, tmp = self.velocity, self._step, self._tmp
        np.multiply(grads, self.learning_rate, out=tmp)      # η g
        v *= self.momentum
        v -= tmp                                             # μ v − η g
        if self.nesterov:
            np.multiply(v, self.momentum, out=step)
            step -= tmp                                      # μ v' − η g
            params += step
        else:
            params += v

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
        self.learning_rate = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.m = np.zeros(n, dtype)
        self.v = np.zeros(n, dtype)
        self._num = np.empty(n, dtype)
        self._den = np.empty(n, dtype)

    def update_params(self, params, grads):
        """One step: ``params`` += the update computed from ``grads``."""
        m, v, num, den = self.m, self.v, self._num, self._den
        self.t += 1
        m *= self.beta_1
        np.multiply(grads, 1 - self.beta_1, out=num)
        m += num
        np.multiply(grads, grads, out=num)
        num *= 1 - self.beta_2
        v *= self.beta_2
        v += num
        self.learning_rate = (self.learning_rate_init
                              * np.sqrt(1 - self.beta_2 ** self.t)
                              / (1 - self.beta_1 ** self.t))
        np.multiply(m, -self.learning_rate, out=num)
        np.sqrt(v, out=den)
        den += self.epsilon
        num /= den
        params += num



class RPROPState(_ConstantRate):
    """pynn's iRPROP− behind the same interface (full batch; Δ₀ = η₀)."""

    def __init__(self, model, learning_rate_init):
        from pynn.optimizers import RPROP
        self.learning_rate = float(learning_rate_init)
        self.n_params = model.n_params
        self._model = model
        self._opt = RPROP(lr=learning_rate_init)

    def update_params(self, params, grads):
        """One iRPROP− step of the model whose buffers these are."""
        self._opt.update(self._model)

