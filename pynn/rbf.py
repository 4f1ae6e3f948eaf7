"""Radial-basis-function networks: f(x) = ψ(W φ(x) + b), φ_j(x) = exp(−β_j ‖x − c_j‖²).

A hidden layer of k radial units (``pynn.layers.RBF``) feeds a Dense output
layer with activation ψ: identity ("linear", squared error), sigmoid (two
classes, binary cross-entropy) or softmax (C classes, cross-entropy).

``RBFModel``
    A ``pynn.Model`` whose first layer is an RBF layer (then Dense layers).
    It runs in the same compiled passes, trains in the ``Trainer``, saves,
    loads and pickles like any model.
``RBFNetwork``
    The estimator: ``fit(X, y)`` places the centres from the data (k-means++
    or sampled rows), sets the widths from their spread, then either fits
    the output layer alone (``training="two_stage"``) or trains everything
    by backpropagation (``"end_to_end"``, the default), and ``predict``.
``kmeans_plus_plus``
    The seeded k-means++ / Lloyd clustering used for the centres.
"""
import numbers

import numpy as np

from pynn import _network
from pynn._validation import as_float_array, check_positive, check_seed
from pynn.exceptions import NotFittedError
from pynn.layers import RBF, Dense
from pynn.model import Model

__all__ = ["RBFModel", "RBFNetwork", "kmeans_plus_plus", "rbf_widths",
           "refuse_rbf", "bump_dataset", "ring_dataset"]

OUTPUTS = {"linear": ("identity", "squared_error"),
           "sigmoid": ("sigmoid", "binary_cross_entropy"),
           "softmax": ("softmax", "cross_entropy")}
INITS = ("kmeans++", "sample")
TRAININGS = ("end_to_end", "two_stage")


class RBFModel(Model):
    """A ``Model`` whose first layer is ``RBF``: [RBF, Dense, …].

    Parameters
    ----------
    layers : list
        An ``RBF`` layer, then what ``Model`` takes (Dense, Dropout,
        GaussianNoise; a Dropout/GaussianNoise right after the RBF layer
        acts on its outputs).  The last layer is Dense.
    dtype, seed, init
        As for ``Model``; ``init`` also draws the centres (β starts at 1).
    """

    @staticmethod
    def _parse(stack):
        stack = list(stack) if isinstance(stack, (list, tuple)) else [stack]
        if not stack or not isinstance(stack[0], RBF):
            raise ValueError("an RBFModel's layers must start with a "
                             "pynn.RBF layer")
        rbf = stack[0]
        if rbf._W is not None:
            raise ValueError("layers[0] already belongs to another Model; "
                             "create a new RBF layer")
        if any(isinstance(item, RBF) for item in stack[1:]):
            raise ValueError("only layers[0] of an RBFModel may be RBF")
        try:
            dense, dropout, noise = Model._parse(stack[1:])
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"the layers after the RBF layer: {exc}") from None
        if dense[0].n_in != rbf.n_out:
            raise ValueError(f"the layer after the RBF layer takes "
                             f"{dense[0].n_in} inputs but the RBF layer has "
                             f"{rbf.n_out} units")
        return [rbf] + dense, [0.0] + dropout, [0.0] + noise

    @staticmethod
    def _make_layout(dense, dropout, noise):
        """``Model``'s layout with each layer's kind (RBF or DENSE)."""
        lay = Model._make_layout(dense, dropout, noise)
        return _network.Layout(
            lay.sizes, lay.acts, lay.act_params, w_offsets=lay.w_offsets,
            b_offsets=lay.b_offsets, n_params=lay.n_params,
            w_trans=lay.w_trans, dropout=lay.dropout, noise=lay.noise,
            penalty=lay.penalty, penalty_weight=lay.penalty_weight,
            penalty_target=lay.penalty_target,
            kinds=[layer.kind for layer in dense])

    def _forward_range(self, X, start, stop, name="X"):
        raise NotImplementedError("an RBFModel has no encode/decode ranges")

    def _extra_architecture(self):
        state = getattr(self, "rbf_network_", None)
        return {} if state is None else {"rbf_network": state}

    @classmethod
    def _extra_attributes(cls, arch, dense):
        state = arch.get("rbf_network")
        if state is None:
            return {}
        _check_state(state, dense)
        return {"rbf_network_": state}


