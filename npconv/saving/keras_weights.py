"""Keras 3's weights layout (``model.weights.h5`` inside ``.keras``, and ``.weights.h5``).

Keras 3 stores each layer's variables under a key made from its class, not its name::

    layers/<key>/vars/0, 1, ...          a layer's variables, trainable then non-trainable
    layers/<key>/layers/<key>/vars/...   the layers of a nested model
    layers/<key>/vars                    a nested model's own (empty) variables group
    vars                                 the model's own (empty) variables group
    optimizer/vars/0, 1, ...             the optimizer state (see compile_state)

``<key>`` is the class name in snake_case (``Conv2D`` -> ``conv2d``,
``BatchNormalization`` -> ``batch_normalization``), with ``_1``, ``_2``, ...
for the second, third ... layer of that class in the same ``layers`` list. The
list is ``model.layers``: a Sequential's excludes its InputLayer, a Functional's
includes its InputLayers. Variable indices sort numerically (``10`` after ``9``).
Each ``vars`` group carries a ``name`` attribute with the object's name.

A sharded save (``save_weights("m.weights.json", max_shard_size=...)``) writes
``m.weights.json``, whose ``weight_map`` maps each ``/layers/<key>/vars`` path to
the shard files holding it (``m_00000.weights.h5``, ...). Shards are read only
from the JSON file's own directory.

Reading checks every dataset's shape against the model before any data is read
and reads everything before any weight changes, so a mismatch or a refused file
leaves the model as it was.
"""

from __future__ import annotations

import io
import json
import os
import re

import numpy as np

from ..layers.base import assign_all
from . import h5
from .allowlist import Problem, RefusedFileError, parse_json
from .atomic import atomic_write

__all__ = ["snake_case", "layer_keys", "weight_slots", "weights_bytes", "read_weights", "assign_weights"]

MAX_INDEX_BYTES = 1 << 24  # a .weights.json index larger than 16 MiB is refused


def snake_case(name):
    """Keras's object key: ``DepthwiseConv2D`` -> ``depthwise_conv2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def is_model(layer):
    """True for a Sequential or Functional model (it holds layers of its own)."""
    return isinstance(getattr(type(layer), "layers", None), property) and hasattr(layer, "get_config")


def layer_keys(layers):
    """``[(key, layer)]`` for one ``layers`` list, with Keras's per-class counters."""
    used, out = {}, []
    for layer in layers:
        class_name = type(layer).__name__
        if class_name == "Model" and is_model(layer):
            class_name = "Functional"  # keras.Model(inputs, outputs) is a Functional
        key = snake_case(class_name)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        out.append((key, layer))
    return out


def _own_variables(layer):
    """Keras's order: variables created trainable, then the others (whatever ``layer.trainable`` is now)."""
    if is_model(layer):
        return []
    weights = list(layer.weights)
    return [w for w in weights if getattr(w, "trainable", True)] + [
        w for w in weights if not getattr(w, "trainable", True)
    ]


def weight_slots(model, prefix="layers"):
    """``[(group path, layer, [variables])]`` for every layer, nested models included."""
    out = []
    for key, layer in layer_keys(model.layers):
        path = f"{prefix}/{key}"
        if is_model(layer):
            out.append((f"{path}/vars", layer, []))
            out.extend(weight_slots(layer, f"{path}/layers"))
        else:
            out.append((f"{path}/vars", layer, _own_variables(layer)))
    return out


# ------------------------------------------------------------------ writing
def weights_bytes(model, optimizer_arrays=None, optimizer_name=None):
    """The ``model.weights.h5`` bytes Keras 3 would write for ``model``."""
    h5py = h5._h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        file.create_group("layers")
        for path, layer, variables in weight_slots(model):
            group = file.require_group(path)
            group.attrs["name"] = layer.name
            for i, variable in enumerate(variables):
                group.create_dataset(str(i), data=np.asarray(variable.value))
        if optimizer_arrays is not None:
            group = file.require_group("optimizer/vars")
            group.attrs["name"] = optimizer_name
            for i, array in enumerate(optimizer_arrays):
                group.create_dataset(str(i), data=array)
        file.create_group("vars").attrs["name"] = model.name
    return buffer.getvalue()


