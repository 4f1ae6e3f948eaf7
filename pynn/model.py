"""Model and MLP: a stack of Dense layers over one contiguous parameter buffer.

All parameters live in ``model.params`` (1-D); layer ℓ's W_ℓ (d_ℓ × d_{ℓ−1},
row-major) is followed by b_ℓ.  ``model.grads`` has the same layout.  The
forward and backward passes run in ``pynn._network`` (compiled, nogil); this
module validates input, owns the buffers and maps names to kernel codes.
"""
import numbers

import numpy as np

from pynn import _network
from pynn._validation import check_X, check_dtype, check_targets, check_positive
from pynn.activations import get_activation
from pynn.init import get_initializer
from pynn.layers import Dense
from pynn.losses import check_pair, get_loss


class Model:
    """A feed-forward network of ``Dense`` layers.

    Parameters
    ----------
    layers : list of Dense
        Consecutive layers; each layer's n_in must equal the previous n_out.
    dtype : {"float32", "float64"}
        Floating type of parameters and computation (default float32).
    seed : int or None
        Seed of the initialiser's random generator (None: fresh entropy).
    init : str or callable
        Default initialiser for W (see ``pynn.init``; default
        "glorot_normal", the notes' N(0, 2/(n_in + n_out))); biases are 0.

    Examples
    --------
    >>> model = Model([Dense(64, 32, "sigmoid"), Dense(32, 10, "softmax")])
    >>> Y = model(X)                          # (n, 10)
    >>> loss = model.backward(X, y, loss="cross_entropy")
    """

    def __init__(self, layers, dtype="float32", seed=None, init="glorot_normal"):
        layers = list(layers) if not isinstance(layers, Dense) else [layers]
        if not layers:
            raise ValueError("layers must contain at least one Dense layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Dense):
                raise TypeError(f"layers[{i}] must be a pynn.Dense, got "
                                f"{type(layer).__name__}")
            if i and layer.n_in != layers[i - 1].n_out:
                raise ValueError(
                    f"layers[{i}] takes {layer.n_in} inputs but layers[{i - 1}] "
                    f"gives {layers[i - 1].n_out} outputs")
        if len(set(map(id, layers))) != len(layers):
            raise ValueError("the same Dense object appears twice in layers")
        for i, layer in enumerate(layers):
            if layer._W is not None:
                raise ValueError(
                    f"layers[{i}] already belongs to another Model (its W and "
                    "b are views into that model's params); create a new "
                    "Dense, or use model.copy()")
        self.dtype = np.dtype(check_dtype(dtype))
        self.init = get_initializer(init)
        self.layers = layers
        self._layout = _network.Layout(
            [layers[0].n_in] + [l.n_out for l in layers],
            [l.activation.code for l in layers],
            [l.activation_param for l in layers])
        self._params = np.zeros(self._layout.n_params, dtype=self.dtype)
        self._grads = np.zeros_like(self._params)
        for layer, w_off, b_off in zip(layers, self._layout.w_offsets,
                                       self._layout.b_offsets):
            layer._attach(self._params, self._grads, int(w_off), int(b_off))
        self._work = np.empty(0, dtype=self.dtype)
        self.initialize(seed)

    # ------------------------------------------------------------ buffers
    @property
    def params(self):
        """All parameters, one contiguous 1-D array (layer views share it)."""
        return self._params

    @params.setter
    def params(self, value):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"params must hold real numbers, got {arr.dtype}")
        if arr.shape != self._params.shape:
            raise ValueError(f"params must have shape {self._params.shape}, "
                             f"got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("params contains NaN or infinity")
        self._params[...] = arr

    @property
    def grads(self):
        """Gradient of the last ``backward`` call, laid out like params."""
        return self._grads

    @property
    def sizes(self):
        """Layer widths [d_0, d_1, …, d_L]."""
        return [int(s) for s in self._layout.sizes]

    @property
    def n_inputs(self):
        return self.layers[0].n_in

    @property
    def n_outputs(self):
        return self.layers[-1].n_out

    @property
    def n_params(self):
        return self._params.size

    def initialize(self, seed=None, init=None):
        """Redraw every W from its initialiser and set every b to 0."""
        rng = np.random.default_rng(seed)
        default = self.init if init is None else get_initializer(init)
        for layer in self.layers:
            layer.W[...] = (layer.init or default)(rng, layer.n_out, layer.n_in)
            layer.b[...] = 0
        return self

    def _workspace(self, batch):
        need = self._layout.workspace_size(batch)
        if self._work.size < need:
            self._work = np.empty(need, dtype=self.dtype)
        return self._work

    # ------------------------------------------------------------ passes
    def forward(self, X):
        """Network output for the rows of X.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_inputs)

        Returns
        -------
        ndarray, shape (n_samples, n_outputs), of the model's dtype
        """
        X = check_X(X, self.n_inputs, self.dtype)
        out = _network.forward(self._layout, self._params, X,
                               self._workspace(X.shape[0]))
        return out.copy()

    __call__ = forward

    def _prepare(self, X, T, loss):
        spec = get_loss(loss)
        check_pair(spec, self.layers[-1].activation)
        X = check_X(X, self.n_inputs, self.dtype, allow_empty=False)
        T = check_targets(T, X.shape[0], self.n_outputs, self.dtype,
                          class_indices=spec.class_indices,
                          unit_interval=spec.probabilistic)
        return X, T, spec

    def backward(self, X, T, loss="squared_error"):
        """Mean loss over the rows of X; fills ``grads`` with its gradient.

        ``grads`` = mean over samples of (δ_ℓ z_{ℓ−1}ᵀ, δ_ℓ) for every layer,
        the exact gradient of the returned mean loss.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_inputs)
        T : array-like
            Targets, shape (n_samples, n_outputs); (n_samples,) when there is
            one output, or class indices for "cross_entropy".
        loss : str
            A name from ``pynn.losses.LOSSES``.
        """
        X, T, spec = self._prepare(X, T, loss)
        total = _network.backward(self._layout, self._params, X, T, spec.code,
                                  _network.BackwardMode.GRADIENT, 0.0,
                                  self._grads, None,
                                  self._workspace(X.shape[0]))
        return total / X.shape[0]

    def input_gradient(self, X, T, loss="squared_error"):
        """Per-sample input gradient: row i is ∂L_i/∂x_i = W_1ᵀ δ_1(i).

        Leaves ``params`` and ``grads`` unchanged.
        """
        X, T, spec = self._prepare(X, T, loss)
        out = np.empty_like(X)
        _network.backward(self._layout, self._params, X, T, spec.code,
                          _network.BackwardMode.INPUT_GRADIENT, 0.0,
                          None, out, self._workspace(X.shape[0]))
        return out

    def train_step(self, X, T, loss="squared_error", lr=0.01):
        """One plain SGD step on the batch: W ← W − η · mean_i δ_i z_iᵀ.

        The update is fused into the backward pass (written straight into
        ``params``, no gradient buffer).  Returns the mean loss before the
        step.  A non-finite loss raises FloatingPointError and leaves
        ``params`` unchanged.
        """
        check_positive(lr, "lr")
        X, T, spec = self._prepare(X, T, loss)
        total = _network.backward(self._layout, self._params, X, T, spec.code,
                                  _network.BackwardMode.SGD_UPDATE, float(lr),
                                  None, None, self._workspace(X.shape[0]))
        mean = total / X.shape[0]
        if not np.isfinite(mean):
            raise FloatingPointError(
                f"the loss is {mean}; the parameters were left unchanged. "
                "Try a lower learning rate or scaled inputs.")
        return mean

    def loss(self, X, T, loss="squared_error"):
        """Mean loss over the rows of X; touches neither params nor grads."""
        X, T, spec = self._prepare(X, T, loss)
        total = _network.backward(self._layout, self._params, X, T, spec.code,
                                  _network.BackwardMode.LOSS_ONLY, 0.0,
                                  None, None, self._workspace(X.shape[0]))
        return total / X.shape[0]

    def save(self, path):
        """Save architecture and parameters to ``path`` (.npz, no pickle).

        The write is atomic; ``pynn.load(path)`` restores the model.
        """
        from pynn.io import save_model
        save_model(self, path)

    def architecture(self):
        """The architecture as plain data (JSON-ready): dtype and layers."""
        return {"dtype": self.dtype.name,
                "layers": [{"type": "Dense", "n_in": l.n_in, "n_out": l.n_out,
                            "activation": l.activation.name,
                            "activation_param": l.activation_param}
                           for l in self.layers]}

    def copy(self):
        """An independent model with the same architecture and parameters."""
        new = type(self).__new__(type(self))
        Model.__init__(new, [Dense(l.n_in, l.n_out, l.activation.name,
                                   l.activation_param
                                   if l.activation.param_name else None,
                                   l.init)
                             for l in self.layers],
                       dtype=self.dtype.name, seed=0, init=self.init)
        new._params[...] = self._params
        return new

    def __repr__(self):
        lines = [f"{type(self).__name__}(dtype={self.dtype.name}, "
                 f"params={self.n_params})"]
        lines += [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        return "\n".join(lines)


class MLP(Model):
    """A multilayer perceptron from a list of widths.

    ``MLP([64, 32, 10], hidden="relu", output="softmax")`` is
    ``Model([Dense(64, 32, "relu"), Dense(32, 10, "softmax")])``.

    Parameters
    ----------
    sizes : list of int
        [d_0, d_1, …, d_L]: input width, hidden widths, output width.
    hidden : str
        Activation of every hidden layer (default "relu").
    output : str
        Activation of the output layer (default "identity").
    dtype, seed, init
        As for ``Model``.
    """

    def __init__(self, sizes, hidden="relu", output="identity",
                 dtype="float32", seed=None, init="glorot_normal"):
        sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else None
        if sizes is None or len(sizes) < 2 or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool)
                and s >= 1 for s in sizes):
            raise ValueError("sizes must be a list of at least two positive "
                             f"integers [n_inputs, ..., n_outputs], got {sizes!r}")
        get_activation(hidden), get_activation(output)
        layers = [Dense(sizes[i], sizes[i + 1],
                        hidden if i < len(sizes) - 2 else output)
                  for i in range(len(sizes) - 1)]
        super().__init__(layers, dtype=dtype, seed=seed, init=init)
