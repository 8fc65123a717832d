"""The one worker pool every benchmark uses.

Each library runs in a worker process of its own, so that no library's thread
pool competes with another's inside one process, and Keras can be imported with
a different backend in each. The parent drives the workers one call at a time.

A call names a benchmark module (``"conv"``, ``"fit"``, ...), a command and a
library; the worker imports ``benchmarks.<module>`` and hands the command to its
``serve(lib, state, command, *args)``, with a ``state`` dict kept per module
and library between calls.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os

# libraries that share a worker process with another one: torch's two layouts, and Keras on
# each backend with that backend's own peer (Keras reads KERAS_BACKEND once, at its import)
SHARED_PROCESS = {"torch_cl": "torch", "keras_tf": "tf", "keras_torch": "torch", "keras_jax": "jax"}


# what each library's worker imports up front (Keras after setting its backend)
IMPORTS = {
    "npconv": ["npconv"],
    "tf": ["tensorflow"],
    "torch": ["torch"],
    "jax": ["jax"],
    "ort": ["onnxruntime", "onnx"],
    "keras_tf": ["keras"],
    "keras_torch": ["keras"],
    "keras_jax": ["keras"],
}
KERAS_BACKENDS = {"keras_tf": "tensorflow", "keras_torch": "torch", "keras_jax": "jax"}


def _import(libs):
    """Import what ``libs`` need; returns the modules that failed to import."""
    failed = []
    for lib in libs:
        if lib in KERAS_BACKENDS:
            os.environ["KERAS_BACKEND"] = KERAS_BACKENDS[lib]
        for name in IMPORTS.get(lib, []):
            try:
                importlib.import_module(name)
            except ImportError:
                failed.append(name)
    return failed


def _message(error):
    """One line: the error's first line, and its last where there are more (TensorFlow's
    errors start with a generic "in user code:" and end with the cause)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [""]
    text = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return f"{type(error).__name__}: {text}"[:400]


def _worker(conn):
    """Serve calls until told to stop; an error is sent back, never fatal."""
    states = {}
    while True:
        module, command, lib, *args = conn.recv()
        if command == "stop":
            conn.close()
            return
        try:
            if module is None and command == "import":
                conn.send(("ok", _import(args[0])))
                continue
            serve = importlib.import_module(f"benchmarks.{module}").serve
            reply = serve(lib, states.setdefault((module, lib), {}), command, *args)
            conn.send(("ok", reply))
        except Exception as error:  # reported to the parent, which skips this library
            conn.send(("error", _message(error)))


class Pool:
    """One spawned worker process per library (``SHARED_PROCESS`` pairs share one).

    Args:
        libs: the library names the workers serve.
    """

    def __init__(self, libs):
        context = mp.get_context("spawn")
        self.conns, self.procs = {}, {}
        groups = {}
        for lib in libs:
            groups.setdefault(SHARED_PROCESS.get(lib, lib), []).append(lib)
        for key in groups:
            parent, child = context.Pipe()
            proc = context.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            self.conns[key], self.procs[key] = parent, proc
        # every worker imports its libraries at once, in parallel, before the first timed call
        for key, members in groups.items():
            self.conns[key].send((None, "import", None, members))
        for key in groups:
            self.conns[key].recv()

    def call(self, module, command, lib, *args):
        """Run ``command`` for ``lib`` in its worker; raises RuntimeError with the worker's message."""
        conn = self.conns[SHARED_PROCESS.get(lib, lib)]
        conn.send((module, command, lib, *args))
        status, reply = conn.recv()
        if status == "error":
            raise RuntimeError(reply)
        return reply

    def close(self):
        for key, conn in self.conns.items():
            try:
                conn.send((None, "stop", None))
            except (BrokenPipeError, OSError):
                pass
            self.procs[key].join(timeout=10)
            if self.procs[key].is_alive():
                self.procs[key].terminate()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
