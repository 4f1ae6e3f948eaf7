"""The architecture description: a model as plain data, and back.

A model's architecture is a JSON-ready dict (the layer stack, the dtype and
the model class), the same data a pynn file stores next to the parameters::

    {"class": "MLP", "dtype": "float32",
     "layers": [{"type": "Dense", "n_in": 4, "n_out": 6,
                 "activation": "tanh", "activation_param": null}, ...]}

An ``{"type": "RBF", "n_in": d, "n_out": k}`` entry is a radial-basis
layer (``pynn.layers.RBF``: z_j = exp(−β_j ‖x − c_j‖²), centres and log β
in the parameters); only a class that takes RBF layers (``RBFModel``)
parses a stack holding one.  Dense entries may add ``"tied_to": i`` (W = layers' Dense i's Wᵀ) and
``"activity_regularizer": {"type": "KLSparsity", "weight": β, "target": ρ}``
or ``{"type": "L1Activity", "weight": λ}``; ``{"type": "Dropout", "rate":
p}`` and ``{"type": "GaussianNoise", "std": σ}`` entries act on the output
of the Dense before them.  A model class may add keys of its own (an
Autoencoder adds ``"autoencoder": {"n_encoder_layers": k, "tied": b}``).

This module is the one place that reads and writes that description:

``architecture(model)``
    The description of a model.
``parse(arch)``
    Validate a description completely (every check in one place) and return
    a ``Plan``: the layer objects, the class, the dtype and the number of
    parameters the model will have — without allocating any parameter.
    The file loader compares ``Plan.n_params`` with the stored array before
    anything is built.
``build(plan, seed=0, params=None)``
    The model of a plan, initialised from ``seed`` or given ``params``.
``from_architecture(arch, seed=0)``
    ``build(parse(arch), seed)``.

Model classes join the registry by themselves: ``Model.__init_subclass__``
calls ``register``, so defining a subclass is enough for its files and
descriptions to load (nothing but registered classes is ever instantiated;
a description names a class, it never imports one).  pynn's own classes are
registered under their names ("Model", "MLP", "Autoencoder"); a class
defined elsewhere under ``"module.QualName"``, so that it cannot shadow
them.  A class that holds more than its layers writes it in
``_extra_architecture()`` and reads it back in the classmethod
``_extra_attributes(arch, dense)``, which validates it and returns the
attributes to set on the built model.

This module imports only the layer-level modules (layers, regularization,
activations), never ``pynn.model``: the registry is how it reaches the
classes, which keeps pynn's import graph acyclic.
"""
import numbers

from pynn.activations import ACTIVATIONS
from pynn.layers import RBF, Dense
from pynn.regularization import Dropout, GaussianNoise, KLSparsity, L1Activity

__all__ = ["architecture", "parse", "build", "from_architecture", "Plan",
           "register", "registry_name", "model_class", "is_model"]

DTYPES = ("float32", "float64")
_CLASSES = {}
_REGULARIZERS = {"KLSparsity": KLSparsity, "L1Activity": L1Activity}
_NOISE = {"Dropout": (Dropout, "rate"), "GaussianNoise": (GaussianNoise, "std")}
_BASE = "Model"        # the name the base class registers under


# --------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------

def registry_name(cls):
    """The name a model class is stored under: its own name for pynn's
    classes, ``module.QualName`` for classes defined elsewhere."""
    if cls.__module__.split(".")[0] == "pynn":
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls):
    """Add a model class to the registry (a redefinition replaces it)."""
    _CLASSES[registry_name(cls)] = cls
    return cls


def model_class(name):
    """The registered class called ``name``; ValueError lists the names."""
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"unknown model class {name!r}; valid: "
                         f"{', '.join(sorted(_CLASSES))} (a class defined "
                         "outside pynn must be defined before its models "
                         "are loaded)")
    return _CLASSES[name]


