"""Utilities named as in ``keras.utils``."""

from __future__ import annotations

import random

import numpy as np

from .arguments import invalid
from .initializers import set_global_seed


def set_random_seed(seed):
    """Seed every random draw npconv makes, and Python's and NumPy's global generators.

    That covers the unseeded initializers, Dropout and ``fit``'s shuffling, so
    that a script run twice with the same seed trains the same model.

    Args:
        seed: an int (NumPy's global generator gets ``seed % 2**32``).

    Example:
        >>> import npconv
        >>> npconv.utils.set_random_seed(0)
        >>> a = npconv.initializers.GlorotUniform()((2, 2))
        >>> npconv.utils.set_random_seed(0)
        >>> bool((a == npconv.initializers.GlorotUniform()((2, 2))).all())
        True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise invalid("seed", "an int", seed, error=TypeError)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    set_global_seed(int(seed))


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels, as ``keras.utils.to_categorical``.

    Args:
        x: integer labels of any shape (a trailing axis of size 1 is dropped).
        num_classes: the number of classes; ``max(x) + 1`` by default.

    Returns:
        A float32 array of shape ``(*x.shape, num_classes)``.
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f" and labels.size and not np.all(labels == np.round(labels)):
        raise invalid("x", "integer class labels", "non-integer floats", error=TypeError)
    if labels.dtype.kind not in "iuf" and labels.size:
        raise invalid("x", "integer class labels", f"an array of dtype {labels.dtype}", error=TypeError)
    labels = labels.astype("int64")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.size and labels.min() < 0:
        raise invalid("x", "labels >= 0", int(labels.min()))
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes <= 0:
        raise invalid("num_classes", "a positive int", num_classes)
    if labels.size and labels.max() >= num_classes:
        raise invalid("x", f"labels below num_classes={int(num_classes)}", int(labels.max()))
    return np.eye(int(num_classes), dtype="float32")[labels]
