"""Keras 3's ``.keras`` archive and legacy ``.h5`` model files, read and written without Keras.

A ``.keras`` file is a zip of three members: ``metadata.json`` (``keras_version``,
``date_saved``), ``config.json`` (the model's config, with ``compile_config``) and
``model.weights.h5`` (see :mod:`.keras_weights`). A legacy ``.h5`` file keeps
the config as the JSON string attribute ``model_config`` (and the compile settings
in ``training_config``); its weights sit at ``model_weights/<layer name>/<weight
name>``, in the order of each layer group's ``weight_names`` attribute.

Loading, in order, each step able to refuse the file before the next starts:

1. the zip directory: only the three expected members, no duplicates, plain
   names, stored or deflated, each declared size under its cap;
2. the JSON members, parsed as JSON only (duplicate keys refused);
3. the whole config tree against :mod:`.allowlist`;
4. the model is built from npconv's classes; each dataset is checked
   (:mod:`.h5`) and its shape matched to the model before any data is read;
5. all arrays are read, then assigned together.

Nothing is extracted or written to disk: zip members are read into memory.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import warnings
import zipfile

import numpy as np

from .. import layers
from . import h5, keras_weights
from .allowlist import Problem, RefusedFileError, check_config, find_problems, parse_json
from .atomic import atomic_write
from .compile_state import compile_config, compile_from_config, optimizer_variables, set_optimizer_variables
from .native import json_default

__all__ = ["KERAS_VERSION", "load_model", "save_model", "save_weights", "load_weights", "read_archive"]

KERAS_VERSION = "3.15.1"  # the Keras release whose files this layout was checked against
MAX_JSON_BYTES = 1 << 26  # 64 MiB of config is far more than any real model's
MAX_WEIGHTS_BYTES = 1 << 35  # 32 GiB
_MEMBERS = {"metadata.json": MAX_JSON_BYTES, "config.json": MAX_JSON_BYTES, "model.weights.h5": MAX_WEIGHTS_BYTES}


def _zip_problems(archive, file_size):
    """Every problem with the zip directory (no member is read)."""
    problems, seen = [], set()
    for info in archive.infolist():
        name = info.filename
        where = f"member {name[:80]!r}"
        if name in seen:
            problems.append(Problem(where, "appears twice in the archive (duplicate members are refused)"))
            continue
        seen.add(name)
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name or "\\" in name:
            problems.append(Problem(where, "a path that leaves the archive (path traversal)"))
            continue
        if name not in _MEMBERS:
            problems.append(
                Problem(where, "not a member of a Keras model file (metadata.json, config.json, model.weights.h5)")
            )
            continue
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(Problem(where, f"compression method {info.compress_type} (only stored and deflated)"))
        if info.flag_bits & 0x1:
            problems.append(Problem(where, "encrypted"))
        if info.file_size > _MEMBERS[name]:
            problems.append(Problem(where, f"declares {info.file_size:,} bytes, over the cap of {_MEMBERS[name]:,}"))
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            problems.append(Problem(where, "a stored member whose sizes disagree"))
        ratio = info.file_size / max(info.compress_size, 1)
        if info.compress_type == zipfile.ZIP_DEFLATED and (ratio > 1100 or (info.file_size > 1 << 24 and ratio > 200)):
            problems.append(
                Problem(where, f"expands {info.file_size:,} bytes from {info.compress_size:,} (a zip bomb's ratio)")
            )
        if info.compress_size > file_size:
            problems.append(Problem(where, f"claims {info.compress_size:,} bytes in a file of {file_size:,}"))
    for name in ("metadata.json", "config.json", "model.weights.h5"):
        if name not in seen:
            problems.append(Problem(f"member {name!r}", "missing"))
    return problems


def _read_member(archive, name, label):
    info = archive.getinfo(name)
    limit = _MEMBERS[name]
    try:
        with archive.open(info) as member:
            data = member.read(min(info.file_size, limit) + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
        raise RefusedFileError(
            [Problem(f"{label}:{name}", f"unreadable ({str(error)[:120]}); the file may be truncated")]
        ) from None
    if len(data) != info.file_size:
        raise RefusedFileError([Problem(f"{label}:{name}", "holds a different size than it declares")])
    return data


class Archive:
    """What a ``.keras`` file holds, read and checked: metadata, config, weights bytes, problems."""

    def __init__(self, metadata, config, weights, problems):
        self.metadata, self.config, self.weights, self.problems = metadata, config, weights, problems


def open_zip(path):
    """``path`` as a ZipFile; a file that is not one is a RefusedFileError naming it."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        label = os.path.basename(os.fspath(path))
        raise RefusedFileError(
            [Problem(label, f"not a readable zip archive ({str(error)[:120]}); it may be truncated")]
        ) from None