def is_model(obj):
    """Whether ``obj`` is a pynn.Model (of any registered class)."""
    return _BASE in _CLASSES and isinstance(obj, _CLASSES[_BASE])


# --------------------------------------------------------------------------
# model → description
# --------------------------------------------------------------------------

def _regularizer_entry(reg):
    entry = {"type": type(reg).__name__, "weight": reg.weight}
    if isinstance(reg, KLSparsity):
        entry["target"] = reg.target
    return entry


def _dense_entry(layer, index):
    entry = {"type": "Dense", "n_in": layer.n_in, "n_out": layer.n_out,
             "activation": layer.activation.name,
             "activation_param": (layer.activation_param
                                  if layer.activation.param_name else None)}
    if layer.tied_to is not None:
        entry["tied_to"] = index[id(layer.tied_to)]
    if layer.activity_regularizer is not None:
        entry["activity_regularizer"] = _regularizer_entry(
            layer.activity_regularizer)
    return entry


def _rbf_entry(layer):
    return {"type": "RBF", "n_in": layer.n_in, "n_out": layer.n_out}


def architecture(model):
    """The architecture of ``model`` as plain data (JSON-ready).

    ``from_architecture`` rebuilds an equal model (fresh parameters) from it.
    """
    layers = []
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    for item in model._stack:
        if isinstance(item, Dense):
            layers.append(_dense_entry(item, index))
        elif isinstance(item, RBF):
            layers.append(_rbf_entry(item))
        else:
            kind = type(item).__name__
            key = _NOISE[kind][1]
            layers.append({"type": kind, key: getattr(item, key)})
    arch = {"class": registry_name(type(model)), "dtype": model.dtype.name,
            "layers": layers}
    arch.update(model._extra_architecture())
    return arch


# --------------------------------------------------------------------------
# description → plan → model
# --------------------------------------------------------------------------

class Plan:
    """A validated description: what ``build`` turns into a model.

    Attributes
    ----------
    cls : type           the model class
    dtype : str          "float32" or "float64"
    stack : list         the Dense / RBF / Dropout / GaussianNoise objects
    parsed : tuple       ``cls._parse(stack)``: (dense, dropout, noise)
    extra : dict         attributes the class sets on the built model
    n_params : int       Σ over Dense and RBF layers of n_out·(n_in + 1)
                         (n_out for a tied layer), the length of
                         ``model.params``

    A plan's layer objects become the model's layers, so a plan builds one
    model.
    """

    def __init__(self, cls, dtype, stack, parsed, extra):
        self.cls, self.dtype, self.stack = cls, dtype, stack
        self.parsed, self.extra = parsed, extra
        self.n_params = sum(layer.n_params for layer in parsed[0])


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite_number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and abs(float(value)) < float("inf"))


def _noise_layer(entry, where):
    cls, key = _NOISE[entry["type"]]
    if not _is_finite_number(entry.get(key)):
        raise ValueError(f"{where}.{key} must be a finite number, got "
                         f"{entry.get(key)!r}")
    try:
        return cls(entry[key])
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}.{exc}") from None


def _regularizer(reg, where):
    if not isinstance(reg, dict) or reg.get("type") not in _REGULARIZERS:
        raise ValueError(f"{where}.activity_regularizer must be an object "
                         f"with type {' or '.join(sorted(_REGULARIZERS))}, "
                         f"got {reg!r}")
    try:
        if reg["type"] == "KLSparsity":
            return KLSparsity(reg.get("target"), reg.get("weight"))
        return L1Activity(reg.get("weight"))
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}.activity_regularizer: {exc}") from None


