"""Write a corpus of bad model and weights files, one file per kind of damage.

    python tests/bad_files.py DIRECTORY

Each file starts from a real save of :func:`target_model` and is then damaged
in one way. ``corpus()`` lists the kinds cheaply, as ``{kind: (file name,
loaders, make)}`` with ``make()`` returning the bytes; ``write_corpus``
writes them and returns ``{kind: (path, loaders)}``, where
``loaders`` names the loaders that must refuse the file: ``"load_model"``,
``"load_weights"`` or both. (``load_weights`` reads only the weights of a
whole-model file, so config damage concerns ``load_model`` alone.)
"""

from __future__ import annotations

import functools
import io
import json
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

import npconv
from npconv import layers

BOMB_BYTES = 128 * 2**20  # what the zip bomb's one member declares, from about 128 KB stored
MODEL = ("load_model", "load_weights")
WEIGHTS = ("load_weights",)
CONFIG = ("load_model",)


def target_model(seed=0):
    """The small model every corpus file is made from (and loaded into)."""
    npconv.utils.set_random_seed(seed)
    return npconv.Sequential([npconv.Input((6, 6, 3)), layers.Conv2D(4, 3, activation="relu"), layers.Dense(2)])


def _npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def _npy_header(descr, shape):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _manifest(entries):
    return _npy(np.frombuffer(json.dumps(entries).encode(), dtype=np.uint8))


