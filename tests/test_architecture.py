"""pynn.architecture: the one description of a model, its registry, and the
import graph of pynn/ it keeps acyclic (issue 12, item 4)."""
import ast
import pathlib

import numpy as np
import pytest

import pynn
from pynn import architecture as arch_mod

PACKAGE = pathlib.Path(pynn.__file__).parent


# ------------------------------------------------------------ import graph
def _module_names():
    return {p.stem for p in PACKAGE.glob("*.py")}


def _compiled_names():
    """Extension modules (leaves of the graph: they import no pynn module)."""
    return ({p.name.split(".")[0] for p in PACKAGE.glob("*.so")}
            | {p.name.split(".")[0] for p in PACKAGE.glob("*.pyd")}
            | {p.stem for p in PACKAGE.glob("*.pyi")})


def _targets(node, module, modules):
    """pynn modules imported by one import statement of ``module``.

    ``import pynn.x`` / ``from pynn.x import y`` / ``from pynn import x``
    (x a module) / relative imports; ``import pynn`` and ``from pynn import
    name`` (name not a module) depend on the package's __init__."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == "pynn":
                yield parts[1] if len(parts) > 1 else "__init__"
        return
    if node.level:                       # from . import x / from .x import y
        base = ["pynn"] + ([node.module] if node.module else [])
    else:
        base = (node.module or "").split(".")
    if base[0] != "pynn":
        return
    if len(base) > 1:
        yield base[1]
        return
    for alias in node.names:
        yield alias.name if alias.name in modules else "__init__"


def import_graph():
    """{module: set of pynn modules it imports}, function-level imports
    included (a lazy import is still a dependency)."""
    sources = _module_names()
    modules = sources | _compiled_names()
    graph = {name: set() for name in modules - sources}
    for name in sorted(sources):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(t for t in _targets(node, name, modules)
                             if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_graph_sees_lazy_relative_and_package_imports():
    graph = import_graph()
    assert "model" in graph["trainer"]          # top level
    assert "io" in graph["trainer"]             # inside save_checkpoint
    assert "_validation" in graph["datasets"]   # from ._validation import
    assert "__init__" in graph["__main__"]      # import pynn
    assert "_network" in graph["model"]         # a compiled module
    assert graph["_network"] == set()
    assert "io" in graph["__init__"] and "model" in graph["__init__"]


def test_import_graph_of_pynn_is_acyclic():
    graph = import_graph()
    assert len(graph) >= 20
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_layering():
    """architecture is below model; io below model; nothing below model
    imports model or a module above it."""
    graph = import_graph()
    assert "model" not in graph["architecture"]
    assert "model" not in graph["io"] and "autoencoder" not in graph["model"]
    assert "io" in graph["model"] and "architecture" in graph["io"]


# ------------------------------------------------------------ registry
def test_pynn_classes_are_registered_under_their_names():
    for cls in (pynn.Model, pynn.MLP, pynn.Autoencoder):
        assert arch_mod.model_class(cls.__name__) is cls
        assert arch_mod.registry_name(cls) == cls.__name__


def test_a_subclass_joins_the_registry_by_itself():
    class Wide(pynn.MLP):
        def _extra_architecture(self):
            return {"wide": {"note": getattr(self, "note", "")}}

        @classmethod
        def _extra_attributes(cls, arch, dense):
            note = arch.get("wide", {}).get("note")
            if not isinstance(note, str):
                raise ValueError("wide.note must be a string")
            return {"note": note}

    name = arch_mod.registry_name(Wide)
    assert name == f"{__name__}.test_a_subclass_joins_the_registry_by_itself." \
                   "<locals>.Wide"
    assert arch_mod.model_class(name) is Wide
    m = Wide([3, 4, 2], seed=0)
    m.note = "hello"
    arch = m.architecture()
    assert arch["class"] == name and arch["wide"] == {"note": "hello"}
    back = pynn.Model.from_architecture(arch)
    assert type(back) is Wide and back.note == "hello"
    with pytest.raises(ValueError, match="wide.note"):
        pynn.Model.from_architecture({**arch, "wide": {"note": 3}})


def test_a_user_class_cannot_shadow_pynn_names():
    class MLP(pynn.Model):               # same name as pynn.MLP
        pass
    assert arch_mod.model_class("MLP") is pynn.MLP
    assert type(pynn.Model.from_architecture(
        pynn.MLP([2, 2]).architecture())) is pynn.MLP


def test_unknown_class_is_refused_and_nothing_is_imported():
    arch = pynn.MLP([2, 3]).architecture()
    for bad in ("os.system", "Trainer", "builtins.eval", 3, None):
        with pytest.raises(ValueError, match="unknown model class"):
            pynn.Model.from_architecture({**arch, "class": bad})


# ------------------------------------------------------------ parse → build
def test_parse_counts_parameters_without_allocating():
    arch = {"class": "Model", "dtype": "float32", "layers": [
        {"type": "Dense", "n_in": 6000, "n_out": 6000,
         "activation": "relu", "activation_param": None},
        {"type": "Dropout", "rate": 0.5},
        {"type": "Dense", "n_in": 6000, "n_out": 6000,
         "activation": "identity", "activation_param": None,
         "tied_to": 0}]}
    plan = arch_mod.parse(arch)
    assert plan.n_params == 6000 * 6001 + 6000      # the tied layer: its bias
    assert all(layer._W is None for layer in plan.parsed[0])
    assert plan.cls is pynn.Model and plan.dtype == "float32"


def test_a_plan_builds_one_model():
    plan = arch_mod.parse(pynn.MLP([2, 3, 1]).architecture())
    arch_mod.build(plan, seed=1)
    with pytest.raises(RuntimeError, match="already built"):
        arch_mod.build(plan)


def test_build_with_params_draws_nothing():
    src = pynn.MLP([3, 5, 2], dtype="float64", seed=4)
    plan = arch_mod.parse(src.architecture())
    model = arch_mod.build(plan, params=src.params)
    assert model.params.tobytes() == src.params.tobytes()
    assert not np.shares_memory(model.params, src.params)
    with pytest.raises(ValueError, match="params must have shape"):
        arch_mod.build(arch_mod.parse(src.architecture()),
                       params=np.zeros(1))


def test_from_architecture_round_trip_of_every_feature():
    ae = pynn.Autoencoder([6, 4, 2], tied=True, sparsity=pynn.KLSparsity(0.1, 0.5),
                          input_dropout=0.2, input_noise=0.1, code_dropout=0.3,
                          dtype="float64", seed=0)
    arch = ae.architecture()
    back = pynn.Model.from_architecture(arch)
    assert type(back) is pynn.Autoencoder
    assert back.architecture() == arch
    assert (back.n_encoder_layers, back.code_size, back.tied) == (2, 2, True)
    assert arch_mod.architecture(ae) == arch == arch_mod.from_architecture(
        arch).architecture()


@pytest.mark.parametrize("n_in, n_out", [(2 ** 63, 1), (2 ** 31, 2 ** 33),
                                         (10 ** 30, 10 ** 30)])
def test_huge_sizes_are_a_value_error(n_in, n_out):
    arch = {"dtype": "float32", "layers": [
        {"type": "Dense", "n_in": n_in, "n_out": n_out,
         "activation": "identity", "activation_param": None}]}
    with pytest.raises(ValueError, match="parameters"):
        pynn.Model.from_architecture(arch)
    with pytest.raises(ValueError, match="parameters"):
        pynn.Model([pynn.Dense(n_in, n_out)])


@pytest.mark.parametrize("edit, exc, match", [
    (lambda a: a.update(dtype="float16"), ValueError, "dtype"),
    (lambda a: a.update(layers=[]), ValueError, "non-empty list"),
    (lambda a: a["layers"].append("Dense"), ValueError, r"layers\[2\] must be"),
    (lambda a: a["layers"][0].update(n_in=-1), ValueError, r"layers\[0\]\.n_in"),
    (lambda a: a["layers"][0].update(activation="relu6"), ValueError,
     "unknown activation"),
    (lambda a: a["layers"][0].update(type="Conv"), ValueError,
     "unknown layer type"),
    (lambda a: a["layers"][1].update(tied_to=1), ValueError, "tied_to"),
    (lambda a: a["layers"][1].update(tied_to=0), ValueError, "tied_to"),
    (lambda a: a["layers"][0].update(activity_regularizer={"type": "L1Activity",
                                                           "weight": -1}),
     ValueError, r"layers\[0\]\.activity_regularizer.*weight"),
    (lambda a: a["layers"].insert(1, {"type": "Dropout", "rate": "x"}),
     ValueError, r"layers\[1\]\.rate"),
])
def test_parse_errors_name_the_entry(edit, exc, match):
    arch = pynn.MLP([3, 4, 2]).architecture()
    edit(arch)
    with pytest.raises(exc, match=match):
        arch_mod.parse(arch)


def test_architecture_must_be_a_dict():
    with pytest.raises(TypeError, match="architecture must be a dict"):
        pynn.Model.from_architecture([1, 2])


def test_from_encoders_takes_an_autoencoder_by_its_encoder_layers():
    ae = pynn.Autoencoder([6, 3], dtype="float64", seed=0)
    clf = pynn.MLP.from_encoders([ae], 2, seed=0)
    np.testing.assert_array_equal(clf.layers[0].W, ae.layers[0].W)
    with pytest.raises(TypeError, match="encoders"):
        pynn.MLP.from_encoders([pynn.MLP([6, 3])], 2)


def test_a_model_file_is_validated_once(tmp_path, monkeypatch):
    """Loading parses the description once: one Dense per entry, one stack
    check (the loader used to validate, then rebuild and validate again)."""
    model = pynn.Autoencoder([6, 4, 2], tied=True, input_dropout=0.1, seed=0)
    model.save(tmp_path / "m.npz")
    calls = {"dense": 0, "stack": 0}
    real_dense = pynn.Dense.__init__
    real_stack = pynn.Model._parse

    def dense(self, *a, **k):
        calls["dense"] += 1
        real_dense(self, *a, **k)

    def stack(layers):
        calls["stack"] += 1
        return real_stack(layers)
    monkeypatch.setattr(pynn.Dense, "__init__", dense)
    monkeypatch.setattr(pynn.Model, "_parse", staticmethod(stack))
    back = pynn.load(tmp_path / "m.npz")
    assert calls == {"dense": 4, "stack": 1}
    assert back.params.tobytes() == model.params.tobytes()
