"""BENCHMARKS.md and the chart, from one run's results."""

from __future__ import annotations

import os

import numpy as np

from . import fit
from .conv import LABELS, PEAK_CASES, SHORT, best_peer

FORWARD_TARGET, TRAIN_TARGET, PEAK_TARGET = 0.8, 0.8, 0.70
DIGITS_TARGET, LOADED_TARGET = 1.0, 1.5
LAYER_CALL_TARGET_US, IMPORT_TARGET, MODELS_TARGET = 10.0, 1.3, 0.8


def fmt_time(seconds):
    ms = seconds * 1e3
    if ms < 0.1:
        return f"{ms * 1e3:.1f} µs"
    if ms >= 1000:
        return f"{seconds:.2f} s"
    return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"


def _fmt_mb(value):
    return "n/a" if value is None else f"{value / 2**20:.1f}"


def _ratio(value, target):
    return f"**{value:.2f}**" if value <= target else f"{value:.2f}"


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(cells):
    return [_row(cells), "|" + "---|" * len(cells)]


def _ratios(results, mode):
    out = {}
    for r in results:
        times = r["modes"].get(mode, {}).get("time", {})
        _, best = best_peer(times)
        if best and "npconv" in times:
            out[r["case"]["name"]] = times["npconv"] / best
    return out


def _gflops(r, mode):
    times = r["modes"][mode]["time"]
    return r["gflop"] * (2 if mode == "train" else 1) / times["npconv"] if "npconv" in times else None


# --------------------------------------------------------------------------
# conv tables
# --------------------------------------------------------------------------
def conv_table(results, mode, libs, peak):
    cols = [
        lib for lib in libs if lib != "npconv" and any(lib in r["modes"].get(mode, {}).get("time", {}) for r in results)
    ]
    head = ["case", "npconv", "GFLOP/s"] + (["% of peak"] if peak else [])
    lines = _head(head + [SHORT[lib] for lib in cols] + ["best peer", "npconv / best"])
    for r in results:
        entry = r["modes"].get(mode)
        if entry is None:
            continue
        times = entry["time"]
        npt, gflops = times.get("npconv"), _gflops(r, mode)
        row = [r["case"]["name"], fmt_time(npt) if npt else "-", f"{gflops:.3g}" if gflops else "-"]
        if peak:
            row.append(f"{100 * gflops / peak:.0f}%" if gflops else "-")
        row += [fmt_time(times[lib]) if lib in times else "-" for lib in cols]
        lib, t = best_peer(times)
        row.append(f"{SHORT[lib]} {fmt_time(t)}" if lib else "-")
        row.append(_ratio(npt / t, FORWARD_TARGET if mode == "forward" else TRAIN_TARGET) if lib and npt else "-")
        lines.append(_row(row))
    return "\n".join(lines)


