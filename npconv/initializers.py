"""Keras 3's weight initializers on NumPy.

An initializer is called as ``init(shape, dtype=None)`` and returns a NumPy
array of that shape; the dtype defaults to float32.

Seeds follow what Keras 3 does, as far as it can be observed:

- ``seed=<int>``: every call returns the same values (for the same shape);
- ``seed=None``: the instance draws its own seed from npconv's global
  generator when it is constructed, and then also returns the same values on
  every call. Two unseeded instances differ, and ``set_global_seed`` (wired to
  ``npconv.utils.set_random_seed``) makes them reproducible.

The numbers cannot match Keras's random streams bit for bit; the
distributions, bounds and fans do.

Convolution kernels are ``(*kernel_size, input_channels, output_channels)``:
``fan_in = input_channels * prod(kernel_size)`` and
``fan_out = output_channels * prod(kernel_size)``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._registry import Configurable, Registry
from .arguments import invalid

# The stddev of a standard normal truncated to [-2, 2]: truncated draws are
# divided by it so that their stddev comes out as asked.
_TRUNCATION_STDDEV = 0.87962566103423978
_MODULE = "keras.initializers"

_rng = None


def _global_rng():
    """npconv's global generator; created from OS entropy on first use."""
    global _rng
    if _rng is None:
        _rng = np.random.default_rng()
    return _rng


def set_global_seed(seed):
    """Reseed the generator that unseeded random initializers draw their seeds from.

    ``npconv.utils.set_random_seed`` calls this.

    Args:
        seed: a non-negative int, or None for fresh OS entropy.
    """
    global _rng
    if seed is not None:
        seed = _seed(seed)
    _rng = np.random.default_rng(seed)


# --------------------------------------------------------------------------
# argument helpers
# --------------------------------------------------------------------------
def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise invalid("seed", "None or a non-negative integer", seed, error=TypeError)
    if seed < 0:
        raise invalid("seed", "None or a non-negative integer", seed)
    return int(seed)


def _real(value, name, minimum=None, strict=False):
    """A finite real number (not bool), as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, "a real number", value, error=TypeError)
    value = float(value)
    too_small = minimum is not None and (value <= minimum if strict else value < minimum)
    if not math.isfinite(value) or too_small:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
        raise invalid(name, f"a finite real number{bound}", value)
    return value


def _shape(shape):
    """A tuple of non-negative ints."""
    expected = "a tuple of non-negative integers"
    try:
        dims = tuple(shape)
    except TypeError:
        raise invalid("shape", expected, shape, error=TypeError) from None
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims):
        raise invalid("shape", expected, shape, error=TypeError)
    if any(d < 0 for d in dims):
        raise invalid("shape", expected, shape)
    return tuple(int(d) for d in dims)


def _dtype(dtype, floating=False):
    """A NumPy dtype; None means float32."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise invalid("dtype", "a NumPy dtype such as 'float32'", dtype, error=TypeError) from None
    if floating and not np.issubdtype(result, np.floating):
        name = dtype if isinstance(dtype, str) else result.name
        raise invalid("dtype", "a floating-point dtype such as 'float32'", name)
    return result


def _axes(value, name):
    """None or a list of ints."""
    if value is None:
        return None
    items = [value] if isinstance(value, numbers.Integral) else value
    try:
        items = list(items)
    except TypeError:
        raise invalid(name, "None or a list of integers", value, error=TypeError) from None
    if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in items):
        raise invalid(name, "None or a list of integers", value, error=TypeError)
    return [int(i) for i in items]


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them.

    ``()``: (1, 1); ``(n,)``: (n, n); ``(i, o)``: (i, o); ``(*k, i, o)``:
    ``(i * prod(k), o * prod(k))``. If both ``input_axes`` and ``output_axes`` are
    given, the fans are the products of those axes instead (Keras ignores them
    unless both are given).

    Args:
        shape: the weight's shape, e.g. a conv kernel ``(*kernel_size, input_channels, filters)``.
        input_axes: None, or the axes that make up fan_in.
        output_axes: None, or the axes that make up fan_out.

    Returns:
        ``(fan_in, fan_out)`` as ints.

    Example:
        >>> compute_fans((3, 3, 16, 32))
        (144, 288)
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def _truncated_standard_normal(rng, shape):
    """Standard normal draws, each one beyond +-2 redrawn until it falls inside."""
    z = np.asarray(rng.standard_normal(shape))
    outside = np.abs(z) > 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2
    return z


