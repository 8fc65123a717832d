"""Reading HDF5 files from strangers: every object is checked before a byte of data is read.

HDF5 can point outside the file and can declare more data than it holds. Each of
these is refused, with the object's path and the reason:

- soft and external links (a group or dataset reached through a link can be any
  object in this file or in another one; GHSA-27f4-p4xq-cxg8);
- datasets whose data lives in other files (external storage, CVE-2026-1669) or
  that are assembled from other files (virtual datasets);
- object references, variable-length, compound, string and opaque dtypes (only
  plain integer, float and bool numbers are weights);
- filters other than HDF5's own gzip, shuffle and fletcher32 (an unknown filter
  makes HDF5 look for a plugin library to load);
- a declared size larger than the file itself or than a cap (a few hundred bytes
  can declare terabytes, CVE-2026-0897); the cap is :data:`MAX_ARRAY_BYTES`;
- attributes with more elements or bytes than a small cap.

Only :func:`open_file` opens files, read-only, from a path or from bytes already
in memory; nothing is written anywhere. ``h5py`` is imported on first use.
"""

from __future__ import annotations

import io
import os

import numpy as np

from .allowlist import Problem, RefusedFileError

__all__ = ["MAX_ARRAY_BYTES", "MAX_ATTRIBUTE_BYTES", "SafeH5", "open_file"]

MAX_ARRAY_BYTES = 1 << 34  # 16 GiB: larger than any single weight of a real conv net
MAX_ATTRIBUTE_BYTES = 1 << 26  # 64 MiB: a model_config string of a very large model fits
MAX_ATTRIBUTE_ELEMENTS = 1 << 17
_ALLOWED_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32"}


def _h5py():
    try:
        import h5py  # reason: import time, ~60 ms, only when an HDF5 file is read or written
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise ImportError("Reading Keras .keras/.h5 files needs h5py: pip install h5py") from None
    return h5py


def open_file(source, label):
    """A :class:`SafeH5` over ``source`` (a path or bytes), opened read-only.

    Raises RefusedFileError if the file is not HDF5 or cannot be opened.
    """
    h5py = _h5py()
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = len(source)
        handle = io.BytesIO(source)
    else:
        size = os.path.getsize(source)
        handle = os.fspath(source)
    try:
        file = h5py.File(handle, "r", locking=False) if isinstance(handle, str) else h5py.File(handle, "r")
    except (OSError, ValueError) as error:
        raise RefusedFileError([Problem(label, f"not a readable HDF5 file ({_short(error)})")]) from None
    return SafeH5(file, label, size)


def _short(error):
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


