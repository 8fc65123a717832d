"""Small data sets that ship inside the package: no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_DATA = Path(__file__).parent / "data"


def load_digits(test_fraction=0.2, seed=0):
    """The UCI handwritten digits (1,797 grey 8x8 images, 10 classes), as
    bundled with scikit-learn, split into train and test sets.

    Returns ``(x_train, y_train), (x_test, y_test)``: x is float32 of shape
    (n, 8, 8, 1) scaled to [0, 1], y holds int64 labels 0..9. The split is a
    seeded shuffle, so it is the same on every machine.
    """
    with np.load(_DATA / "digits.npz", allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    order = np.random.default_rng(seed).permutation(len(images))
    x = (images[order].astype("float32") / 16.0)[..., None]
    y = labels[order].astype("int64")
    split = len(x) - int(round(len(x) * test_fraction))
    return (x[:split], y[:split]), (x[split:], y[split:])
