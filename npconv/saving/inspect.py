"""What a model or weights file holds, and what npconv would refuse in it, without loading it.

:func:`inspect_file` reads the zip directory, the JSON members and the HDF5
object headers (shapes, dtypes, links, storage) of ``.keras``, legacy ``.h5``,
``.weights.h5``, ``.weights.json`` and ``.npconv`` files. It builds no layer and
reads no weight values, and it runs the same checks loading runs, collecting
every problem instead of stopping at the first.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from . import h5, keras_archive, keras_weights
from .allowlist import Problem, RefusedFileError, find_problems, parse_json

__all__ = ["FileReport", "inspect_file"]


class FileReport:
    """What :func:`inspect_file` found.

    Attributes:
        path, kind: the file and its format ('keras', 'h5', 'weights.h5', 'weights.json', 'npconv').
        keras_version: the version recorded in the file, or None.
        model_class, model_name: the top-level model, or None for weights files.
        layers: ``[(name, class_name, parameter count or None)]`` of the top-level layers.
        total_params: the number of weight values in the file.
        optimizer: ``(name, number of arrays)`` when optimizer state is stored, else None.
        compile: a short description of the saved compile settings, or None.
        problems: every :class:`~npconv.saving.allowlist.Problem` that makes npconv refuse the file.
    """

    def __init__(self, path, kind):
        self.path, self.kind = path, kind
        self.keras_version = self.model_class = self.model_name = self.optimizer = self.compile = None
        self.layers, self.total_params, self.problems = [], 0, []

    @property
    def refused(self):
        return bool(self.problems)

    def render(self):
        """The report as text."""
        size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        lines = [f"File: {self.path} ({_KINDS[self.kind]}, {size:,} bytes)"]
        lines.append(f"Keras version: {self.keras_version or 'not recorded'}")
        if self.model_class:
            lines.append(f'Model: "{self.model_name}" ({self.model_class})')
        if self.layers:
            width = max(len(f"{n} ({c})") for n, c, _ in self.layers) + 2
            lines.append(f"  {'Layer (type)'.ljust(width)}{'Param #':>12}")
            for name, cls, params in self.layers:
                count = "?" if params is None else f"{params:,}"
                lines.append(f"  {f'{name} ({cls})'.ljust(width)}{count:>12}")
        lines.append(f"Total params: {self.total_params:,}")
        if self.compile:
            lines.append(f"Compiled: {self.compile}")
        if self.optimizer:
            lines.append(f"Optimizer state: {self.optimizer[0]} ({self.optimizer[1]} arrays)")
        if self.problems:
            lines.append(f"REFUSED: npconv will not load this file ({len(self.problems)} problem(s)):")
            lines.extend(f"  - {problem}" for problem in self.problems)
        else:
            lines.append("Safety: nothing refused")
        return "\n".join(lines)


_KINDS = {
    "keras": "Keras 3 model archive",
    "h5": "legacy Keras HDF5 model",
    "weights.h5": "Keras 3 weights",
    "weights.json": "Keras 3 sharded weights index",
    "npconv": "npconv model archive",
}


def _kind(path):
    for suffix, kind in (
        (".weights.h5", "weights.h5"),
        (".weights.json", "weights.json"),
        (".keras", "keras"),
        (".h5", "h5"),
        (".hdf5", "h5"),
        (".npconv", "npconv"),
    ):
        if path.endswith(suffix):
            return kind
    raise ValueError(
        f"Invalid value for argument `file`. Expected a .keras, .h5, .weights.h5, .weights.json or .npconv "
        f"file. Received: file={path!r}"
    )


def inspect_file(path):
    """A :class:`FileReport` of ``path``; never raises for a refused file (see ``report.problems``).

    Args:
        path: a ``.keras``, ``.h5``, ``.weights.h5``, ``.weights.json`` or ``.npconv`` file.
    """
    path = os.fspath(path)
    report = FileReport(path, _kind(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No file at {path!r}.")
    try:
        {
            "keras": _keras,
            "h5": _legacy,
            "weights.h5": _weights,
            "weights.json": _sharded,
            "npconv": _native,
        }[report.kind](path, report)
    except RefusedFileError as error:
        report.problems.extend(p for p in error.problems if str(p) not in {str(q) for q in report.problems})
    return report


# ---------------------------------------------------------------- pieces
def _describe_config(config, report):
    if not isinstance(config, dict):
        report.problems.append(Problem("config", "not a model config object"))
        return []
    report.model_class = config.get("class_name")
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    report.model_name = inner.get("name")
    entries = [e for e in inner.get("layers", []) if isinstance(e, dict)]
    if report.model_class == "Sequential":
        entries = [e for e in entries if e.get("class_name") != "InputLayer"]
    return entries


def _layer_rows(entries, counts):
    """Rows of (name, class, params) with Keras's group keys matched to the entries."""
    used, rows = {}, []
    for entry in entries:
        cls = str(entry.get("class_name"))
        key = keras_weights.snake_case(cls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        name = entry.get("config", {}).get("name") if isinstance(entry.get("config"), dict) else None
        rows.append((str(name or entry.get("name") or key), cls, counts.get(key, 0) if counts is not None else None))
    return rows


def _compile_text(config):
    if not isinstance(config, dict) or not any(config.get(k) for k in ("optimizer", "loss", "metrics")):
        return None
    optimizer = config.get("optimizer")
    name = optimizer.get("class_name") if isinstance(optimizer, dict) else optimizer
    loss = config.get("loss")
    loss = loss.get("class_name") if isinstance(loss, dict) else loss
    return f"optimizer={name}, loss={loss}, metrics={config.get('metrics')}"


def _scan_h5(safe, report, root=""):
    """Walk every object, checking it; returns {path: element count} of datasets."""
    counts = {}
    h5py = h5._h5py()

    def visit(group, path, depth):
        if depth > 64:
            report.problems.append(Problem(f"{safe.label}:{path}", "groups nested deeper than 64 levels"))
            return
        try:
            names = list(group.keys())
        except (OSError, ValueError) as error:
            report.problems.append(Problem(f"{safe.label}:{path}", f"unreadable group ({h5._short(error)})"))
            return
        for name in names:
            child_path = f"{path}/{name}".lstrip("/")
            try:
                link = group.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    safe._link(group, name, child_path)  # raises with the reason
                node = group[name]
                if isinstance(node, h5py.Group):
                    visit(node, child_path, depth + 1)
                else:
                    shape, _ = safe.check_dataset(node, child_path)
                    counts[child_path] = int(np.prod(shape, dtype=np.int64))
            except RefusedFileError as error:
                report.problems.extend(error.problems)
            except (OSError, ValueError, KeyError) as error:
                report.problems.append(Problem(f"{safe.label}:{child_path}", f"unreadable ({h5._short(error)})"))

    start = safe.get(root) if root else safe.file
    if start is not None:
        visit(start, root, 0)
    return counts


def _per_key(counts, prefix="layers/"):
    out = {}
    for path, count in counts.items():
        if path.startswith(prefix):
            key = path[len(prefix) :].split("/")[0]
            out[key] = out.get(key, 0) + count
    return out


def _optimizer_from_counts(safe, counts):
    arrays = [p for p in counts if p.startswith("optimizer/vars/")]
    if not arrays:
        return None
    group = safe.get("optimizer/vars")
    name = safe.attribute(group, "name", "optimizer/vars") if group is not None else None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return (name or "optimizer", len(arrays))


def _fill_from_weights(safe, report, entries):
    counts = _scan_h5(safe, report)
    per_key = _per_key(counts)
    report.total_params = sum(per_key.values())
    report.optimizer = _optimizer_from_counts(safe, counts)
    if entries is not None:
        report.layers = _layer_rows(entries, per_key)
    else:
        report.layers = [(key, "weights group", count) for key, count in sorted(per_key.items())]


# ---------------------------------------------------------------- formats
def _keras(path, report):
    label = os.path.basename(path)
    with keras_archive.open_zip(path) as archive:
        problems = keras_archive._zip_problems(archive, os.path.getsize(path))
        report.problems.extend(problems)
        if problems:
            return
        metadata = parse_json(keras_archive._read_member(archive, "metadata.json", label), f"{label}:metadata.json")
        config = parse_json(keras_archive._read_member(archive, "config.json", label), f"{label}:config.json")
        report.keras_version = metadata.get("keras_version") if isinstance(metadata, dict) else None
        report.problems.extend(find_problems(config, "config.json"))
        entries = _describe_config(config, report)
        report.compile = _compile_text(config.get("compile_config")) if isinstance(config, dict) else None
        with archive.open("model.weights.h5") as member:  # read through, never extracted
            safe = _open_stream(member, archive.getinfo("model.weights.h5").file_size, "model.weights.h5")
            with safe:
                _fill_from_weights(safe, report, entries)


def _open_stream(stream, size, label):
    h5py = h5._h5py()
    try:
        return h5.SafeH5(h5py.File(stream, "r"), label, size)
    except (OSError, ValueError) as error:
        raise RefusedFileError([Problem(label, f"not a readable HDF5 file ({h5._short(error)})")]) from None


def _legacy(path, report):
    safe, config, training, version = keras_archive.read_legacy(path)  # raises with the config's problems
    with safe:
        report.keras_version = version
        entries = _describe_config(config, report)
        report.compile = _compile_text(
            {
                "optimizer": training.get("optimizer_config"),
                "loss": training.get("loss"),
                "metrics": training.get("metrics"),
            }
            if isinstance(training, dict)
            else None
        )
        counts = _scan_h5(safe, report)
        per_layer = {}
        for p, count in counts.items():
            if p.startswith("model_weights/"):
                name = p.split("/")[1]
                per_layer[name] = per_layer.get(name, 0) + count
        rows = []
        for entry in entries:
            name = entry.get("config", {}).get("name") if isinstance(entry.get("config"), dict) else None
            name = name or entry.get("name")
            rows.append((str(name), str(entry.get("class_name")), per_layer.get(name, 0)))
        report.layers = rows
        report.total_params = sum(per_layer.values())
        optimizer = [p for p in counts if p.startswith("optimizer_weights/")]
        if optimizer:
            report.optimizer = ("optimizer", len(optimizer))


def _weights(path, report):
    with h5.open_file(path, os.path.basename(path)) as safe:
        _fill_from_weights(safe, report, None)


def _sharded(path, report):
    source = keras_weights.WeightSource.sharded(path)
    try:
        per_key, optimizer = {}, 0
        for safe in source.files.values():
            counts = _scan_h5(safe, report)
            for key, count in _per_key(counts).items():
                per_key[key] = per_key.get(key, 0) + count
            optimizer += sum(1 for p in counts if p.startswith("optimizer/vars/"))
        report.layers = [(key, "weights group", count) for key, count in sorted(per_key.items())]
        report.total_params = sum(per_key.values())
        report.optimizer = ("optimizer", optimizer) if optimizer else None
    finally:
        source.close()


def _native(path, report):
    label = os.path.basename(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise RefusedFileError([Problem(label, f"not a readable zip archive ({str(error)[:120]})")]) from None
    with archive:
        names = [info.filename for info in archive.infolist()]
        if len(set(names)) != len(names):
            report.problems.append(Problem(label, "duplicate members"))
        for info in archive.infolist():
            if info.file_size > keras_archive.MAX_JSON_BYTES and info.filename.endswith(".json"):
                report.problems.append(Problem(f"member {info.filename!r}", f"declares {info.file_size:,} bytes"))
        if report.problems or "config.json" not in names:
            if "config.json" not in names:
                report.problems.append(Problem(label, "no config.json member"))
            return
        config = parse_json(archive.read("config.json"), f"{label}:config.json")
        metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
        report.keras_version = None
        report.model_class = "npconv " + str(metadata.get("format", "npconv")) + f" v{metadata.get('version', '?')}"
        report.model_name = config.get("name") if isinstance(config, dict) else None
        report.problems.extend(find_problems(config, "config.json"))
        shapes = _native_shapes(archive, names, label, report)
        entries = [e for e in (config.get("layers", []) if isinstance(config, dict) else []) if isinstance(e, dict)]
        per_layer = {}
        for name, shape in shapes:
            layer = str(name).split("/")[0]
            per_layer[layer] = per_layer.get(layer, 0) + int(np.prod(shape, dtype=np.int64))
        report.layers = [
            (
                str(e.get("config", {}).get("name")),
                str(e.get("class_name")),
                per_layer.get(e.get("config", {}).get("name"), 0),
            )
            for e in entries
            if e.get("class_name") != "InputLayer"
        ]
        report.total_params = sum(per_layer.values())


def _native_shapes(archive, names, label, report):
    """(name, shape) from the weights member's manifest, read without loading any array."""
    member = next((n for n in names if n.startswith("model.weights")), None)
    if member is None:
        return []
    try:
        with archive.open(member) as stream, zipfile.ZipFile(stream) as inner, inner.open("manifest.npy") as manifest:
            array = np.lib.format.read_array(manifest, allow_pickle=False)
        entries = json.loads(bytes(array).decode())
        return [(e["name"], e["shape"]) for e in entries]
    except Exception as error:  # a damaged weights member: report it, do not crash
        report.problems.append(Problem(f"{label}:{member}", f"unreadable weights manifest ({type(error).__name__})"))
        return []