def _dense_layer(entry, where, dense):
    missing = {"n_in", "n_out", "activation", "activation_param"} - set(entry)
    if missing:
        raise ValueError(f"{where} lacks {sorted(missing)}")
    for key in ("n_in", "n_out"):
        if not _is_int(entry[key]) or entry[key] < 1:
            raise ValueError(f"{where}.{key} must be a positive integer, "
                             f"got {entry[key]!r}")
    name = entry["activation"]
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"{where} has unknown activation {name!r}; valid: "
                         f"{', '.join(sorted(ACTIVATIONS))}")
    spec, param = ACTIVATIONS[name], entry["activation_param"]
    if spec.param_name and not _is_finite_number(param):
        raise ValueError(f"{where}.activation_param ({spec.param_name} of "
                         f"{name}) must be a finite number, got {param!r}")
    if not spec.param_name and param is not None:
        raise ValueError(f"{where}.activation_param must be null for {name}, "
                         f"got {param!r}")
    tied = entry.get("tied_to")
    if tied is not None and (not _is_int(tied) or not 0 <= tied < len(dense)):
        raise ValueError(f"{where}.tied_to must index an earlier Dense "
                         f"layer, got {tied!r}")
    reg = entry.get("activity_regularizer")
    try:
        return Dense(entry["n_in"], entry["n_out"], name, param,
                     tied_to=None if tied is None else dense[tied],
                     activity_regularizer=(None if reg is None
                                           else _regularizer(reg, where)))
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if not message.startswith(where):
            message = f"{where}: {message}"
        raise type(exc)(message) from None


def _rbf_layer(entry, where):
    if set(entry) != {"type", "n_in", "n_out"}:
        raise ValueError(f"{where} (RBF) must have exactly the keys type, "
                         f"n_in and n_out, got {sorted(entry)}")
    for key in ("n_in", "n_out"):
        if not _is_int(entry[key]) or entry[key] < 1:
            raise ValueError(f"{where}.{key} must be a positive integer, "
                             f"got {entry[key]!r}")
    try:
        return RBF(entry["n_in"], entry["n_out"])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def parse(arch, cls=None):
    """Validate a description and return its ``Plan`` (nothing allocated).

    Parameters
    ----------
    arch : dict
        As written by ``architecture``.
    cls : type, optional
        The class to build (unpickling knows it); default: the registered
        class named by ``arch["class"]`` ("Model" when absent).

    Raises
    ------
    ValueError or TypeError
        Anything malformed; the message names the offending entry
        (``layers[2].n_in ...``).
    """
    if not isinstance(arch, dict):
        raise TypeError(f"architecture must be a dict, got "
                        f"{type(arch).__name__}")
    if cls is None:
        cls = model_class(arch.get("class", _BASE))
    dtype = arch.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got "
                         f"{dtype!r}")
    entries = arch.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ValueError("'layers' must be a non-empty list")
    stack, dense = [], []
    for i, entry in enumerate(entries):
        where = f"layers[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object, got {entry!r}")
        kind = entry.get("type")
        if kind in _NOISE:
            stack.append(_noise_layer(entry, where))
        elif kind == "Dense":
            dense.append(_dense_layer(entry, where, dense))
            stack.append(dense[-1])
        elif kind == "RBF":
            dense.append(_rbf_layer(entry, where))
            stack.append(dense[-1])
        else:
            raise ValueError(f"{where} has unknown layer type {kind!r}")
    parsed = cls._parse(stack)
    return Plan(cls, dtype, stack, parsed, cls._extra_attributes(arch,
                                                                 parsed[0]))


def build(plan, seed=0, params=None):
    """The model of ``plan``: parameters drawn from ``seed``, or a copy of
    ``params`` (a 1-D array of plan.n_params values) without drawing any."""
    if any(layer._W is not None for layer in plan.parsed[0]):
        raise RuntimeError("this Plan already built a model; parse the "
                           "architecture again")
    return plan.cls._from_plan(plan, seed=seed, params=params)


def from_architecture(arch, seed=0):
    """A new model (fresh parameters from ``seed``) from ``architecture()``
    data; the class is the registered one named in ``arch["class"]``."""
    return build(parse(arch), seed=seed)