def memory_table(results, libs, mode):
    cols = [lib for lib in libs if any(lib in r["modes"].get(mode, {}).get("memory", {}) for r in results)]
    lines = _head(["case", "npconv (tracemalloc)"] + [f"{SHORT[lib]} (RSS)" for lib in cols])
    for r in results:
        entry = r["modes"].get(mode)
        if entry is not None:
            memory = entry["memory"]
            lines.append(
                _row([r["case"]["name"], _fmt_mb(entry["traced"])] + [_fmt_mb(memory.get(lib)) for lib in cols])
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------
def targets(run):
    """Every target, met or missed, from this run's numbers."""
    lines = _head(["target", "this run", "met"])

    def row(name, value, met):
        lines.append(_row([name, value, "yes" if met else "**no**"]))

    results = run["conv"]
    for mode, target, label in (
        ("forward", FORWARD_TARGET, "forward layer call"),
        ("train", TRAIN_TARGET, "training step"),
    ):
        ratios = _ratios(results, mode)
        if ratios:
            worst = max(ratios, key=ratios.get)
            met = sum(v <= target for v in ratios.values())
            shown = f"{met}/{len(ratios)} cases; worst {worst} {ratios[worst]:.2f}"
            row(f"{label} <= {target} x best peer, every case", shown, met == len(ratios))
    peak = (run.get("peak") or {}).get("peak")
    if peak:
        shares = {
            r["case"]["name"]: _gflops(r, "forward") / peak
            for r in results
            if r["case"]["name"] in PEAK_CASES and "forward" in r["modes"] and "npconv" in r["modes"]["forward"]["time"]
        }
        if shares:
            shown = ", ".join(f"{name} {100 * v:.0f}%" for name, v in shares.items())
            row(
                f"large 3x3, 1x1, 5x5 forward >= {PEAK_TARGET:.0%} of the fp32 peak",
                shown,
                all(v >= PEAK_TARGET for v in shares.values()),
            )
    digits = run.get("digits")
    if digits and "keras_jax" in digits["time"]:
        value = digits["time"]["npconv"] / digits["time"]["keras_jax"]
        row(f"digits epoch <= {DIGITS_TARGET} x Keras on JAX", f"{value:.2f}", value <= DIGITS_TARGET)
    loaded = run.get("contention")
    if loaded and "keras_jax" in loaded["loaded"]:
        value = loaded["loaded"]["npconv"] / loaded["loaded"]["keras_jax"]
        row(
            f"digits epoch, {loaded['competitors']} competing processes, <= {LOADED_TARGET} x Keras on JAX",
            f"{value:.2f}",
            value <= LOADED_TARGET,
        )
    extras = run.get("extras") or {}
    if "layer_call" in extras:
        us = extras["layer_call"] * 1e6
        row(f"the article's layer call < {LAYER_CALL_TARGET_US:g} µs", f"{us:.1f} µs", us < LAYER_CALL_TARGET_US)
    if "import" in extras:
        value = extras["import"]["npconv"] / extras["import"]["numpy"]
        row(f"`import npconv` <= {IMPORT_TARGET} x `import numpy`", f"{value:.2f}x", value <= IMPORT_TARGET)
    ratios = {
        r["case"]["name"]: r["time"]["npconv"] / min(t for lib, t in r["time"].items() if lib != "npconv")
        for r in run.get("models") or []
        if "npconv" in r["time"] and len(r["time"]) > 1
    }
    if ratios:
        worst = max(ratios, key=ratios.get)
        row(
            f"whole models <= {MODELS_TARGET} x the best Keras backend",
            f"worst {worst} {ratios[worst]:.2f}",
            all(v <= MODELS_TARGET for v in ratios.values()),
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------
def _conv_sections(run, libs):
    results, peak = run["conv"], (run.get("peak") or {}).get("peak")
    parts = [
        "## Forward layer call (conv + bias + ReLU)",
        "",
        'npconv: the layer itself, `Conv2D(..., activation="relu")(x)` (Conv1D, Conv2DTranspose,',
        "DepthwiseConv2D for those cases). Peers: conv + bias + ReLU in their own API.",
        "",
        conv_table(results, "forward", libs, peak),
        "",
        "## Training step",
        "",
        "npconv: `model.train_on_batch(x, target)` of a one-layer model (the layer above, mean squared",
        "error, `SGD(0.01)`). Peers: the same step written in their own API (forward, loss, gradients of",
        "kernel and bias, SGD update). Before timing, one step from the same weights must give npconv's",
        "loss and weight updates. ONNX Runtime is inference only.",
        "",
        conv_table(results, "train", libs, peak),
        "",
        "## Kernels npconv ran",
        "",
        *_head(["case", "forward", "training step"]),
    ]
    for r in results:
        algos = r.get("algorithms") or {}
        parts.append(_row([r["case"]["name"], algos.get("forward") or "-", algos.get("train") or "-"]))
    parts += [
        "",
        "## Peak extra memory per call (MiB, outputs included)",
        "",
        "npconv: `tracemalloc` peak during one call (every NumPy buffer is traced). Every library,",
        "npconv included: the growth of the resident set's high-water mark over the resident size",
        "before the call (Linux `VmHWM`, reset through `/proc/self/clear_refs`, after `malloc_trim`),",
        "each library in its own process; ONNX Runtime with its memory arena off. Allocator caches",
        "(XLA's buffers, oneDNN's scratchpads) make the peers' RSS figures lower bounds.",
        "",
        "### Forward",
        "",
        memory_table(results, libs, "forward"),
        "",
        "### Training step",
        "",
        memory_table(results, libs, "train"),
        "",
    ]
    return parts


def _peak_lines(peak):
    shown = ", ".join(f"{name} {g:.0f} GFLOP/s" for name, g in peak["gflops"].items())
    return [
        "## The machine's fp32 peak",
        "",
        f"A {peak['n']}x{peak['n']}x{peak['n']} float32 matrix product, best of several calls: {shown}",
        f"(oneDNN through `dnnl_sgemm` from `{os.path.basename(peak.get('path') or 'not found')}`). The faster one,",
        f'{peak["peak"]:.0f} GFLOP/s, is the peak the "% of peak" columns use.',
        "",
    ]


def digits_lines(result):
    case, rounds = result["case"], result["rounds"]
    lines = [
        "## Training the digits CNN",
        "",
        "One epoch of `model.fit(x, y, batch_size=32, epochs=1, verbose=0)` of the `npconv.examples.digits` model",
        "(Conv2D 32 - Conv2D 32 - MaxPooling2D - Conv2D 64 - Flatten - Dense 10 softmax; Adam,",
        f"sparse categorical cross-entropy, accuracy) on {case['train_samples']} training images of",
        "`npconv.datasets.load_digits(seed=0)`, against the same model in Keras 3 on each backend. Each",
        "library runs in its own process; the Keras models start from npconv's initial weights and their",
        f"test-set predictions were checked against npconv's (rtol {fit.RTOL:g}, atol {fit.ATOL:g}) before timing.",
        f"After one warm-up epoch (where TF and JAX compile), {rounds} interleaved round{'s' * (rounds != 1)} of",
        "one epoch per library, in a rotating order; medians. Each timed epoch is a separate `fit` call.",
        f"Test accuracy on the {case['test_samples']} test images after all {result['epochs']} epochs.",
        "",
        *_head(["library", "s / epoch", "npconv / this", "test accuracy", "max \\|initial prediction - npconv's\\|"]),
    ]
    npconv_time = result["time"].get("npconv")
    for lib, t in result["time"].items():
        ratio = "-" if lib == "npconv" else _ratio(npconv_time / t, DIGITS_TARGET)
        difference = "-" if lib == "npconv" else f"{result['max_difference'][lib]:.1e}"
        lines.append(_row([fit.LABELS[lib], f"{t:.3f}", ratio, f"{result['accuracy'][lib]:.3f}", difference]))
    lines += [""] + [f"- {fit.LABELS[lib]}: not measured ({message})" for lib, message in result["errors"].items()]
    return lines + [""]


def contention_lines(result):
    lines = [
        "## The digits epoch under contention",
        "",
        f"The same epoch, npconv against Keras on JAX: first on a quiet machine ({result['rounds']} rounds), then",
        f"with {result['competitors']} CPU-bound Python processes spinning ({result['loaded_rounds']} rounds); the benchmark",
        "starts them, and stops them when the loaded rounds end. Medians.",
        "",
        *_head(["library", "quiet s / epoch", "loaded s / epoch", "slowdown"]),
    ]
    for lib, quiet in result["time"].items():
        loaded = result["loaded"][lib]
        lines.append(_row([fit.LABELS[lib], f"{quiet:.3f}", f"{loaded:.3f}", f"{loaded / quiet:.2f}x"]))
    if "keras_jax" in result["time"]:
        quiet = result["time"]["npconv"] / result["time"]["keras_jax"]
        loaded = result["loaded"]["npconv"] / result["loaded"]["keras_jax"]
        lines += [
            "",
            f"npconv / Keras on JAX: {_ratio(quiet, DIGITS_TARGET)} quiet, {_ratio(loaded, LOADED_TARGET)} loaded.",
        ]
    lines += [""] + [f"- {fit.LABELS[lib]}: not measured ({message})" for lib, message in result["errors"].items()]
    return lines + [""]


def models_lines(results):
    libs = list(dict.fromkeys(lib for r in results for lib in r["time"]))
    lines = [
        "## Whole models",
        "",
        "ResNet50 and MobileNetV2 (`keras.applications`, `weights=None`, 224x224 unless the case name",
        "gives another size) inference with",
        "`predict_on_batch`, and one `train_on_batch` of a small ResNet (SGD, sparse categorical",
        "cross-entropy), npconv (the Keras model's `get_config()` through `npconv.models.Model.from_config`,",
        "then `set_weights`) against Keras 3 on each backend, all from the same weights; each library's",
        "predictions (or first loss) were checked against the first Keras backend's before timing. Medians.",
        "",
        *_head(["case"] + [fit.LABELS.get(lib, lib) for lib in libs] + ["npconv / best"]),
    ]
    for r in results:
        times = r["time"]
        peers = {lib: t for lib, t in times.items() if lib != "npconv"}
        ratio = _ratio(times["npconv"] / min(peers.values()), MODELS_TARGET) if "npconv" in times and peers else "-"
        lines.append(
            _row([r["case"]["name"]] + [fmt_time(times[lib]) if lib in times else "-" for lib in libs] + [ratio])
        )
    errors = {(lib, message) for r in results for lib, message in r["errors"].items()}
    lines += [""] + [f"- {fit.LABELS.get(lib, lib)}: not measured ({message})" for lib, message in sorted(errors)]
    return lines + [""]


def throughput_lines(result):
    lines = ["## Batch inference on Dask", ""]
    if result.get("skipped"):
        return lines + [f"Not measured: {result['skipped']}.", ""]
    lines += [
        "`model.predict(dask_array, batch_size=chunk)` on `npconv.distributed.local_cluster` (worker",
        "processes, one task at a time each, the cores divided among them as compute threads) against",
        "in-process `model.predict(x, batch_size=chunk)` of the same NumPy array (wrapped with",
        "`dask.array.from_array`, so the client sends every chunk); median of several runs after one that",
        "sends the model to the workers. Overhead per task: 200 empty tasks through the scheduler.",
        "",
        *_head(
            [
                "model",
                "images",
                "chunk",
                "in-process",
                "1 worker",
                "2 workers",
                "model bytes",
                "chunk bytes",
                "overhead / task",
            ]
        ),
    ]
    for m in result["models"]:
        rate = m["images_per_s"]
        lines.append(
            _row(
                [m["name"], m["images"], m["chunk"]]
                + [f"{rate[k]:.0f} /s" if k in rate else "-" for k in ("in-process", "1 worker", "2 workers")]
                + [f"{m['model_bytes'] / 2**20:.2f} MiB", f"{m['chunk_bytes'] / 2**20:.2f} MiB"]
                + [fmt_time(m["task_overhead_s"]) if m["task_overhead_s"] else "-"]
            )
        )
    lines += ["", "Scaling past this machine, on paper:", ""]
    for m in result["models"]:
        overhead, per_worker = m["task_overhead_s"], m["images_per_s"].get("1 worker")
        if not overhead or not per_worker:
            continue
        task_s = m["chunk"] / per_worker
        cap = m["chunk"] / overhead
        lines.append(
            f"- {m['name']}: one chunk of {m['chunk']} images takes {fmt_time(task_s)} on one worker, and the scheduler"
            f" spends about {fmt_time(overhead)} per task, so it can feed about {cap:.0f} images/s, or"
            f" {cap / per_worker:.0f} workers of this speed, before it is the limit; larger chunks raise that ceiling."
            f" Each new worker first receives the model ({m['model_bytes'] / 2**20:.2f} MiB, once), and every task"
            f" moves {m['chunk_bytes'] / 2**20:.2f} MiB of input, which the network must carry in {fmt_time(task_s)}"
            f" ({m['chunk_bytes'] / task_s / 2**20:.2g} MiB/s per worker) to keep that worker busy."
        )
    for name, message in (result.get("errors") or {}).items():
        lines.append(f"- {name}: not measured ({message})")
    return lines + [""]


def _spread(samples):
    """ ", the median of N fresh processes (a to b µs)" for per-process samples, else ""."""
    if not samples or len(samples) < 2:
        return ""
    return f", the median of {len(samples)} fresh processes ({min(samples) * 1e6:.1f} to {max(samples) * 1e6:.1f} µs)"


def markdown(run, libs, command):
    """The whole report."""
    parts = [
        "# Benchmarks",
        "",
        "Regenerate with:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Machine: {run['machine']}",
        "",
    ]
    extras = run.get("extras") or {}
    if extras.get("backend"):
        parts += [f"npconv's kernel backend: {extras['backend']}.", ""]
    if run["conv"]:
        parts += [
            "Medians after warm-up, float32, channels_last for npconv (each peer in its own layout:",
            "TF and JAX NHWC, torch NCHW and channels_last, ONNX Runtime NCHW). Timings are interleaved",
            "(every repeat round runs each library once, each in its own process), so background load hits",
            "all of them alike; on a shared machine compare the ratios, not the absolute times. GFLOP/s",
            "counts 2 x the multiply-adds of the direct method (2 convolutions for the training step: the",
            "forward and the kernel gradient; a model's first layer needs no input gradient),",
            "whatever algorithm ran. Ratios that meet their target are bold.",
            "",
            "On a virtual machine one process can run at about half the speed of another for its whole",
            "life (a plain Python loop measured 1.0 vs 1.7 µs per 100 iterations in back-to-back",
            "processes on the 2-core VM these tables come from; the article's layer call 10.4 vs 19-22 µs).",
            "Each library runs in one worker process, so a single run's ratio can be off by that much,",
            "mostly on the small, overhead-bound cases (the article's layer, the layer call, import).",
            "",
        ]
    parts += ["## Targets", "", targets(run), ""]
    if run.get("peak"):
        parts += _peak_lines(run["peak"])
    if run["conv"]:
        parts += _conv_sections(run, libs)
    if run.get("digits"):
        parts += digits_lines(run["digits"])
    if run.get("contention"):
        parts += contention_lines(run["contention"])
    if run.get("models"):
        parts += models_lines(run["models"])
    if run.get("throughput"):
        parts += throughput_lines(run["throughput"])
    errors = [(r["case"]["name"], lib, msg) for r in run["conv"] for lib, msg in r["errors"].items()]
    if errors:
        parts += ["## Not measured", ""] + [f"- {name}, {lib}: {msg}" for name, lib, msg in errors] + [""]
    if extras:
        parts += ["## Latency and import", ""]
        if "layer_call" in extras:
            parts.append(
                f"- The article's layer (`Conv2D(1, 3)` on a 1x5x5x1 input of ones), one call: {extras['layer_call'] * 1e6:.1f} µs"
                + _spread(extras.get("layer_call_processes"))
                + "."
            )
        if "import" in extras:
            imp = extras["import"]
            parts.append(
                f"- `python -c 'import npconv'` {imp['npconv'] * 1e3:.0f} ms vs `python -c 'import numpy'` "
                f"{imp['numpy'] * 1e3:.0f} ms: {imp['npconv'] / imp['numpy']:.2f}x, medians of whole processes"
                f" (bare `python -S` start {imp['python -S'] * 1e3:.0f} ms)."
            )
        parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------
# chart
# --------------------------------------------------------------------------
def chart(run, libs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, digits = run["conv"], run.get("digits")
    modes = [m for m in ("forward", "train") if any(m in r["modes"] for r in results)]
    panels = len(modes) + bool(digits)
    if not panels:
        return False
    fig, axes = plt.subplots(panels, 1, figsize=(12, 4.2 * panels), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes):
        rows = [r for r in results if mode in r["modes"]]
        cols = [lib for lib in libs if any(lib in r["modes"][mode]["time"] for r in rows)]
        width = 0.8 / max(len(cols), 1)
        for i, lib in enumerate(cols):
            values = []
            for r in rows:
                times = r["modes"][mode]["time"]
                _, best = best_peer(times)
                base = best or times.get("npconv")
                values.append(times[lib] / base if lib in times and base else np.nan)
            xs = np.arange(len(rows)) + (i - (len(cols) - 1) / 2) * width
            ax.bar(xs, values, width, label=LABELS[lib], color="black" if lib == "npconv" else None)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(rows)))
        ax.set_xticklabels([r["case"]["name"] for r in rows], rotation=20, ha="right")
        ax.set_ylabel("time / best peer's (lower is faster)")
        ax.set_title("training step (train_on_batch)" if mode == "train" else "forward layer call (conv + bias + ReLU)")
        ax.legend(fontsize=8, ncol=3)
    if digits:
        ax = axes[-1, 0]
        names = list(digits["time"])
        ax.bar(
            range(len(names)),
            [digits["time"][n] for n in names],
            color=["black" if n == "npconv" else f"C{i}" for i, n in enumerate(names)],
        )
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([fit.LABELS[n] for n in names])
        ax.set_ylabel("seconds per epoch (lower is faster)")
        ax.set_title(f"digits CNN, one epoch of fit ({digits['case']['train_samples']} images, batch {fit.BATCH_SIZE})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
