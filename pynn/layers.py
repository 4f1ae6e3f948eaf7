"""Layers: fully connected, z′ = φ(W z + b), and radial basis,
z′_j = exp(−β_j ‖z − c_j‖²).

A ``Dense`` layer describes its shape and activation, an ``RBF`` layer its
shape; their parameters live in the owning ``Model``'s flat buffer, so
``W``, ``b``, ``dW`` and ``db`` (for an RBF layer the centres and log β)
are writable views that exist once the layer belongs to a model.
"""
import numbers
import os

import numpy as np

from pynn.activations import get_activation
from pynn.init import get_initializer

# The most parameters one buffer may hold: its bytes must be addressable
# with a signed 64-bit index even in float64.
MAX_PARAMS = (2 ** 63 - 1) // 8
# The widest layer the compiled kernels take (their widths are C ints).
MAX_WIDTH = 2 ** 31 - 1


def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_param_count(n_params, itemsize, name):
    """Refuse, naming ``name``, a parameter count that cannot be allocated.

    A model holds two buffers of ``n_params`` values (``params`` and
    ``grads``), so it needs B = 2 · n_params · itemsize bytes.  Raises
    ValueError when n_params > MAX_PARAMS (= (2⁶³ − 1) // 8, the largest
    buffer a signed 64-bit byte index addresses in float64) or when B
    exceeds the machine's physical memory (not checked when ``itemsize`` is
    None: the dtype is not known yet) — before anything is allocated
    (NumPy would raise MemoryError, or the system kill the process while
    the initialiser writes the weights).  ``n_params`` is a Python int, so
    the products are exact however large the widths.
    """
    if n_params > MAX_PARAMS:
        raise ValueError(f"{name} give {n_params} parameters; one buffer "
                         f"holds at most {MAX_PARAMS}")
    if itemsize is None:
        return
    need, have = 2 * n_params * itemsize, _physical_memory()
    if have is not None and need > have:
        raise ValueError(
            f"{name} give {n_params} parameters: params and grads need "
            f"{need} bytes ({need / 2**30:.3g} GiB), more than this "
            f"machine's memory of {have} bytes ({have / 2**30:.3g} GiB)")


def checked_values(value, shape, dtype, name):
    """``value`` as a finite array of ``shape`` and ``dtype``, or raise.

    Finiteness is checked after the conversion to ``dtype``: 1e300 is finite
    in float64 but overflows to inf in float32, and must not be stored.
    Used by the ``params``, ``W`` and ``b`` setters, which store the result
    only when every check passed (the model is left unchanged otherwise).
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:     # ragged nested lists
        raise ValueError(f"{name} must be an array of shape {shape}: "
                         f"{exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got "
                         f"{arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        cast = arr.astype(dtype)
    if not np.isfinite(cast).all():
        if arr.dtype.kind == "f" and np.isfinite(arr).all():
            raise ValueError(
                f"{name} holds values too large for {np.dtype(dtype).name} "
                f"(|x| > {np.finfo(dtype).max:.4g}): they would be stored "
                "as infinity")
        raise ValueError(f"{name} contains NaN or infinity")
    return cast


def _check_widths(n_in, n_out):
    """(n_in, n_out) as ints, or ValueError naming the bad one: positive,
    at most ``MAX_WIDTH``, and n_out·(n_in + 1) ≤ ``MAX_PARAMS``."""
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    n_in, n_out = int(n_in), int(n_out)
    count = n_out * (n_in + 1)     # W and b; Python ints: exact
    if count > MAX_PARAMS:
        raise ValueError(
            f"n_in = {n_in} and n_out = {n_out} make a layer of "
            f"n_out·(n_in + 1) = {count} parameters; one buffer holds at "
            f"most {MAX_PARAMS}")
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if value > MAX_WIDTH:
            raise ValueError(f"{name} must be at most {MAX_WIDTH} (the "
                             f"kernels' widest layer), got {value!r}")
    return n_in, n_out


class _ParamLayer:
    """A layer whose matrix (n_out, n_in) and vector (n_out,) are views into
    its model's ``params`` (and ``grads``), set by ``Model._attach``."""

    tied_to = None

    def _attach(self, params, grads, w_offset, b_offset):
        shape = (self.n_in, self.n_out) if self.tied_to else (self.n_out, self.n_in)
        w_end = w_offset + self.n_out * self.n_in
        self._W = params[w_offset:w_end].reshape(shape)
        self._dW = grads[w_offset:w_end].reshape(shape)
        if self.tied_to is not None:      # the owner's matrix, transposed
            self._W, self._dW = self._W.T, self._dW.T
        self._b = params[b_offset:b_offset + self.n_out]
        self._db = grads[b_offset:b_offset + self.n_out]

    def _view(self, attr):
        view = getattr(self, attr)
        if view is None:
            raise AttributeError("this layer has no parameters until it is "
                                 "part of a Model")
        return view

    def _set(self, attr, value, name):
        view = self._view(attr)
        view[...] = checked_values(value, view.shape, view.dtype, name)