def write_sharded(model, filepath, max_shard_size, optimizer_arrays=None, optimizer_name=None):
    """Keras 3's sharded layout: ``<stem>.weights.json`` plus ``<stem>_NNNNN.weights.h5`` shards.

    ``max_shard_size`` is in GB (1e9 bytes), as Keras's; one layer's vars never span shards.
    """
    h5py = h5._h5py()
    limit = float(max_shard_size) * 1e9
    directory = os.path.dirname(os.path.abspath(filepath))
    stem = os.path.basename(filepath)[: -len(".weights.json")]
    shards, current, size = [], [], 0
    for path, layer, variables in weight_slots(model):
        nbytes = sum(np.asarray(v.value).nbytes for v in variables)
        if nbytes > limit:
            raise ValueError(
                f"Invalid value for argument `max_shard_size`. Layer '{layer.name}' holds {nbytes:,} bytes, "
                f"more than one shard. Received: max_shard_size={max_shard_size}. Give a larger size."
            )
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = [], 0
        current.append((path, layer, variables))
        size += nbytes
    shards.append(current)
    weight_map, total = {}, 0
    for number, entries in enumerate(shards):
        name = f"{stem}_{number:05d}.weights.h5"
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as file:
            file.create_group("layers")
            for path, layer, variables in entries:
                group = file.require_group(path)
                group.attrs["name"] = layer.name
                for i, variable in enumerate(variables):
                    array = np.asarray(variable.value)
                    group.create_dataset(str(i), data=array)
                    total += array.nbytes
                weight_map[f"/{path}"] = [name]
            if number == 0:
                file.create_group("vars").attrs["name"] = model.name
            if number == len(shards) - 1 and optimizer_arrays is not None:
                group = file.require_group("optimizer/vars")
                group.attrs["name"] = optimizer_name
                for i, array in enumerate(optimizer_arrays):
                    group.create_dataset(str(i), data=array)
                weight_map["/optimizer/vars"] = [name]
        with atomic_write(os.path.join(directory, name)) as out:
            out.write(buffer.getvalue())
    index = {"metadata": {"total_size": float(total)}, "weight_map": weight_map}
    with atomic_write(filepath, "w") as out:
        json.dump(index, out, indent=4)


# ------------------------------------------------------------------ reading
class WeightSource:
    """Where a layer's datasets are: one HDF5 file, or shards named by a ``.weights.json`` index."""

    def __init__(self, files, label, weight_map=None):
        self.files, self.label, self.weight_map = files, label, weight_map

    @classmethod
    def single(cls, safe):
        return cls({None: safe}, safe.label)

    @classmethod
    def sharded(cls, index_path):
        index_path = os.fspath(index_path)
        label = os.path.basename(index_path)
        if os.path.getsize(index_path) > MAX_INDEX_BYTES:
            raise RefusedFileError([Problem(label, f"an index file over {MAX_INDEX_BYTES:,} bytes")])
        with open(index_path, "rb") as file:
            index = parse_json(file.read(), label)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise RefusedFileError([Problem(label, "no 'weight_map' object")])
        directory = os.path.dirname(os.path.abspath(index_path))
        files = {}
        for group, shards in weight_map.items():
            shards = [shards] if isinstance(shards, str) else shards
            if not isinstance(shards, list) or not all(isinstance(s, str) for s in shards):
                raise RefusedFileError([Problem(f"{label}:weight_map[{group!r}]", "shards must be file names")])
            for shard in shards:
                if shard in files:
                    continue
                if (
                    os.path.basename(shard) != shard
                    or shard in ("", ".", "..")
                    or "\\" in shard
                    or not shard.endswith(".weights.h5")
                ):
                    raise RefusedFileError(
                        [
                            Problem(
                                f"{label}:weight_map[{group!r}]",
                                f"shard {shard[:80]!r} is not a '.weights.h5' file name in the index's own "
                                f"directory; shards are read only from there",
                            )
                        ]
                    )
                path = os.path.join(directory, shard)
                if os.path.islink(path) or not os.path.isfile(path):
                    raise RefusedFileError(
                        [Problem(f"{label}:weight_map[{group!r}]", f"shard {shard!r} is missing or not a plain file")]
                    )
                files[shard] = None
        for shard in files:
            files[shard] = h5.open_file(os.path.join(directory, shard), shard)
        normalized = {str(k).strip("/"): ([v] if isinstance(v, str) else v) for k, v in weight_map.items()}
        return cls(files, label, normalized)

    def close(self):
        for safe in self.files.values():
            if safe is not None:
                safe.close()

    def _candidates(self, group_path):
        if self.weight_map is None:
            return [self.files[None]]
        return [self.files[name] for name in self.weight_map.get(group_path, [])]

    def group_members(self, group_path):
        """{index: (safe, dataset)} of ``group_path`` over every file holding it; None if absent."""
        found = None
        for safe in self._candidates(group_path):
            group = safe.get(group_path)
            if group is None:
                continue
            if not safe.is_group(group):
                raise RefusedFileError([Problem(f"{safe.label}:{group_path}", "a dataset where a group belongs")])
            found = {} if found is None else found
            for name in safe.children(group, group_path):
                node = safe.get(f"{group_path}/{name}")
                if not safe.is_dataset(node):
                    raise RefusedFileError(
                        [Problem(f"{safe.label}:{group_path}/{name}", "a group where a dataset belongs")]
                    )
                if name in found:
                    raise RefusedFileError([Problem(f"{self.label}:{group_path}/{name}", "stored twice across shards")])
                found[name] = (safe, node)
        return found

    def top_groups(self, path):
        names = set()
        for safe in self.files.values():
            group = safe.get(path)
            if group is not None and safe.is_group(group):
                names.update(safe.children(group, path))
        return names


