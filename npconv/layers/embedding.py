"""Embedding: integer token ids -> rows of a learnt table."""

from __future__ import annotations

import numpy as np

from .. import constraints, initializers, regularizers
from ..arguments import invalid, standardize_int
from .base import Layer, require_none, resolve, serialize_or_none
from .merging import _is_symbolic, check_no_mask


class Embedding(Layer):
    """Looks up each integer id of the input in a table of ``input_dim``
    vectors of length ``output_dim``.

    Inputs stay integers: they are never cast to float. Float inputs are
    accepted only when every value is a whole number (as a float dataset of
    ids); ids outside ``[0, input_dim)`` raise an error instead of wrapping
    around or reading another row.

    Args:
        input_dim: the vocabulary size (ids run from 0 to input_dim - 1).
        output_dim: the length of each embedding vector.
        embeddings_initializer: initializer of the table ("uniform" by
            default: uniform in [-0.05, 0.05], as Keras).
        embeddings_regularizer: optional regularizer of the table.
        embeddings_constraint: optional constraint of the table.
        mask_zero: must be False: npconv layers do not carry masks.
        weights: optional initial table, a (input_dim, output_dim) array or a
            list holding one.
        lora_rank: accepted only as None (npconv has no LoRA).
        lora_alpha: accepted only as None.
        quantization_config: accepted only as None (npconv does not quantize).
        **kwargs: base layer arguments (name, dtype, trainable,
            activity_regularizer). Keras's ``input_length`` is accepted and
            ignored (Keras deprecated it).

    Input: integer ids of any shape (batch, ...).
    Output: (batch, ..., output_dim), in the layer's float dtype.
    Weights: embeddings, shape (input_dim, output_dim).
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        kwargs.pop("input_length", None)
        require_none("lora_rank", lora_rank, "npconv has no LoRA")
        require_none("lora_alpha", lora_alpha, "npconv has no LoRA")
        require_none("quantization_config", quantization_config, "npconv does not quantize")
        if mask_zero is not False:
            raise invalid(
                "mask_zero",
                "False (npconv layers do not propagate masks)",
                mask_zero,
                "Use mask_zero=False and keep padded positions out of the loss with sample weights.",
            )
        super().__init__(**kwargs)
        self.input_dim = standardize_int(input_dim, "input_dim")
        self.output_dim = standardize_int(output_dim, "output_dim")
        self.embeddings_initializer = resolve(initializers, embeddings_initializer, "embeddings_initializer")
        self.embeddings_regularizer = resolve(regularizers, embeddings_regularizer, "embeddings_regularizer")
        self.embeddings_constraint = resolve(constraints, embeddings_constraint, "embeddings_constraint")
        self.mask_zero = False
        self.embeddings = None
        if weights is not None:
            self.build(None)
            table = weights[0] if isinstance(weights, (list, tuple)) and len(weights) == 1 else weights
            self.set_weights([table])

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight(
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            "embeddings",
            self.embeddings_regularizer,
            self.embeddings_constraint,
        )
        self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        if _is_symbolic(inputs):  # building a Functional graph
            return super().__call__(inputs, training=training, **kwargs)
        check_no_mask(self, kwargs)
        ids = self._ids(inputs)
        if not self.built:
            self.build(ids.shape)
        return self.call(ids, training=bool(training))

    def _ids(self, inputs):
        array = np.asarray(inputs)
        if array.dtype.kind == "f":
            whole = np.isfinite(array) & (array == np.round(array))
            if not whole.all():
                raise invalid(
                    "inputs",
                    f"integer token ids for layer '{self.name}' (Embedding)",
                    f"a float array with non-integer values such as {float(array[~whole].flat[0])}",
                    "Pass an integer array.",
                    error=TypeError,
                )
            array = array.astype(np.int64)
        elif array.dtype.kind not in "iu":
            raise invalid(
                "inputs",
                f"integer token ids for layer '{self.name}' (Embedding)",
                f"an array of dtype {array.dtype}",
                error=TypeError,
            )
        if array.size and (array.min() < 0 or array.max() >= self.input_dim):
            bad = array[(array < 0) | (array >= self.input_dim)].flat[0]
            raise invalid(
                "inputs",
                f"token ids in [0, {self.input_dim - 1}] for layer '{self.name}' (input_dim={self.input_dim})",
                f"an array holding the id {int(bad)}",
                "Raise input_dim to the vocabulary size, or map unknown tokens to a reserved id.",
            )
        return array

    def call(self, ids, training=False):
        self._ids_cache = ids
        return self.embeddings.value[ids]

    def backward(self, dy, input_grad=True):
        """Adds dy to the table rows that were read (summed over repeated
        ids). Integer ids have no gradient, so this returns None."""
        dtable = np.zeros(self.embeddings.shape, dtype=self.embeddings.dtype)
        np.add.at(dtable, self._ids_cache.reshape(-1), np.asarray(dy).reshape(-1, self.output_dim))
        self.embeddings.add_grad(dtable)
        return None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=initializers.serialize(self.embeddings_initializer),
            embeddings_regularizer=serialize_or_none(regularizers, self.embeddings_regularizer),
            activity_regularizer=serialize_or_none(regularizers, self.activity_regularizer),
            embeddings_constraint=serialize_or_none(constraints, self.embeddings_constraint),
            mask_zero=False,
            quantization_config=None,
        )
        return config