class Dense(_ParamLayer):
    """Fully connected layer ``z_out = φ(W z_in + b)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths; ``W`` has shape (n_out, n_in).  Each at
        most ``MAX_WIDTH`` = 2³¹ − 1 (the kernels' widths are C ints), and
        the layer's n_out·(n_in + 1) parameters at most ``MAX_PARAMS``;
        ValueError naming them otherwise.
    activation : str
        A name from ``pynn.activations.ACTIVATIONS`` (default "identity").
    activation_param : float, optional
        The leaky-relu slope α (default 0.01) or the gaussian width β
        (default 1); ignored by other activations.
    init : str or callable, optional
        Initialiser for W (see ``pynn.init``); None uses the model's.
    tied_to : Dense, optional
        Tie this layer's weights to an earlier layer of the same model:
        W = tied_to.Wᵀ (an autoencoder's decoder), one shared matrix whose
        gradient collects both uses.  The layer keeps its own bias.
    activity_regularizer : KLSparsity or L1Activity, optional
        A penalty on this (hidden) layer's outputs; see pynn.regularization.
    """

    def __init__(self, n_in, n_out, activation="identity",
                 activation_param=None, init=None, tied_to=None,
                 activity_regularizer=None):
        self.n_in, self.n_out = _check_widths(n_in, n_out)
        self.activation = get_activation(activation)
        if activation_param is None:
            activation_param = self.activation.default_param
        elif not self.activation.param_name:
            raise ValueError(f"activation {self.activation.name!r} takes no "
                             "activation_param")
        if isinstance(activation_param, bool) or not isinstance(
                activation_param, numbers.Real) or not np.isfinite(activation_param):
            raise ValueError("activation_param must be a finite number, got "
                             f"{activation_param!r}")
        if self.activation.name == "gaussian" and activation_param <= 0:
            raise ValueError("activation_param (the gaussian width β) must be "
                             f"> 0, got {activation_param!r}")
        self.activation_param = float(activation_param)
        self.init = None if init is None else get_initializer(init)
        if tied_to is not None:
            if not isinstance(tied_to, Dense):
                raise TypeError(f"tied_to must be a Dense layer, got "
                                f"{type(tied_to).__name__}")
            if (tied_to.n_in, tied_to.n_out) != (self.n_out, self.n_in):
                raise ValueError(
                    f"tied_to has shape {tied_to.n_in} → {tied_to.n_out}; a "
                    f"layer {self.n_in} → {self.n_out} can only tie to a "
                    f"{self.n_out} → {self.n_in} layer")
            if tied_to.tied_to is not None:
                raise ValueError("tied_to must own its weights (not be tied itself)")
        self.tied_to = tied_to
        if activity_regularizer is not None and not hasattr(activity_regularizer, "code"):
            raise TypeError("activity_regularizer must be a pynn.KLSparsity or "
                            f"pynn.L1Activity, got {activity_regularizer!r}")
        low, high = self.activation.output_range
        if getattr(activity_regularizer, "needs_unit_interval", False) and \
                (low < 0 or high > 1):
            raise ValueError(
                f"activity_regularizer {activity_regularizer!r} needs outputs "
                f"in (0, 1), but the activation is {self.activation.name!r}; "
                "use 'sigmoid' (or L1Activity)")
        self.activity_regularizer = activity_regularizer
        self._W = self._b = self._dW = self._db = None

    kind = 0      # pynn._network.LayerKind.DENSE

    @property
    def W(self):
        """Weights (n_out, n_in): a writable view into ``model.params``."""
        return self._view("_W")

    @W.setter
    def W(self, value):
        self._set("_W", value, "W")

    @property
    def b(self):
        """Biases (n_out,): a writable view into ``model.params``."""
        return self._view("_b")

    @b.setter
    def b(self, value):
        self._set("_b", value, "b")

    @property
    def dW(self):
        """Gradient of the mean loss with respect to W (view into grads)."""
        return self._view("_dW")

    @property
    def db(self):
        """Gradient of the mean loss with respect to b (view into grads)."""
        return self._view("_db")

    @property
    def n_params(self):
        """Parameters this layer owns (a tied layer owns only its bias)."""
        return self.n_out * (1 if self.tied_to is not None else self.n_in + 1)

    def __repr__(self):
        act = self.activation.name
        if self.activation.param_name and \
                self.activation_param != self.activation.default_param:
            act += f", {self.activation.param_name}={self.activation_param:g}"
        extra = ", tied" if self.tied_to is not None else ""
        if self.activity_regularizer is not None:
            extra += f", {self.activity_regularizer!r}"
        return f"Dense({self.n_in} → {self.n_out}, {act}{extra})"


