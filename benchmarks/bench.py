"""npconv against TensorFlow, PyTorch, JAX, ONNX Runtime and Keras, side by side.

Run from the repository root:

    python -m benchmarks.bench            # everything: BENCHMARKS.md, benchmarks/bench.png, benchmarks/results.json
    python -m benchmarks.bench --quick    # tiny shapes, under a minute; prints the report
    python -m benchmarks.bench --cases resnet,stem --peers torch,tf --modes forward
    python -m benchmarks.bench --cases digits,contention

Cases: the conv layer cases (``conv.py``: the layer call and ``train_on_batch``
against each peer), ``peak`` (the machine's fp32 peak, ``machine.py``),
``digits`` and ``contention`` (``fit.py``), ``models`` (whole Keras models,
``models.py``) and ``dask`` (throughput on a Dask cluster, ``throughput.py``).
``--cases`` takes names of these groups, or substrings of conv and model case
names. ``--quick`` leaves out ``models`` and ``dask`` unless they are named.

Every library runs in its own worker process (``pool.py``), driven in turn by
this one; peers are imported only there, never by ``npconv``. torch runs 2
threads (``torch.set_num_threads(2)``); TensorFlow, XLA, ONNX Runtime, OpenBLAS
and oneDNN use their defaults.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
import time

from . import conv, fit, machine, models, report, throughput
from .pool import Pool

COMMAND = "python -m benchmarks.bench"
GROUPS = ("peak", "digits", "contention", "models", "dask")
_MODULES = {"tf": "tensorflow", "torch": "torch", "jax": "jax", "ort": "onnxruntime"}


def available_peers(requested=conv.PEERS):
    return [name for name in requested if importlib.util.find_spec(_MODULES[name]) is not None]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny shapes, few repeats: checks the harness in under a minute"
    )
    parser.add_argument(
        "--cases",
        default="",
        help=f"comma-separated: groups ({', '.join(GROUPS)}) or substrings of conv and model case names (default: all)",
    )
    parser.add_argument(
        "--peers", default=",".join(conv.PEERS), help=f"comma-separated subset of {','.join(conv.PEERS)}, or 'none'"
    )
    parser.add_argument("--modes", default="forward,train", help="conv cases: forward, train or both")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds of timing per case and mode (digits epoch: 30)"
    )
    parser.add_argument("--markdown", default=None, help="write the report here (full run default: BENCHMARKS.md)")
    parser.add_argument(
        "--chart", default=None, help="write the PNG chart here (full run default: benchmarks/bench.png)"
    )
    parser.add_argument(
        "--json", default=None, help="write raw results here (full run default: benchmarks/results.json)"
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=None,
        help="seconds each library waits before its timed calls, so the previous library's spinning threads go idle (default 0.25; quick 0)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    parser.add_argument("--no-extras", action="store_true", help="skip the layer-call and import timings")
    return parser.parse_args(argv)


def select(args):
    """The conv cases, model cases and groups this run measures."""
    wanted = [c.strip().lower() for c in args.cases.split(",") if c.strip()]
    conv_suite = conv.QUICK if args.quick else conv.SUITE
    model_suite = models.QUICK if args.quick else models.SUITE
    if not wanted:
        groups = [g for g in GROUPS if not (args.quick and g in ("models", "dask"))]
        return conv_suite, ([] if args.quick else model_suite), groups
    unknown = [
        w for w in wanted if w not in GROUPS and not any(w in c.name.lower() for c in [*conv_suite, *model_suite])
    ]
    if unknown:
        raise SystemExit(f"Unknown cases {unknown}; choose from {list(GROUPS)} or parts of the case names.")
    conv_cases = [c for c in conv_suite if any(w in c.name.lower() for w in wanted)]
    model_cases = [c for c in model_suite if "models" in wanted or any(w in c.name.lower() for w in wanted)]
    return conv_cases, model_cases, [g for g in GROUPS if g in wanted]


def _print_conv(r):
    for mode, entry in r["modes"].items():
        times = entry["time"]
        _, best = conv.best_peer(times)
        shown = ", ".join(f"{conv.SHORT[k]} {report.fmt_time(v)}" for k, v in times.items())
        ratio = f"  npconv/best {times['npconv'] / best:.2f}" if best and "npconv" in times else ""
        print(f"  {mode:8s} {shown}{ratio}", flush=True)


def run(args, peers):
    """Measure everything selected. Returns the run's results (JSON-ready)."""
    conv_cases, model_cases, groups = select(args)
    libs = ["npconv"]
    for peer in peers:
        libs += ["torch", "torch_cl"] if peer == "torch" else [peer]
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    budget = args.budget if args.budget is not None else (0.05 if args.quick else 3.0)
    gap = args.gap if args.gap is not None else (0.0 if args.quick else 0.25)
    out = {"conv": [], "libs": libs}
    workers = libs + fit.libraries(peers) + ["peak"]
    with Pool(workers) as pool:
        if "peak" in groups:
            print("fp32 peak ...", flush=True)
            out["peak"] = pool.call("machine", "peak", "peak", args.quick)
            print(f"  {', '.join(f'{k} {v:.0f} GFLOP/s' for k, v in out['peak']['gflops'].items())}", flush=True)
        for case in conv_cases:
            print(f"{case.name} ...", flush=True)
            r = conv.run_case(pool, case, libs, modes, budget, not args.no_memory, gap, args.quick)
            out["conv"].append(r)
            _print_conv(r)
        if "digits" in groups or "contention" in groups:
            out["digits"], out["contention"] = fit.measure(
                pool, peers, args.quick, args.budget, gap, "digits" in groups, "contention" in groups
            )
        if model_cases:
            out["models"] = models.measure(pool, peers, model_cases, args.quick, args.budget, gap)
        if not args.no_extras:
            out["extras"] = pool.call("machine", "extras", "npconv", args.quick)
            extras = out["extras"]
            print(f"layer call {extras['layer_call'] * 1e6:.1f} µs; import {extras['import']}", flush=True)
        if "dask" in groups:  # last: its clusters start and stop worker processes of their own
            print("dask throughput ...", flush=True)
            try:
                out["throughput"] = throughput.measure(pool, peers, args.quick)
            except Exception as error:  # the report still gets written, saying what failed
                out["throughput_error"] = f"{type(error).__name__}: {error}"
                print(f"  dask throughput failed: {out['throughput_error']}", flush=True)
    out["machine"] = machine.machine_line()
    return out


