"""The benchmark harness keeps working: ``python -m npconv.bench --quick`` on
tiny shapes, with whichever fast-starting peer is installed. No timing is
asserted here; the real numbers live in BENCHMARKS.md."""

import importlib.util
import json

import numpy as np
import pytest

from npconv import bench


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
    assert "## Targets (issue 5)" in text and "## Training step" in text
    results = json.loads(raw.read_text())["results"]
    assert {r["case"]["name"] for r in results} == {c.name for c in bench.QUICK}
    for r in results:
        assert r["modes"]["forward"]["time"]["npconv"] > 0
        assert r["modes"]["train"]["time"]["npconv"] > 0
        assert r["modes"]["forward"]["traced"] > 0
        assert r["algorithms"]["forward"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_suite_covers_the_issue_table():
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


def test_unknown_peer_is_refused():
    with pytest.raises(SystemExit, match="Unknown peers"):
        bench.main(["--quick", "--peers", "mxnet"])
