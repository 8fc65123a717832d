"""Saving and loading models: no code runs on load, and memory stays bounded.

Two formats, both plain zip archives that any tool can open:

- weights (``save_weights``, a path ending in ``.weights.npz``): an ``.npz``
  file. ``manifest.npy`` holds UTF-8 JSON listing each weight's name, shape
  and dtype in ``get_weights()`` order; ``w0.npy``, ``w1.npy``, ... hold the
  arrays, uncompressed.
- whole model (``save``, a path ending in ``.npconv``): a zip with
  ``config.json`` (``model.get_config()``), ``metadata.json`` (format and
  version) and ``model.weights.npz`` (the weights file above, stored
  uncompressed so its arrays are read straight from the file). The layout
  follows Keras's ``.keras`` archive (config.json, metadata.json,
  model.weights.h5).

Every file is written through :func:`~npconv.saving.atomic.atomic_write`: a
save that fails or is killed leaves the previous file byte-identical.

Loading checks before it allocates. The archive's members must be exactly
the expected ones, each once; JSON members are at most ``MAX_JSON_BYTES``
with at most ``MAX_JSON_ITEMS`` values (counted before parsing), strict UTF-8
and at most ``MAX_JSON_DEPTH`` levels deep; each array's
declared size (shape x dtype, from its ``.npy`` header) must equal the bytes
its member holds; a compressed member may expand at most ``MAX_EXPANSION``
times over its stored size (plus ``EXPANSION_SLACK`` bytes in all); only
numeric dtypes are read, never pickled objects. A whole model is built
first with placeholder weights, and its weight shapes are compared with the
file's before any weight is allocated. Each array is then read once, in
chunks, into the array that becomes the weight. Any failure raises one
ValueError that names the file and leaves the model as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from .. import layers
from ..layers.base import placeholder_weights
from .atomic import atomic_write

FORMAT_VERSION = 1
MAX_JSON_BYTES = 4 * 2**20
MAX_JSON_DEPTH = 64
MAX_JSON_ITEMS = 250_000  # values and containers: a 1,000-layer config has about 30,000
MAX_EXPANSION = 64
EXPANSION_SLACK = 16 * 2**20
_CHUNK = 2**20
_NPY_HEADER_LIMIT = 10_000  # numpy's own default for a trusted .npy header
_MANIFEST_BYTES_PER_WEIGHT = 4096  # a manifest entry is about 100 bytes
_MODEL_MEMBERS = ("metadata.json", "config.json", "model.weights.npz")
_COMPILE_MEMBERS = ("compile.json", "optimizer.weights.npz")  # present when the model was compiled
_WEIGHT_KINDS = "fiub"  # float, signed and unsigned int, bool: no objects, no records

__all__ = [
    "FORMAT_VERSION",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_ITEMS",
    "MAX_EXPANSION",
    "EXPANSION_SLACK",
    "save_weights",
    "load_weights",
    "save_model",
    "load_model",
]


class _Refused(Exception):
    """A reason the file cannot be loaded; turned into a ValueError naming the file."""


# ---------------------------------------------------------------------- saving
def _reject_keras_paths(path):
    if str(path).endswith((".keras", ".h5")):
        raise ValueError(
            f"Invalid value for argument `filepath`. This module reads and writes npconv's own format "
            f"only. Received: filepath={str(path)!r}. For Keras's .keras/.h5 files use model.save, "
            f"model.load_weights or npconv.models.load_model, which pick the format by extension."
        )


def check_save_path(filepath, suffix, writer):
    """``filepath`` as a string, if it ends in ``suffix``; else a ValueError naming ``writer``."""
    path = os.fspath(filepath)
    _reject_keras_paths(path)
    if not path.endswith(suffix):
        other = "save() for a whole model ('.npconv')" if suffix != ".npconv" else "save_weights() for weights only"
        raise ValueError(
            f"Invalid value for argument `filepath`. {writer} writes a path ending in {suffix!r}; use "
            f"model.{other}. Received: filepath={path!r}"
        )
    return path


def _output(filepath, suffix, writer):
    """A context giving the file to write: an atomic temporary file for a path, or
    the caller's own binary file object (written in place, left open)."""
    if hasattr(filepath, "write"):
        return contextlib.nullcontext(filepath)
    return atomic_write(check_save_path(filepath, suffix, writer))