def _numbered(members, where):
    """The datasets of a vars group in numeric order; names must be 0..n-1."""
    try:
        indices = sorted(int(name) for name in members)
    except ValueError:
        bad = next(name for name in members if not name.isdigit())
        raise RefusedFileError(
            [Problem(where, f"a variable named {bad[:40]!r}; Keras numbers them 0, 1, ...")]
        ) from None
    if indices != list(range(len(indices))):
        raise RefusedFileError([Problem(where, f"variables numbered {indices[:8]}; expected 0..{len(indices) - 1}")])
    return [members[str(i)] for i in indices]


def read_weights(model, source):
    """``(variables, arrays)`` for every layer of ``model`` from ``source``, all checked and read.

    Raises ValueError naming the layer when the file does not match the model.
    """
    variables, arrays, plan = [], [], []
    expected_top = {key for key, _ in layer_keys(model.layers)}
    present = source.top_groups("layers")
    extra = sorted(present - expected_top)
    if extra:
        raise ValueError(
            f"{source.label!r} holds weights for layers {extra[:5]} that model '{model.name}' does not have "
            f"(its layers are {sorted(expected_top)[:8]}). Build the same architecture the weights came from."
        )
    for path, layer, own in weight_slots(model):
        members = source.group_members(path)
        if members is None:
            if own:
                raise ValueError(
                    f"{source.label!r} has no weights for layer '{layer.name}' ({type(layer).__name__}, "
                    f"expected at '{path}'). Build the same architecture the weights came from."
                )
            continue
        datasets = _numbered(members, f"{source.label}:{path}")
        if len(datasets) != len(own):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(own)} variables, but "
                f"{source.label!r} holds {len(datasets)} at '{path}'. The model's weights were not changed."
            )
        for i, (variable, (safe, dataset)) in enumerate(zip(own, datasets)):
            shape, _ = safe.check_dataset(dataset, f"{path}/{i}")
            if shape != tuple(variable.shape):
                raise ValueError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) variable {i} ('{variable.name}') has shape "
                    f"{tuple(variable.shape)}, but {source.label!r} holds shape {shape} at '{path}/{i}'. "
                    f"The model's weights were not changed."
                )
            plan.append((variable, safe, dataset, f"{path}/{i}"))
    for variable, safe, dataset, where in plan:
        variables.append(variable)
        arrays.append(safe.read(dataset, where))
    return variables, arrays


def read_optimizer(source):
    """The optimizer arrays under ``optimizer/vars`` in numeric order, or None."""
    members = source.group_members("optimizer/vars")
    if not members:
        return None
    return [
        safe.read(dataset, f"optimizer/vars/{i}")
        for i, (safe, dataset) in enumerate(_numbered(members, "optimizer/vars"))
    ]


def assign_weights(variables, arrays):
    """Cast and check every array, then assign them all (nothing changes on error)."""
    assign_all(variables, arrays)