class RBF(_ParamLayer):
    """Radial-basis-function layer ``z_j = exp(−β_j ‖x − c_j‖²)``.

    Unit j responds to the distance of the input x from its centre c_j (not
    to a product wᵀx): the response is 1 at the centre and falls off with
    ‖x − c_j‖ at a rate set by its width parameter β_j > 0.

    Parameters
    ----------
    n_in, n_out : int
        Input width and number of units (centres); limits as for ``Dense``.
    init : str or callable, optional
        Initialiser of the centres (see ``pynn.init``); None uses the
        model's.  β starts at 1.

    Notes
    -----
    Storage: the centres are the layer's matrix ``W`` = ``centers`` (n_out,
    n_in), and its vector ``b`` = ``log_beta`` holds s_j = log β_j, so that
    β_j = e^{s_j} stays positive whatever step an optimiser takes (no clamp
    is needed, and the gradient with respect to s is β ∂L/∂β).  With
    U_ij = ‖x_i − c_j‖², Z_ij = exp(−β_j U_ij) and E_ij = ∂L/∂U_ij =
    −β_j Z_ij ∂L/∂Z_ij, the backward pass computes

    * ∂L/∂c_j = −2 Σ_i E_ij (x_i − c_j),
    * ∂L/∂s_j = Σ_i E_ij U_ij,
    * ∂L/∂x_i = 2 Σ_j E_ij (x_i − c_j)   (so RBF layers stack).

    An RBF layer is a hidden layer (the output layer is Dense); the L2
    penalty of the Trainer does not act on its centres and widths.
    """

    kind = 1      # pynn._network.LayerKind.RBF
    activity_regularizer = None

    def __init__(self, n_in, n_out, init=None):
        self.n_in, self.n_out = _check_widths(n_in, n_out)
        # The kernels ignore it; the model's bookkeeping reads one per layer.
        self.activation = get_activation("identity")
        self.activation_param = 0.0
        self.init = None if init is None else get_initializer(init)
        self._W = self._b = self._dW = self._db = None

    @property
    def W(self):
        """Centres (n_out, n_in), row j is c_j: a writable view into
        ``model.params``."""
        return self._view("_W")

    @W.setter
    def W(self, value):
        self._set("_W", value, "W")

    centers = W

    @property
    def b(self):
        """s = log β (n_out,): a writable view into ``model.params``."""
        return self._view("_b")

    @b.setter
    def b(self, value):
        self._set("_b", value, "b")

    log_beta = b

    @property
    def beta(self):
        """Widths β_j = e^{s_j} (n_out,), a copy; assigning stores log β."""
        return np.exp(self._view("_b"))

    @beta.setter
    def beta(self, value):
        view = self._view("_b")
        arr = checked_values(value, view.shape, np.float64, "beta")
        if not (arr > 0).all():
            raise ValueError("beta must be > 0 (β_j is a width: "
                             "exp(−β‖x − c‖²))")
        view[...] = checked_values(np.log(arr), view.shape, view.dtype, "beta")

    @property
    def dW(self):
        """∂(mean loss)/∂c (n_out, n_in): a view into ``model.grads``."""
        return self._view("_dW")

    @property
    def db(self):
        """∂(mean loss)/∂s, s = log β (n_out,): a view into ``model.grads``."""
        return self._view("_db")

    @property
    def n_params(self):
        """n_out centres of n_in values, and n_out widths."""
        return self.n_out * (self.n_in + 1)

    def __repr__(self):
        return f"RBF({self.n_in} → {self.n_out})"