# --------------------------------------------------------------------------
# base and constants
# --------------------------------------------------------------------------
class Initializer(Configurable):
    """Base class of the initializers: ``init(shape, dtype=None) -> np.ndarray``.

    Example:
        >>> init = get("glorot_uniform")
        >>> init((3, 3, 1, 8)).shape
        (3, 3, 1, 8)
    """

    def __call__(self, shape, dtype=None):
        """A new array of initial values.

        Args:
            shape: a tuple of non-negative ints, e.g. a conv kernel's
                ``(*kernel_size, input_channels, filters)``.
            dtype: a NumPy dtype; None means float32. Random initializers need a float dtype.

        Returns:
            An array of ``shape`` and ``dtype``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype=None).")

    def clone(self):
        """A new initializer with the same config (and so, when seeded, the same values)."""
        return type(self).from_config(self.get_config())


class Zeros(Initializer):
    """All zeros, of any dtype.

    Example:
        >>> Zeros()((2,), dtype="int32")
        array([0, 0], dtype=int32)
    """

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape), _dtype(dtype))


class Ones(Initializer):
    """All ones, of any dtype.

    Example:
        >>> Ones()((2, 1))
        array([[1.],
               [1.]], dtype=float32)
    """

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape), _dtype(dtype))


class Constant(Initializer):
    """Every entry equal to ``value``.

    Args:
        value: a scalar number (a 0-d array counts).
    """

    def __init__(self, value=0.0):
        if isinstance(value, (np.ndarray, np.generic)) and value.ndim == 0:
            value = value.item()
        if not isinstance(value, numbers.Number):
            raise invalid("value", "a scalar number", value, error=TypeError)
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(_shape(shape), self.value, _dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    """``gain * eye(rows, cols)``, for 2D shapes only.

    Keras's own ``get_config`` leaves ``gain`` out (so a gain is lost on a
    round trip); npconv keeps it.

    Args:
        gain: the value on the diagonal.

    Example:
        >>> Identity(gain=2.0)((2, 3))
        array([[2., 0., 0.],
               [0., 2., 0.]], dtype=float32)
    """

    def __init__(self, gain=1.0):
        self.gain = _real(gain, "gain")

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise invalid("shape", "a 2D shape (rows, cols) for the Identity initializer", shape)
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


IdentityInitializer = Identity


# --------------------------------------------------------------------------
# random
# --------------------------------------------------------------------------
class RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed.

    Args:
        seed: None, or a non-negative int. An int gives the same values on every
            call; None draws a seed once from the global generator (see
            ``set_global_seed``), so one instance also repeats its values.
    """

    def __init__(self, seed=None):
        self.seed = None if seed is None else _seed(seed)
        self._call_seed = self.seed if seed is not None else int(_global_rng().integers(2**63))

    def _rng(self):
        """A generator restarted for each call, so every call draws the same values."""
        return np.random.default_rng(self._call_seed)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal draws with ``mean`` and ``stddev``.

    Args:
        mean: the mean.
        stddev: the standard deviation, ``>= 0``.
        seed: see ``RandomInitializer``.

    Example:
        >>> RandomNormal(stddev=0.1, seed=1)((256, 256)).std().round(2)
        np.float32(0.1)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _real(mean, "mean")
        self.stddev = _real(stddev, "stddev", minimum=0)
        super().__init__(seed)

    def _standard_normal(self, shape):
        return self._rng().standard_normal(shape)

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype, floating=True)
        return (self.mean + self.stddev * self._standard_normal(shape)).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal draws with ``mean`` and ``stddev``; those beyond 2 stddev are redrawn.

    Args:
        mean: the mean.
        stddev: the standard deviation before truncation, ``>= 0``.
        seed: see ``RandomInitializer``.
    """

    def _standard_normal(self, shape):
        return _truncated_standard_normal(self._rng(), shape)


class RandomUniform(RandomInitializer):
    """Uniform draws in ``[minval, maxval)``.

    Args:
        minval: the lower bound.
        maxval: the upper bound, ``>= minval``.
        seed: see ``RandomInitializer``.
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = _real(minval, "minval")
        self.maxval = _real(maxval, "maxval")
        if self.maxval < self.minval:
            raise invalid("maxval", f"a number >= minval={self.minval}", self.maxval)
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype, floating=True)
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Draws whose variance is ``scale / n``, n picked by ``mode`` from the fans.

    - ``truncated_normal`` (``"normal"`` is an alias): normal truncated at 2
      stddev, stddev ``sqrt(scale / n) / 0.8796...`` before truncation;
    - ``untruncated_normal``: normal with stddev ``sqrt(scale / n)``;
    - ``uniform``: uniform in ``[-limit, limit]``, limit ``sqrt(3 * scale / n)``.

    n is ``max(1, fan_in)``, ``max(1, fan_out)`` or ``max(1, (fan_in + fan_out) / 2)``
    (see ``compute_fans``).

    Args:
        scale: the variance numerator, ``> 0``.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        seed: see ``RandomInitializer``.
        input_axes: with ``output_axes``, the axes whose product is fan_in.
        output_axes: the axes whose product is fan_out.

    Example:
        >>> init = VarianceScaling(scale=2.0, distribution="uniform", seed=0)
        >>> bool(abs(init((3, 3, 4, 8))).max() <= (3 * 2.0 / 36) ** 0.5)
        True
    """

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        self.scale = _real(scale, "scale", minimum=0, strict=True)
        if mode not in _MODES:
            raise invalid("mode", f"one of {list(_MODES)}", mode)
        if not isinstance(distribution, str):
            raise invalid("distribution", f"one of {list(_DISTRIBUTIONS)}", distribution, error=TypeError)
        distribution = distribution.lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise invalid("distribution", f"one of {list(_DISTRIBUTIONS)}", distribution)
        self.mode = mode
        self.distribution = distribution
        self.input_axes = _axes(input_axes, "input_axes")
        self.output_axes = _axes(output_axes, "output_axes")
        super().__init__(seed)

    def _variance(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return self.scale / max(1.0, n)

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype, floating=True)
        variance, rng = self._variance(shape), self._rng()
        if self.distribution == "truncated_normal":
            values = math.sqrt(variance) / _TRUNCATION_STDDEV * _truncated_standard_normal(rng, shape)
        elif self.distribution == "untruncated_normal":
            values = math.sqrt(variance) * rng.standard_normal(shape)
        else:
            limit = math.sqrt(3 * variance)
            values = rng.uniform(-limit, limit, shape)
        return np.asarray(values).astype(dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


_PRESET_ARGS = """

    Args:
        seed: None, or a non-negative int: with an int every call returns the same values.
        input_axes: with ``output_axes``, the axes whose product is fan_in (else from the shape).
        output_axes: the axes whose product is fan_out.
    """


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset: the class statement fixes scale, mode and distribution.

    Subclasses take only ``seed``, ``input_axes`` and ``output_axes`` (see ``__init__``).
    """

    _preset = {}

    def __init_subclass__(cls, **preset):
        """Keep the class statement's ``scale``, ``mode`` and ``distribution`` as the preset,
        and give the class the constructor's ``Args:`` section."""
        super().__init_subclass__()
        cls._preset = preset
        cls.__doc__ = (cls.__doc__ or "").rstrip() + _PRESET_ARGS

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        """The preset, with its seed and (optionally) the axes the fans come from.

        Args:
            seed: None, or a non-negative int: with an int every call returns the same values.
            input_axes: with ``output_axes``, the axes whose product is fan_in (else from the shape).
            output_axes: the axes whose product is fan_out.
        """
        super().__init__(**self._preset, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_FixedVarianceScaling, scale=1.0, mode="fan_avg", distribution="uniform"):
    """Glorot (Xavier) uniform: in ``[-limit, limit]``, limit ``sqrt(6 / (fan_in + fan_out))``."""


