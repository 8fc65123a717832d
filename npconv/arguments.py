"""Argument standardisation, shared by layers, ops and the CLI.

Every helper takes the argument's *name*, so every message has one shape:

    Invalid value for argument `strides`. Expected a tuple of 2 positive
    integers. Received: strides=(1, 0)
"""

from __future__ import annotations

import numbers

from .geometry import PADDING_MODES as _PADDING_MODE_TABLE

DATA_FORMATS = ("channels_last", "channels_first")


def _plain(value):
    """Plain Python values for messages: never a NumPy repr."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        try:
            return value.tolist()
        except Exception:
            return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def invalid(name, expected, value, fix=None, error=ValueError):
    """Build the house error: names the argument, what was expected, what came."""
    message = f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={_plain(value)!r}"
    if fix:
        message += f". {fix}"
    return error(message)


def check_keras_init(owner, kwargs, name):
    """Refuse keyword arguments ``owner``'s Keras signature does not have, and a ``name`` that is not a string."""
    if kwargs:
        raise TypeError(
            f"Unrecognized keyword arguments passed to {type(owner).__name__}: {sorted(kwargs)}. "
            f"Check the spelling against the Keras signature."
        )
    if name is not None and not isinstance(name, str):
        raise invalid("name", "a string", name, error=TypeError)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def standardize_int(value, name, minimum=1):
    """An int >= ``minimum``."""
    if not _is_int(value):
        raise invalid(name, f"an integer >= {minimum}", value, error=TypeError)
    if value < minimum:
        raise invalid(name, f"an integer >= {minimum}", value)
    return int(value)


def standardize_tuple(value, n, name, minimum=1, allow_none=False):
    """An int or an iterable of ``n`` ints, each >= ``minimum``, as a tuple."""
    if allow_none and value is None:
        return None
    what = "positive integers" if minimum == 1 else f"integers >= {minimum}"
    expected = f"an integer or a tuple of {n} {what}"
    if _is_int(value):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise invalid(name, expected, value, error=TypeError) from None
        if len(values) != n:
            raise invalid(name, expected, value)
        if not all(_is_int(v) for v in values):
            raise invalid(name, expected, value, error=TypeError)
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise invalid(name, expected, value)
    return values


def standardize_data_format(value):
    if value is None:
        return "channels_last"
    if not isinstance(value, str) or value.lower() not in DATA_FORMATS:
        raise invalid("data_format", "'channels_last' or 'channels_first'", value)
    return value.lower()


def standardize_padding(value, rank, allow_causal=False, name="padding"):
    """Padding as a mode string or a tuple of ``rank`` (before, after) pairs.

    Accepted: 'valid', 'same', 'full', 'causal' (where allowed, rank 1), an
    int, ``rank`` ints (symmetric), or ``rank`` (before, after) pairs.
    """
    modes = ["valid", "same", "full"] + (["causal"] if allow_causal else [])
    expected = (
        f"one of {modes}, a non-negative int, a tuple of {rank} non-negative ints, "
        f"or a tuple of {rank} (before, after) pairs"
    )
    if isinstance(value, str):
        mode = value.lower()
        if mode not in modes:
            fix = "'causal' padding exists only for 1D layers." if mode == "causal" else None
            raise invalid(name, expected, value, fix)
        return mode
    if _is_int(value):
        if value < 0:
            raise invalid(name, expected, value)
        return ((int(value), int(value)),) * rank
    try:
        items = tuple(value)
    except TypeError:
        raise invalid(name, expected, value, error=TypeError) from None
    if len(items) != rank:
        raise invalid(name, expected, value)
    pairs = []
    for item in items:
        if _is_int(item):
            pair = (item, item)
        else:
            try:
                pair = tuple(item)
            except TypeError:
                raise invalid(name, expected, value, error=TypeError) from None
        if len(pair) != 2 or not all(_is_int(p) for p in pair):
            raise invalid(name, expected, value)
        if min(pair) < 0:
            raise invalid(name, expected, value)
        pairs.append((int(pair[0]), int(pair[1])))
    return tuple(pairs)


def standardize_padding_mode(value):
    """A padding mode name from :data:`npconv.geometry.PADDING_MODES`, lower case."""
    modes = list(_PADDING_MODE_TABLE)  # read at call time: the table is the one list of modes
    if not isinstance(value, str) or value.lower() not in modes:
        raise invalid("padding_mode", f"one of {modes}", value)
    return value.lower()


def serialize_padding(padding):
    """Padding as it appears in get_config: a string, or lists of pairs."""
    if isinstance(padding, str):
        return padding
    return [list(pair) for pair in padding]
