"""Small data sets that ship inside the package: no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_DATA = Path(__file__).parent / "data"


def load_digits(test_fraction=0.2, seed=0):
    """The UCI handwritten digits, split into train and test sets; no download.

    1,797 grey 8x8 images of the digits 0 to 9, as bundled with scikit-learn.
    The split is a seeded shuffle, so it is the same on every machine.

    Args:
        test_fraction: the share of images held out for the test set.
        seed: the seed of the shuffle.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: x is float32 ``(n, 8, 8, 1)``
        scaled to [0, 1], y holds int64 labels ``(n,)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_digits()
        >>> x_train.shape, x_test.shape
        ((1438, 8, 8, 1), (359, 8, 8, 1))
    """
    with np.load(_DATA / "digits.npz", allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    order = np.random.default_rng(seed).permutation(len(images))
    x = (images[order].astype("float32") / 16.0)[..., None]
    y = labels[order].astype("int64")
    split = len(x) - int(round(len(x) * test_fraction))
    return (x[:split], y[:split]), (x[split:], y[split:])
