"""Utilities named as in ``keras.utils``."""

from __future__ import annotations

import random

import numpy as np

from .arguments import invalid
from .initializers import set_global_seed


def set_random_seed(seed):
    """Seed every random draw npconv makes (initializers, Dropout, fit's
    shuffling), plus Python's and NumPy's global generators."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise invalid("seed", "an int", seed, error=TypeError)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    set_global_seed(int(seed))