def _zip(members, compression=zipfile.ZIP_STORED):
    """Zip bytes from (name, bytes) pairs, in order; repeated names are kept."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a repeated name, which is the point
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def _weights_members(model):
    weights = model.weights
    manifest = [{"name": w.name, "shape": list(w.shape), "dtype": w.dtype.name} for w in weights]
    return [("manifest.npy", _manifest(manifest))] + [(f"w{i}.npy", _npy(w.value)) for i, w in enumerate(weights)]


def _model_file(model, config=None, metadata=None, weights=None, extra=()):
    config = json.dumps(model.get_config(), default=list) if config is None else config
    metadata = json.dumps({"format": "npconv", "version": 1}) if metadata is None else metadata
    weights = _zip(_weights_members(model)) if weights is None else weights
    members = [("metadata.json", metadata), ("config.json", config), ("model.weights.npz", weights), *extra]
    return _zip(members, zipfile.ZIP_DEFLATED)


@functools.lru_cache(maxsize=1)
def _zip_bomb():
    """A weights file whose one array member inflates to BOMB_BYTES of zeros."""
    buffer = io.BytesIO()
    count = BOMB_BYTES // 4
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.npy", _manifest([{"name": "bomb", "shape": [count], "dtype": "float32"}]))
        with archive.open("w0.npy", "w", force_zip64=True) as member:
            member.write(_npy_header("<f4", (count,)))
            zeros = bytes(2**20)
            for _ in range(BOMB_BYTES // len(zeros)):
                member.write(zeros)
    return buffer.getvalue()


def corpus():
    """{kind: (file name, loaders that must refuse it, make)}: ``make()`` gives the bytes."""
    model = target_model()
    good_weights = _zip(_weights_members(model))
    good_model = _model_file(model)
    members = _weights_members(model)
    config = model.get_config()

    def with_config(**changes):
        return _model_file(model, config=json.dumps({**config, **changes}, default=list))

    def with_config_text(members):  # the config with raw JSON text spliced in first
        return _model_file(model, config="{" + members + ", " + json.dumps(config, default=list)[1:])

    first_layer = dict(config["layers"][1])
    unknown = {**first_layer, "class_name": "Lambda", "config": {"function": "os.system"}}
    huge = json.loads(json.dumps(config, default=list))
    huge["layers"][-1]["config"]["units"] = 2**31  # a 4 x 2**31 kernel: 32 GiB if it were allocated
    lying = [members[0], ("w0.npy", _npy_header("<f4", (10**12,)) + bytes(16)), *members[2:]]
    lying_manifest = [
        ("manifest.npy", _manifest([{"name": "w", "shape": [10**12], "dtype": "float32"}])),
        ("w0.npy", _npy_header("<f4", (10**12,)) + bytes(16)),
    ]
    objects = [members[0], ("w0.npy", _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)), *members[2:]]
    deep = "[" * 100_000 + "]" * 100_000
    h5 = b"\x89HDF\r\n\x1a\n" + bytes(2000)
    entries = {
        "zip_bomb": ("bomb.weights.npz", _zip_bomb, WEIGHTS),
        "zip_bomb_in_model": ("bomb.npconv", lambda: _model_file(model, weights=_zip_bomb()), MODEL),
        "header_lies_about_size": ("lying.weights.npz", _zip(lying), WEIGHTS),
        "header_declares_1e12_elements": ("lying_manifest.weights.npz", _zip(lying_manifest), WEIGHTS),
        "path_traversal_member": (
            "traversal.npconv",
            _model_file(model, extra=[("../../escaped.txt", b"escaped")]),
            MODEL,
        ),
        "path_traversal_weight": (
            "traversal.weights.npz",
            _zip([*members, ("../../escaped.npy", _npy([1.0]))]),
            WEIGHTS,
        ),
        "object_dtype": ("objects.weights.npz", _zip(objects), WEIGHTS),
        "unknown_class": ("unknown.npconv", with_config(layers=[config["layers"][0], unknown]), CONFIG),
        "huge_weights_in_config": ("huge.npconv", _model_file(model, config=json.dumps(huge)), CONFIG),
        "deep_json_config": ("deep.npconv", _model_file(model, config=deep), CONFIG),
        "json_with_a_million_values": (
            "wide.npconv",
            lambda: _model_file(model, config="[" + ",".join(["[]"] * 1_000_000) + "]"),
            CONFIG,
        ),
        "json_integer_of_5000_digits": (
            "digits.npconv",
            _model_file(model, config='{"name": ' + "9" * 5000 + "}"),
            CONFIG,
        ),
        "json_key_given_twice": ("twice.npconv", with_config_text('"trainable": false, "trainable": true'), CONFIG),
        "deep_json_manifest": (
            "deep.weights.npz",
            _zip([("manifest.npy", _npy(np.frombuffer(deep.encode(), np.uint8)))]),
            WEIGHTS,
        ),
        "truncated_model": ("truncated.npconv", good_model[: len(good_model) // 2], MODEL),
        "truncated_weights": ("truncated.weights.npz", good_weights[:-40], WEIGHTS),
        "duplicate_members_model": ("duplicate.npconv", _model_file(model, extra=[("config.json", "{}")]), MODEL),
        "duplicate_members_weights": ("duplicate.weights.npz", _zip([*members, members[1]]), WEIGHTS),
        "manifest_is_a_number": (
            "manifest_int.weights.npz",
            _zip([("manifest.npy", _manifest(5)), *members[1:]]),
            WEIGHTS,
        ),
        "manifest_is_a_dict": (
            "manifest_dict.weights.npz",
            _zip([("manifest.npy", _manifest({"a": 1})), *members[1:]]),
            WEIGHTS,
        ),
        "manifest_of_strings": (
            "manifest_str.weights.npz",
            _zip([("manifest.npy", _manifest(["w0"])), *members[1:]]),
            WEIGHTS,
        ),
        "manifest_without_shape": (
            "manifest_noshape.weights.npz",
            _zip([("manifest.npy", _manifest([{"name": "w", "dtype": "float32"}])), *members[1:]]),
            WEIGHTS,
        ),
        "config_not_utf8": ("latin1.npconv", _model_file(model, config=b'{"name": "\xe9"}'), CONFIG),
        "hdf5_renamed": ("renamed.weights.npz", h5, WEIGHTS),
        "metadata_not_npconv": ("metadata_format.npconv", _model_file(model, metadata='{"format": "keras"}'), MODEL),
        "metadata_future_version": (
            "metadata_version.npconv",
            _model_file(model, metadata='{"format": "npconv", "version": 99}'),
            MODEL,
        ),
        "trainable_no": ("trainable.npconv", with_config(trainable="no"), CONFIG),
        "not_a_zip": ("text.npconv", b"not a zip file", MODEL),
    }
    return {
        kind: (name, loaders, data if callable(data) else (lambda data=data: data))
        for kind, (name, data, loaders) in entries.items()
    }


def write_corpus(directory):
    """Write every corpus file under ``directory``; returns {kind: (path, loaders)}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, (name, loaders, make) in corpus().items():
        data = make()
        path = directory / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        written[kind] = (path, loaders)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for kind, (path, loaders) in write_corpus(sys.argv[1]).items():
        print(f"{kind:32} {path}  ({', '.join(loaders)})")