def _check_built(model, method):
    if not getattr(model, "built", False):
        raise ValueError(
            f"You called {method}() on model '{model.name}', which has not yet been built, so it has "
            f"no weights to save. Build it first: give it an input shape (npconv.Input(shape) as the "
            f"first layer), call model.build(input_shape), or call it on data."
        )


def _write_npy(archive, name, array):
    with archive.open(name, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def _write_weights(archive, weights):
    manifest = [{"name": w.name, "shape": list(w.shape), "dtype": w.dtype.name} for w in weights]
    _write_npy(archive, "manifest.npy", np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    for i, weight in enumerate(weights):
        _write_npy(archive, f"w{i}.npy", weight.value)


def save_weights(model, filepath):
    """Write ``model``'s weights to ``filepath`` (ending in ``.weights.npz``), atomically.

    Args:
        model: a built npconv model.
        filepath: the target path, ending in ``.weights.npz``; an existing file
            is replaced only once the new one is complete. A binary file object
            is written in place.
    """
    output = _output(filepath, ".weights.npz", "save_weights()")
    _check_built(model, "save_weights")
    with output as file, zipfile.ZipFile(file, "w") as archive:
        _write_weights(archive, model.weights)


def save_model(model, filepath):
    """Write ``model``'s config and weights to one ``.npconv`` archive, atomically.

    A compiled model also keeps its compile settings (``compile.json``, in
    Keras 3's ``compile_config`` form) and its optimizer's state
    (``optimizer.weights.npz``, in Keras 3's variable order), so
    ``load_model`` returns it compiled and training continues where it stopped.

    Args:
        model: a built npconv model whose config is plain JSON (no Python
            functions as activations).
        filepath: the target path, ending in ``.npconv``; an existing file is
            replaced only once the new one is complete. A binary file object
            (``io.BytesIO``) is written in place.
    """
    output = _output(filepath, ".npconv", "save()")
    _check_built(model, "save")
    config = json.dumps(model.get_config(), default=json_default)  # fails before any file is opened
    metadata = json.dumps({"format": "npconv", "version": FORMAT_VERSION})
    compiled = optimizer = None
    if getattr(model, "compiled", False):
        from . import compile_state  # reason: import time, ~30 ms, only when compiled

        compiled = json.dumps(compile_state.compile_config(model), default=json_default)
        optimizer = model.optimizer
    with output as file, zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", metadata)
        archive.writestr("config.json", config)
        _write_nested(archive, "model.weights.npz", model.weights)
        if compiled is not None:
            archive.writestr("compile.json", compiled)
            if optimizer is not None and optimizer.built:
                _write_nested(archive, "optimizer.weights.npz", optimizer.variables)


def _write_nested(archive, name, variables):
    """A weights archive as an uncompressed member, so loading reads its arrays in place."""
    stored = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    stored.compress_type = zipfile.ZIP_STORED
    with archive.open(stored, "w", force_zip64=True) as member, zipfile.ZipFile(member, "w") as inner:
        _write_weights(inner, variables)


def json_default(value):
    """JSON for a config's tuples and NumPy scalars (``json.dumps(..., default=json_default)``)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot save {type(value).__name__} in a model config.")


# --------------------------------------------------------------------- loading
@contextlib.contextmanager
def _refusals(path, outcome):
    """Turn every way a file can be bad into one ValueError naming it."""
    try:
        yield
    except _Refused as error:
        raise ValueError(f"Cannot load {path!r}: {error} {outcome}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error, NotImplementedError) as error:
        raise ValueError(
            f"Cannot load {path!r}: it is truncated or corrupt ({type(error).__name__}: {error}). {outcome}"
        ) from None


def _open_zip(file, what):
    file.seek(0)
    if file.read(8) == b"\x89HDF\r\n\x1a\n":
        raise _Refused(
            f"it is an HDF5 file (Keras's .h5 format), not {what}. npconv reads the files its own "
            f"save() and save_weights() write."
        )
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, ValueError):
        raise _Refused(f"it is not a readable zip archive, so it is not {what}.") from None
    archive.npconv_size = file.seek(0, 2)  # the bytes really there: the base of the expansion limit
    names = [info.filename for info in archive.infolist()]
    repeated = sorted({name for name in names if names.count(name) > 1}) if len(set(names)) < len(names) else []
    if repeated:
        raise _Refused(f"the archive holds the member {repeated[0]!r} more than once.")
    for info in archive.infolist():
        if info.flag_bits & 0x1:
            raise _Refused(f"the member {info.filename!r} is encrypted.")
    return archive


def _check_members(archive, expected, what, optional=()):
    names = archive.namelist()
    allowed = set(expected) | set(optional)
    unexpected = [name for name in names if name not in allowed]
    if unexpected:
        listed = sorted(allowed) if len(allowed) <= 8 else "manifest.npy, w0.npy, w1.npy, ..."
        raise _Refused(f"it holds an unexpected member {_short(unexpected[0])}; {what} holds only {listed}.")
    missing = [name for name in expected if name not in names]
    if missing:
        raise _Refused(f"the member {missing[0]!r} is missing.")


def _expansion_limit(archive, infos):
    """The most bytes ``infos`` may declare: MAX_EXPANSION times what they store
    (never counting more than the archive's real size) plus EXPANSION_SLACK."""
    stored = min(sum(info.compress_size for info in infos), archive.npconv_size)
    return MAX_EXPANSION * stored + EXPANSION_SLACK


def _read_exactly(member, size):
    data = member.read(size)
    if len(data) != size or member.read(1):
        raise _Refused(f"a member does not hold the {size} bytes its header declares.")
    return data


def _read_json(archive, name):
    info = archive.getinfo(name)
    if info.file_size > MAX_JSON_BYTES:
        raise _Refused(f"{name} declares {info.file_size} bytes; the limit is {MAX_JSON_BYTES}.")
    if info.file_size > _expansion_limit(archive, [info]):
        raise _Refused(f"{name} would expand to {info.file_size} bytes from {info.compress_size} stored.")
    with archive.open(info) as member:
        return _parse_json(_read_exactly(member, info.file_size), name)


def _parse_json(data, name):
    items = data.count(b",") + data.count(b"[") + data.count(b"{")  # an upper bound, counted before parsing
    if items > MAX_JSON_ITEMS:
        raise _Refused(f"{name} holds about {items} JSON values; the limit is {MAX_JSON_ITEMS}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Refused(f"{name} is not valid UTF-8 ({error}).") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as error:
        raise _Refused(f"{name} repeats the key {_short(str(error))} in one object.") from None
    except RecursionError:
        value = None
        depth = MAX_JSON_DEPTH + 1
    except ValueError as error:  # JSONDecodeError, or an integer past Python's digit limit
        raise _Refused(f"{name} is not valid JSON ({error}).") from None
    else:
        depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise _Refused(f"{name} nests deeper than {MAX_JSON_DEPTH} levels.")
    return value


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs):
    """A JSON object as a dict, refusing a key given twice (which would silently hide one value)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return value


def _depth(value):
    """How deeply lists and dicts nest in ``value``, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _short(name, limit=80):
    return repr(name if len(name) <= limit else name[:limit] + "...")


def _json_text(value, limit=80):
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


class _Stored:
    """One array member: its npy header, checked; the data is read later, once."""

    def __init__(self, archive, info):
        self.info = info
        self.member = archive.open(info)
        try:
            version = np.lib.format.read_magic(self.member)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npconv writes .npy versions 1.0 and 2.0, not {version}")
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            self.shape, self.fortran, self.dtype = reader(self.member, max_header_size=_NPY_HEADER_LIMIT)
        except (ValueError, TypeError, SyntaxError) as error:
            self.member.close()
            raise _Refused(f"the member {info.filename!r} has no valid .npy header ({error}).") from None
        dtype = self.dtype
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in _WEIGHT_KINDS:
            self.member.close()
            raise _Refused(
                f"the member {info.filename!r} holds dtype {str(dtype)!r}; npconv reads only numeric arrays "
                f"(never pickled objects)."
            )
        self.nbytes = math.prod(self.shape) * dtype.itemsize
        held = info.file_size - self.member.tell()
        if held != self.nbytes:
            self.member.close()
            raise _Refused(
                f"the member {info.filename!r} declares shape {list(self.shape)} of {dtype.name} "
                f"({self.nbytes} bytes) but holds {held} bytes."
            )

    def read(self):
        """The array, read in chunks straight into its own memory (once)."""
        order = "F" if self.fortran else "C"
        array = np.empty(self.shape, self.dtype, order=order)
        view = memoryview(array.reshape(-1, order="A")).cast("B") if array.size else memoryview(b"")
        done = 0
        while done < self.nbytes:
            chunk = self.member.read(min(_CHUNK, self.nbytes - done))
            if not chunk:
                raise _Refused(f"the member {self.info.filename!r} ends early.")
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
        if self.member.read(1):
            raise _Refused(f"the member {self.info.filename!r} holds more than it declares.")
        return array


class _WeightsFile:
    """A weights archive whose manifest, member list and array headers are checked."""

    def __init__(self, archive):
        infos = archive.infolist()
        if "manifest.npy" not in archive.namelist():
            raise _Refused("the member 'manifest.npy' is missing, so it is not an npconv weights file.")
        limit = _expansion_limit(archive, infos)
        if sum(info.file_size for info in infos) > limit:
            raise _Refused(
                f"its members would expand to {sum(i.file_size for i in infos)} bytes from "
                f"{sum(i.compress_size for i in infos)} stored (a zip bomb); the limit is {limit}."
            )
        manifest_info = archive.getinfo("manifest.npy")
        budget = min(MAX_JSON_BYTES, _MANIFEST_BYTES_PER_WEIGHT * len(infos))
        if manifest_info.file_size > budget:
            raise _Refused(
                f"manifest.npy declares {manifest_info.file_size} bytes for {len(infos) - 1} weights; "
                f"the limit is {budget}."
            )
        manifest = _Stored(archive, manifest_info)
        try:
            if manifest.dtype != np.uint8 or len(manifest.shape) != 1:
                raise _Refused("manifest.npy is not a byte string of JSON.")
            self.manifest = _check_manifest(_parse_json(manifest.read().tobytes(), "manifest.npy"))
        finally:
            manifest.member.close()
        _check_members(archive, {"manifest.npy", *(f"w{i}.npy" for i in range(len(self.manifest)))}, "a weights file")
        self.arrays = []
        try:
            for i, (name, shape, dtype) in enumerate(self.manifest):
                stored = _Stored(archive, archive.getinfo(f"w{i}.npy"))
                self.arrays.append(stored)
                if stored.shape != shape or stored.dtype.name != dtype:
                    raise _Refused(
                        f"weight {name!r} is listed with shape {list(shape)} and dtype {dtype} but w{i}.npy "
                        f"holds shape {list(stored.shape)} and dtype {stored.dtype.name}."
                    )
        except BaseException:
            self.close()
            raise

    def check_against(self, variables, what):
        """Refuse unless the file holds one array per variable, with the variable's shape."""
        expected = [tuple(v.shape) for v in variables]
        stored = [shape for _, shape, _ in self.manifest]
        if expected != stored:
            raise _Refused(
                f"it holds {len(stored)} weights with shapes {[list(s) for s in stored]}, but {what} has "
                f"{len(expected)} weights with shapes {[list(s) for s in expected]}."
            )

    def read(self):
        return [stored.read() for stored in self.arrays]

    def close(self):
        for stored in self.arrays:
            stored.member.close()


def _check_manifest(manifest):
    if not isinstance(manifest, list):
        raise _Refused(f"manifest.npy holds {type(manifest).__name__}, not a list of weights.")
    entries = []
    for i, entry in enumerate(manifest):
        shape = entry.get("shape") if isinstance(entry, dict) else None
        name, dtype = (entry.get("name"), entry.get("dtype")) if isinstance(entry, dict) else (None, None)
        good_shape = isinstance(shape, list) and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        )
        if not (isinstance(name, str) and good_shape and isinstance(dtype, str)):
            raise _Refused(
                f"manifest.npy entry {i} is not a {{'name': str, 'shape': [int, ...], 'dtype': str}} "
                f"dict: {_json_text(entry)}."
            )
        entries.append((name, tuple(shape), dtype))
    return entries


class _Window(io.RawIOBase):
    """Bytes [start, start + size) of an open binary file, as a seekable file."""

    def __init__(self, file, start, size):
        self._file, self._start, self._size, self._position = file, start, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = min(max(base + offset, 0), self._size)
        return self._position

    def readinto(self, buffer):
        count = min(len(buffer), self._size - self._position)
        if count <= 0:
            return 0
        self._file.seek(self._start + self._position)
        count = self._file.readinto(memoryview(buffer)[:count])
        self._position += count
        return count


def _nested(file, archive, name):
    """The zip archive stored as member ``name``, as a file: read in place when the
    member is uncompressed (as save writes it), else decompressed once, within limits."""
    info = archive.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED:
        file.seek(info.header_offset)
        fields = struct.unpack(zipfile.structFileHeader, file.read(zipfile.sizeFileHeader))
        if fields[0] != zipfile.stringFileHeader:
            raise _Refused(f"the local header of {name!r} is damaged.")
        start = info.header_offset + zipfile.sizeFileHeader + fields[10] + fields[11]
        return _Window(file, start, info.compress_size)
    if info.file_size > _expansion_limit(archive, [info]):
        raise _Refused(f"{name} would expand to {info.file_size} bytes from {info.compress_size} stored.")
    with archive.open(info) as member:
        return io.BytesIO(_read_exactly(member, info.file_size))


def _open_weights(file):
    """The checked weights of a weights file, or of a whole-model .npconv file."""
    archive = _open_zip(file, "an npconv weights file")
    names = archive.namelist()
    if "config.json" in names and "model.weights.npz" in names:
        _check_members(archive, _MODEL_MEMBERS, "an npconv model file", _COMPILE_MEMBERS)
        _check_metadata(_read_json(archive, "metadata.json"))
        archive = _open_zip(_nested(file, archive, "model.weights.npz"), "an npconv weights file")
    return _WeightsFile(archive)


def _input(filepath, kind):
    """(label for messages, context giving a seekable binary file) for a path or a file object."""
    if hasattr(filepath, "read"):
        return getattr(filepath, "name", f"<{type(filepath).__name__}>"), contextlib.nullcontext(filepath)
    path = os.fspath(filepath)
    _reject_keras_paths(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {kind} file at {path!r}.")
    return path, open(path, "rb")


def load_weights(model, filepath):
    """Set ``model``'s weights from a file ``save_weights`` (or ``save``) wrote.

    Like Keras's ``load_weights``, this reads a weights file or the weights of
    a whole-model ``.npconv`` file. Everything is checked before any weight
    changes: a damaged or mismatched file raises ValueError and leaves the
    model as it was.

    Args:
        model: a built npconv model.
        filepath: a ``.weights.npz`` or ``.npconv`` file (or a seekable binary
            file object holding one).
    """
    if not getattr(model, "built", False):
        raise ValueError(
            f"You called load_weights() on model '{model.name}', which has not yet been built, so it has no "
            f"weights to set. Build it first (npconv.Input(shape) as the first layer, or model.build(input_shape))."
        )
    path, source = _input(filepath, "weights")
    with _refusals(path, "The model's weights were not changed."), source as file:
        weights = _open_weights(file)
        try:
            weights.check_against(model.weights, f"model '{model.name}'")
            arrays = weights.read()
        finally:
            weights.close()
    model.set_weights(arrays)


def _check_metadata(metadata):
    if not isinstance(metadata, dict) or metadata.get("format") != "npconv":
        raise _Refused('metadata.json does not say {"format": "npconv", ...}; it is not an npconv model file.')
    version = metadata.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Refused(f"metadata.json holds version={_json_text(version)}, not a positive integer.")
    if version > FORMAT_VERSION:
        raise _Refused(
            f"it was written in npconv format version {version}; this npconv reads up to version "
            f"{FORMAT_VERSION}. Upgrade npconv to load it."
        )


def _check_trainable(config, where="config.json"):
    """Every ``trainable`` in the config must be true or false (not "no")."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "trainable" in item and not isinstance(item["trainable"], bool):
                raise _Refused(f"{where} sets trainable={_json_text(item['trainable'])}; it must be true or false.")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _model_from_config(config):
    functional = isinstance(config, dict) and "input_layers" in config
    with placeholder_weights():
        try:
            return layers.MODEL_CLASSES["Functional" if functional else "Sequential"].from_config(config)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise _Refused(f"config.json does not describe a model npconv can build ({error}).") from None


def load_model(filepath, compile=True):
    """A Sequential or Functional model from the ``.npconv`` archive ``model.save`` wrote, weights included.

    The config is checked and the model built with placeholder weights; its
    weight shapes are compared with the file's arrays; only then is each array
    read, once, into the weight it becomes. A damaged or hostile file raises
    ValueError naming the file, and no model is returned.

    Args:
        filepath: a file written by ``model.save`` (or a seekable binary file
            object holding one, such as ``io.BytesIO``).
        compile: if the model was compiled when saved, compile it again with the
            saved settings and restore its optimizer's state (iterations, learning
            rate, moments), as Keras does. ``False`` returns it uncompiled.
    """
    path, source = _input(filepath, "model")
    with _refusals(path, "No model was loaded."), source as file:
        archive = _open_zip(file, "an npconv model file")
        names = archive.namelist()
        if "manifest.npy" in names and "config.json" not in names:
            raise _Refused("it is a weights file (from save_weights); read it with model.load_weights(path).")
        _check_members(archive, _MODEL_MEMBERS, "an npconv model file", _COMPILE_MEMBERS)
        _check_metadata(_read_json(archive, "metadata.json"))
        config = _read_json(archive, "config.json")
        _check_trainable(config)
        weights = _WeightsFile(_open_zip(_nested(file, archive, "model.weights.npz"), "an npconv weights file"))
        try:
            model = _model_from_config(config)
            if not model.built:
                raise _Refused("it holds a model with no input shape, so its weights cannot be placed.")
            weights.check_against(model.weights, "the model its config.json describes")
            arrays = weights.read()
        finally:
            weights.close()
        for variable, array in zip(model.weights, arrays):
            variable.value = np.ascontiguousarray(array, dtype=variable.dtype)
        if compile and "compile.json" in names:
            _restore_compile_state(file, archive, model)
    return model


def _restore_compile_state(file, archive, model):
    """Compile ``model`` from compile.json and restore optimizer.weights.npz, checked before any change."""
    from .compile_state import compile_from_config, set_optimizer_variables  # reason: import time, ~30 ms

    compiled = _read_json(archive, "compile.json")
    try:
        compile_from_config(model, compiled)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise _Refused(f"compile.json does not describe settings npconv can compile with ({error}).") from None
    if "optimizer.weights.npz" not in archive.namelist():
        return
    state = _WeightsFile(_open_zip(_nested(file, archive, "optimizer.weights.npz"), "an npconv weights file"))
    try:
        optimizer = model.optimizer
        optimizer.build(model.trainable_weights)
        state.check_against(optimizer.variables, f"optimizer '{optimizer.name}' of the model")
        arrays = state.read()
    finally:
        state.close()
    set_optimizer_variables(optimizer, arrays, model.trainable_weights)
