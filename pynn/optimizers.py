"""Optimisers: one small class each, behind one fused kernel pass.

An optimiser owns its hyper-parameters (validated in ``__init__``), its
state buffers (``init(n_params, dtype)``, laid out like ``model.params``),
the kernel code of its update and its checkpoint state
(``state_dict()`` / ``load_state_dict()``).  ``pynn.Trainer`` takes a name
(``optimizer="adam"``) or an instance (``optimizer=Adam(lr=1e-3,
beta2=0.99)``).

Every step follows the gradient g of the objective (the mean loss, plus
λ/2 ‖W‖² with the Trainer's L2 weight λ; rescaled to norm ≤ c when
clipping at c).  Per element of the flat buffers:

==========  ===============================================================
SGD         w ← w − η g
Momentum    v ← μ v + g;   w ← w − η v                         (μ = 0.9)
Nesterov    v ← μ v + g;   w ← w − η (g + μ v)
Adam        m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
            w ← w − η m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
RPROP       iRPROP− (full batch): with p the previous step's g,
            Δ ← clamp(Δ·η⁺ if g p > 0;  Δ·η⁻ if g p < 0;  Δ otherwise),
            g ← 0 where g p < 0,  w ← w − sign(g) Δ,  p ← g;  Δ₀ = lr
LBFGS       limited-memory BFGS (SciPy's L-BFGS-B) on the flat parameter
            vector, full batch, one history entry per iteration
==========  ===============================================================

The first five run in ``pynn._train`` (one branch-free loop per optimiser,
in the buffers' precision); the stochastic ones are fused into the compiled
epoch loop, and every one can also be stepped through the seam
``gradient → (all-reduce) → update``: ``pynn._train.gradient`` fills
``model.grads``, ``optimizer.update(model)`` applies the step.
"""
import inspect
import numbers

import numpy as np

from pynn import _train
from pynn._registry import Registry
from pynn._validation import check_positive

OPTIMIZERS = Registry("optimizer")

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "Adam", "RPROP",
           "LBFGS", "OPTIMIZERS", "get_optimizer"]


def _unit(value, name):
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


