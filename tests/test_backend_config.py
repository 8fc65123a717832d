"""Backend selection: ``npconv.config``, ``NPCONV_BACKEND``, ``npconv info``, and
that importing npconv loads no kernel library."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from npconv import config
from npconv.cli.main import main
from npconv.ops.backends import onednn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, **env):
    environment = {**os.environ, "PYTHONPATH": ROOT, **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=120
    )


def test_import_loads_no_kernel_library():
    result = run_python(
        """
        import npconv, npconv.layers
        maps = open("/proc/self/maps").read() if __import__("os").path.exists("/proc/self/maps") else ""
        print("libdnnl" in maps)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_environment_variable_chooses_numpy():
    result = run_python("from npconv import config; print(config.backend())", NPCONV_BACKEND="numpy")
    assert result.stdout.strip() == "numpy", result.stderr


def test_unknown_environment_value_is_an_error_naming_it():
    result = run_python("from npconv import config; config.backend()", NPCONV_BACKEND="cuda")
    assert result.returncode != 0
    assert "Invalid value for NPCONV_BACKEND. Expected one of ['numpy', 'onednn']. Received: NPCONV_BACKEND='cuda'" in (
        result.stderr
    )


def test_default_is_onednn_where_it_loads():
    result = run_python("from npconv import config; print(config.backend())", NPCONV_BACKEND="")
    expected = "onednn" if onednn.available()[0] else "numpy"
    assert result.stdout.strip() == expected, result.stderr


def test_set_backend_round_trip():
    previous = config.backend()
    try:
        assert config.set_backend("numpy") == "numpy"
        assert config.backend() == "numpy"
    finally:
        config.set_backend(previous)


def test_info_command(capsys):
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["npconv"] and facts["numpy"]
    assert facts["backend"] == config.backend()
    if onednn.available()[0]:
        assert facts["onednn library"].endswith("libdnnl.so.3")
        assert facts["cpu isa"] and facts["threads"] >= 1
    else:
        assert facts["onednn unavailable because"]
    assert main(["info"]) == 0
    assert "backend" in capsys.readouterr().out


@pytest.mark.skipif(not onednn.available()[0], reason="oneDNN not loadable")
def test_info_says_why_onednn_cannot_load():
    result = run_python(
        "from npconv.cli.main import main; main(['info'])",
        NPCONV_ONEDNN_LIBRARY="/nonexistent/libdnnl.so.3",
        NPCONV_BACKEND="",
    )
    assert result.returncode == 0, result.stderr
    assert "onednn unavailable because  /nonexistent/libdnnl.so.3 does not exist" in result.stdout
