"""Crafted files aimed at Keras's loader holes: every one is refused before it can act.

The corpus comes from tests/keras_malicious_corpus.py (one file or more per hole).
For each file: loading refuses it with a message naming the problem, the canary
file is never created and the secret files are never read (their access time
stays put), Python's peak allocation stays small, the target model's weights are
unchanged, and ``npconv inspect`` reports the same refusal with exit status 2.
"""

import contextlib
import io
import os
import sys
import tracemalloc

import numpy as np
import pytest

import npconv
from npconv.cli.main import main as cli_main
from npconv.saving.allowlist import RefusedFileError, find_problems, parse_json
from npconv.saving.inspect import inspect_file

sys.path.insert(0, os.path.dirname(__file__))
from keras_malicious_corpus import build_corpus  # noqa: E402

PEAK_BYTES = 64 << 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    return str(directory), build_corpus(str(directory))


def _target():
    model = npconv.Sequential([npconv.Input((3,)), npconv.layers.Dense(2)])
    model.set_weights([np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0.5, -0.5], np.float32)])
    return model


def _age(path):
    """Set atime well before mtime so that any read moves it (relatime updates then)."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_mtime_ns - 10**12, stat.st_mtime_ns))
    return os.stat(path).st_atime_ns


def test_access_time_detects_reads(tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    before = _age(probe)
    probe.read_bytes()
    if os.stat(probe).st_atime_ns == before:
        pytest.skip("this filesystem does not record reads in atime; the canary read check cannot work here")


def test_corpus_covers_every_hole(corpus):
    assert len(corpus[1]) == 26  # one parametrized case per file below
    holes = {hole for _, hole, _ in corpus[1]}
    for expected in (
        "CVE-2024-3660", "CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9906", "CVE-2025-9905",
        "CVE-2025-12058", "CVE-2026-0897", "CVE-2026-1669", "CVE-2026-1462", "GHSA-27f4-p4xq-cxg8",
        "zip bomb", "path traversal", "duplicate members", "truncated",
    ):  # fmt: skip
        assert expected in holes


def _loads(path):
    target = _target()
    calls = [lambda: target.load_weights(path)]
    if not path.endswith((".weights.h5", ".weights.json")):
        calls.append(lambda: npconv.models.load_model(path))
    return target, calls


@pytest.mark.parametrize("index", range(26))
def test_crafted_file_is_refused_safely(corpus, index):
    directory, entries = corpus
    name, hole, words = entries[index]
    path = os.path.join(directory, name)
    canary = os.path.join(directory, "canary.txt")
    secrets = [os.path.join(directory, s) for s in ("secret.txt", "secret.h5")]
    times = [_age(s) for s in secrets]
    target, calls = _loads(path)
    before = target.get_weights()
    messages = []
    for call in calls:
        tracemalloc.start()
        try:
            with pytest.raises(RefusedFileError) as caught:
                call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BYTES, f"{name}: peak {peak:,} bytes"
        message = str(caught.value)
        messages.append(message)
        for word in words:
            assert word in message, f"{name} ({hole}): {word!r} not in {message!r}"
        assert name in message
    assert not os.path.exists(canary)
    assert [os.stat(s).st_atime_ns for s in secrets] == times, f"{name} read a secret file"
    for a, b in zip(before, target.get_weights()):
        np.testing.assert_array_equal(a, b)
    report = inspect_file(path)
    assert report.refused
    first = caught.value.problems[0]
    assert str(first) in [str(p) for p in report.problems], (str(first), [str(p) for p in report.problems])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli_main(["inspect", path])
    assert status == 2
    assert "REFUSED" in out.getvalue() and str(first) in out.getvalue()
    assert [os.stat(s).st_atime_ns for s in secrets] == times, f"inspect of {name} read a secret file"
    assert not os.path.exists(canary)


def test_custom_class_loads_only_when_passed(corpus, tmp_path):
    directory, _ = corpus
    path = os.path.join(directory, "custom_class.keras")

    class MyDense(npconv.layers.Dense):
        pass

    with pytest.raises(RefusedFileError, match="custom_objects"):
        npconv.models.load_model(path)
    model = npconv.models.load_model(path, custom_objects={"MyDense": MyDense})
    assert type(model.layers[0]) is MyDense
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], np.full((3, 2), 7.0, np.float32))
    assert "MyDense" not in npconv.layers._CLASSES  # the registry is left as it was


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"class_name": "Sequential", "class_name": "Lambda"}', "appears twice in one JSON object"),
        ('{"units": NaN}', "NaN is not JSON"),
        ("[" * 100000 + "]" * 100000, "not valid JSON"),
        ("\udcff", "not valid JSON"),
    ],
    ids=["duplicate-key", "nan", "deep", "not-utf8"],
)
def test_configs_are_strict_json(text, reason):
    data = text.encode("utf-8", "surrogateescape")
    with pytest.raises(RefusedFileError, match=reason):
        parse_json(data, "config.json")


def test_registered_name_must_be_the_class_own_name():
    entry = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d"}, "registered_name": "evil>Dense"}
    problems = find_problems(entry)
    assert len(problems) == 1 and "registered_name 'evil>Dense'" in problems[0].reason
    entry["registered_name"] = "Dense"
    assert find_problems(entry) == []
    entry["module"] = "keras.src.legacy.evil"
    assert "not where Keras keeps Dense" in find_problems(entry)[0].reason
