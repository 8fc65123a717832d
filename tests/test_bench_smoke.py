"""The benchmark harness keeps working: ``python -m npconv.bench --quick`` on
tiny shapes, with whichever fast-starting peer is installed. No timing is
asserted here; the real numbers live in BENCHMARKS.md."""

import importlib.util
import json

import numpy as np
import pytest

from npconv import bench, bench_fit


def fast_peers():
    """ONNX Runtime starts in well under a second; the others take several."""
    return [peer for peer in ("ort",) if importlib.util.find_spec("onnxruntime") is not None]


def test_quick_run_writes_report_chart_and_json(tmp_path):
    markdown, chart, raw = tmp_path / "BENCH.md", tmp_path / "bench.png", tmp_path / "bench.json"
    peers = ",".join(fast_peers()) or "none"
    bench.main(["--quick", "--peers", peers, "--markdown", str(markdown), "--chart", str(chart), "--json", str(raw)])
    text = markdown.read_text()
    assert "python -m npconv.bench --quick" in text
    assert "Machine:" in text and "numpy" in text
    for case in bench.QUICK:
        assert f"| {case.name} |" in text
    assert "## Targets" in text and "## Training step" in text
    results = json.loads(raw.read_text())["results"]
    assert {r["case"]["name"] for r in results} == {c.name for c in bench.QUICK}
    for r in results:
        assert r["modes"]["forward"]["time"]["npconv"] > 0
        assert r["modes"]["train"]["time"]["npconv"] > 0
        assert r["modes"]["forward"]["traced"] > 0
        assert r["algorithms"]["forward"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the digits epoch case ran too, on a tiny subset
    assert "## Training the digits CNN" in text and "| npconv |" in text
    digits = json.loads(raw.read_text())["digits"]
    assert digits["case"]["train_samples"] == bench_fit.QUICK_SAMPLES and digits["rounds"] == 1
    assert digits["time"]["npconv"] > 0 and 0.0 <= digits["accuracy"]["npconv"] <= 1.0


def test_every_quick_case_agrees_with_a_peer_or_is_reported(tmp_path):
    """A peer that disagrees with npconv is skipped and listed, never timed."""
    if not fast_peers():
        pytest.skip("no fast peer installed")
    raw = tmp_path / "bench.json"
    bench.main(
        [
            "--quick",
            "--peers",
            "ort",
            "--modes",
            "forward",
            "--no-memory",
            "--no-extras",
            "--json",
            str(raw),
            "--markdown",
            str(tmp_path / "b.md"),
        ]
    )
    results = json.loads(raw.read_text())["results"]
    for r in results:
        assert "ort" in r["modes"]["forward"]["time"] or any(k.startswith("ort") for k in r["errors"])
    assert all("ort forward" not in r["errors"] for r in results)


def test_suite_covers_the_benchmark_table():
    names = [case.name for case in bench.SUITE]
    assert names == [
        "resnet 3x3",
        "downsample 3x3",
        "bottleneck 1x1",
        "stem 7x7",
        "decoder transposed",
        "depthwise 3x3",
        "dilated 3x3",
        "conv1d audio",
        "article 5x5",
    ]
    resnet = bench.SUITE[0]
    assert (resnet.batch, resnet.spatial, resnet.kernel_size, resnet.cin, resnet.cout) == (8, (56, 56), (3, 3), 64, 64)


@pytest.mark.parametrize("case", bench.QUICK, ids=lambda c: c.name)
def test_npconv_training_step_matches_its_own_forward(case):
    """The harness's npconv step returns (y, dx, dkernel, dbias) of consistent shapes."""
    data = bench.make_data(case)
    forward, train = bench._npconv_fns(case)
    y, dx, dkernel, dbias = train(data.x, data.kernel, data.bias, data.dy)
    np.testing.assert_allclose(y, forward(data.x, data.kernel, data.bias), rtol=1e-6, atol=1e-6)
    assert dx.shape == data.x.shape and dkernel.shape == data.kernel.shape and dbias.shape == data.bias.shape
    assert bench.flops(case, y.shape) > 0


def test_cases_digits_runs_only_the_digits_epoch(tmp_path):
    raw, markdown = tmp_path / "bench.json", tmp_path / "b.md"
    args = ["--quick", "--cases", "digits", "--peers", "none", "--no-extras", "--json", str(raw)]
    results = bench.main([*args, "--markdown", str(markdown)])
    assert results == []
    text = markdown.read_text()
    assert "## Training the digits CNN" in text and "## Forward" not in text
    assert list(json.loads(raw.read_text())["digits"]["time"]) == ["npconv"]


def test_digits_libraries_follow_the_peers():
    assert bench_fit.libraries(["ort"]) == ["npconv"]
    if importlib.util.find_spec("keras") is not None:
        assert bench_fit.libraries(["tf", "torch", "jax", "ort"]) == ["npconv", "keras_tf", "keras_torch", "keras_jax"]


def test_digits_check_refuses_predictions_that_differ():
    expected = np.full((4, 10), 0.1, dtype=np.float32)
    assert bench_fit.disagreement(expected + 1e-7, expected) is None
    assert "differ" in bench_fit.disagreement(expected + 1e-3, expected)
    assert "shape" in bench_fit.disagreement(expected[:2], expected)


def test_digits_peer_that_disagrees_is_skipped_and_reported():
    class FakePool:  # stands in for the worker processes: keras_jax predicts something else
        def call(self, command, lib, *args):
            if command == "fit_setup":
                return [] if lib == "npconv" else None
            if command == "fit_predict":
                return np.full((359, 10), 0.1 if lib != "keras_jax" else 0.2, dtype=np.float32)
            if command == "fit_epoch":
                return {"npconv": 0.5, "keras_tf": 0.25, "keras_jax": 0.1}[lib]
            return 2.0, 0.5  # fit_evaluate: loss, accuracy

    skipped = []
    result = bench_fit.run_digits(FakePool(), ["npconv", "keras_tf", "keras_jax"], quick=True, log=skipped.append)
    assert list(result["time"]) == ["npconv", "keras_tf"] and "keras_jax" in result["errors"]
    assert len(skipped) == 1 and "keras_jax" in skipped[0]
    assert bench_fit.best_peer(result) == ("keras_tf", 0.25)
    text = "\n".join(bench_fit.markdown_lines(result))
    assert "npconv / best peer (Keras 3 / TensorFlow): 2.00" in text
    assert "Keras 3 / JAX: not measured (initial predictions differ" in text


def test_unknown_peer_is_refused():
    with pytest.raises(SystemExit, match="Unknown peers"):
        bench.main(["--quick", "--peers", "mxnet"])
