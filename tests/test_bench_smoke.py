"""The benchmark harness in ``benchmarks/`` keeps working: a tiny run end to end,
and the checks that keep a wrong peer (or a wrong npconv step) out of the
tables. No timing is asserted here; the numbers live in BENCHMARKS.md."""

import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is the repository's tool, not part of the package
    sys.path.insert(0, str(ROOT))

from benchmarks import bench, conv, fit, machine, models, report, throughput  # noqa: E402

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_the_package_ships_no_benchmark():
    import npconv

    package = Path(npconv.__file__).parent
    assert not list(package.glob("bench*.py"))


def test_quick_run_writes_report_chart_and_json(tmp_path):
    markdown, chart, raw = tmp_path / "BENCH.md", tmp_path / "bench.png", tmp_path / "bench.json"
    peers = "ort" if HAS_ORT else "none"
    args = ["--quick", "--cases", "resnet 3x3,article,peak,digits", "--peers", peers, "--no-extras"]
    bench.main([*args, "--markdown", str(markdown), "--chart", str(chart), "--json", str(raw)])
    text = markdown.read_text(encoding="utf-8")
    assert "python -m benchmarks.bench --quick" in text
    assert "Machine:" in text and "numpy" in text
    assert "## Targets" in text and "## Forward layer call" in text and "## Training step" in text
    assert "| resnet 3x3 |" in text and "| article 5x5 |" in text
    assert "% of peak" in text and "## The machine's fp32 peak" in text
    run = json.loads(raw.read_text())
    assert [r["case"]["name"] for r in run["conv"]] == ["resnet 3x3", "article 5x5"]
    for r in run["conv"]:
        assert r["modes"]["forward"]["time"]["npconv"] > 0
        assert r["modes"]["train"]["time"]["npconv"] > 0
        assert r["modes"]["forward"]["traced"] > 0
        if HAS_ORT:
            assert "ort" in r["modes"]["forward"]["time"], r["errors"]
    assert run["peak"]["peak"] == max(run["peak"]["gflops"].values()) > 0
    if importlib.util.find_spec("matplotlib") is not None:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    digits = run["digits"]
    assert digits["case"]["train_samples"] == fit.QUICK_SAMPLES and digits["rounds"] == 1
    assert digits["time"]["npconv"] > 0 and 0.0 <= digits["accuracy"]["npconv"] <= 1.0
    assert "## Training the digits CNN" in text


def test_suite_holds_the_cases_the_targets_name():
    shapes = {(c.spatial, c.kernel_size, c.strides, c.cin, c.cout) for c in conv.SUITE if c.batch == 8}
    for case in [
        ((56, 56), (3, 3), (1, 1), 64, 64),
        ((28, 28), (3, 3), (1, 1), 128, 128),
        ((56, 56), (3, 3), (2, 2), 64, 128),
        ((28, 28), (1, 1), (1, 1), 256, 64),
        ((224, 224), (7, 7), (2, 2), 3, 64),
        ((32, 32), (5, 5), (1, 1), 32, 64),
    ]:
        assert case in shapes
    assert set(conv.PEAK_CASES) <= {c.name for c in conv.SUITE}
    assert [c.name for c in conv.SUITE] == [c.name for c in conv.QUICK]