def _check_state(state, dense):
    """Validate the estimator state an RBFModel file carries (JSON)."""
    if not isinstance(state, dict) or set(state) != {"output", "classes",
                                                     "squeeze"}:
        raise ValueError("rbf_network must be an object with keys output, "
                         f"classes and squeeze, got {state!r}")
    if not isinstance(state["squeeze"], bool) or (
            state["squeeze"] and dense[-1].n_out != 1):
        raise ValueError("rbf_network.squeeze must be true or false (true "
                         "only for one output)")
    if state["output"] not in OUTPUTS:
        raise ValueError(f"rbf_network.output must be one of "
                         f"{sorted(OUTPUTS)}, got {state['output']!r}")
    if OUTPUTS[state["output"]][0] != dense[-1].activation.name:
        raise ValueError("rbf_network.output does not match the output "
                         "layer's activation")
    classes = state["classes"]
    if state["output"] == "linear":
        if classes is not None:
            raise ValueError("rbf_network.classes must be null for a "
                             "linear output")
        return
    if not isinstance(classes, list) or len(classes) < 2 or not all(
            isinstance(c, (str, numbers.Real)) and not isinstance(c, bool)
            for c in classes) or len(set(classes)) != len(classes):
        raise ValueError("rbf_network.classes must be a list of at least two "
                         f"distinct numbers or strings, got {classes!r}")
    n_out = 1 if state["output"] == "sigmoid" else len(classes)
    if (state["output"] == "sigmoid" and len(classes) != 2) or \
            dense[-1].n_out != n_out:
        raise ValueError("rbf_network.classes does not match the output "
                         "layer's width")


# --------------------------------------------------------------------------
# centres and widths
# --------------------------------------------------------------------------

