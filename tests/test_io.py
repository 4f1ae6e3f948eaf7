"""Tests for pynn.io: safe, atomic, validated model and array files."""
import hashlib
import io
import json
import os
import stat
import zipfile
import zlib

import numpy as np
import pytest

import pynn
from pynn.io import load_arrays, load_model, save_arrays, save_model


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def all_activations_model(dtype):
    """Every activation, incl. non-default leaky_relu α and gaussian β."""
    return pynn.Model([
        pynn.Dense(5, 7, "leaky_relu", activation_param=0.3),
        pynn.Dense(7, 6, "gaussian", activation_param=2.5),
        pynn.Dense(6, 6, "tanh"),
        pynn.Dense(6, 5, "swish"),
        pynn.Dense(5, 5, "softplus"),
        pynn.Dense(5, 4, "relu"),
        pynn.Dense(4, 4, "sigmoid"),
        pynn.Dense(4, 4, "identity"),
        pynn.Dense(4, 3, "sign"),
        pynn.Dense(3, 3, "step"),
        pynn.Dense(3, 3, "softmax"),
    ], dtype=dtype, seed=7)


MODELS = {
    "all_activations": all_activations_model,
    "mlp_softmax": lambda dt: pynn.MLP([8, 16, 4], hidden="sigmoid",
                                       output="softmax", dtype=dt, seed=1),
    "mlp_relu_regression": lambda dt: pynn.MLP([3, 10, 10, 1], hidden="relu",
                                               dtype=dt, seed=2),
    "single_gaussian": lambda dt: pynn.Model(
        [pynn.Dense(2, 3, "gaussian", activation_param=0.5)], dtype=dt, seed=3),
}


def perturb(model, seed=0):
    """Give every parameter (biases too) a distinct non-trivial value."""
    rng = np.random.default_rng(seed)
    model.params[...] = rng.normal(size=model.n_params)
    return model


def saved(tmp_path, name="m.npz", dtype="float32"):
    model = perturb(pynn.MLP([4, 6, 3], hidden="tanh", output="softmax",
                             dtype=dtype, seed=0))
    path = tmp_path / name
    save_model(model, path)
    return model, path