@pytest.mark.parametrize("case", conv.QUICK, ids=lambda c: c.name)
def test_npconv_step_is_a_real_training_step(case):
    """npconv's runner: the layer call applies ReLU, and one train_on_batch gives the
    mean squared error of that output and an SGD update of the bias derived from it here."""
    data = conv.make_data(case)
    runner = conv.build_npconv(case, data)
    y = np.asarray(runner["check_forward"](), dtype=np.float64)
    assert y.shape == conv.output_shape(case) and y.min() >= 0.0 and (y > 0).any()
    loss, kernel_update, bias_update = runner["check_train"]()
    np.testing.assert_allclose(loss, np.mean((y - data.target) ** 2), rtol=1e-5)
    dy = 2.0 * (y - data.target) / y.size * (y > 0)
    expected_bias = conv.LEARNING_RATE * dy.reshape(-1, case.cout).sum(axis=0)
    np.testing.assert_allclose(bias_update, expected_bias, rtol=1e-3, atol=1e-7)
    assert kernel_update.shape == data.kernel.shape and np.abs(kernel_update).max() > 0
    assert conv.flops(case) > 0


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed")
@pytest.mark.parametrize("case", conv.QUICK, ids=lambda c: c.name)
def test_onnx_runtime_agrees_with_npconv_forward(case):
    data = conv.make_data(case)
    expected = {"forward": [conv.build_npconv(case, data)["check_forward"]()]}
    assert conv.compare([conv.build_ort(case, data)["check_forward"]()], expected, "forward") is None


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("name", ["downsample 3x3", "decoder transposed", "depthwise 3x3", "conv1d audio"])
def test_torch_training_step_agrees_with_train_on_batch(name):
    """The peers' steps and npconv's agree: loss and the weight updates of one step
    (the kernel converted back through npconv.translate)."""
    case = next(c for c in conv.QUICK if c.name == name)
    data = conv.make_data(case)
    expected = {"train": conv.build_npconv(case, data)["check_train"]()}
    assert conv.compare(conv.build_torch(case, data)["check_train"](), expected, "train") is None


def test_compare_refuses_a_wrong_peer():
    y = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)
    expected = {"forward": [y], "train": [np.float32(0.5), y, y[0, 0]]}
    assert conv.compare([y + 1e-5], expected, "forward") is None
    assert "y: max error" in conv.compare([y + 0.1], expected, "forward")
    assert "shape" in conv.compare([y[0]], expected, "forward")
    assert "kernel update" in conv.compare([np.float32(0.5), -y, y[0, 0]], expected, "train")


def test_peak_is_the_faster_matrix_product():
    result = machine.peak(quick=True)
    assert result["best"] in result["gflops"] and result["peak"] == max(result["gflops"].values()) > 0
    if machine.find_libdnnl():
        assert "onednn" in result["gflops"]


def test_competitors_start_and_stop():
    procs = fit.start_competitors(2, seconds=60)
    try:
        time.sleep(0.2)
        assert all(p.poll() is None for p in procs)
    finally:
        fit.stop_competitors(procs)
    assert all(p.poll() is not None for p in procs)


class FakePool:
    """Stands in for the worker processes of the digits case: keras_jax predicts something else."""

    def __init__(self, epoch):
        self.epoch = epoch

    def call(self, module, command, lib, *args):
        assert module == "fit"
        if command == "setup":
            return [] if lib == "npconv" else None
        if command == "predict":
            return np.full((359, 10), 0.1 if lib != "keras_jax" else 0.2, dtype=np.float32)
        if command == "epoch":
            return self.epoch[lib]
        return 2.0, 0.5  # evaluate: loss, accuracy


def test_digits_peer_that_disagrees_is_skipped_and_reported():
    skipped = []
    pool = FakePool({"npconv": 0.5, "keras_tf": 0.25, "keras_jax": 0.1})
    result = fit.run_digits(pool, ["npconv", "keras_tf", "keras_jax"], quick=True, log=skipped.append)
    assert list(result["time"]) == ["npconv", "keras_tf"] and "keras_jax" in result["errors"]
    assert len(skipped) == 1 and "keras_jax" in skipped[0]
    assert fit.best_peer(result) == ("keras_tf", 0.25)
    text = "\n".join(report.digits_lines(result))
    assert "| Keras 3 / TensorFlow | 0.250 | 2.00 |" in text
    assert "Keras 3 / JAX: not measured (initial predictions differ" in text


def test_contention_reuses_the_digits_models_and_stops_its_competitors(monkeypatch):
    started = []
    real_start = fit.start_competitors
    monkeypatch.setattr(fit, "start_competitors", lambda n, s: started.extend(real_start(n, s)) or started)
    pool = FakePool({"npconv": 0.5, "keras_jax": 0.25})
    result = fit.run_contention(pool, ["npconv", "keras_jax"], quick=True, prepared=["npconv", "keras_jax"])
    assert len(started) == fit.COMPETITORS and all(p.poll() is not None for p in started)
    assert result["time"] == result["loaded"] == {"npconv": 0.5, "keras_jax": 0.25}
    assert result["rounds"] == result["loaded_rounds"] == 1
    assert "npconv / Keras on JAX: 2.00 quiet, 2.00 loaded." in "\n".join(report.contention_lines(result))


