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

# libraries that share a worker process with another one
SHARED_PROCESS = {"torch_cl": "torch"}


def _worker(conn):
    """Serve calls until told to stop; an error is sent back, never fatal."""
    states = {}
    while True:
        module, command, lib, *args = conn.recv()
        if command == "stop":
            conn.close()
            return
        try:
            serve = importlib.import_module(f"benchmarks.{module}").serve
            reply = serve(lib, states.setdefault((module, lib), {}), command, *args)
            conn.send(("ok", reply))
        except Exception as error:  # reported to the parent, which skips this library
            conn.send(("error", f"{type(error).__name__}: {error}".splitlines()[0][:300]))


class Pool:
    """One spawned worker process per library (``SHARED_PROCESS`` pairs share one).

    Args:
        libs: the library names the workers serve.
    """

    def __init__(self, libs):
        context = mp.get_context("spawn")
        self.conns, self.procs = {}, {}
        for key in dict.fromkeys(SHARED_PROCESS.get(lib, lib) for lib in libs):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            self.conns[key], self.procs[key] = parent, proc

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
