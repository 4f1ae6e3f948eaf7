"""Model and MLP: a stack of Dense layers over one contiguous parameter buffer.

All parameters live in ``model.params`` (1-D); layer ℓ's W_ℓ (d_ℓ × d_{ℓ−1},
row-major) is followed by b_ℓ.  ``model.grads`` has the same layout.  The
forward and backward passes run in ``pynn._network`` (compiled, nogil); this
module validates input, owns the buffers and maps names to kernel codes.
"""
import copy
import numbers
import threading

import numpy as np

from pynn import _network, _train
from pynn import architecture as _architecture
from pynn.architecture import is_model
from pynn._threads import limit_blas_threads, pool_threads
from pynn._validation import (all_finite, check_X, check_dtype,
                              check_positive, check_seed, check_targets)
from pynn.activations import get_activation
from pynn.init import INITIALIZERS, get_initializer
from pynn.io import save_model
from pynn.layers import (MAX_PARAMS, MAX_WIDTH, RBF, Dense, check_param_count,  # noqa: F401
                         checked_values)
from pynn.losses import check_pair, get_loss
from pynn.regularization import Dropout, GaussianNoise


class Model:
    """A feed-forward network of ``Dense`` layers.

    Parameters
    ----------
    layers : list of Dense (and Dropout / GaussianNoise)
        Consecutive layers; each layer's n_in must equal the previous n_out.
        A Dropout or GaussianNoise acts on the output of the Dense before it
        (on the input when first), in training only.
    dtype : {"float32", "float64"}
        Floating type of parameters and computation (default float32).
    seed : int or None
        Seed of the initialiser's random generator (None: fresh entropy).
    init : str or callable
        Default initialiser for W (see ``pynn.init``; default
        "glorot_normal": W_ij ~ N(0, 2/(n_in + n_out))); biases are 0.

    Notes
    -----
    ``pickle`` and ``copy.deepcopy`` work: the state is the architecture
    description, the parameters and gradients, and the initialisers (by
    name when registered in ``pynn.init``), never the compiled layout; the
    copy predicts and trains bit-identically (``copy.copy`` too gives an
    independent model: layers cannot be shared between two models).
    ``save``/``pynn.load`` write a pickle-free file instead.

    Examples
    --------
    >>> model = Model([Dense(64, 32, "sigmoid"), Dense(32, 10, "softmax")])
    >>> Y = model(X)                          # (n, 10)
    >>> loss = model.backward(X, y, loss="cross_entropy")
    """

    def __init_subclass__(cls, **kwargs):
        """Every subclass joins the architecture registry by itself, so its
        descriptions and files load (see ``pynn.architecture``)."""
        super().__init_subclass__(**kwargs)
        _architecture.register(cls)

    def __init__(self, layers, dtype="float32", seed=None, init="glorot_normal"):
        stack = list(layers) if not isinstance(layers, Dense) else [layers]
        self._setup(stack, self._parse(stack), dtype, seed=seed, init=init)

    def _setup(self, stack, parsed, dtype, seed=None, init="glorot_normal",
               params=None):
        """Own the layers of a parsed stack: buffers, views, layout, and
        parameters drawn from ``seed`` — or copied from ``params`` (1-D,
        n_params values; nothing is drawn)."""
        dense, dropout, noise = parsed
        self.dtype = np.dtype(check_dtype(dtype))
        self.init = get_initializer(init)
        self.layers = dense
        self._stack = stack
        self._layout = self._make_layout(dense, dropout, noise)
        check_seed(seed)
        check_param_count(int(self._layout.n_params), self.dtype.itemsize,
                          "layers")
        self._local = threading.local()      # per-thread work buffers
        self._sub_layouts = {}               # encode/decode views, by range
        self._params = np.zeros(self._layout.n_params, dtype=self.dtype)
        self._grads = np.zeros_like(self._params)
        try:
            for layer, w_off, b_off in zip(dense, self._layout.w_offsets,
                                           self._layout.b_offsets):
                layer._attach(self._params, self._grads, int(w_off), int(b_off))
            if params is None:
                self.initialize(seed)
            else:
                self._params[...] = checked_shape(params, self._params.shape,
                                                  "params")
        except BaseException:
            for layer in dense:          # leave the layers reusable
                layer._W = layer._b = layer._dW = layer._db = None
            raise

    @staticmethod
    def _parse(stack):
        """Split the layer list into Dense layers and per-position modifiers.

        Returns (dense, dropout, noise) where dropout[ℓ] / noise[ℓ] act on
        the output of dense layer ℓ (ℓ = 0: the input).
        """
        if not stack:
            raise ValueError("layers must contain at least one Dense layer")
        dense, dropout, noise = [], [0.0], [0.0]
        seen = set()                     # id() of the Dense layers so far
        last = None                      # stack index of the previous Dense
        for i, item in enumerate(stack):
            if isinstance(item, (Dense, RBF)):
                if dense and item.n_in != dense[-1].n_out:
                    raise ValueError(
                        f"layers[{i}] takes {item.n_in} inputs but "
                        f"layers[{last}] gives {dense[-1].n_out} outputs")
                last = i
                if id(item) in seen:
                    raise ValueError("the same Dense object appears twice in layers")
                if item._W is not None:
                    raise ValueError(
                        f"layers[{i}] already belongs to another Model (its W "
                        "and b are views into that model's params); create a "
                        "new Dense, or use model.copy()")
                if item.tied_to is not None and id(item.tied_to) not in seen:
                    raise ValueError(f"layers[{i}] is tied to a layer that does "
                                     "not come before it in this model")
                dense.append(item)
                seen.add(id(item))
                dropout.append(0.0)
                noise.append(0.0)
            elif isinstance(item, (Dropout, GaussianNoise)):
                which = dropout if isinstance(item, Dropout) else noise
                if which[-1]:
                    raise ValueError(f"layers[{i}]: two {type(item).__name__} "
                                     "at the same position")
                which[-1] = item.rate if isinstance(item, Dropout) else item.std
            else:
                raise TypeError(f"layers[{i}] must be a pynn.Dense, RBF, Dropout "
                                f"or GaussianNoise, got {type(item).__name__}")
        if not dense:
            raise ValueError("layers must contain at least one Dense layer")
        if dropout[-1] or noise[-1]:
            raise ValueError("Dropout/GaussianNoise cannot follow the output "
                             "layer")
        if isinstance(dense[-1], RBF):
            raise ValueError("the output layer must be Dense (an RBF layer is "
                             "a hidden layer)")
        if dense[-1].activity_regularizer is not None:
            raise ValueError("activity_regularizer applies to hidden layers, "
                             "not the output layer")
        check_param_count(sum(layer.n_params for layer in dense), None,
                          "layers")
        return dense, dropout, noise

    @staticmethod
    def _make_layout(dense, dropout, noise):
        """Parameter offsets (W_ℓ then b_ℓ; tied layers only b_ℓ), kernels' view."""
        w_off, b_off, off = [], [], 0
        for layer in dense:
            if layer.tied_to is not None:
                w_off.append(w_off[next(i for i, d in enumerate(dense)
                                        if d is layer.tied_to)])
            else:
                w_off.append(off)
                off += layer.n_in * layer.n_out
            b_off.append(off)
            off += layer.n_out
        regs = [None] + [l.activity_regularizer for l in dense]
        return _network.Layout(
            [dense[0].n_in] + [l.n_out for l in dense],
            [l.activation.code for l in dense],
            [l.activation_param for l in dense],
            w_offsets=w_off, b_offsets=b_off, n_params=off,
            w_trans=[l.tied_to is not None for l in dense],
            dropout=dropout, noise=noise,
            penalty=[r.code if r else 0 for r in regs],
            penalty_weight=[r.weight if r else 0 for r in regs],
            penalty_target=[r.target if r else 0 for r in regs],
            kinds=[l.kind for l in dense])

    # ------------------------------------------------------------ buffers
    @property
    def params(self):
        """All parameters, one contiguous 1-D array (layer views share it)."""
        return self._params

    @params.setter
    def params(self, value):
        self._params[...] = checked_values(value, self._params.shape,
                                           self.dtype, "params")

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
        rng = np.random.default_rng(check_seed(seed))
        default = self.init if init is None else get_initializer(init)
        new = self._params.copy()
        for i, layer in enumerate(self.layers):
            if layer.tied_to is None:
                W = np.asarray((layer.init or default)(rng, layer.n_out, layer.n_in))
                if W.shape != (layer.n_out, layer.n_in) or W.dtype.kind not in "biuf" \
                        or not np.isfinite(W).all():
                    raise ValueError(
                        f"init must return a finite array of shape "
                        f"({layer.n_out}, {layer.n_in}) for layers[{i}], got "
                        f"{W.dtype} {W.shape}")
                off = int(self._layout.w_offsets[i])
                new[off:off + W.size] = W.ravel()
            off = int(self._layout.b_offsets[i])
            new[off:off + layer.n_out] = 0
        self._params[...] = new
        return self

    def _run(self, kernel, *args, **kwargs):
        """Call a compiled pass with the BLAS on one thread (pynn's own
        threads, if any, do the parallel work: see ``pynn._threads``)."""
        with limit_blas_threads(1):
            return kernel(*args, **kwargs)

    def _scratch(self):
        """This thread's memory for chunked passes (``_train.Scratch``)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _train.Scratch()
        return scratch

    def _workspace(self, batch):
        """A work buffer for ``batch`` rows, one per thread (the passes run
        without the GIL, so threads calling one model must not share it)."""
        need = self._layout.workspace_size(batch)
        work = getattr(self._local, "work", None)
        if work is None or work.size < need:
            work = self._local.work = np.empty(need, dtype=self.dtype)
        return work

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
        n = X.shape[0]
        if n > _train.chunk_rows(self._layout, max(n, 1), 1):
            # Chunks of rows on pynn's threads (the same output on any count).
            out = np.empty((n, self.n_outputs), self.dtype)
            self._run(_train.predict, self._layout, self._params, X,
                      out, n_threads=pool_threads(), scratch=self._scratch())
            return out
        out = self._run(_network.forward, self._layout,
                        self._params, X, self._workspace(n))
        return out.copy()

    __call__ = forward

    def _forward_range(self, X, start, stop, name="X"):
        """Output of dense layers start … stop−1 for input X (inference).

        Runs the same kernels over a view of the layers (their parameters
        stay where they are in ``params``); used by Autoencoder.encode and
        decode.
        """
        layers = self.layers[start:stop]
        key = (start, stop)
        cache = self._sub_layouts
        if key not in cache:
            lay = self._layout
            cache[key] = _network.Layout(
                [layers[0].n_in] + [l.n_out for l in layers],
                lay.acts[start:stop], lay.act_params[start:stop],
                w_offsets=lay.w_offsets[start:stop],
                b_offsets=lay.b_offsets[start:stop],
                n_params=lay.n_params, w_trans=lay.w_trans[start:stop],
                kinds=lay.kinds[start:stop])
        layout = cache[key]
        X = check_X(X, layers[0].n_in, self.dtype, name=name)
        work = np.empty(layout.workspace_size(X.shape[0]), self.dtype)
        return self._run(_network.forward, layout,
                         self._params, X, work).copy()

    def _prepare(self, X, T, loss):
        spec = get_loss(loss)
        check_pair(spec, self.layers[-1].activation)
        X = check_X(X, self.n_inputs, self.dtype, allow_empty=False)
        T = check_targets(T, X.shape[0], self.n_outputs, self.dtype,
                          class_indices=spec.class_indices,
                          unit_interval=spec.probabilistic)
        return X, T, spec

    def backward(self, X, T, loss="squared_error", noise_seed=None):
        """Mean loss over the rows of X; fills ``grads`` with its gradient.

        ``grads`` = mean over samples of (δ_ℓ z_{ℓ−1}ᵀ, δ_ℓ) for every layer,
        the exact gradient of the returned mean loss (plus any activity
        penalty).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_inputs)
        T : array-like
            Targets, shape (n_samples, n_outputs); (n_samples,) when there is
            one output, or class indices for "cross_entropy".
        loss : str
            A name from ``pynn.losses.LOSSES``.
        noise_seed : int or None
            None (default) runs without dropout or noise (inference mode);
            an integer applies them with masks drawn from that seed — the
            same seed gives the same masks in ``backward`` and ``loss``
            (for gradient checks with a fixed mask).
        """
        X, T, spec = self._prepare(X, T, loss)
        if noise_seed is None or not self._layout.stochastic:
            # Chunked on pynn's threads: the same gradient on any count.
            total = self._run(_train.gradient, self._layout,
                              self._params, self._grads, X, T, spec.code, 0.0,
                              self._workspace(X.shape[0]),
                              n_threads=pool_threads(),
                              scratch=self._scratch())[0]
        else:   # one pass, so that ``loss`` with this seed sees the same masks
            total = self._run(_network.backward, self._layout,
                              self._params, X, T, spec.code,
                              _network.BackwardMode.GRADIENT, 0.0,
                              self._grads, None, self._workspace(X.shape[0]),
                              _seed(noise_seed))
        return total / X.shape[0]

    def input_gradient(self, X, T, loss="squared_error", noise_seed=None):
        """Per-sample input gradient: row i is ∂L_i/∂x_i = W_1ᵀ δ_1(i).

        Leaves ``params`` and ``grads`` unchanged.  ``noise_seed`` as for
        ``backward``.
        """
        X, T, spec = self._prepare(X, T, loss)
        out = np.empty_like(X)
        self._run(_network.backward, self._layout,
                  self._params, X, T, spec.code,
                  _network.BackwardMode.INPUT_GRADIENT, 0.0, None, out,
                  self._workspace(X.shape[0]), _seed(noise_seed))
        return out

    def train_step(self, X, T, loss="squared_error", lr=0.01, noise_seed=None):
        """One plain SGD step on the batch: W ← W − η · mean_i δ_i z_iᵀ.

        The update is fused into the backward pass (written straight into
        ``params``, no gradient buffer; a model with tied weights computes
        its gradient into ``grads`` first, since a shared matrix must not
        change between its two uses).  Returns the mean loss before the
        step.  A non-finite loss raises FloatingPointError and leaves
        ``params`` unchanged.  ``noise_seed`` as for ``backward``.
        """
        check_positive(lr, "lr")
        X, T, spec = self._prepare(X, T, loss)
        before = self._params.copy()
        total = self._run(_network.backward, self._layout,
                          self._params, X, T, spec.code,
                          _network.BackwardMode.SGD_UPDATE, float(lr),
                          self._grads, None, self._workspace(X.shape[0]),
                          _seed(noise_seed))
        mean = total / X.shape[0]
        if not np.isfinite(mean):
            raise FloatingPointError(
                f"the loss is {mean}; the parameters were left unchanged. "
                "Try a lower learning rate or scaled inputs.")
        if not all_finite(self._params):
            self._params[...] = before
            raise FloatingPointError(
                "the step made a parameter NaN or infinite; the parameters "
                "were left unchanged. Try a lower learning rate or scaled "
                "inputs.")
        return mean

    def loss(self, X, T, loss="squared_error", noise_seed=None):
        """Mean loss (plus activity penalties) over the rows of X.

        Touches neither params nor grads; ``noise_seed`` as for ``backward``.
        """
        X, T, spec = self._prepare(X, T, loss)
        total = self._run(_network.backward, self._layout,
                          self._params, X, T, spec.code,
                          _network.BackwardMode.LOSS_ONLY, 0.0, None, None,
                          self._workspace(X.shape[0]), _seed(noise_seed))
        return total / X.shape[0]

    def save(self, path):
        """Save architecture and parameters to ``path`` (.npz, no pickle).

        The write is atomic and writes one snapshot of the parameters (safe
        while another thread trains the model); ``pynn.load(path)``
        restores the model.  See ``pynn.io.save_model``.
        """
        save_model(self, path)

    def architecture(self):
        """The architecture as plain data (JSON-ready): class, dtype and
        layer stack; see ``pynn.architecture``.

        ``Model.from_architecture`` rebuilds the model from it.
        """
        return _architecture.architecture(self)

    def _extra_architecture(self):
        """Subclasses add what rebuilding them needs (JSON-ready)."""
        return {}

    @classmethod
    def _extra_attributes(cls, arch, dense):
        """Validate what ``_extra_architecture`` wrote in ``arch`` and return
        the attributes to set on the rebuilt model (``dense``: its Dense
        layers).  Raises ValueError for malformed data."""
        return {}

    @classmethod
    def from_architecture(cls, arch, seed=0):
        """A new model (fresh parameters from ``seed``) from
        ``architecture()`` data.

        The class is the one named in ``arch["class"]`` (Model, MLP,
        Autoencoder or another registered subclass; nothing else is ever
        instantiated).  Raises ValueError or TypeError for malformed data.
        """
        return _architecture.from_architecture(arch, seed=seed)

    @classmethod
    def _from_plan(cls, plan, seed=0, params=None):
        """The model of a ``pynn.architecture.Plan`` (its __init__ is not
        called: the plan holds the validated layers)."""
        model = cls.__new__(cls)
        Model._setup(model, plan.stack, plan.parsed, plan.dtype, seed=seed,
                     params=params)
        for name, value in plan.extra.items():
            setattr(model, name, value)
        return model

    def copy(self):
        """An independent model with the same architecture, parameters,
        gradients, initialisers and attributes (``copy.deepcopy(model)``)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------ pickling
    # What __setstate__ rebuilds from the architecture (not pickled as is:
    # the compiled layout and the thread-local work buffers cannot be).
    _BUILT = frozenset({"dtype", "init", "layers", "_stack", "_layout",
                        "_local", "_sub_layouts", "_params", "_grads"})

    def __getstate__(self):
        """Architecture, parameters, gradients and initialisers as plain
        data, plus the other attributes (an Autoencoder's ``history_``)."""
        return {"architecture": self.architecture(),
                "params": self._params.copy(), "grads": self._grads.copy(),
                "init": _init_state(self.init),
                "layer_inits": [_init_state(l.init) for l in self.layers],
                "attributes": {k: v for k, v in self.__dict__.items()
                               if k not in self._BUILT}}

    def __setstate__(self, state):
        plan = _architecture.parse(state["architecture"], cls=type(self))
        Model._setup(self, plan.stack, plan.parsed, plan.dtype,
                     init=get_initializer(state["init"]),
                     params=state["params"])
        self._grads[...] = checked_shape(state["grads"], self._grads.shape,
                                         "grads")
        for layer, init in zip(self.layers, state["layer_inits"]):
            layer.init = None if init is None else get_initializer(init)
        self.__dict__.update(plan.extra)
        self.__dict__.update(state["attributes"])

    def __repr__(self):
        lines = [f"{type(self).__name__}(dtype={self.dtype.name}, "
                 f"params={self.n_params})"]
        lines += [f"  ({i}) {layer!r}" for i, layer in enumerate(self._stack)]
        return "\n".join(lines)


