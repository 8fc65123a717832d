"""Silent wrong states and rough edges: non-finite learning rates, the NaN-stop
message, a kernel larger than its input, the bare command line, and a long
fit/predict/save/load soak with bounded resident memory."""

import os
import re
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import npconv
from npconv import layers, optimizers
from npconv.cli.main import main
from npconv.optimizers import schedules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_model(seed=0):
    npconv.utils.set_random_seed(seed)
    return npconv.Sequential([npconv.Input((6, 6, 3)), layers.Conv2D(4, 3), layers.Dense(2)])


# ---------------------------------------------------------- learning rates
@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
@pytest.mark.parametrize("optimizer", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop])
def test_non_finite_learning_rate_is_refused(optimizer, rate):
    with pytest.raises(ValueError, match=r"Invalid value for argument `learning_rate`\. Expected a finite number"):
        optimizer(learning_rate=rate)
    sgd = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="finite"):
        sgd.learning_rate = rate
    assert sgd.learning_rate == np.float32(0.1)


def test_non_finite_schedule_arguments_are_refused():
    with pytest.raises(ValueError, match="initial_learning_rate"):
        schedules.ExponentialDecay(float("nan"), 10, 0.5)


def test_a_callable_rate_that_turns_non_finite_changes_nothing(rng):
    model = small_model()
    model.compile(optimizers.SGD(learning_rate=lambda: float("nan")), "mse")
    before = model.get_weights()
    x, y = rng.standard_normal((4, 6, 6, 3)), rng.standard_normal((4, 4, 4, 2))
    with pytest.raises(ValueError, match="The learning rate for step 0 is nan"):
        model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_nan_stop_message_is_true_when_the_weights_are_already_non_finite(rng, capsys):
    """A huge (finite) rate makes the first update overflow; the loss of the next batch
    is then NaN, and the message must not claim the weights are finite."""
    x, y = rng.standard_normal((8, 6, 6, 3)), 1e3 * rng.standard_normal((8, 4, 4, 2))
    model = small_model()
    model.compile(optimizers.SGD(learning_rate=1e38), "mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    err = capsys.readouterr().err
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    assert "already hold NaN or Inf" in err and "last finite step" not in err


def test_nan_stop_message_is_true_when_the_data_is_bad(rng, capsys):
    x, y = rng.standard_normal((8, 6, 6, 3)), rng.standard_normal((8, 4, 4, 2))
    y[5] = np.nan
    model = small_model()
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert "the weights are those of the last finite step" in capsys.readouterr().err


# ---------------------------------------------------------- layer building
def test_kernel_larger_than_the_input_is_refused_before_allocating():
    layer = layers.Conv2D(2, kernel_size=10**6)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"output size would be zero or negative"):
            layer(np.zeros((1, 8, 8, 1), np.float32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and not layer.built and layer.weights == []


def test_build_with_an_empty_output_leaves_the_layer_unbuilt():
    layer = layers.Conv1DTranspose(2, 3, padding="valid")
    layer.build((None, 4, 1))  # transposed convs grow the output: this one builds
    assert layer.built
    layer = layers.DepthwiseConv2D(5)
    with pytest.raises(ValueError, match="zero or negative"):
        layer.build((None, 3, 3, 2))
    assert not layer.built and layer.weights == []


# -------------------------------------------------------------- the CLI
def test_bare_npconv_prints_usage(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: npconv") and "train-digits" in err and "explain" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"npconv {npconv.__version__}"


def test_train_digits_with_no_epochs_reports_no_time_per_epoch(capsys):
    assert main(["train-digits", "--epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "no training" in out and "/epoch" not in out


def test_train_digits_refuses_a_negative_epoch_count(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train-digits", "--epochs", "-1"])
    assert done.value.code == 2 and "--epochs: expected an integer >= 0, received '-1'" in capsys.readouterr().err


def test_example_script_answers_help():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "train_digits.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 0 and "--epochs" in result.stdout and "test accuracy" not in result.stdout


# ------------------------------------------------------- the repo stands alone
# Spelled in pieces so this file does not match itself.
_OUTSIDE = re.compile(
    "|".join(
        [
            r"\b(NOTES|REFERENCE|STYLE)\." + "md",
            "/wo" + "rk/",
            "shared" + "/seed",
            r"\bissue" + r" #?\d",
            "seed" + " article",
        ]
    ),
    re.IGNORECASE,
)


def test_code_docs_and_tests_cite_nothing_outside_the_repo():
    found = []
    for top in ("npconv", "tests", "docs", "examples", "benchmarks", "README.md", "BENCHMARKS.md", "pyproject.toml"):
        path = os.path.join(ROOT, top)
        files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        for name in files:
            if not name.endswith((".py", ".md", ".toml", ".txt")):
                continue
            with open(name, encoding="utf-8") as file:
                for number, line in enumerate(file, 1):
                    if _OUTSIDE.search(line):
                        found.append(f"{os.path.relpath(name, ROOT)}:{number}: {line.strip()}")
    assert found == []


# -------------------------------------------------------------------- soak
_SOAK = textwrap.dedent(
    """
    import os, sys, tempfile
    import numpy as np
    import npconv
    from npconv import layers

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    rounds = int(sys.argv[1])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 8, 8, 1)), rng.integers(0, 3, 32)
    npconv.utils.set_random_seed(0)
    model = npconv.Sequential([npconv.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                               layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    folder = tempfile.mkdtemp()
    model_path, weights_path = os.path.join(folder, "m.npconv"), os.path.join(folder, "w.weights.npz")
    for i in range(rounds):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        out = model.predict(x, verbose=0)
        model.save(model_path)
        model.save_weights(weights_path)
        loaded = npconv.models.load_model(model_path)
        loaded.load_weights(weights_path)
        assert np.array_equal(loaded.predict(x, verbose=0), out)
        if i == rounds // 10:
            warm = rss()
    print(warm, rss(), len(os.listdir(folder)))
    """
)


@pytest.mark.slow
def test_soak_fit_predict_save_load_keeps_memory_bounded():
    """1,000 rounds of fit/predict/save/save_weights/load_model/load_weights: resident
    memory after the first 100 rounds may grow by at most 16 MiB, and no temporary
    files are left behind."""
    result = subprocess.run(
        [sys.executable, "-c", _SOAK, "1000"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 0, result.stderr
    warm, final, files = (int(v) for v in result.stdout.split())
    assert final - warm < 16 * 2**20, f"RSS grew {(final - warm) / 2**20:.1f} MiB"
    assert files == 2
