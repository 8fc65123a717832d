"""SpatialDropout1D/2D/3D: dropout of whole feature maps.

Ordinary dropout drops single values, which neighbouring pixels of the same
channel make up for; spatial dropout drops a channel everywhere in a sample
at once, and scales the kept channels by 1 / (1 - rate).
"""

from __future__ import annotations

from ..arguments import invalid, standardize_data_format
from .core import Dropout


class BaseSpatialDropout(Dropout):
    """Dropout with one keep/drop decision per (sample, channel)."""

    rank = None

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = standardize_data_format(data_format)
        if self.data_format == "channels_last":
            self.noise_shape = (None, *[1] * self.rank, None)
        else:
            self.noise_shape = (None, None, *[1] * self.rank)

    def _mask_shape(self, shape):
        if len(shape) != self.rank + 2:
            layout = (
                "(batch, *spatial, channels)" if self.data_format == "channels_last" else "(batch, channels, *spatial)"
            )
            raise invalid(
                "inputs",
                f"an array of rank {self.rank + 2} {layout} for {type(self).__name__}",
                f"shape {tuple(shape)}",
            )
        return super()._mask_shape(shape)

    def get_config(self):
        # Keras's SpatialDropout takes exactly these arguments (no trainable, no noise_shape).
        return {
            "rate": self.rate,
            "seed": self.seed,
            "name": self.name,
            "dtype": self.dtype,
            "data_format": self.data_format,
        }


class SpatialDropout1D(BaseSpatialDropout):
    """Drops whole channels of (batch, steps, channels) sequences in training.

    Args:
        rate: the fraction of channels to drop, between 0 and 1.
        seed: optional int, for reproducible masks.
        **kwargs: name, dtype.
    """

    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, data_format=kwargs.pop("data_format", None), seed=seed, name=name, dtype=dtype, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        return config


_ARGS_WITH_DATA_FORMAT = """

    Args:
        rate: the fraction of channels to drop, between 0 and 1.
        data_format: 'channels_last' (default) or 'channels_first'.
        seed: optional int, for reproducible masks.
        **kwargs: name, dtype.
    """


class SpatialDropout2D(BaseSpatialDropout):
    __doc__ = "Drops whole feature maps of (batch, h, w, channels) images in training." + _ARGS_WITH_DATA_FORMAT
    rank = 2


class SpatialDropout3D(BaseSpatialDropout):
    __doc__ = "Drops whole feature volumes of (batch, d, h, w, channels) inputs in training." + _ARGS_WITH_DATA_FORMAT
    rank = 3