class Optimizer:
    """Base class: hyper-parameters, state buffers and the kernel step.

    Subclasses set ``name`` (their registry key), ``code`` (the kernel's
    ``pynn._train.Optimizer`` code), ``n_state`` (state buffers) and
    ``hyper()`` (the kernel's hyper-parameters h0…h3, in order).

    Attributes
    ----------
    lr : float
        Learning rate η (or what the subclass documents).
    state : list of ndarray
        The state buffers after ``init`` (empty before).
    t : int
        Steps taken since ``init``.
    """

    name = None
    code = None
    n_state = 0
    full_batch = False      # True: needs the whole training set per step
    external = False        # True: runs its own minimize(); no kernel step

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            OPTIMIZERS.register(cls)

    def __init__(self, lr=0.01):
        self.lr = float(check_positive(lr, "lr"))
        self.state = []
        self.t = 0

    # ------------------------------------------------------------ state
    def init(self, n_params, dtype):
        """Allocate zeroed state buffers for ``n_params`` parameters."""
        n_params = check_positive(n_params, "n_params", integer=True,
                                  allow_zero=True)
        self.state = [np.zeros(n_params, dtype) for _ in range(self.n_state)]
        self.t = 0
        return self

    def initialized_for(self, n_params, dtype):
        """Whether the state buffers match ``n_params`` of ``dtype``."""
        return len(self.state) == self.n_state and all(
            s.shape == (n_params,) and s.dtype == dtype for s in self.state)

    def hyper(self):
        """Kernel hyper-parameters h0…h3 (see ``pynn._train``)."""
        return ()

    def config(self):
        """The hyper-parameters as a JSON-ready dict (``type(self)(**config)``
        rebuilds the optimiser)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters
                 if p != "self"]
        return {p: _plain(getattr(self, p)) for p in names}

    def state_dict(self):
        """Checkpoint state: ``{"t": steps, "state0": array, …}``."""
        out = {"t": self.t}
        out.update({f"state{i}": s for i, s in enumerate(self.state)})
        return out

    def load_state_dict(self, state, n_params, dtype):
        """Restore ``state_dict()`` output after checking every field.

        Raises ValueError naming the field when one is missing or has the
        wrong shape or dtype; the optimiser is unchanged then.
        """
        if not isinstance(state, dict):
            raise ValueError("optimiser state must be a dict")
        t = state.get("t")
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) \
                or not 0 <= t < 2**62:
            raise ValueError(f"optimiser step count must be an integer in "
                             f"[0, 2**62), got {t!r}")
        arrays = []
        for i in range(self.n_state):
            a = state.get(f"state{i}")
            if not isinstance(a, np.ndarray) or a.shape != (n_params,) \
                    or a.dtype != np.dtype(dtype):
                raise ValueError(
                    f"optimiser state{i} must be an array of {n_params} "
                    f"{np.dtype(dtype).name}, got "
                    f"{getattr(a, 'dtype', type(a).__name__)} "
                    f"{getattr(a, 'shape', '')}")
            if not np.isfinite(a).all():
                raise ValueError(f"optimiser state{i} holds NaN or infinity")
            arrays.append(np.array(a, order="C"))
        self.state, self.t = arrays, int(t)

    # ------------------------------------------------------------ step
    def kernel(self, l2=0.0, clip=None):
        """The ``pynn._train.Update`` the compiled loops step with (shares
        this optimiser's state buffers and reads its step count)."""
        s = self.state + [None] * (2 - len(self.state))
        return _train.Update(self.code, self.hyper(), l2, clip, s[0], s[1],
                             self.t)

    def update(self, model, lr=None, l2=0.0, clip=None):
        """One step from ``model.grads`` (already the gradient to follow).

        ``lr`` overrides ``self.lr`` for this step (schedules); ``l2`` adds
        λ W to the gradient of the weights, ``clip`` caps its global norm.
        """
        if not self.initialized_for(model.n_params, model.dtype):
            self.init(model.n_params, model.dtype)
        upd = self.kernel(l2, clip)
        _train.step(model._layout, model.params, model.grads, upd,
                    self.lr if lr is None else float(lr))
        self.t = upd.step

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.config() == other.config()

    __hash__ = object.__hash__


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


class SGD(Optimizer):
    """Plain gradient descent, w ← w − η g (fused into the backward pass
    when there is no L2 or clipping)."""
    name = "sgd"
    code = _train.Optimizer.SGD


class Momentum(Optimizer):
    """Heavy-ball momentum in PyTorch's form: v ← μ v + g, w ← w − η v."""
    name = "momentum"
    code = _train.Optimizer.MOMENTUM
    n_state = 1

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = _unit(momentum, "momentum")

    def hyper(self):
        return (self.momentum,)


class Nesterov(Momentum):
    """Nesterov momentum: v ← μ v + g, w ← w − η (g + μ v)."""
    name = "nesterov"
    code = _train.Optimizer.NESTEROV


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba): m, v the running first and
    second moments of g; w ← w − η m̂ / (√v̂ + ε)."""
    name = "adam"
    code = _train.Optimizer.ADAM
    n_state = 2

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _unit(beta1, "beta1")
        self.beta2 = _unit(beta2, "beta2")
        self.eps = float(check_positive(eps, "eps"))

    def hyper(self):
        return (self.beta1, self.beta2, self.eps)


class RPROP(Optimizer):
    """iRPROP− (resilient backpropagation, FANN's default): per weight a step
    size Δ that grows by η⁺ while the gradient keeps its sign and shrinks by
    η⁻ when it flips (that step is then skipped); only sign(g) is used.

    Parameters follow ``torch.optim.Rprop``: ``lr`` is Δ₀, ``etas`` =
    (η⁻, η⁺), ``step_sizes`` = (Δ_min, Δ_max).  Full batch only.
    """
    name = "rprop"
    code = _train.Optimizer.RPROP
    n_state = 2           # Δ, previous gradient
    full_batch = True

    def __init__(self, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
        super().__init__(lr)
        em, ep = _pair(etas, "etas")
        lo, hi = _pair(step_sizes, "step_sizes")
        if not 0 < em < 1 < ep:
            raise ValueError(f"etas must satisfy 0 < eta_minus < 1 < eta_plus, "
                             f"got {etas!r}")
        if not 0 <= lo <= hi:
            raise ValueError(f"step_sizes must satisfy 0 ≤ min ≤ max, got "
                             f"{step_sizes!r}")
        self.etas, self.step_sizes = (em, ep), (lo, hi)

    def init(self, n_params, dtype):
        super().init(n_params, dtype)
        self.state[0][...] = self.lr        # Δ₀
        return self

    def hyper(self):
        return self.etas + self.step_sizes


def _pair(value, name):
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers, got {value!r}") \
            from None
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) \
                or not np.isfinite(v):
            raise ValueError(f"{name} must be a pair of finite numbers, got "
                             f"{value!r}")
    return float(a), float(b)


class LBFGS(Optimizer):
    """Limited-memory BFGS through ``scipy.optimize.minimize(method=
    "L-BFGS-B")`` over the flat parameter vector, full batch (as
    scikit-learn's ``solver="lbfgs"``).

    Parameters
    ----------
    max_fun : int
        Most objective evaluations (SciPy's ``maxfun``).
    tol : float
        Stop when the largest gradient component is at most ``tol``
        (SciPy's ``gtol``).
    history_size : int
        Correction pairs kept (SciPy's ``maxcor``).

    The number of iterations is the Trainer's ``epochs``; one history
    entry is recorded per iteration.  ``lr`` is unused.
    """
    name = "lbfgs"
    code = None
    full_batch = True
    external = True

    def __init__(self, max_fun=15000, tol=1e-4, history_size=10):
        super().__init__(1.0)
        self.max_fun = check_positive(max_fun, "max_fun", integer=True)
        self.tol = float(check_positive(tol, "tol", allow_zero=True))
        self.history_size = check_positive(history_size, "history_size",
                                           integer=True)

    def kernel(self, l2=0.0, clip=None):
        raise TypeError("LBFGS is not a kernel step: the Trainer drives it "
                        "through minimize()")

    def update(self, model, lr=None, l2=0.0, clip=None):
        raise TypeError("LBFGS takes no single steps; use Trainer(optimizer="
                        "'lbfgs') or LBFGS.minimize")

    def minimize(self, fun, x0, max_iter, callback=None):
        """Run L-BFGS-B on ``fun(x) -> (value, gradient)`` from x0 (float64).

        ``callback(x, value)`` after each iteration; returning True stops.
        Returns SciPy's OptimizeResult.
        """
        from scipy.optimize import minimize
        last = {}

        def tracked(x):
            f, g = fun(x)
            last["f"] = f
            return f, g

        def each(intermediate_result):
            self.t += 1
            if callback is not None and callback(intermediate_result.x,
                                                 intermediate_result.fun):
                raise StopIteration

        return minimize(tracked, x0, method="L-BFGS-B", jac=True,
                        callback=each,
                        options={"maxfun": self.max_fun, "maxiter": max_iter,
                                 "gtol": self.tol, "maxcor": self.history_size})


def get_optimizer(optimizer, lr=None, **hyper):
    """An Optimizer from a name (with ``lr`` and the hyper-parameters its
    class takes; others in ``hyper`` are ignored) or an instance (returned
    as is; then ``lr`` must be None or equal its lr)."""
    if isinstance(optimizer, Optimizer):
        if lr is not None and float(lr) != optimizer.lr and \
                not optimizer.external:
            raise ValueError(f"lr={lr!r} conflicts with the optimizer's own "
                             f"lr={optimizer.lr!r}; give it in one place")
        return optimizer
    cls = OPTIMIZERS.lookup(optimizer)
    params = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in hyper.items() if k in params}
    if lr is not None and "lr" in params:
        kwargs["lr"] = lr
    return cls(**kwargs)