def _makedirs_for(path):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)


def main(argv=None):
    args = parse_args(argv)
    requested = [] if args.peers.strip() == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(requested) - set(conv.PEERS))
    if unknown:
        raise SystemExit(f"Unknown peers {unknown}; choose from {list(conv.PEERS)} or 'none'.")
    peers = available_peers(requested)
    missing = sorted(set(requested) - set(peers))
    print(f"peers: {', '.join(peers) or 'none'}" + (f" (not installed: {', '.join(missing)})" if missing else ""))
    start = time.perf_counter()
    results = run(args, peers)
    print(f"measured in {time.perf_counter() - start:.0f} s")
    full = not args.quick
    markdown_path = args.markdown or ("BENCHMARKS.md" if full else None)
    chart_path = args.chart or (os.path.join("benchmarks", "bench.png") if full else None)
    json_path = args.json or (os.path.join("benchmarks", "results.json") if full else None)
    argv_list = list(argv) if argv is not None else sys.argv[1:]
    text = report.markdown(results, results["libs"], " ".join([COMMAND, *map(shlex.quote, argv_list)]))
    if markdown_path:
        _makedirs_for(markdown_path)
        with open(markdown_path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {markdown_path}")
    if chart_path:
        try:
            _makedirs_for(chart_path)
            if report.chart(results, results["libs"], chart_path):
                print(f"wrote {chart_path}")
        except ImportError:
            print("matplotlib is not installed: no chart (pip install matplotlib)")
    if json_path:
        _makedirs_for(json_path)
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=str)
        print(f"wrote {json_path}")
    if not markdown_path:
        print(text)
    return results


if __name__ == "__main__":
    main()