def checked_shape(value, shape, name):
    """``value`` as an array of exactly ``shape`` (no broadcasting)."""
    arr = np.asarray(value)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr


def _size_list(sizes):
    """``sizes`` as a list, or None when it is not a sequence of widths (the
    caller's message then names it)."""
    if isinstance(sizes, (str, bytes)):
        return None
    try:
        return list(sizes)
    except TypeError:                      # MLP(5), MLP(None)
        return None


def _init_state(init):
    """An initialiser as pickled: its registered name, else the callable."""
    if init is None:
        return None
    return next((name for name, fn in INITIALIZERS.items() if fn is init),
                init)


def _seed(noise_seed):
    if noise_seed is None:
        return None
    if isinstance(noise_seed, bool) or not isinstance(noise_seed, numbers.Integral):
        raise TypeError(f"noise_seed must be an int or None, got {noise_seed!r}")
    return int(noise_seed)


class MLP(Model):
    """A multilayer perceptron from a list of widths.

    ``MLP([64, 32, 10], hidden="relu", output="softmax")`` is
    ``Model([Dense(64, 32, "relu"), Dense(32, 10, "softmax")])``.

    Parameters
    ----------
    sizes : list of int
        [d_0, d_1, …, d_L]: input width, hidden widths, output width.  The
        model has n = Σ_ℓ d_ℓ (d_{ℓ−1} + 1) parameters; a ValueError naming
        ``sizes`` refuses, before anything is allocated, n > MAX_PARAMS, a
        width > 2³¹ − 1, or params + grads (2 · n · itemsize bytes) larger
        than the machine's physical memory.
    hidden : str
        Activation of every hidden layer (default "relu").
    output : str
        Activation of the output layer (default "identity").
    dtype, seed, init
        As for ``Model``.
    """

    def __init__(self, sizes, hidden="relu", output="identity",
                 dtype="float32", seed=None, init="glorot_normal"):
        given, sizes = sizes, _size_list(sizes)
        if sizes is None or len(sizes) < 2 or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool)
                and s >= 1 for s in sizes):
            raise ValueError("sizes must be a list of at least two positive "
                             f"integers [n_inputs, ..., n_outputs], got {given!r}")
        sizes = [int(s) for s in sizes]      # exact products below
        count = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
        check_param_count(count, None, "sizes")        # one buffer
        if max(sizes) > MAX_WIDTH:
            raise ValueError(f"sizes must be at most {MAX_WIDTH} each (the "
                             f"kernels' widest layer), got {given!r}")
        try:
            itemsize = np.dtype(check_dtype(dtype)).itemsize
        except ValueError:                   # reported by Model, naming dtype
            itemsize = None
        check_param_count(count, itemsize, "sizes")    # the machine's memory
        get_activation(hidden), get_activation(output)
        layers = [Dense(sizes[i], sizes[i + 1],
                        hidden if i < len(sizes) - 2 else output)
                  for i in range(len(sizes) - 1)]
        super().__init__(layers, dtype=dtype, seed=seed, init=init)

    @classmethod
    def from_encoders(cls, encoders, n_classes, output="softmax", seed=None,
                      init="glorot_normal"):
        """A classifier whose hidden layers are pretrained encoders.

        Parameters
        ----------
        encoders : list of Autoencoder or Dense
            In order; from an Autoencoder its encoder layers are taken.  Their
            weights, biases and activations are copied (the sources are not
            shared, so fine-tuning leaves them unchanged).
        n_classes : int
            Width of the new output layer (initialised from ``seed``).
        output : str
            Its activation (default softmax, for cross_entropy).

        Returns
        -------
        MLP
            Ready for ``Trainer(model, loss="cross_entropy", ...)``.
        """
        sources = []
        for enc in encoders:
            if is_model(enc) and hasattr(enc, "encoder_layers"):
                sources += enc.encoder_layers     # an Autoencoder
            elif isinstance(enc, Dense) and enc._W is not None:
                sources.append(enc)
            else:
                raise TypeError("encoders must be Autoencoders or Dense layers "
                                f"of a model, got {type(enc).__name__}")
        if not sources:
            raise ValueError("encoders is empty")
        dtype = sources[0]._W.dtype.name
        layers = [Dense(l.n_in, l.n_out, l.activation.name,
                        l.activation_param if l.activation.param_name else None)
                  for l in sources]
        layers.append(Dense(sources[-1].n_out, check_positive(
            n_classes, "n_classes", integer=True), output))
        model = Model.__new__(cls)
        Model.__init__(model, layers, dtype=dtype, seed=seed, init=init)
        for src, dst in zip(sources, model.layers):
            if src.n_in != dst.n_in:
                raise ValueError("encoders do not chain: widths differ")
            dst.W[...] = src.W
            dst.b[...] = src.b
        return model


_architecture.register(Model)