def read_archive(path, custom_objects=None, with_weights=True):
    """Open and check a ``.keras`` file. Raises RefusedFileError for any problem."""
    label = os.path.basename(os.fspath(path))
    file_size = os.path.getsize(path)
    with open_zip(path) as archive:
        problems = _zip_problems(archive, file_size)
        if problems:
            raise RefusedFileError(problems, path)
        metadata = parse_json(_read_member(archive, "metadata.json", label), f"{label}:metadata.json")
        config = parse_json(_read_member(archive, "config.json", label), f"{label}:config.json")
        problems = find_problems(config, "config.json", custom_objects)
        if problems:
            raise RefusedFileError(problems, path)
        weights = _read_member(archive, "model.weights.h5", label) if with_weights else None
    return Archive(metadata if isinstance(metadata, dict) else {}, config, weights, [])


# --------------------------------------------------------------- building
@contextlib.contextmanager
def _custom_layers(custom_objects):
    """Let npconv's layer registry build the caller's own classes while one model loads."""
    added = {}
    for name, obj in (custom_objects or {}).items():
        if isinstance(obj, type) and name not in layers._CLASSES:
            added[name] = obj
            added.setdefault(obj.__name__, obj)
    for name, obj in added.items():
        layers._CLASSES.setdefault(name, obj)
    try:
        yield
    finally:
        for name in added:
            layers._CLASSES.pop(name, None)