class SafeH5:
    """A read-only HDF5 file reached only through checked hard links.

    ``size_bound`` is the file's size: no dataset may declare more bytes.
    """

    def __init__(self, file, label, size_bound):
        self.file, self.label, self.size_bound = file, label, size_bound

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _refuse(self, path, reason):
        raise RefusedFileError([Problem(f"{self.label}:{path}", reason)])

    # ------------------------------------------------------------- traversal
    def _link(self, parent, name, path):
        h5py = _h5py()
        try:
            link = parent.get(name, getlink=True)
        except (KeyError, OSError, ValueError) as error:
            self._refuse(path, f"unreadable link ({_short(error)})")
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink):
            self._refuse(path, f"a soft link (to {link.path!r}); only hard links are followed")
        if isinstance(link, h5py.ExternalLink):
            self._refuse(
                path, f"an external link (to {link.filename!r}:{link.path!r}); links to other files are refused"
            )
        if not isinstance(link, h5py.HardLink):
            self._refuse(path, f"a {type(link).__name__}; only hard links are followed")
        try:
            return parent[name]
        except (KeyError, OSError, ValueError) as error:
            self._refuse(path, f"unreadable object ({_short(error)})")

    def get(self, path):
        """The group or dataset at ``path`` ('a/b/c'), or None if absent; every step is checked."""
        node = self.file
        parts = [p for p in str(path).split("/") if p]
        for i, part in enumerate(parts):
            if not self.is_group(node):
                return None
            node = self._link(node, part, "/".join(parts[: i + 1]))
            if node is None:
                return None
        return node

    def is_group(self, node):
        return isinstance(node, _h5py().Group)

    def is_dataset(self, node):
        return isinstance(node, _h5py().Dataset)

    def children(self, group, path=""):
        """Names in ``group`` (sorted as strings), each checked to be a hard link."""
        names = list(group.keys())
        if len(names) > MAX_ATTRIBUTE_ELEMENTS:
            self._refuse(path, f"{len(names)} members in one group")
        for name in names:
            self._link(group, name, f"{path}/{name}".lstrip("/"))
        return names

    # -------------------------------------------------------------- datasets
    def check_dataset(self, dataset, path):
        """(shape, dtype) of a dataset after every check; reads no data."""
        h5py = _h5py()
        dtype = dataset.dtype
        if dtype.fields is not None:
            self._refuse(path, f"a compound dtype {dtype}; weights are plain numbers")
        if h5py.check_vlen_dtype(dtype) is not None or h5py.check_string_dtype(dtype) is not None:
            self._refuse(path, "a variable-length or string dtype; weights are plain numbers")
        if h5py.check_ref_dtype(dtype) is not None or dtype.kind == "O":
            self._refuse(path, "an object-reference dtype; weights are plain numbers")
        if dtype.kind not in "fiub" or dtype.subdtype is not None:
            self._refuse(path, f"dtype {dtype} (kind {dtype.kind!r}); weights are plain numbers")
        if dataset.is_virtual:
            self._refuse(path, "a virtual dataset (its data would be read from other files)")
        plist = dataset.id.get_create_plist()
        if plist.get_external_count() > 0:
            self._refuse(path, "external storage (its data would be read from another file on this machine)")
        for i in range(plist.get_nfilters()):
            code = plist.get_filter(i)[0]
            if code not in _ALLOWED_FILTERS:
                self._refuse(path, f"HDF5 filter {code}, which is not built in (HDF5 would load a plugin for it)")
        shape = tuple(int(d) for d in dataset.shape) if dataset.shape is not None else None
        if shape is None:
            self._refuse(path, "a null dataspace")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES:
            self._refuse(path, f"a declared shape {shape} of {nbytes:,} bytes, over the cap of {MAX_ARRAY_BYTES:,}")
        if nbytes > self.size_bound:
            self._refuse(
                path,
                f"a declared shape {shape} of {nbytes:,} bytes in a file of {self.size_bound:,} bytes; "
                f"it cannot hold that data",
            )
        return shape, dtype

    def read(self, dataset, path):
        """The dataset's values as a new array, after :meth:`check_dataset`."""
        shape, dtype = self.check_dataset(dataset, path)
        array = np.empty(shape, dtype=dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype)
        if array.size:
            try:
                dataset.read_direct(array)
            except (OSError, ValueError, TypeError) as error:
                self._refuse(path, f"unreadable data ({_short(error)}); the file may be truncated")
        return array

    # ------------------------------------------------------------ attributes
    def attribute(self, node, name, path):
        """An attribute's value (bounded in size) or None if absent."""
        if name not in node.attrs:
            return None
        h5py = _h5py()
        try:
            attribute_id = node.attrs.get_id(name)
        except (KeyError, OSError) as error:
            self._refuse(f"{path}@{name}", f"unreadable attribute ({_short(error)})")
        shape = attribute_id.shape or ()
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if count > MAX_ATTRIBUTE_ELEMENTS:
            self._refuse(f"{path}@{name}", f"an attribute of {count:,} elements")
        dtype = attribute_id.dtype
        if dtype.fields is not None or h5py.check_ref_dtype(dtype) is not None:
            self._refuse(f"{path}@{name}", f"an attribute of dtype {dtype}")
        vlen = h5py.check_string_dtype(dtype) is not None or h5py.check_vlen_dtype(dtype) is not None
        if not vlen and count * dtype.itemsize > MAX_ATTRIBUTE_BYTES:
            self._refuse(f"{path}@{name}", f"an attribute of {count * dtype.itemsize:,} bytes")
        if vlen and h5py.check_string_dtype(dtype) is None:
            self._refuse(f"{path}@{name}", "a variable-length attribute that is not text")
        try:
            value = node.attrs[name]
        except (OSError, ValueError, TypeError) as error:
            self._refuse(f"{path}@{name}", f"unreadable attribute ({_short(error)})")
        return value
