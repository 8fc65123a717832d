"""The machine: its description, its measured fp32 peak, the article's layer call and import times.

The peak is measured in the same run as the convs: a large float32 matrix
product through NumPy's BLAS and through oneDNN's ``dnnl_sgemm`` (called with
``ctypes`` from ``libdnnl``, when it is installed); the faster one is the peak
that GFLOP/s figures are held against.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import site
import statistics
import subprocess
import sys
import time

import numpy as np

from npconv import config, layers


# --------------------------------------------------------------------------
# fp32 peak
# --------------------------------------------------------------------------
def find_libdnnl():
    """Path of oneDNN's shared library, or None: the one npconv's oneDNN backend loads, else the
    environment's lib/, the user base's lib/, ``NPCONV_ONEDNN_LIBRARY``, then the system's search path."""
    try:
        from npconv.ops.backends.onednn import library

        loaded, path = library.load()
        if loaded is not None:
            return path
    except (ImportError, AttributeError, ValueError):
        pass
    candidates = [
        os.path.join(sys.prefix, "lib", "libdnnl.so.3"),
        os.path.join(site.getuserbase(), "lib", "libdnnl.so.3"),
    ]
    if os.environ.get("NPCONV_ONEDNN_LIBRARY"):
        candidates.append(os.environ["NPCONV_ONEDNN_LIBRARY"])
    for path in candidates:
        if os.path.isfile(path):
            return path
    return ctypes.util.find_library("dnnl")


def _onednn_sgemm():
    """``sgemm(a, b, c)``: c = a @ b (row-major float32) through ``dnnl_sgemm``; None without oneDNN."""
    path = find_libdnnl()
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    fn = lib.dnnl_sgemm
    dim, ptr = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [
        ctypes.c_char,
        ctypes.c_char,
        dim,
        dim,
        dim,
        ctypes.c_float,
        ptr,
        dim,
        ptr,
        dim,
        ctypes.c_float,
        ptr,
        dim,
    ]
    fn.restype = ctypes.c_int

    def sgemm(a, b, c):
        m, k = a.shape
        n = b.shape[1]
        status = fn(b"N", b"N", m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data, n, 0.0, c.ctypes.data, n)
        if status != 0:
            raise RuntimeError(f"dnnl_sgemm returned status {status}")
        return c

    return sgemm


def peak(quick=False):
    """Best-of-N GFLOP/s of an n x n x n float32 matrix product, per library, and the faster one.

    Returns ``{"n": n, "gflops": {"numpy": ..., "onednn": ...}, "best": name, "path": libdnnl's file name}``.
    """
    n, repeats = (1024, 3) if quick else (4096, 7)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    runners = {"numpy": lambda: np.matmul(a, b, out=c)}
    sgemm = _onednn_sgemm()
    if sgemm is not None:
        runners["onednn"] = lambda: sgemm(a, b, c)
        expected = a[:64] @ b
        sgemm(a, b, c)
        error = float(np.max(np.abs(c[:64] - expected)) / np.max(np.abs(expected)))
        if error > 1e-4:
            raise RuntimeError(f"dnnl_sgemm disagrees with numpy: max error {error:.1e} of max |value|")
    times = {name: [] for name in runners}
    for name in runners:
        runners[name]()  # warm-up
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    gflops = {name: 2.0 * n**3 / min(t) / 1e9 for name, t in times.items()}
    best = max(gflops, key=gflops.get)
    path = find_libdnnl()
    return {"n": n, "gflops": gflops, "best": best, "peak": gflops[best], "path": path and os.path.basename(path)}


# --------------------------------------------------------------------------
# latency and import
# --------------------------------------------------------------------------
def import_times(repeats=7):
    """Median wall seconds of a fresh ``python -c 'import numpy'`` and ``'import npconv'``
    (and a bare ``python -S``), interleaved, with compiled bytecode cached as an
    installed package has it (a first run writes it)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(code):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *code], check=True, capture_output=True, env=env)
        return time.perf_counter() - t0

    commands = {"numpy": ["-c", "import numpy"], "npconv": ["-c", "import npconv"], "python -S": ["-S", "-c", "pass"]}
    for code in commands.values():
        run(code)
    runs = {name: [] for name in commands}
    for _ in range(repeats):
        for name, code in commands.items():
            runs[name].append(run(code))
    return {name: statistics.median(r) for name, r in runs.items()}


def layer_call_times(processes=7, quick=False):
    """:func:`layer_call_time` in ``processes`` fresh Python processes, one after another.

    On a virtual machine a whole process can run at about half the speed of
    another; the median over fresh processes is what one call costs, and the
    spread shows how much a single process can be off."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = f"from benchmarks.machine import layer_call_time; print(layer_call_time({quick!r}))"
    return [
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=root).stdout)
        for _ in range(processes)
    ]


def layer_call_time(quick=False):
    """Median seconds of one call of the article's layer, ``Conv2D(1, 3)`` on a 1x5x5x1 input of ones."""
    layer = layers.Conv2D(1, 3)
    x = np.ones((1, 5, 5, 1), dtype=np.float32)
    for _ in range(50):
        layer(x)
    samples = []
    for _ in range(10 if quick else 200):
        t0 = time.perf_counter()
        for _ in range(20):
            layer(x)
        samples.append((time.perf_counter() - t0) / 20)
    return statistics.median(samples)


def npconv_backend():
    """npconv's kernel backend (``npconv.config.backend()``)."""
    return config.backend()


# --------------------------------------------------------------------------
# description
# --------------------------------------------------------------------------
def _cpu():
    cpu, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = "AVX-512" if "avx512f" in text else ("AVX2" if "avx2" in text else "")
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores {flags}".strip()


def machine_line():
    """CPU, Python, the libraries' versions and the load average, on one line."""
    from importlib import metadata

    blas = "?"
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{config.get('name')} {config.get('version')}"
    except Exception:
        pass
    versions = [f"numpy {np.__version__} ({blas})"]
    for dist in (
        "onednn-cpu-gomp",
        "tensorflow-cpu",
        "tensorflow",
        "keras",
        "torch",
        "jax",
        "jaxlib",
        "onnxruntime",
        "dask",
    ):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{_cpu()}; Python {platform.python_version()}; " + "; ".join(versions) + f"; load average at the end {load}"


def serve(lib, state, command, *args):
    """Worker side (see ``benchmarks.pool``): 'peak' in a process of its own, 'extras' in npconv's."""
    if command == "peak":
        (quick,) = args
        return peak(quick)
    if command == "extras":
        (quick,) = args
        time.sleep(0 if quick else 2.0)  # let every library's threads go idle first
        calls = layer_call_times(2 if quick else 7, quick)
        return {
            "layer_call": statistics.median(calls),
            "layer_call_processes": calls,
            "import": import_times(2 if quick else 7),
            "backend": npconv_backend(),
        }
    raise ValueError(f"unknown command {command!r}")