def _adapt(node, custom=()):
    """Drop Keras 3 config keys that only carry their 'off' value and that npconv layers do not take;
    file the caller's own classes (``custom``) under ``keras.layers``, where the registry holds them."""
    if isinstance(node, list):
        return [_adapt(v, custom) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") in custom and "config" in node:
        node = {**node, "module": "keras.layers", "registered_name": None}
    out = {}
    if node.get("class_name") == "InputLayer" and isinstance(node.get("config"), dict):
        off = {k: v for k, v in node["config"].items() if not (k in ("sparse", "ragged", "optional") and not v)}
        node = {**node, "config": off}
    for key, value in node.items():
        if key == "quantization_config":
            if value is not None:
                raise ValueError(
                    f"The model has a quantized layer (quantization_config={str(value)[:60]}); npconv runs "
                    f"float layers only. Save the float model from Keras."
                )
            continue
        out[key] = _adapt(value, custom)
    return out


def build_model(config, custom_objects=None, label="config.json"):
    """An npconv model from a Keras model config entry (already allowlist-checked)."""
    check_config(config, label, custom_objects)
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ValueError(f"{label!r} does not hold a Keras model config (no 'class_name' and 'config').")
    class_name = config.get("class_name")
    custom = {name for name, obj in (custom_objects or {}).items() if isinstance(obj, type)}
    custom |= {obj.__name__ for obj in (custom_objects or {}).values() if isinstance(obj, type)}
    inner = _adapt(config["config"], custom)
    with _custom_layers(custom_objects):
        if class_name == "Sequential":
            model = layers.MODEL_CLASSES["Sequential"].from_config(inner)
            if not model.built and inner.get("build_input_shape"):
                model.build(tuple(inner["build_input_shape"]))
            if not model.built and isinstance(config.get("build_config"), dict):
                shape = config["build_config"].get("input_shape")
                if shape:
                    model.build(tuple(shape))
        elif class_name in ("Functional", "Model"):
            model = layers.MODEL_CLASSES["Functional"].from_config(inner)
        else:
            raise ValueError(
                f"{label!r} holds a {class_name!r} at its top; npconv loads Sequential and Functional models."
            )
    if not model.built:
        raise ValueError(f"{label!r} holds a model with no input shape; it cannot be rebuilt.")
    return model


def _restore_compile(model, config, source, custom_objects):
    if not config:
        return
    compile_from_config(model, config, custom_objects)
    arrays = keras_weights.read_optimizer(source) if source is not None else None
    if arrays:
        _restore_optimizer(model, arrays)


# --------------------------------------------------------------- .keras
def load_model(filepath, custom_objects=None, compile=True):
    """A model from a Keras 3 ``.keras`` file or a legacy ``.h5`` file (see the module docstring)."""
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    try:
        if path.endswith((".h5", ".hdf5")):
            return _load_legacy(path, custom_objects, compile)
        archive = read_archive(path, custom_objects)
        model = build_model(archive.config, custom_objects)
        with h5.open_file(archive.weights, "model.weights.h5") as safe:
            source = keras_weights.WeightSource.single(safe)
            variables, arrays = keras_weights.read_weights(model, source)
            keras_weights.assign_weights(variables, arrays)
            if compile:
                _restore_compile(model, archive.config.get("compile_config"), source, custom_objects)
        return model
    except RefusedFileError as error:
        raise error.with_path(path) from None


# npconv-only layer arguments, with the value that means "as Keras does".
_NPCONV_ONLY = {"padding_mode": "zeros"}


def _for_keras(node, where="model"):
    """The config with npconv-only arguments at their Keras meaning removed; others refused."""
    if isinstance(node, list):
        return [_for_keras(v, where) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") in ("Functional", "Model") and "module" in node:
        # Keras resolves a nested Functional only under its own module and registered name.
        node = {**node, "module": "keras.src.models.functional", "registered_name": "Functional"}
    if node.get("module") == "keras.layers" and isinstance(node.get("config"), dict):
        config = dict(node["config"])
        name = config.get("name", node.get("class_name"))
        for key, default in _NPCONV_ONLY.items():
            if key in config:
                if config[key] != default:
                    raise ValueError(
                        f"Layer '{name}' uses {key}={config[key]!r}, which Keras does not have, so a '.keras' "
                        f"file cannot hold it. Save to a '.npconv' path instead."
                    )
                del config[key]
        node = {**node, "config": config}
    return {key: _for_keras(value, where) for key, value in node.items()}


def _model_entry(model):
    functional = not isinstance(model, layers.MODEL_CLASSES["Sequential"])
    entry = {
        "module": "keras.src.models.functional" if functional else "keras",
        "class_name": "Functional" if functional else "Sequential",
        "config": _for_keras(model.get_config()),
        "registered_name": "Functional" if functional else None,
        "build_config": {"input_shape": None if functional else list(model.input_shape)},
        "compile_config": compile_config(model),
    }
    return json.loads(json.dumps(entry, default=json_default))


def _optimizer_state(model):
    """(arrays, name) of a compiled model's built optimizer, else (None, None)."""
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    if optimizer is None:
        return None, None
    return optimizer_variables(optimizer), optimizer.name


def save_model(model, filepath):
    """Write ``model`` as a Keras 3 ``.keras`` file that ``keras.saving.load_model`` reads."""
    if not model.built:
        raise ValueError(f"Model '{model.name}' is not built; build it (or call it on data) before saving.")
    config = _model_entry(model)
    weights = keras_weights.weights_bytes(model, *_optimizer_state(model))
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    with atomic_write(filepath) as file:
        file.write(buffer.getvalue())


# ---------------------------------------------------------- .weights.h5
def save_weights(model, filepath, max_shard_size=None):
    """Keras 3's ``.weights.h5`` (or, with ``max_shard_size`` in GB, a sharded ``.weights.json``)."""
    path = os.fspath(filepath)
    if max_shard_size is not None:
        if not path.endswith(".weights.json"):
            path = path[: -len(".weights.h5")] + ".weights.json" if path.endswith(".weights.h5") else path
        if not path.endswith(".weights.json"):
            raise ValueError(
                f"Invalid value for argument `filepath`. A sharded save needs a '.weights.json' path. "
                f"Received: filepath={str(filepath)!r}"
            )
        keras_weights.write_sharded(model, path, max_shard_size, *_optimizer_state(model))
        return
    with atomic_write(path) as file:
        file.write(keras_weights.weights_bytes(model, *_optimizer_state(model)))


def load_weights(model, filepath):
    """Read ``.weights.h5``, a sharded ``.weights.json`` or the weights of a ``.keras`` file.

    Everything is checked and read first; on any error the model keeps its weights.
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file at {path!r}.")
    if not model.built:
        raise ValueError(f"Model '{model.name}' is not built; build it before loading weights into it.")
    try:
        if path.endswith(".weights.json"):
            source = keras_weights.WeightSource.sharded(path)
        elif path.endswith(".keras"):
            archive = read_archive(path)
            source = keras_weights.WeightSource.single(h5.open_file(archive.weights, "model.weights.h5"))
        elif path.endswith((".h5", ".hdf5")) and not path.endswith(".weights.h5"):
            return _load_legacy_weights(model, path)
        else:
            source = keras_weights.WeightSource.single(h5.open_file(path, os.path.basename(path)))
        try:
            variables, arrays = keras_weights.read_weights(model, source)
            optimizer = keras_weights.read_optimizer(source) if getattr(model, "compiled", False) else None
        finally:
            source.close()
    except RefusedFileError as error:
        raise error.with_path(path) from None
    keras_weights.assign_weights(variables, arrays)
    if optimizer:
        _restore_optimizer(model, optimizer)


def _restore_optimizer(model, arrays):
    """As Keras: state whose count does not fit the optimizer is skipped with a warning."""
    try:
        set_optimizer_variables(model.optimizer, arrays, model.trainable_weights)
    except ValueError as error:
        warnings.warn(f"The optimizer state in the file was not loaded: {error}", stacklevel=3)


# ------------------------------------------------------------ legacy .h5
def _legacy_text(safe, node, name, path):
    value = safe.attribute(node, name, path)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise RefusedFileError([Problem(f"{safe.label}@{name}", "not a JSON string")])


def read_legacy(path, custom_objects=None):
    """(safe file, model config, training config, keras_version) of a legacy ``.h5`` file."""
    label = os.path.basename(path)
    safe = h5.open_file(path, label)
    try:
        raw = _legacy_text(safe, safe.file, "model_config", "/")
        if raw is None:
            raise RefusedFileError(
                [Problem(label, "no 'model_config' attribute: a weights-only .h5 file, not a whole model")]
            )
        config = parse_json(raw, f"{label}@model_config")
        problems = find_problems(config, "model_config", custom_objects)
        raw_training = _legacy_text(safe, safe.file, "training_config", "/")
        training = parse_json(raw_training, f"{label}@training_config") if raw_training else None
        if training is not None:
            problems += find_problems(training, "training_config", custom_objects)
        if problems:
            raise RefusedFileError(problems)
        version = safe.attribute(safe.file, "keras_version", "/")
    except BaseException:
        safe.close()
        raise
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return safe, config, training, version


def _text_list(value):
    if value is None:
        return []
    values = np.asarray(value).ravel().tolist()
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def legacy_layer_weights(safe, model):
    """``[(variable, dataset, path)]`` from a legacy file's layer groups, checked, unread.

    As Keras's legacy loader: the file's ``layer_names`` that hold weights pair, in order,
    with the model's layers that have weights (names need not match). Whole-model files
    keep the groups under ``model_weights``; weights-only files at the root.
    """
    root = safe.get("model_weights")
    prefix = "model_weights/" if root is not None and safe.is_group(root) else ""
    holder = root if prefix else safe.file
    names = _text_list(safe.attribute(holder, "layer_names", prefix or "/"))
    stored = []
    for name in names:
        group = safe.get(f"{prefix}{name}")
        weight_names = _text_list(safe.attribute(group, "weight_names", f"{prefix}{name}")) if group else []
        if weight_names:
            stored.append((name, weight_names))
    layers = [layer for layer in model.layers if layer.weights]
    if len(stored) != len(layers):
        raise ValueError(
            f"The file holds weights for {len(stored)} layers ({[n for n, _ in stored][:6]}), but model "
            f"'{model.name}' has {len(layers)} layers with weights. The model's weights were not changed."
        )
    plan = []
    for layer, (name, weight_names) in zip(layers, stored):
        own = list(layer.trainable_weights) + list(layer.non_trainable_weights)
        if len(weight_names) != len(own):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(own)} weights, but the file "
                f"lists {len(weight_names)} for layer '{name}'. The model's weights were not changed."
            )
        for variable, weight_name in zip(own, weight_names):
            where = f"{prefix}{name}/{weight_name}"
            dataset = safe.get(where)
            if dataset is None or not safe.is_dataset(dataset):
                raise ValueError(
                    f"The file lists weight {weight_name!r} for layer {name!r} but has no dataset at {where!r}."
                )
            shape, _ = safe.check_dataset(dataset, where)
            if shape != tuple(variable.shape):
                raise ValueError(
                    f"Layer '{layer.name}' weight '{variable.name}' has shape {tuple(variable.shape)}, but the "
                    f"file holds {shape} at {where!r}. The model's weights were not changed."
                )
            plan.append((variable, dataset, where))
    return plan


def _load_legacy_weights(model, path):
    label = os.path.basename(path)
    safe = h5.open_file(path, label)
    with safe:
        raw = _legacy_text(safe, safe.file, "model_config", "/")
        if raw is not None:  # not used here, but a file npconv refuses is refused everywhere
            check_config(parse_json(raw, f"{label}@model_config"), "model_config")
        plan = legacy_layer_weights(safe, model)
        arrays = [safe.read(dataset, where) for _, dataset, where in plan]
    keras_weights.assign_weights([v for v, _, _ in plan], arrays)


def _load_legacy(path, custom_objects, compile):
    safe, config, training, _ = read_legacy(path, custom_objects)
    with safe:
        model = build_model(config, custom_objects, label=os.path.basename(path))
        plan = legacy_layer_weights(safe, model)
        arrays = [safe.read(dataset, where) for _, dataset, where in plan]
        keras_weights.assign_weights([v for v, _, _ in plan], arrays)
        if compile and training:
            _restore_legacy_compile(model, training, safe, custom_objects)
    return model


def _restore_legacy_compile(model, training, safe, custom_objects):
    config = {
        "optimizer": training.get("optimizer_config"),
        "loss": training.get("loss"),
        "metrics": training.get("metrics"),
        "loss_weights": training.get("loss_weights"),
        "weighted_metrics": training.get("weighted_metrics"),
    }
    compile_from_config(model, config, custom_objects)
    group = safe.get("optimizer_weights")
    if group is None or not safe.is_group(group):
        return
    names = _text_list(safe.attribute(group, "weight_names", "optimizer_weights"))
    arrays = []
    for name in names:
        dataset = safe.get(f"optimizer_weights/{name}")
        if dataset is None or not safe.is_dataset(dataset):
            raise ValueError(f"The file lists optimizer weight {name!r} but has no dataset for it.")
        arrays.append(safe.read(dataset, f"optimizer_weights/{name}"))
    if arrays:
        _restore_optimizer(model, arrays)