def read_raw(path):
    """The entries of an .npz as (meta dict, {name: array})."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    return meta, arrays


def write_raw(path, meta, **arrays):
    """Write an .npz with the given meta JSON verbatim (no checksum fix-up)."""
    text = meta if isinstance(meta, (bytes, str)) else json.dumps(meta)
    raw = text.encode() if isinstance(text, str) else text
    np.savez(path, meta=np.frombuffer(raw, dtype=np.uint8), **arrays)


def rewrite(path, edit):
    """Apply ``edit(meta, arrays)`` and save with fresh checksums, so that
    only the edited content (not the checksum) is wrong."""
    arrays, meta = load_arrays(path, "pynn-model")
    edit(meta, arrays)
    save_arrays(path, arrays, meta)


def listing(directory):
    return sorted(os.listdir(directory))


# --------------------------------------------------------------------------
# round trip
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_is_exact(tmp_path, name, dtype):
    model = perturb(MODELS[name](dtype), seed=len(name))
    path = tmp_path / "model.npz"
    save_model(model, path)
    loaded = load_model(path)

    assert type(loaded) is type(model)          # MLP stays MLP, Model Model
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.params.dtype == np.dtype(dtype)
    assert loaded.params.tobytes() == model.params.tobytes()   # bit-exact
    assert loaded.sizes == model.sizes
    assert len(loaded.layers) == len(model.layers)
    for a, b in zip(loaded.layers, model.layers):
        assert (a.n_in, a.n_out) == (b.n_in, b.n_out)
        assert a.activation.name == b.activation.name
        assert a.activation_param == b.activation_param
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
    X = np.random.default_rng(5).normal(size=(9, model.n_inputs))
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))


def test_non_default_activation_params_survive(tmp_path):
    model = all_activations_model("float64")
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.layers[0].activation_param == 0.3      # leaky_relu α
    assert loaded.layers[1].activation_param == 2.5      # gaussian β
    meta, _ = read_raw(tmp_path / "m.npz")
    assert meta["layers"][0]["activation_param"] == 0.3
    assert meta["layers"][1]["activation_param"] == 2.5
    assert meta["layers"][2]["activation_param"] is None  # tanh has none


def test_loaded_model_is_independent_and_usable(tmp_path):
    model, path = saved(tmp_path)
    loaded = load_model(path)
    before = model.params.copy()
    loaded.layers[0].W[0, 0] += 1.0          # a view into loaded.params
    assert loaded.params[0] == before[0] + np.float32(1.0)
    np.testing.assert_array_equal(model.params, before)
    X = np.random.default_rng(0).normal(size=(5, 4))
    loss = loaded.train_step(X, np.array([0, 1, 2, 0, 1]),
                             loss="cross_entropy", lr=0.1)
    assert np.isfinite(loss)


def test_file_contents_are_documented_and_pickle_free(tmp_path):
    model, path = saved(tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["meta.npy", "params.npy"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    meta, arrays = read_raw(path)          # works with allow_pickle=False
    assert set(arrays) == {"params"}
    assert arrays["params"].dtype == np.float32
    assert arrays["params"].tobytes() == model.params.tobytes()
    assert meta["format"] == "pynn-model"
    assert meta["format_version"] == 1
    assert meta["pynn_version"] == pynn.__version__
    assert meta["dtype"] == "float32"
    assert meta["n_params"] == model.n_params
    assert meta["layers"] == [
        {"type": "Dense", "n_in": 4, "n_out": 6, "activation": "tanh",
         "activation_param": None},
        {"type": "Dense", "n_in": 6, "n_out": 3, "activation": "softmax",
         "activation_param": None}]
    assert meta["arrays"]["params"] == {
        "dtype": "<f4", "shape": [model.n_params],
        "sha256": hashlib.sha256(model.params.tobytes()).hexdigest()}


def test_writes_exactly_the_given_path(tmp_path):
    model, _ = saved(tmp_path)
    save_model(model, str(tmp_path / "net"))          # no suffix added
    save_model(model, tmp_path / "net.bin")
    assert listing(tmp_path) == ["m.npz", "net", "net.bin"]
    for name in ("net", "net.bin"):
        assert load_model(tmp_path / name).params.tobytes() == \
            model.params.tobytes()


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="pynn.Model"):
        save_model("not a model", tmp_path / "m.npz")
    model = pynn.MLP([2, 2], seed=0)
    model.params[0] = np.nan           # bypasses the params setter check
    with pytest.raises(ValueError, match="NaN"):
        save_model(model, tmp_path / "m.npz")
    assert listing(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        save_model(pynn.MLP([2, 2], seed=0), tmp_path / "no_dir" / "m.npz")
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------
# no code execution
# --------------------------------------------------------------------------

UNPICKLED = []


def _evil_side_effect():
    UNPICKLED.append(True)
    return "pwned"


class Evil:
    def __reduce__(self):
        return (_evil_side_effect, ())


@pytest.mark.parametrize("entry", ["params", "meta"])
def test_object_array_is_rejected_without_unpickling(tmp_path, entry):
    model, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    entries = {"params": arrays["params"],
               "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    entries[entry] = np.array([Evil(), 1.0], dtype=object)
    bad = tmp_path / "evil.npz"
    np.savez(bad, allow_pickle=True, **entries)

    UNPICKLED.clear()
    with pytest.raises(ValueError, match=r"evil\.npz.*object arrays are "
                                         "refused"):
        load_model(bad)
    assert UNPICKLED == []
    # Control: the file really does run code when unpickled.
    with np.load(bad, allow_pickle=True) as z:
        z[entry]
    assert UNPICKLED == [True]
    UNPICKLED.clear()


def test_a_pickle_file_is_not_loaded(tmp_path):
    import pickle
    bad = tmp_path / "evil.npz"
    bad.write_bytes(pickle.dumps(Evil()))
    UNPICKLED.clear()
    with pytest.raises(ValueError, match="not a pynn model file"):
        load_model(bad)
    assert UNPICKLED == []


def test_save_arrays_refuses_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        save_arrays(tmp_path / "a.npz", {"x": np.array([Evil()])},
                    {"format": "t"})
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------
# corrupt and foreign files
# --------------------------------------------------------------------------

def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load_model("/nonexistent/dir/model.npz")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npz: the file is empty"):
        load_model(path)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "random.npz"
    path.write_bytes(np.random.default_rng(seed).bytes(100 + 300 * seed))
    with pytest.raises(ValueError, match=r"random\.npz: not a pynn model "
                                         r"file \(not an \.npz archive\)"):
        load_model(path)


def test_random_bytes_after_zip_magic(tmp_path):
    path = tmp_path / "r.npz"
    path.write_bytes(b"PK\x03\x04" + np.random.default_rng(0).bytes(500))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(path)


def test_every_truncation_is_detected(tmp_path):
    _, path = saved(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in range(len(data)):            # every possible cut
        cut.write_bytes(data[:length])
        with pytest.raises(ValueError,
                           match=r"cut\.npz: (the file is empty|truncated "
                                 "or corrupt)"):
            load_model(cut)


def test_every_flipped_byte_is_detected_or_harmless(tmp_path):
    """Flipping any one byte either raises ValueError or (in a field nobody
    reads, such as a zip timestamp) loads the identical model."""
    model, path = saved(tmp_path)
    data = path.read_bytes()
    bad = tmp_path / "flip.npz"
    harmless = 0
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x41
        bad.write_bytes(bytes(flipped))
        try:
            loaded = load_model(bad)
        except ValueError as exc:
            assert str(exc).startswith(str(bad))
        else:
            harmless += 1
            assert loaded.params.tobytes() == model.params.tobytes()
            assert loaded.sizes == model.sizes
    assert harmless < len(data) // 4


def test_flipped_byte_in_params_data(tmp_path):
    model, path = saved(tmp_path)
    data = bytearray(path.read_bytes())
    pos = bytes(data).find(model.params.tobytes())
    assert pos > 0
    data[pos + 5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupt.*CRC"):
        load_model(path)


def test_checksum_catches_altered_params(tmp_path):
    """A well-formed archive whose params differ from the recorded sha256."""
    _, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    params = arrays["params"].copy()
    params[3] = np.nextafter(params[3], np.float32(np.inf))   # one ulp
    write_raw(path, meta, params=params)
    with pytest.raises(ValueError,
                       match=r"m\.npz: checksum mismatch for array 'params'"):
        load_model(path)


def test_plain_npy_file(tmp_path):
    path = tmp_path / "params.npy"
    np.save(path, np.zeros(27, np.float32))
    with pytest.raises(ValueError, match=r"not a pynn model file \(it is a "
                                         r"plain \.npy array"):
        load_model(path)


def test_zip_that_is_not_an_npz(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a pynn model file .*unexpected "
                                         "entry 'readme.txt'"):
        load_model(path)


def test_npz_with_wrong_keys(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, weights=np.zeros(3), biases=np.zeros(2))
    with pytest.raises(ValueError, match=r"w\.npz: not a pynn model file "
                                         r"\(no 'meta' entry"):
        load_model(path)


def test_extra_array_not_in_record(tmp_path):
    _, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    write_raw(path, meta, params=arrays["params"], extra=np.zeros(2))
    with pytest.raises(ValueError, match="do not match its record"):
        load_model(path)


def test_missing_params_entry(tmp_path):
    _, path = saved(tmp_path)
    meta, _ = read_raw(path)
    write_raw(path, meta)
    with pytest.raises(ValueError, match="do not match its record"):
        load_model(path)


def test_compressed_entries_are_refused(tmp_path):
    _, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    np.savez_compressed(path, meta=np.frombuffer(json.dumps(meta).encode(),
                                                 np.uint8), **arrays)
    with pytest.raises(ValueError, match="compressed"):
        load_model(path)


def test_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path):
    _, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 13,)})
    buf.write(b"\0" * 64)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", _npy_bytes(np.frombuffer(
            json.dumps(meta).encode(), np.uint8)))
        zf.writestr("params.npy", buf.getvalue())
    with pytest.raises(ValueError, match="'params' is truncated or corrupt"):
        load_model(path)


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("raw, match", [
    (b"\xff\xfe not utf-8", "'meta' is not valid JSON"),
    (b"{not json", "'meta' is not valid JSON"),
    (b'{"format": "pynn-model", "x": NaN}', "'meta' is not valid JSON"),
    (b'{"format": "pynn-model", "format": "pynn-model"}', "not valid JSON"),
    (b"[1, 2]", r"not a pynn model file \(meta has no 'format'\)"),
    (b'{"format_version": 1}', r"not a pynn model file \(meta has no"),
    (b'{"format": null}', r"not a pynn model file \(its format is None"),
    (b'{"format": "pynn-model"}', "no 'arrays' record"),
])
def test_meta_that_is_not_valid(tmp_path, raw, match):
    _, path = saved(tmp_path)
    _, arrays = read_raw(path)
    write_raw(path, raw, **arrays)
    with pytest.raises(ValueError, match=match):
        load_model(path)


def test_meta_of_wrong_dtype(tmp_path):
    _, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8)
             .astype(np.int32), **arrays)
    with pytest.raises(ValueError, match="'meta' is not a 1-D uint8 array"):
        load_model(path)


def _set(key, value):
    def edit(meta, arrays):
        meta[key] = value
    return edit


def _set_layer(i, key, value):
    def edit(meta, arrays):
        meta["layers"][i][key] = value
    return edit


def _del_layer_key(i, key):
    def edit(meta, arrays):
        del meta["layers"][i][key]
    return edit


def _params(fn):
    def edit(meta, arrays):
        arrays["params"] = fn(arrays["params"])
    return edit


@pytest.mark.parametrize("edit, match", [
    (_set("format", "pynn-checkpoint"),
     r"not a pynn model file \(its format is 'pynn-checkpoint'"),
    (_set("format_version", 2), "format version 2 .*upgrade pynn"),
    (_set("format_version", 0), "invalid format_version 0"),
    (_set("format_version", "1"), "invalid format_version '1'"),
    (_set("format_version", True), "invalid format_version True"),
    (_set("dtype", "float16"), "dtype must be 'float32' or 'float64'"),
    (_set("dtype", "float64"), r"params must be a 1-D float64 array, got "
                               r"1-D float32"),
    (_set("layers", []), "'layers' must be a non-empty list"),
    (_set("layers", "Dense"), "'layers' must be a non-empty list"),
    (_set("n_params", 10 ** 9), "n_params is 1000000000 but the layers have 51"),
    (_set("n_params", None), "n_params is None"),
    (_set_layer(0, "activation", "relu6"), "unknown activation 'relu6'"),
    (_set_layer(0, "activation", 3), "unknown activation 3"),
    (_set_layer(1, "type", "Conv2D"), "unknown layer type 'Conv2D'"),
    (_set_layer(0, "n_out", 7), r"layers\[1\] takes 6 inputs but layers\[0\] "
                                "gives 7 outputs"),
    (_set_layer(0, "n_in", 0), r"layers\[0\]\.n_in must be a positive "
                               "integer, got 0"),
    (_set_layer(0, "n_in", 4.0), r"n_in must be a positive integer, got 4\.0"),
    (_set_layer(0, "n_out", True), "n_out must be a positive integer"),
    (_set_layer(0, "activation_param", 0.5), "activation_param must be null "
                                             "for tanh"),
    (_del_layer_key(1, "activation"), r"layers\[1\] lacks \['activation'\]"),
    (_params(lambda p: p[:-1]), r"n_params is 51 but|params has 50 values"),
    (_params(lambda p: np.concatenate([p, p[:1]])), "params has 52 values"),
    (_params(lambda p: p.astype(np.float64)), "1-D float32 array, got 1-D "
                                              "float64"),
    (_params(lambda p: p.reshape(1, -1)), "1-D float32 array, got 2-D"),
    (_params(lambda p: p.astype(np.int32)), "got 1-D int32"),
    (_params(lambda p: np.where(np.arange(p.size) == 7, np.nan, p)
             .astype(p.dtype)), "params contains NaN or infinity"),
    (_params(lambda p: np.where(np.arange(p.size) == 0, np.inf, p)
             .astype(p.dtype)), "params contains NaN or infinity"),
])
def test_invalid_model_meta_or_params(tmp_path, edit, match):
    _, path = saved(tmp_path)              # MLP [4, 6, 3]: 51 params
    rewrite(path, edit)
    with pytest.raises(ValueError, match=r"m\.npz: .*" + match):
        load_model(path)


def test_leaky_relu_param_must_be_a_finite_number(tmp_path):
    path = tmp_path / "m.npz"
    save_model(pynn.Model([pynn.Dense(2, 2, "leaky_relu", 0.2)], seed=0), path)
    for bad in (None, "0.2", True):
        rewrite(path, _set_layer(0, "activation_param", bad))
        with pytest.raises(ValueError, match="alpha of leaky_relu.*finite "
                                             "number"):
            load_model(path)
        rewrite(path, _set_layer(0, "activation_param", 0.2))
    assert load_model(path).layers[0].activation_param == 0.2


def test_newer_version_message_names_versions(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, lambda meta, a: meta.update(format_version=3,
                                              pynn_version="9.0"))
    with pytest.raises(ValueError) as info:
        load_model(path)
    msg = str(info.value)
    assert msg.startswith(str(path))
    assert "format version 3" in msg and "pynn 9.0" in msg
    assert pynn.__version__ in msg and "upgrade pynn" in msg


# --------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------

def _fail_savez(*args, **kwargs):
    f = args[0]
    f.write(b"PK\x03\x04 half-written garbage")
    raise OSError("disk full")


def _interrupt_savez(*args, **kwargs):
    args[0].write(b"partial")
    raise KeyboardInterrupt


def _fail(*args, **kwargs):
    raise OSError("simulated failure")


@pytest.mark.parametrize("target, replacement, exc", [
    (np, ("savez", _fail_savez), OSError),
    (np, ("savez", _interrupt_savez), KeyboardInterrupt),
    (os, ("fsync", _fail), OSError),
    (os, ("replace", _fail), OSError),
])
def test_failed_save_leaves_previous_file_and_no_temp(tmp_path, monkeypatch,
                                                      target, replacement, exc):
    old_model, path = saved(tmp_path)
    old_bytes = path.read_bytes()
    new_model = perturb(pynn.MLP([4, 6, 3], hidden="tanh", output="softmax",
                                 seed=0), seed=99)
    monkeypatch.setattr(target, *replacement)
    with pytest.raises(exc):
        save_model(new_model, path)
    monkeypatch.undo()
    assert listing(tmp_path) == ["m.npz"]                 # no temp file left
    assert path.read_bytes() == old_bytes                 # unchanged
    assert load_model(path).params.tobytes() == old_model.params.tobytes()


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", _fail)
    with pytest.raises(OSError, match="simulated"):
        save_model(pynn.MLP([2, 2], seed=0), tmp_path / "m.npz")
    monkeypatch.undo()
    assert listing(tmp_path) == []


def test_saving_over_an_existing_file_replaces_it(tmp_path):
    old_model, path = saved(tmp_path)
    os.chmod(path, 0o600)
    new_model = perturb(pynn.MLP([3, 2], output="sigmoid", dtype="float64",
                                 seed=0), seed=42)
    save_model(new_model, path)
    assert listing(tmp_path) == ["m.npz"]
    loaded = load_model(path)
    assert loaded.sizes == [3, 2] and loaded.dtype == np.float64
    assert loaded.params.tobytes() == new_model.params.tobytes()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600   # mode kept


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save_model(pynn.MLP([2, 2], seed=0), tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == 0o640


# --------------------------------------------------------------------------
# generic save_arrays / load_arrays
# --------------------------------------------------------------------------

def test_arrays_round_trip(tmp_path):
    arrays = {
        "f16": np.array([1.5, -2.25], np.float16),
        "f64_fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "big_endian": np.arange(5, dtype=">i4"),
        "u64": np.array([0, 2 ** 64 - 1], np.uint64),
        "i8": np.array([-128, 127], np.int8),
        "flags": np.array([True, False, True]),
        "scalar": np.float64(3.25),
        "empty": np.zeros((0, 3), np.float32),
        "rng_state": np.array([2 ** 63 + 5, 17], np.uint64),
    }
    meta = {"format": "pynn-checkpoint", "epoch": np.int64(7),
            "history": {"loss": [0.5, np.float32(0.25)]},
            "rng": {"state": 2 ** 127 + 1}, "note": "ü"}
    path = tmp_path / "ckpt.npz"
    save_arrays(path, arrays, meta)
    got, got_meta = load_arrays(path, "pynn-checkpoint")
    assert set(got) == set(arrays)
    for name, value in arrays.items():
        value = np.asarray(value)
        assert got[name].dtype == value.dtype.newbyteorder("=")
        assert got[name].shape == value.shape
        assert got[name].flags.c_contiguous and got[name].flags.writeable
        np.testing.assert_array_equal(got[name], value)
    assert got_meta == {"format": "pynn-checkpoint", "epoch": 7,
                        "history": {"loss": [0.5, 0.25]},
                        "rng": {"state": 2 ** 127 + 1}, "note": "ü"}


def test_load_arrays_checks_the_format(tmp_path):
    save_arrays(tmp_path / "c.npz", {"x": np.ones(2)},
                {"format": "pynn-checkpoint"})
    with pytest.raises(ValueError, match=r"c\.npz: not a pynn model file "
                                         r"\(its format is 'pynn-checkpoint'"):
        load_model(tmp_path / "c.npz")
    _, path = saved(tmp_path)
    with pytest.raises(ValueError, match="not a pynn checkpoint file"):
        load_arrays(path, "pynn-checkpoint")


@pytest.mark.parametrize("arrays, meta, exc, match", [
    ({"meta": np.ones(1)}, {"format": "t"}, ValueError, "reserved"),
    ({"file": np.ones(1)}, {"format": "t"}, ValueError, "reserved"),
    ({"a/b": np.ones(1)}, {"format": "t"}, ValueError, "identifiers"),
    ({"": np.ones(1)}, {"format": "t"}, ValueError, "identifiers"),
    ({1: np.ones(1)}, {"format": "t"}, ValueError, "identifiers"),
    ({"c": np.ones(2, complex)}, {"format": "t"}, TypeError, "complex128"),
    ({"s": np.array(["a"])}, {"format": "t"}, TypeError, "dtype <U1"),
    ({"x": np.ones(1)}, {}, ValueError, "'format' entry"),
    ({"x": np.ones(1)}, {"format": ""}, ValueError, "'format' entry"),
    ({"x": np.ones(1)}, {"format": "t", "arrays": 1}, ValueError, "reserved"),
    ({"x": np.ones(1)}, {"format": "t", "v": float("nan")}, ValueError,
     "strict JSON"),
    ({"x": np.ones(1)}, {"format": "t", "v": np.ones(2)}, TypeError,
     "must not contain arrays"),
    ({"x": np.ones(1)}, {"format": "t", "v": object()}, TypeError,
     "not JSON-serialisable"),
    ([np.ones(1)], {"format": "t"}, TypeError, "arrays must be a dict"),
    ({"x": np.ones(1)}, "t", TypeError, "meta must be a dict"),
])
def test_save_arrays_validates_before_writing(tmp_path, arrays, meta, exc,
                                              match):
    with pytest.raises(exc, match=match):
        save_arrays(tmp_path / "a.npz", arrays, meta)
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------
# saving while another thread trains (issue 17, item 2)
# --------------------------------------------------------------------------

def test_save_while_another_thread_trains_writes_loadable_files(tmp_path):
    """The parameters are snapshot once; that copy is hashed and written, so
    a concurrent train_step cannot make the checksum disagree with the data."""
    import threading
    model = pynn.MLP([64, 128, 10], hidden="tanh", output="softmax", seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 64)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    stop = threading.Event()
    steps = []

    def train():
        while not stop.is_set():
            model.train_step(X, y, loss="cross_entropy", lr=1e-3)
            steps.append(1)

    worker = threading.Thread(target=train)
    worker.start()
    try:
        while not steps:              # training is under way
            pass
        paths = []
        for i in range(40):
            paths.append(tmp_path / f"m{i}.npz")
            save_model(model, paths[-1])
    finally:
        stop.set()
        worker.join()
    assert len(steps) > 1
    for p in paths:
        loaded = load_model(p)        # raises on a checksum mismatch
        assert loaded.sizes == model.sizes


# --------------------------------------------------------------------------
# load cost bounded by the file (issue 17, item 4)
# --------------------------------------------------------------------------

def _crafted(tmp_path, layers, params, name="c.npz", **extra):
    """A well-formed model file (fresh checksums) whose description is
    ``layers`` but whose stored params are the small array ``params``."""
    meta = {"format": "pynn-model", "format_version": 1,
            "pynn_version": pynn.__version__, "dtype": "float32",
            "layers": layers, "n_params": None, **extra}
    if meta["n_params"] is None:
        meta["n_params"] = sum(l["n_out"] * (l["n_in"] + 1) for l in layers
                               if isinstance(l.get("n_in"), int)
                               and isinstance(l.get("n_out"), int))
    path = tmp_path / name
    save_arrays(path, {"params": params}, meta)
    return path


def _dense(n_in, n_out, activation="identity"):
    return {"type": "Dense", "n_in": n_in, "n_out": n_out,
            "activation": activation, "activation_param": None}


def _peak_bytes(fn):
    import tracemalloc
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("declared_n_params", [None, 10])
def test_small_file_declaring_a_huge_layer_is_refused_with_little_memory(
        tmp_path, declared_n_params):
    """A ~1 KiB file that declares a 6000×6000 layer (288 MB of float64, 144
    MB of float32) is refused before any model is built or initialised."""
    kw = {} if declared_n_params is None else {"n_params": declared_n_params}
    path = _crafted(tmp_path, [_dense(6000, 6000)], np.zeros(10, np.float32),
                    **kw)
    assert path.stat().st_size < 2048

    def load():
        with pytest.raises(ValueError, match=r"c\.npz: "):
            load_model(path)
    peak = _peak_bytes(load)
    assert peak < 4 * 2 ** 20, f"peak {peak / 2 ** 20:.1f} MiB"


@pytest.mark.parametrize("n_in, n_out", [
    (2 ** 63, 1), (1, 2 ** 63), (2 ** 64 + 1, 3), (2 ** 40, 2 ** 40),
    (2 ** 31, 2 ** 33), (10 ** 30, 10 ** 30)])
def test_huge_declared_sizes_raise_value_error_naming_the_path(tmp_path, n_in,
                                                               n_out):
    path = _crafted(tmp_path, [_dense(n_in, n_out)], np.zeros(6, np.float32))
    with pytest.raises(ValueError, match=r"c\.npz: "):
        load_model(path)
    # with n_params matching the (small) stored array
    path = _crafted(tmp_path, [_dense(n_in, n_out)], np.zeros(6, np.float32),
                    n_params=6)
    with pytest.raises(ValueError, match=r"c\.npz: "):
        load_model(path)


def _npy_header(shape, descr="|u1"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _overlapping_zip(n_members, kernel_size, meta_record=True):
    """A stored zip whose members nest: member i's array data holds the local
    headers and data of members i+1 … n−1 and a shared kernel of zeros, so
    n members of ~kernel_size bytes each fit in a file of ~kernel_size."""
    import struct
    rest, infos = b"\0" * kernel_size, []
    for i in reversed(range(n_members)):
        name = f"a{i}.npy".encode()
        data = _npy_header((len(rest),)) + rest
        crc = zlib.crc32(data)
        local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc,
                            len(data), len(data), len(name), 0) + name
        infos.append((name, crc, len(data), len(local),
                      len(_npy_header((len(rest),))),
                      hashlib.sha256(rest).hexdigest(), len(rest)))
        rest = local + data
    infos.reverse()
    chain = rest                         # local header 0 + data 0 + ...
    record = {name.decode()[:-4]: {"dtype": "|u1", "shape": [size],
                                    "sha256": sha}
              for name, _, _, _, _, sha, size in infos}
    meta = json.dumps({"format": "pynn-checkpoint",
                       **({"arrays": record} if meta_record else {})}).encode()
    meta_data = _npy_bytes(np.frombuffer(meta, np.uint8))
    mname = b"meta.npy"
    mcrc = zlib.crc32(meta_data)
    mlocal = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, mcrc,
                         len(meta_data), len(meta_data), len(mname), 0) + mname
    body = mlocal + meta_data + chain
    entries = [(mname, mcrc, len(meta_data), 0)]
    offset = len(mlocal) + len(meta_data)
    for name, crc, size, local_len, header_len, _, _ in infos:
        entries.append((name, crc, size, offset))
        offset += local_len + header_len
    central = b"".join(
        struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc,
                    size, size, len(name), 0, 0, 0, 0, 0, off) + name
        for name, crc, size, off in entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries),
                      len(entries), len(central), len(body), 0)
    return body + central + end


def test_overlapping_members_are_refused_without_reading_them(tmp_path):
    """200 nested members over one 1 MiB kernel: a reader that trusts the
    directory reads ~200 MiB from a 1 MiB file."""
    data = _overlapping_zip(200, 2 ** 20)
    assert len(data) < 2 ** 20 + 2 ** 17
    path = tmp_path / "overlap.npz"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:          # the zip itself is readable
        assert len(zf.read("a199.npy")) > 2 ** 20

    def load():
        with pytest.raises(ValueError, match=r"overlap\.npz: .*overlap"):
            load_arrays(path, "pynn-checkpoint")
    peak = _peak_bytes(load)
    assert peak < 8 * 2 ** 20, f"peak {peak / 2 ** 20:.1f} MiB"


def test_model_loader_refuses_extra_members_without_reading_them(tmp_path,
                                                                 monkeypatch):
    """Only meta and params are read; an extra member is refused by name."""
    _, path = saved(tmp_path)
    meta, arrays = read_raw(path)
    write_raw(path, meta, params=arrays["params"],
              extra=np.zeros(2 ** 18, np.float32))
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)
    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(ValueError, match="do not match its record"):
        load_model(path)
    assert "extra.npy" not in opened
