"""The article's experiment, ported with only the import lines changed.

The article ("How to use the convolution layer Conv2D in Keras") builds a
Sequential model holding one Conv2D (then one
Conv2DTranspose) with 1 filter, a 3x3 kernel, relu and an all-ones kernel, and
runs it on ``np.ones([1, 5, 5, 1])`` with padding valid/same and several
strides. Here the same code runs on npconv and on real Keras, on a 5x5 and a
6x6 input, and the VALUES are compared (keras#22876: a one-pixel shift keeps
the shapes right), then the shapes against a table of what Keras prints for
those experiments.
"""

import itertools

import naive
import numpy as np
import pytest

# --- the article's imports, ported -----------------------------------------
import npconv as keras  # the article: import keras
from npconv.layers.convolutional import Conv2D, Conv2DTranspose  # the article: keras.layers.convolutional
from npconv.models import Sequential  # the article: from keras.models import Sequential

NPCONV = (keras, Sequential, Conv2D, Conv2DTranspose)


def article_model(keras, Sequential, Conv2D, v_input, padding, stride):
    """The article's Conv2D demo, verbatim apart from padding/stride being arguments."""
    kernel = np.ones([3, 3])  # noqa: F841  (the article defines it and never uses it)
    model = Sequential()
    model.add(
        Conv2D(
            1,
            kernel_size=(3, 3),
            activation="relu",
            padding=padding,  # "same"
            strides=stride,
            # dilation_rate = 1,
            kernel_initializer=keras.initializers.Ones(),
            input_shape=v_input.shape[1:],
        )
    )
    return model


def run_article(modules, layer_name, size, padding, stride):
    keras, Sequential, Conv2D, Conv2DTranspose = modules
    layer = Conv2D if layer_name == "Conv2D" else Conv2DTranspose
    v_input = np.ones([1, size, size, 1])
    model = article_model(keras, Sequential, layer, v_input, padding, stride)
    return model, np.asarray(model.predict(v_input, verbose=0))


@pytest.fixture(scope="module")
def real_keras(keras):
    """The real Keras spelled as the article uses it (Keras 3 has no
    ``keras.layers.convolutional`` module, so the classes come from ``keras.layers``)."""
    return (keras, keras.models.Sequential, keras.layers.Conv2D, keras.layers.Conv2DTranspose)


# What Keras prints for the article's experiments (kernel 3, ones in, ones as kernel, relu): output side per stride 1, 2, 3.
KERAS_TABLE = {
    ("Conv2D", "valid"): {5: (3, 2, 1), 6: (4, 2, 2)},
    ("Conv2D", "same"): {5: (5, 3, 2), 6: (6, 3, 2)},
    ("Conv2DTranspose", "valid"): {5: (7, 11, 15), 6: (8, 13, 18)},
    ("Conv2DTranspose", "same"): {5: (5, 10, 15), 6: (6, 12, 18)},
}
CASES = [
    (layer, padding, size, stride)
    for (layer, padding), size, stride in itertools.product(KERAS_TABLE, (5, 6), (1, 2, 3))
]


def case_id(case):
    return "-".join(map(str, case))


def expected_values(layer_name, size, padding, stride):
    """Independent of both libraries: naive's loops with Keras's formulas."""
    x = np.ones((1, size, size, 1))
    kernel = np.ones((3, 3, 1, 1))
    if layer_name == "Conv2D":
        pads = [naive.keras_conv_pads(size, 3, stride, 1, padding)] * 2
        y = naive.conv(x, kernel, stride, pads, 1)
    else:
        crops = [naive.keras_transpose_crops(size, 3, stride, 1, padding, None)] * 2
        y = naive.conv_transpose(x, kernel, stride, crops, 1)
    return np.maximum(y, 0)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_article_shapes_match_notes(case):
    layer_name, padding, size, stride = case
    model, y = run_article(NPCONV, layer_name, size, padding, stride)
    side = KERAS_TABLE[layer_name, padding][size][stride - 1]
    assert y.shape == (1, side, side, 1)
    assert model.output_shape == (None, side, side, 1)
    assert y.dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_article_values_match_naive(case):
    layer_name, padding, size, stride = case
    _, y = run_article(NPCONV, layer_name, size, padding, stride)
    np.testing.assert_array_equal(y, expected_values(layer_name, size, padding, stride))


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_article_values_match_keras(case, real_keras):
    layer_name, padding, size, stride = case
    npconv_model, y = run_article(NPCONV, layer_name, size, padding, stride)
    keras_model, expected = run_article(real_keras, layer_name, size, padding, stride)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    assert npconv_model.output_shape == tuple(keras_model.output_shape)
    assert [w.shape for w in npconv_model.get_weights()] == [w.shape for w in keras_model.get_weights()]


def test_article_same_stride_2_pads_after():
    """With s = 2, TF's SAME pads 5x5 by (1, 1) but 6x6 by (0, 1): the odd pixel
    goes after. The article's rule (floor((k-1)/2) before, ceil after) pads
    6x6 by (1, 1) and would give a different picture."""
    _, y5 = run_article(NPCONV, "Conv2D", 5, "same", 2)
    _, y6 = run_article(NPCONV, "Conv2D", 6, "same", 2)
    np.testing.assert_array_equal(y5[0, :, :, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    np.testing.assert_array_equal(y6[0, :, :, 0], [[9, 9, 6], [9, 9, 6], [6, 6, 4]])
    article = naive.conv(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 1)), 2, [(1, 1), (1, 1)], 1)
    np.testing.assert_array_equal(article[0, :, :, 0], [[4, 6, 6], [6, 9, 9], [6, 9, 9]])


def test_article_transposed_stride_inserts_zeros():
    """'like dilation': s - 1 zeros between inputs, then a stride-1 window of ones."""
    _, y = run_article(NPCONV, "Conv2DTranspose", 5, "valid", 3)
    row = y[0, 0, :, 0]
    assert y.shape == (1, 15, 15, 1)
    np.testing.assert_array_equal(row, [1] * 15)  # k = s = 3: the windows tile exactly
    _, y = run_article(NPCONV, "Conv2DTranspose", 5, "valid", 2)
    np.testing.assert_array_equal(y[0, 0, :, 0], [1, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1])


def test_article_import_spellings():
    """The Keras 2 names the article and older code use resolve to the same classes."""
    import npconv.layers.convolutional as convolutional

    assert convolutional.Conv2D is keras.layers.Conv2D
    assert convolutional.Conv2DTranspose is keras.layers.Conv2DTranspose
    assert keras.layers.Convolution2D is keras.layers.Conv2D
    assert keras.layers.Deconvolution2D is keras.layers.Conv2DTranspose
    assert keras.Sequential is Sequential
