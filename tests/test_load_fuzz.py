"""A file fuzzer for ``pynn.load`` (issue 17, item 16).

Seeded truncations, bit flips, crafted descriptions (wrong types, huge and
negative sizes, unknown classes, activations and layer types) and crafted
archives (duplicate, extra, overlapping, compressed members, hostile .npy
headers) of real saved models.  Every case must either raise a clear
exception (ValueError, TypeError, FileNotFoundError) or — for a flip in a
byte nobody reads — load the identical model.

The batch runs in a subprocess whose address space is capped at 1 GiB
(``resource.setrlimit(RLIMIT_AS)``), so a crash or a memory blow-up fails
this test instead of the test runner.  Run this file as a script
(``python tests/test_load_fuzz.py SEED``) to run the batch directly.
"""
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib

import numpy as np
import pytest

MEMORY_CAP = 2 ** 30
CLEAR = ("ValueError", "TypeError", "FileNotFoundError")


# --------------------------------------------------------------------------
# the worker (runs in the capped subprocess)
# --------------------------------------------------------------------------

def _base_models():
    import pynn
    rng = np.random.default_rng(0)
    models = {
        "mlp": pynn.MLP([4, 6, 3], hidden="tanh", output="softmax", seed=0),
        "ae": pynn.Autoencoder([5, 3], tied=True,
                               sparsity=pynn.KLSparsity(0.1, 0.5),
                               input_dropout=0.2, dtype="float64", seed=1),
        "leaky": pynn.Model([pynn.Dense(3, 4, "leaky_relu", 0.2),
                             pynn.GaussianNoise(0.1),
                             pynn.Dense(4, 2, "gaussian", 2.0)], seed=2),
    }
    for m in models.values():
        m.params = rng.uniform(-1, 1, m.n_params)
    return models


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_raw(header, body=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + body


def _zip(members, compression=zipfile.ZIP_STORED):
    """An archive of (name, bytes) members, duplicates allowed."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "Duplicate name"
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buf.getvalue()


def _meta_bytes(meta):
    return _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def _with_checksums(meta, arrays):
    """meta + a correct record of ``arrays`` (so only the edit is wrong)."""
    record = {name: {"dtype": a.dtype.str, "shape": list(a.shape),
                     "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
              for name, a in arrays.items()}
    return {**meta, "arrays": record}


def _archive(meta, arrays, record=True):
    meta = _with_checksums(meta, arrays) if record else meta
    return _zip([("meta.npy", _meta_bytes(meta))]
                + [(f"{n}.npy", _npy(a)) for n, a in arrays.items()])


def _read(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        meta = json.loads(np.load(io.BytesIO(zf.read("meta.npy"))).tobytes())
        params = np.load(io.BytesIO(zf.read("params.npy")))
    meta.pop("arrays")
    return meta, params


_HUGE = [2 ** 31, 2 ** 62, 2 ** 63, 2 ** 63 - 1, 2 ** 64, 2 ** 64 + 1,
         10 ** 30, 10 ** 100]
_BAD_INTS = [-1, 0, -2 ** 63, 4.5, 4.0, "4", None, [4], {"n": 4}, True,
             1e400] + _HUGE
_BAD_VALUES = [None, "x", -1, 1.5, 2 ** 64, [], {}, True, 1e400, -1e400]


def _description_edits(meta):
    """(label, edited meta) pairs: each description is wrong somewhere."""
    def edit(fn):
        m = json.loads(json.dumps(meta))
        fn(m)
        return None if m == meta else m          # an edit that changes nothing

    def layer(i, key, value):
        return lambda m: m["layers"][i].__setitem__(key, value)

    dense = [i for i, l in enumerate(meta["layers"]) if l["type"] == "Dense"]
    out = []
    for i in dense:
        for key in ("n_in", "n_out"):
            for v in _BAD_INTS:
                out.append((f"layers[{i}].{key}={v!r}", edit(layer(i, key, v))))
        for v in (3, None, "relu6", ["relu"], "", "step " * 3):
            out.append((f"layers[{i}].activation={v!r}",
                        edit(layer(i, "activation", v))))
        takes_param = meta["layers"][i]["activation_param"] is not None
        for v in ("x", [], {}, True, 1e400) + (() if takes_param else (0.5,)):
            out.append((f"layers[{i}].activation_param={v!r}",
                        edit(layer(i, "activation_param", v))))
        for v in (5, -1, "0", True, 1.0, 2 ** 64, i):
            out.append((f"layers[{i}].tied_to={v!r}", edit(layer(i, "tied_to", v))))
        for v in ({"type": "KLSparsity", "target": 2.0, "weight": 1.0},
                  {"type": "L1Activity", "weight": -1}, {"type": "X"}, "L1",
                  {"type": "KLSparsity"}, 1e400):
            out.append((f"layers[{i}].activity_regularizer={v!r}",
                        edit(layer(i, "activity_regularizer", v))))
        for key in ("n_in", "n_out", "activation", "activation_param", "type"):
            out.append((f"del layers[{i}].{key}",
                        edit(lambda m, i=i, key=key: m["layers"][i].pop(key))))
        # both sizes huge, consistently chained
        for v in _HUGE[:4]:
            out.append((f"all sizes {v}", edit(lambda m, v=v: [
                l.update(n_in=v, n_out=v) for l in m["layers"]
                if l["type"] == "Dense"])))
    for v in (None, 5, "Conv2D", "dense", ["Dense"]):
        out.append((f"layers[0].type={v!r}", edit(layer(0, "type", v))))
    for v in (1.5, -0.1, "0.5", None, 1e400):
        out.append((f"Dropout rate {v!r}", edit(lambda m, v=v: m["layers"].insert(
            1, {"type": "Dropout", "rate": v}))))
        out.append((f"GaussianNoise std {v!r}", edit(
            lambda m, v=v: m["layers"].insert(1, {"type": "GaussianNoise",
                                                  "std": -abs(v) if isinstance(
                                                      v, float) else v}))))
    out.append(("Dropout after output", edit(lambda m: m["layers"].append(
        {"type": "Dropout", "rate": 0.5}))))
    for v in ([], "Dense", None, {}, [[]], [1, 2], [None]):
        out.append((f"layers={v!r}", edit(lambda m, v=v: m.__setitem__("layers", v))))
    out.append(("5000 layers", edit(lambda m: m.__setitem__("layers", [
        {"type": "Dense", "n_in": 1, "n_out": 1, "activation": "identity",
         "activation_param": None}] * 5000))))
    for v in ("os.system", "Trainer", "builtins.eval", 5, None, "",
              "Autoencoder", "MLP" * 1000):
        out.append((f"class={v!r}", edit(lambda m, v=v: m.__setitem__("class", v))))
    for v in ({"n_encoder_layers": 0}, {"n_encoder_layers": 99}, "x",
              {"n_encoder_layers": True}, {"n_encoder_layers": 2 ** 64}):
        out.append((f"autoencoder={v!r}", edit(lambda m, v=v: m.update(
            {"class": "Autoencoder", "autoencoder": v}))))
    for v in ("float16", None, 5, "int8", "object", "<f4", ["float32"]):
        out.append((f"dtype={v!r}", edit(lambda m, v=v: m.__setitem__("dtype", v))))
    for v in (-1, 0, None, "51", 2 ** 70, 1e400, True):
        out.append((f"n_params={v!r}", edit(lambda m, v=v: m.__setitem__("n_params", v))))
    for v in (0, 2, "1", None, 1.5, 2 ** 64, -1):
        out.append((f"format_version={v!r}", edit(
            lambda m, v=v: m.__setitem__("format_version", v))))
    for v in ("pynn-checkpoint", None, 5, ""):
        out.append((f"format={v!r}", edit(lambda m, v=v: m.__setitem__("format", v))))
    return out


def _record_edits(meta, params):
    """Archives whose record (or stored array) disagrees with the data."""
    good = _with_checksums(meta, {"params": params})
    out = []

    def rec(fn):
        m = json.loads(json.dumps(good))
        fn(m["arrays"])
        return m
    for shape in ([-1], [2 ** 63], [2 ** 64], [params.size, 1], [], "x", None):
        out.append((f"record shape {shape!r}", rec(
            lambda r, s=shape: r["params"].__setitem__("shape", s))))
    for dt in ("<f8", "<f4", "|O", ">f4", None, 5):
        if dt != params.dtype.str:
            out.append((f"record dtype {dt!r}", rec(
                lambda r, d=dt: r["params"].__setitem__("dtype", d))))
    for sha in (123, None, "", "0" * 64):
        out.append((f"record sha {sha!r}", rec(
            lambda r, s=sha: r["params"].__setitem__("sha256", s))))
    out.append(("record missing params", rec(lambda r: r.pop("params"))))
    out.append(("record extra array", rec(lambda r: r.__setitem__(
        "other", dict(r["params"])))))
    out.append(("record not a dict", rec(lambda r: r.__setitem__("params", 5))))
    return [(label, _zip([("meta.npy", _meta_bytes(m)),
                          ("params.npy", _npy(params))])) for label, m in out]


def _overlapping(meta_bytes, n_members, kernel):
    """Nested stored members sharing one kernel (see test_io)."""
    rest, infos = b"\0" * kernel, []
    for i in reversed(range(n_members)):
        name = f"a{i}.npy".encode()
        header = _npy_raw({"descr": "|u1", "fortran_order": False,
                           "shape": (len(rest),)})
        data = header + rest
        local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0,
                            zlib.crc32(data), len(data), len(data), len(name),
                            0) + name
        infos.append((name, zlib.crc32(data), len(data), len(local) + len(header)))
        rest = local + data
    infos.reverse()
    mname = b"meta.npy"
    mlocal = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0,
                         zlib.crc32(meta_bytes), len(meta_bytes),
                         len(meta_bytes), len(mname), 0) + mname
    body = mlocal + meta_bytes + rest
    entries, off = [(mname, zlib.crc32(meta_bytes), len(meta_bytes), 0)], \
        len(mlocal) + len(meta_bytes)
    for name, crc, size, step in infos:
        entries.append((name, crc, size, off))
        off += step
    central = b"".join(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0,
                                   0, 0, crc, size, size, len(name), 0, 0, 0,
                                   0, 0, o) + name
                       for name, crc, size, o in entries)
    return body + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0,
                                        len(entries), len(entries),
                                        len(central), len(body), 0)


def _archive_edits(meta, params):
    """Hostile archives around a valid description."""
    good_meta = _meta_bytes(_with_checksums(meta, {"params": params}))
    p = _npy(params)
    fortran = {"descr": params.dtype.str, "fortran_order": True,
               "shape": params.shape}
    out = [
        ("duplicate params", _zip([("meta.npy", good_meta), ("params.npy", p),
                                   ("params.npy", p)])),
        ("duplicate meta", _zip([("meta.npy", good_meta), ("meta.npy", good_meta),
                                 ("params.npy", p)])),
        ("extra member", _zip([("meta.npy", good_meta), ("params.npy", p),
                               ("x.npy", _npy(np.zeros(10 ** 5)))])),
        ("extra non-npy member", _zip([("meta.npy", good_meta),
                                       ("params.npy", p), ("../x", b"1")])),
        ("no params", _zip([("meta.npy", good_meta)])),
        ("no meta", _zip([("params.npy", p)])),
        ("empty zip", _zip([])),
        ("compressed", _zip([("meta.npy", good_meta), ("params.npy", p)],
                            zipfile.ZIP_DEFLATED)),
        ("fortran header", _zip([("meta.npy", good_meta), ("params.npy",
                                 _npy_raw(fortran, params.tobytes()))])),
        ("object header", _zip([("meta.npy", good_meta), ("params.npy", _npy_raw(
            {"descr": "|O", "fortran_order": False, "shape": params.shape},
            params.tobytes()))])),
        ("overlapping members", _overlapping(good_meta, 50, 2 ** 16)),
        ("npy version 3", _zip([("meta.npy", good_meta), ("params.npy",
                                 b"\x93NUMPY\x03\x00" + p[8:])])),
        ("meta as float", _zip([("meta.npy", _npy(np.zeros(4))),
                                ("params.npy", p)])),
    ]
    text = json.dumps(_with_checksums(meta, {"params": params}))
    for label, raw in [
            ("deeply nested JSON", text[:-1].encode() + b', "x": '
             + b"[" * 200000 + b"]" * 200000 + b"}"),
            ("duplicate JSON key", text[:-1].encode() + b', "dtype": "float32"}'),
            ("JSON NaN", text[:-1].encode() + b', "x": NaN}'),
            ("meta not UTF-8", b"\xff\xfe" + text.encode()),
            ("meta empty", b"")]:
        out.append((label, _zip([("meta.npy", _npy(np.frombuffer(raw, np.uint8))),
                                 ("params.npy", p)])))
    for shape in ((-1,), (2 ** 62,), (2 ** 63,), (10 ** 30,), (3, -5),
                  (2 ** 32, 2 ** 32)):
        out.append((f"npy shape {shape}", _zip([("meta.npy", good_meta), (
            "params.npy", _npy_raw({"descr": params.dtype.str,
                                    "fortran_order": False, "shape": shape},
                                   params.tobytes()))])))
    return out


def _cases(seed, directory):
    """(label, file bytes, expected model or None) for every case."""
    import pynn
    rng = np.random.default_rng(seed)
    out = []
    for name, model in _base_models().items():
        path = os.path.join(directory, f"{name}.npz")
        model.save(path)
        with open(path, "rb") as f:
            data = f.read()
        meta, params = _read(data)
        assert _same(pynn.load(path), model)      # the base file is good
        for n in sorted(set(rng.integers(0, len(data), 25).tolist())):
            out.append((f"{name}: truncated to {n}", data[:n], model))
        for _ in range(60):
            flipped = bytearray(data)
            for pos in rng.integers(0, len(data), rng.integers(1, 4)):
                flipped[pos] ^= 1 << int(rng.integers(0, 8))
            out.append((f"{name}: bit flips", bytes(flipped), model))
        for label, m in _description_edits(meta):
            if m is not None:
                out.append((f"{name}: {label}",
                            _archive(m, {"params": params}), None))
        for label, d in _record_edits(meta, params) + _archive_edits(meta, params):
            # a 1-D array stored in Fortran order has the same bytes
            same = model if label == "fortran header" else None
            out.append((f"{name}: {label}", d, same))
        # huge layers declared by a small file, with matching and wrong counts
        for n_params in (None, params.size):
            m = json.loads(json.dumps(meta))
            m["class"], m["layers"] = "Model", [
                {"type": "Dense", "n_in": 6000, "n_out": 6000,
                 "activation": "identity", "activation_param": None}]
            m["n_params"] = 6000 * 6001 if n_params is None else n_params
            out.append((f"{name}: 6000x6000 in {n_params}", _archive(
                m, {"params": params}), None))
    return out


def _same(a, b):
    return (type(a) is type(b) and a.architecture() == b.architecture()
            and a.params.tobytes() == b.params.tobytes())


def worker(seed, directory):
    """Run every case; print one JSON line per problem, then a summary."""
    import resource
    import pynn
    # The cap is set by the parent (preexec_fn); prove it is active.
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    capped = False
    if soft == MEMORY_CAP:           # never touch 2 GiB in an uncapped run
        try:
            np.empty(2 * MEMORY_CAP, np.uint8)
        except MemoryError:
            capped = True
    cases = _cases(seed, directory)
    path = os.path.join(directory, "case.npz")
    problems, counts = [], {}
    for label, data, model in cases:
        with open(path, "wb") as f:
            f.write(data)
        try:
            loaded = pynn.load(path)
        except Exception as exc:                  # noqa: BLE001 (classified)
            kind = type(exc).__name__
            counts[kind] = counts.get(kind, 0) + 1
            if kind not in CLEAR:
                problems.append(f"{label}: {kind}: {exc}")
            elif kind == "ValueError" and not str(exc).startswith(path):
                problems.append(f"{label}: message does not name the path: "
                                f"{exc}")
        else:
            counts["loaded"] = counts.get("loaded", 0) + 1
            if model is None or not _same(loaded, model):
                problems.append(f"{label}: loaded a model that differs from "
                                "the saved one")
    try:
        pynn.load(os.path.join(directory, "no such file.npz"))
    except FileNotFoundError:
        counts["FileNotFoundError"] = counts.get("FileNotFoundError", 0) + 1
    else:
        problems.append("a missing file loaded")
    print(json.dumps({"cap": soft, "capped": capped, "cases": len(cases),
                      "counts": counts, "problems": problems}))


# --------------------------------------------------------------------------
# the test (runs the worker in a capped subprocess)
# --------------------------------------------------------------------------

def _cap_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is Linux's")
def test_load_fuzz_in_a_memory_capped_subprocess(tmp_path, seed=0):
    import tempfile
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None   # fast writes
    with tempfile.TemporaryDirectory(dir=shm) as directory:
        _run_capped(seed, directory)


def _run_capped(seed, directory):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, os.path.abspath(__file__),
                          str(seed), directory], capture_output=True,
                         text=True, timeout=300, env=env,
                         preexec_fn=_cap_memory)
    assert out.returncode == 0, (out.returncode, out.stderr[-3000:])
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["capped"] and report["cap"] == MEMORY_CAP
    assert report["problems"] == [], "\n".join(report["problems"][:30])
    assert report["cases"] > 900
    counts = report["counts"]
    # the batch exercised both outcomes and never anything but clear errors
    assert counts.get("ValueError", 0) > 800
    assert set(counts) <= {"loaded", *CLEAR}
    assert counts["FileNotFoundError"] == 1


if __name__ == "__main__":
    worker(int(sys.argv[1]), sys.argv[2])