class GlorotNormal(_FixedVarianceScaling, scale=1.0, mode="fan_avg", distribution="truncated_normal"):
    """Glorot (Xavier) normal: truncated normal with stddev ``sqrt(2 / (fan_in + fan_out))``."""


class HeUniform(_FixedVarianceScaling, scale=2.0, mode="fan_in", distribution="uniform"):
    """He uniform: in ``[-limit, limit]``, limit ``sqrt(6 / fan_in)``."""


class HeNormal(_FixedVarianceScaling, scale=2.0, mode="fan_in", distribution="truncated_normal"):
    """He normal: truncated normal with stddev ``sqrt(2 / fan_in)``."""


class LecunUniform(_FixedVarianceScaling, scale=1.0, mode="fan_in", distribution="uniform"):
    """LeCun uniform: in ``[-limit, limit]``, limit ``sqrt(3 / fan_in)``."""


class LecunNormal(_FixedVarianceScaling, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    """LeCun normal: truncated normal with stddev ``sqrt(1 / fan_in)``."""


class Orthogonal(RandomInitializer):
    """``gain`` times a random orthogonal matrix, reshaped.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``; the result has
    orthonormal columns if it has at least as many rows as columns, and
    orthonormal rows otherwise (then scaled by ``gain``).

    Args:
        gain: the scale applied to the orthogonal matrix.
        seed: see ``RandomInitializer``.

    Example:
        >>> w = Orthogonal(seed=0)((4, 3))
        >>> bool(np.allclose(w.T @ w, np.eye(3), atol=1e-6))
        True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = _real(gain, "gain")
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype, floating=True)
        if len(shape) < 2:
            raise invalid("shape", "a shape of rank >= 2 for the Orthogonal initializer", shape)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # makes the decomposition unique, so q is uniformly distributed
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


OrthogonalInitializer = Orthogonal


# --------------------------------------------------------------------------
# names, serialization
# --------------------------------------------------------------------------
_CLASSES = (
    Initializer,
    Constant,
    Identity,
    Ones,
    Zeros,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)


_registry = Registry(
    "initializer",
    _MODULE,
    Initializer,
    _CLASSES,
    aliases={
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
    },
)
ALL_OBJECTS_DICT = _registry.objects
serialize, deserialize, get = _registry.serialize, _registry.deserialize, _registry.get