def test_digits_libraries_follow_the_peers():
    assert fit.libraries(["ort"]) == ["npconv"]
    if importlib.util.find_spec("keras") is not None:
        assert fit.libraries(["tf", "torch", "jax", "ort"]) == ["npconv", "keras_tf", "keras_torch", "keras_jax"]
        assert fit.contention_libraries(["tf", "jax"]) == ["npconv", "keras_jax"]


def _conv_result(name, forward, train, gflop=1.0):
    return {
        "case": {"name": name},
        "gflop": gflop,
        "errors": {},
        "modes": {m: {"time": t, "memory": {}, "traced": None} for m, t in (("forward", forward), ("train", train))},
    }


def test_report_holds_each_number_against_its_target():
    run = {
        "machine": "test machine",
        "libs": ["npconv", "tf", "ort"],
        "peak": {"n": 8, "gflops": {"numpy": 100.0, "onednn": 400.0}, "best": "onednn", "peak": 400.0, "path": None},
        "conv": [
            _conv_result("resnet 3x3", {"npconv": 0.004, "tf": 0.005, "ort": 0.01}, {"npconv": 0.03, "tf": 0.02}),
            _conv_result("stem 7x7", {"npconv": 0.009, "tf": 0.01}, {"npconv": 0.01, "tf": 0.02}),
        ],
        "contention": {
            "case": {"name": fit.CONTENTION},
            "time": {"npconv": 0.1, "keras_jax": 0.2},
            "loaded": {"npconv": 0.5, "keras_jax": 0.25},
            "competitors": 2,
            "rounds": 3,
            "loaded_rounds": 3,
            "errors": {},
        },
        "extras": {"layer_call": 5e-6, "import": {"npconv": 0.12, "numpy": 0.1, "python -S": 0.01}},
    }
    text = report.markdown(run, run["libs"], "python -m benchmarks.bench")
    assert "forward layer call <= 0.8 x best peer, every case | 1/2 cases; worst stem 7x7 0.90 | **no** |" in text
    assert "training step <= 0.8 x best peer, every case | 1/2 cases; worst resnet 3x3 1.50 | **no** |" in text
    assert "| resnet 3x3 | 4 ms | 250 | 62% | 5 ms | 10 ms | TF 5 ms | **0.80** |" in text
    assert "resnet 3x3 62% | **no** |" in text  # 250 of 400 GFLOP/s
    assert "competing processes, <= 1.5 x Keras on JAX | 2.00 | **no** |" in text
    assert "npconv / Keras on JAX: **0.50** quiet, 2.00 loaded." in text
    assert "the article's layer call < 10 µs | 5.0 µs | yes |" in text
    assert "`import npconv` <= 1.3 x `import numpy` | 1.20x | yes |" in text


def test_select_groups_and_names():
    args = bench.parse_args(["--quick"])
    conv_cases, model_cases, groups = bench.select(args)
    assert conv_cases == conv.QUICK and model_cases == [] and "models" not in groups and "dask" not in groups
    args = bench.parse_args(["--quick", "--cases", "models,contention"])
    conv_cases, model_cases, groups = bench.select(args)
    assert conv_cases == [] and model_cases == models.QUICK and groups == ["contention", "models"]
    with pytest.raises(SystemExit, match="Unknown cases"):
        bench.select(bench.parse_args(["--cases", "no such case"]))
    with pytest.raises(SystemExit, match="Unknown peers"):
        bench.main(["--quick", "--peers", "mxnet"])


def test_models_skip_without_a_functional_api():
    class NoFunctional:
        def call(self, module, command, lib, *args):
            assert (module, command, lib) == ("models", "probe", "npconv")
            return False

    result = models.run_case(NoFunctional(), models.QUICK[0], ["npconv", "keras_tf"], quick=True, log=lambda _: None)
    assert result["time"] == {} and "from_config is missing" in result["errors"]["npconv"]
    assert "not measured (npconv.models.Model.from_config is missing" in "\n".join(report.models_lines([result]))


def test_dask_case_says_why_it_cannot_run():
    reason = throughput.missing()
    if reason is not None:
        assert "\n".join(report.throughput_lines({"skipped": reason, "models": []})).endswith(f"{reason}.\n")