def _sq_distances(X, C):
    """D_ij = ‖x_i − c_j‖² (float64), computed as Σ_k (x_ik − c_jk)² (no
    cancellation), in chunks of rows of at most ~2²⁰ differences."""
    X, C = np.asarray(X, np.float64), np.asarray(C, np.float64)
    out = np.empty((X.shape[0], C.shape[0]))
    step = max(1, (1 << 20) // max(1, C.size))
    for i in range(0, X.shape[0], step):
        out[i:i + step] = ((X[i:i + step, None, :] - C[None]) ** 2).sum(axis=2)
    return out


def kmeans_plus_plus(X, k, seed=0, n_iter=100):
    """k centres of the rows of X: k-means++ seeding, then Lloyd's iterations.

    Seeding picks the first centre uniformly among the rows, then each next
    one with probability proportional to D(x)², the squared distance of x to
    the nearest centre chosen so far.  Each Lloyd iteration assigns every
    row to its nearest centre and moves each centre to the mean of its rows
    (a centre without rows stays), until no assignment changes or after
    ``n_iter`` iterations; this does not increase Σ_i min_j ‖x_i − c_j‖².

    Parameters
    ----------
    X : ndarray (n, d), finite;  k : int, 1 ≤ k ≤ n
    seed : int or None
    n_iter : int ≥ 0

    Returns
    -------
    ndarray (k, d), float64
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"need 1 ≤ k ≤ n_samples = {n}, got k = {k}")
    rng = np.random.default_rng(seed)
    C = np.empty((k, X.shape[1]))
    C[0] = X[rng.integers(n)]
    nearest = _sq_distances(X, C[:1])[:, 0]
    for j in range(1, k):
        total = nearest.sum()
        # all rows already coincide with centres: any row will do
        i = rng.integers(n) if total <= 0 else rng.choice(n, p=nearest / total)
        C[j] = X[i]
        nearest = np.minimum(nearest, _sq_distances(X, C[j:j + 1])[:, 0])
    labels = None
    for _ in range(n_iter):
        new = _sq_distances(X, C).argmin(axis=1)
        if labels is not None and (new == labels).all():
            break
        labels = new
        for j in range(k):
            members = X[labels == j]
            if len(members):
                C[j] = members.mean(axis=0)
    return C


def rbf_widths(X, C):
    """One common width β for the centres C, from their spread.

    With d_max the largest distance between two centres, the classic choice
    σ = d_max / √(2k) gives β = 1/(2σ²) = k / d_max²: the units overlap
    about as much as the centres are spread.  For one centre (or centres
    that coincide) β = 1 / mean_i ‖x_i − c‖² instead (a unit is e⁻¹ at the
    data's mean squared distance), and β = 1 when that too is 0.

    Returns
    -------
    ndarray (k,), float64, all > 0
    """
    k = C.shape[0]
    d2 = _sq_distances(C, C).max() if k > 1 else 0.0
    if d2 > 0:
        beta = k / d2
    else:
        spread = _sq_distances(X, C[:1]).mean()
        beta = 1.0 / spread if spread > 0 else 1.0
    if not np.isfinite(beta) or beta <= 0:
        beta = 1.0
    return np.full(k, beta)


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------

class RBFNetwork:
    """A radial-basis-function network ``y = ψ(W φ(x) + b)``,
    φ_j(x) = exp(−β_j ‖x − c_j‖²), j = 1 … n_centers.

    Parameters
    ----------
    n_centers : int ≥ 1
        Number of radial units k (at most the number of training rows).
    output : {"linear", "sigmoid", "softmax"}
        ψ and the loss: identity with squared error ½‖y − t‖² (regression,
        y of shape (n,) or (n, m)); sigmoid with binary cross-entropy (two
        classes); softmax with cross-entropy (two or more classes).
    init : {"kmeans++", "sample"}
        Initial centres: k-means++ clustering of X (``kmeans_plus_plus``)
        or k distinct rows of X drawn at random.
    beta : float > 0 or None
        Initial width of every unit; None (default) derives it from the
        centres' spread (``rbf_widths``: β = k / d_max²).
    training : {"end_to_end", "two_stage"}
        "two_stage": centres and widths stay as initialised; the output
        layer is fitted on the features Φ_ij = φ_j(x_i) alone — by least
        squares, [W b] = argmin ‖[Φ 1] [W b]ᵀ − T‖² (``np.linalg.lstsq``),
        for a linear output, by the Trainer (a convex problem) otherwise.
        "end_to_end" (default): after that, every parameter (centres, log
        widths, output weights) is trained by backpropagation with
        ``pynn.Trainer``.
    optimizer, lr, epochs, batch_size
        The Trainer's (defaults "adam", 0.01, 500, full batch (None)).
    kmeans_iter : int ≥ 0
        Lloyd iterations of k-means++ (default 100).
    dtype : {"float64", "float32"}
    seed : int or None
        Seeds the centres and the training; the same seed, data and
        arguments give the same network.

    Attributes
    ----------
    model_ : RBFModel
        The fitted network ([RBF(n_in, k), Dense(k, n_out, ψ)]).
    centers_ (k, n_in), beta_ (k,), classes_ (classifiers), history_
    """

    def __init__(self, n_centers, output="linear", init="kmeans++", beta=None,
                 training="end_to_end", optimizer="adam", lr=0.01, epochs=500,
                 batch_size=None, kmeans_iter=100, dtype="float64", seed=0):
        self.n_centers = check_positive(n_centers, "n_centers", integer=True)
        for name, value, valid in (("output", output, OUTPUTS),
                                   ("init", init, INITS),
                                   ("training", training, TRAININGS)):
            if not isinstance(value, str) or value not in valid:
                raise ValueError(f"{name} must be one of {sorted(valid)}, got "
                                 f"{value!r}")
        self.output, self.init, self.training = output, init, training
        self.beta = None if beta is None else check_positive(beta, "beta")
        self.optimizer = optimizer
        self.lr = check_positive(lr, "lr")
        self.epochs = check_positive(epochs, "epochs", integer=True)
        self.batch_size = None if batch_size is None else check_positive(
            batch_size, "batch_size", integer=True)
        self.kmeans_iter = check_positive(kmeans_iter, "kmeans_iter",
                                          integer=True, allow_zero=True)
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got "
                             f"{dtype!r}")
        self.dtype = dtype
        self.seed = check_seed(seed)
        self.model_ = None

    # ------------------------------------------------------------ fitting
    def fit(self, X, y):
        """Fit the network to X (n, d) and targets y; returns self."""
        X = as_float_array(X, "X", np.float64, allow_empty=False)
        T, n_out, classes = self._targets(y, X.shape[0])
        k = self.n_centers
        if k > X.shape[0]:
            raise ValueError(f"n_centers = {k} exceeds the {X.shape[0]} "
                             "samples of X")
        rng = np.random.default_rng(self.seed)
        if self.init == "kmeans++":
            C = kmeans_plus_plus(X, k, seed=rng.integers(2 ** 63),
                                 n_iter=self.kmeans_iter)
        else:
            C = X[rng.choice(X.shape[0], size=k, replace=False)]
        beta = rbf_widths(X, C) if self.beta is None else np.full(k, self.beta)
        act, loss = OUTPUTS[self.output]
        model = RBFModel([RBF(X.shape[1], k), Dense(k, n_out, act)],
                         dtype=self.dtype, seed=int(rng.integers(2 ** 63)))
        model.layers[0].centers = C
        model.layers[0].beta = beta
        Xd = X.astype(self.dtype)
        self._fit_output(model, Xd, T, rng)
        self.history_ = None
        if self.training == "end_to_end":
            from pynn.trainer import Trainer
            self.history_ = Trainer(
                model, loss=loss, optimizer=self.optimizer, lr=self.lr,
                batch_size=self.batch_size, epochs=self.epochs,
                seed=int(rng.integers(2 ** 63))).fit(Xd, T)
        self._squeeze = self.output == "linear" and np.ndim(y) == 1
        model.rbf_network_ = {"output": self.output,
                              "classes": None if classes is None
                              else classes.tolist(), "squeeze": self._squeeze}
        self.model_, self.classes_ = model, classes
        return self

    def _targets(self, y, n):
        """(T for the loss, n_out, classes or None)."""
        y = np.asarray(y)
        if y.ndim not in (1, 2) or y.shape[0] != n:
            raise ValueError(f"y must have shape ({n},) or ({n}, n_outputs) "
                             f"to match X, got {y.shape}")
        if self.output == "linear":
            T = as_float_array(y.reshape(n, -1), "y", self.dtype)
            return T, T.shape[1], None
        if y.ndim != 1:
            raise ValueError(f"y must hold one class label per sample (shape "
                             f"({n},)) for output={self.output!r}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        classes, idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError("y must hold at least two classes")
        if self.output == "sigmoid":
            if len(classes) != 2:
                raise ValueError(f"output='sigmoid' takes two classes, y has "
                                 f"{len(classes)}; use output='softmax'")
            return idx.reshape(n, 1).astype(self.dtype), 1, classes
        return idx.astype(self.dtype), len(classes), classes

    def _fit_output(self, model, X, T, rng):
        """The output layer on fixed features Φ (the second stage)."""
        rbf, out = model.layers[0], model.layers[1]
        Phi = np.exp(-rbf.beta.astype(np.float64)
                     * _sq_distances(X.astype(np.float64),
                                     rbf.centers.astype(np.float64)))
        if self.output == "linear":
            A = np.hstack([Phi, np.ones((Phi.shape[0], 1))])
            sol = np.linalg.lstsq(A, T.astype(np.float64), rcond=None)[0]
            out.W, out.b = sol[:-1].T, sol[-1]
            return
        from pynn.trainer import Trainer
        head = Model([Dense(out.n_in, out.n_out, out.activation.name)],
                     dtype=self.dtype, seed=int(rng.integers(2 ** 63)))
        Trainer(head, loss=OUTPUTS[self.output][1], optimizer=self.optimizer,
                lr=self.lr, batch_size=self.batch_size, epochs=self.epochs,
                seed=int(rng.integers(2 ** 63))).fit(Phi.astype(self.dtype), T)
        out.W, out.b = head.layers[0].W, head.layers[0].b

    # ------------------------------------------------------------ prediction
    def _model(self):
        if self.model_ is None:
            raise NotFittedError("this RBFNetwork is not fitted yet; call "
                                 "fit(X, y) first")
        return self.model_

    def decision_function(self, X):
        """The network's outputs ψ(W φ(x) + b), shape (n, n_outputs)."""
        return self._model().forward(X)

    def predict(self, X):
        """Regression: the outputs ((n,) when fitted on 1-D y); classifiers:
        the class labels of the largest probability."""
        Y = self.decision_function(X)
        if self.output == "linear":
            return Y[:, 0] if self._squeeze else Y
        if self.output == "sigmoid":
            return self.classes_[(Y[:, 0] > 0.5).astype(np.intp)]
        return self.classes_[Y.argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in ``classes_`` order."""
        if self.output == "linear":
            raise AttributeError("predict_proba needs output='sigmoid' or "
                                 "'softmax'")
        Y = self.decision_function(X)
        return np.hstack([1 - Y, Y]) if self.output == "sigmoid" else Y

    @property
    def centers_(self):
        return self._model().layers[0].centers.copy()

    @property
    def beta_(self):
        return self._model().layers[0].beta

    # ------------------------------------------------------------ files
    def save(self, path):
        """Save the fitted network (``model_``, with its output kind and
        classes) to a pynn file; ``RBFNetwork.load`` reads it back."""
        self._model().save(path)

    @classmethod
    def load(cls, path):
        """An RBFNetwork (fitted) from a file written by ``save``.

        Its hyper-parameters are the defaults apart from ``n_centers``,
        ``output`` and ``dtype``; predictions equal the saved network's.
        """
        from pynn.io import load_model
        model = load_model(path)
        state = getattr(model, "rbf_network_", None)
        if not isinstance(model, RBFModel) or state is None:
            raise ValueError(f"{path}: not a saved RBFNetwork (it holds a "
                             f"{type(model).__name__})")
        net = cls(model.layers[0].n_out, output=state["output"],
                  dtype=model.dtype.name)
        net.model_ = model
        net.classes_ = None if state["classes"] is None else np.array(
            state["classes"])
        net._squeeze = state["squeeze"]
        net.history_ = None
        return net

    def __repr__(self):
        return (f"RBFNetwork(n_centers={self.n_centers}, "
                f"output={self.output!r}, training={self.training!r})")


def refuse_rbf(model, fmt, argname="model"):
    """ValueError naming the layer when ``model`` (a pynn Model, or a fitted
    RBFNetwork) has an RBF layer: ``fmt`` (FANN, C, genann) has only units
    φ(wᵀz + b), no radial units exp(−β‖z − c‖²)."""
    if isinstance(model, RBFNetwork):
        raise ValueError(f"{argname} is an RBFNetwork: {fmt} has no radial "
                         "basis units exp(−β‖x − c‖²); export it with "
                         "pynn.interop.to_onnx instead")
    for i, layer in enumerate(getattr(model, "layers", None) or ()):
        if isinstance(layer, RBF):
            raise ValueError(f"{argname}.layers[{i}] is an RBF layer: {fmt} "
                             "has no radial basis units exp(−β‖x − c‖²) "
                             "(only φ(wᵀx + b)); export it with "
                             "pynn.interop.to_onnx instead")


# --------------------------------------------------------------------------
# demonstration data: functions one radial unit fits
# --------------------------------------------------------------------------

def bump_dataset(n=400, seed=0):
    """A 2-D Gaussian bump: X uniform on [−1, 1]², y = exp(−8 ‖x − (0.2, −0.1)‖²).

    One radial unit (c = (0.2, −0.1), β = 8) represents it exactly.
    Returns (X (n, 2), y (n,)), float64.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    return X, np.exp(-8.0 * ((X - [0.2, -0.1]) ** 2).sum(axis=1))


def ring_dataset(n=400, seed=0):
    """Two concentric rings: radius 0.5 (y = 1) inside radius 1.2 (y = 0),
    radial noise N(0, 0.1²), angles uniform; classes alternate by row.

    One radial unit at the origin separates them (φ = e^{−β‖x‖²} is
    monotone in the radius); a unit φ(wᵀx + b) cannot, its level sets
    being lines.  Returns (X (n, 2), y (n,) in {0, 1}), float64.
    """
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2 == 0).astype(np.float64)
    radius = np.where(y == 1, 0.5, 1.2) + rng.normal(0, 0.1, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)], y
