"""Saving and loading: npconv's own zip format (:mod:`.native`) and the atomic
file writes every writer in the package goes through (:mod:`.atomic`)."""

from .atomic import atomic_path, atomic_write
from .native import *  # noqa: F401,F403
from .native import __all__ as _native_all

__all__ = ["atomic_path", "atomic_write", *_native_all]
