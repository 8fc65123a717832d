"""The padding explorer: ``npconv explain --serve`` and ``npconv explain ... --html``.

A page in the browser sets a layer's options and shows, live, what
:func:`npconv.explain.explain` says about them. Every number on the page comes
from Python: the page asks ``GET /api/explain`` with the options spelt as on
the command line (``layer=conv2d&input=5x5&kernel=3&strides=2&padding=same``,
plus ``to=torch|onnx|jax`` for the snippet), and the answer is the
explanation's dataclass fields as JSON, plus the SVG drawing (the ``--svg
--animate`` renderer), the article's rule for the case beside the truth,
and the snippet. Bad options get HTTP 400 with the command line's one-line
message, as ``{"error": ..., "param": ...}``.

The server is the standard library's ``ThreadingHTTPServer``, bound to
127.0.0.1 by default. Every request is bounded: the query's length, the sizes
(a case may need at most :data:`MAX_TAPS` kernel taps per axis, checked before
anything is computed), the time to read a request and the time to answer it.
The page and its two assets are package data, served from memory; nothing
else is reachable.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import itertools
import json
import re
import socket
import sys
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

from ..saving.atomic import atomic_write
from ..translate import render_translation, translate
from . import article_rules, render_svg
from .options import add_arguments, build_explanation

MAX_QUERY = 2048  # characters in one query string
MAX_TAPS = 5_000  # kernel taps listed per axis (windows x kernel size), bounded before computing
MAX_DRAWN = 64  # cells per axis of a still picture, when there are too many positions to animate
READ_TIMEOUT = 10.0  # seconds to receive one request
ANSWER_TIMEOUT = 10.0  # seconds to compute one answer

# Query parameter -> the npconv explain option it sets (spelt as on the command line).
OPTIONS = (
    "layer",
    "input",
    "kernel",
    "strides",
    "padding",
    "dilation",
    "output-padding",
    "output-shape",
    "padding-mode",
    "data-format",
    "groups",
    "depth-multiplier",
    "to",
)
# Keras argument names in npconv's messages -> the page control (query parameter) to show them by.
_CONTROL_FOR_ARGUMENT = {
    "kernel_size": "kernel",
    "dilation_rate": "dilation",
    "input_shape": "input",
    "input_size": "input",
    "output_padding": "output-padding",
    "output_shape": "output-shape",
    "padding_mode": "padding-mode",
    "data_format": "data-format",
    "depth_multiplier": "depth-multiplier",
}
_STATIC = {"/": ("explorer.html", "text/html"), "/explorer.js": ("explorer.js", "text/javascript"),
           "/explorer.css": ("explorer.css", "text/css")}  # fmt: skip


class QueryError(ValueError):
    """A request npconv refuses; ``param`` names the control the message belongs to."""

    def __init__(self, message, param=None):
        super().__init__(message)
        self.param = param


# --------------------------------------------------------------------------
# queries: parsed by the command line's own options
# --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        match = re.match(r"argument --([\w-]+)", message)
        raise QueryError(message, match.group(1) if match else None)


_parser = None


def _options_parser():
    global _parser
    if _parser is None:
        parser = _Parser(prog="npconv explain", add_help=False)
        add_arguments(parser)
        _parser = parser
    return _parser


def parse_query(query: str) -> argparse.Namespace:
    """The ``npconv explain`` options a query string spells, e.g.
    ``'layer=conv2d&input=5x5&kernel=3&strides=2&padding=same'``.

    Keys are the command line's option names (``output-padding``; ``_`` works
    too); an empty value means the option is not given.

    Args:
        query: the URL's query string, without the ``?``.

    Returns:
        The ``argparse.Namespace`` that ``npconv explain`` would parse.

    Raises:
        QueryError: with the command line's one-line message, when an option
            is unknown, repeated, malformed, or its sizes exceed the bounds.
    """
    if len(query) > MAX_QUERY:
        raise QueryError(f"The query has {len(query)} characters; at most {MAX_QUERY} are read.")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=len(OPTIONS), errors="strict")
    except (ValueError, UnicodeDecodeError) as error:
        raise QueryError(f"Cannot read the query: {error}") from None
    argv, layer, seen = [], None, set()
    for key, value in pairs:
        option = key.replace("_", "-")
        if option not in OPTIONS:
            raise QueryError(f"Unknown parameter {key!r}. Expected some of: {', '.join(OPTIONS)}.")
        if option in seen:
            raise QueryError(f"The parameter {key!r} is given twice. Give it once.", option)
        seen.add(option)
        if value == "":
            continue
        if option == "layer":
            layer = value
        else:
            argv.append(f"--{option}={value}")
    if layer is not None:
        argv += ["--", layer]
    args = _options_parser().parse_args(argv)
    _check_bounds(args)
    return args


def _ints(value):
    """Every int in an option's value (sizes, pads, pairs); None, names and markers skipped."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (tuple, list)):
        return [i for item in value for i in _ints(item)]
    return []


def _check_bounds(args):
    """Refuse a case that could list more than MAX_TAPS taps on an axis, from
    its options alone: whatever the padding, an axis has at most
    n*s + 2*k*d + 2*pad + output_padding + output_shape + 2 output positions
    of k taps each."""

    def largest(value):
        return max(_ints(value), default=0)

    n, k = largest(args.input), largest(args.kernel)
    s, d = largest(args.strides), largest(args.dilation)
    pad = max((abs(p) for p in _ints(args.padding)), default=0)
    positions = n * s + 2 * k * d + 2 * pad + largest(args.output_padding) + largest(args.output_shape) + 2
    if positions * k > MAX_TAPS:
        need = positions * k if positions * k < 10**12 else "far more"
        raise QueryError(
            f"The explorer lists at most {MAX_TAPS} kernel taps per axis; these input, kernel, strides and "
            f"dilation sizes could need {need}. For larger sizes use npconv explain on the command line, "
            "or npconv.explain() in Python.",
            "input",
        )
    for name in ("groups", "depth_multiplier"):
        if abs(getattr(args, name)) > MAX_TAPS:
            raise QueryError(f"{name} is at most {MAX_TAPS} here. Received: {name}={getattr(args, name)}", name)


# --------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------
def explanation_fields(explanation) -> dict:
    """The explanation's dataclass fields, nested, as JSON-ready values (its
    own ``to_dict()`` where it has one)."""
    to_dict = getattr(explanation, "to_dict", None)
    return json.loads(json.dumps(to_dict() if to_dict else dataclasses.asdict(explanation)))


def query_for(explanation) -> dict:
    """The query (command-line spelling) that describes ``explanation``."""

    def sizes(values):
        return None if values is None else "x".join("None" if v is None else str(v) for v in values)

    padding = explanation.padding
    if not isinstance(padding, str):
        padding = ",".join(f"{before}:{after}" for before, after in padding)
    query = {
        "layer": explanation.layer.lower(),
        "input": sizes(explanation.input_size),
        "kernel": sizes(explanation.kernel_size),
        "strides": sizes(explanation.strides),
        "padding": padding,
        "dilation": sizes(explanation.dilation_rate),
        "output-padding": sizes(explanation.output_padding),
        "output-shape": sizes(explanation.target_size),
        "padding-mode": explanation.padding_mode,
        "data-format": explanation.data_format,
    }
    return {key: value for key, value in query.items() if value is not None}


def article_rows(explanation) -> list:
    """The article's rules that speak about this case, each with what it
    says on every axis beside what Keras does (the explanation's numbers)."""
    layer = "Conv2DTranspose" if explanation.transposed else "Conv2D"
    rows = []
    for rule in (check.rule for check in article_rules()):
        if rule.layer != layer or rule.padding != explanation.padding:
            continue
        axes = []
        for dim in explanation.dims:
            if dim.input_length is None:
                continue
            truth = dim.output_length if rule.quantity == "output length" else dim.pad_before
            claimed = rule.article_fn(dim.input_length, dim.kernel_size, dim.stride)
            axes.append({"axis": dim.axis_name, "article": claimed, "truth": truth, "agree": claimed == truth})
        rows.append(
            {"layer": rule.layer, "padding": rule.padding, "quantity": rule.quantity, "article_rule": rule.article,
             "true_rule": rule.truth, "axes": axes}
        )  # fmt: skip
    return rows


def drawing(explanation) -> dict:
    """The ``--svg --animate`` picture and, per panel, the output position each
    animation frame shows (in frame order); the corners when there are too
    many positions to animate; only a message when it cannot be drawn."""
    panels = [list(explanation.dims)] if explanation.rank <= 2 else [[dim] for dim in explanation.dims]
    try:
        svg = render_svg(explanation, animate=True)
    except ValueError as error:
        cells = max((d.canvas_length or 0) + abs(d.pad_before or 0) + abs(d.pad_after or 0) for d in explanation.dims)
        if cells > MAX_DRAWN:
            return {"svg": None, "steps": [], "note": f"{error} Drawn here up to {MAX_DRAWN} cells per axis."}
        try:
            return {"svg": render_svg(explanation), "steps": [], "note": str(error)}
        except ValueError as error:
            return {"svg": None, "steps": [], "note": str(error)}
    steps = [[list(p) for p in itertools.product(*[range(d.output_length) for d in dims])] for dims in panels]
    return {"svg": svg, "steps": steps, "note": None}


def snippet(explanation, framework) -> dict:
    """The ``--to`` snippet, or the reason there is none."""
    try:
        return {"framework": framework, "code": render_translation(translate(explanation, framework)), "error": None}
    except (ValueError, TypeError) as error:
        return {"framework": framework, "code": None, "error": str(error)}


def payload(explanation, to=None) -> dict:
    """Everything the page shows for one case.

    Args:
        explanation: an :class:`npconv.explain.Explanation`.
        to: ``"torch"``, ``"onnx"``, ``"jax"`` or None: which snippet to add.

    Returns:
        A JSON-ready dict: the explanation's fields, plus ``query`` (its
        command-line options), ``article``, ``drawing`` and, with ``to``, ``snippet``.
    """
    data = explanation_fields(explanation)
    data["query"] = query_for(explanation)
    data["article"] = article_rows(explanation)
    data["drawing"] = drawing(explanation)
    if to:
        data["snippet"] = snippet(explanation, to)
    return data


def answer(query: str) -> dict:
    """The JSON body for ``/api/explain?<query>``; raises :class:`QueryError`."""
    args = parse_query(query)
    try:
        explanation = build_explanation(args)
    except (ValueError, TypeError) as error:
        message = str(error)
        match = re.search(r"argument `(\w+)`", message)
        name = match.group(1) if match else None
        raise QueryError(message, _CONTROL_FOR_ARGUMENT.get(name, name)) from None
    return payload(explanation, args.to)


# --------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------
def _asset(name) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def page(data=None) -> str:
    """The explorer page, as HTML text.

    Args:
        data: None for the served page (it loads its assets and asks the
            server), or a :func:`payload` for a self-contained page of that one
            case: styles, script and answer inline, nothing to load.
    """
    html = _asset("explorer.html")
    if data is None:
        head = '<link rel="stylesheet" href="explorer.css">'
        tail = '<script src="explorer.js"></script>'
    else:
        embedded = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        head = f"<style>\n{_asset('explorer.css')}</style>"
        tail = (
            f'<script id="npconv-static" type="application/json">{embedded}</script>\n'
            f"<script>\n{_asset('explorer.js')}</script>"
        )
    return html.replace("<!--STYLE-->", head).replace("<!--SCRIPT-->", tail)


def write_html(path, explanation, to="torch"):
    """Write the self-contained page for one case, atomically.

    Args:
        path: the file to write; an old file stays as it was if anything fails.
        explanation: an :class:`npconv.explain.Explanation`.
        to: which framework's snippet the page shows.
    """
    text = page(payload(explanation, to))
    try:
        with atomic_write(path, "w") as file:
            file.write(text)
    except OSError as error:  # a directory, a missing folder, no permission: one line, old file kept
        raise ValueError(f"cannot write {str(path)!r}: {error.strerror or error}") from None


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server_version = "npconv-explorer"
    timeout = READ_TIMEOUT  # socket timeout while reading a request

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if url.path in _STATIC:
            name, kind = _STATIC[url.path]
            body = self.server.assets[name]
            return self._send(HTTPStatus.OK, body, f"{kind}; charset=utf-8")
        if url.path != "/api/explain":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "Not found. The explorer serves / and /api/explain."})
        future = self.server.pool.submit(answer, url.query)
        try:
            return self._json(HTTPStatus.OK, future.result(timeout=ANSWER_TIMEOUT))
        except QueryError as error:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(error), "param": error.param})
        except concurrent.futures.TimeoutError:
            future.cancel()
            message = f"No answer within {ANSWER_TIMEOUT:g} s. Try smaller sizes."
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": message})
        except Exception as error:  # a bug: answer it, keep serving
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})

    def _json(self, status, data):
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send(self, status, body: bytes, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        )
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # quiet: the terminal shows only the URL
        pass


class ExplorerServer(ThreadingHTTPServer):
    """The explorer's HTTP server: one thread per connection, answers
    computed on a small pool with a time limit. ``url`` is where it listens.

    Args:
        host: the address to bind.
        port: the port; 0 picks a free one.
    """

    daemon_threads = True

    def __init__(self, host="127.0.0.1", port=0):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(
                f"Invalid value for argument `port`. Expected 0..65535 (0 picks a free port). Received: port={port!r}"
            )
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.assets = {name: _asset(name).encode() for name, _ in _STATIC.values()}
        self.assets["explorer.html"] = page().encode()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="npconv-explain")
        try:
            super().__init__((host, port), _Handler)
        except OSError as error:
            self.pool.shutdown(wait=False)
            raise ValueError(
                f"Cannot serve on {host}:{port}: {error.strerror or error}. Pick another --port (0 picks a free one)."
            ) from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def server_close(self):
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def serve(host="127.0.0.1", port=0, open_browser=False) -> int:
    """Serve the explorer until Ctrl-C, printing its URL first.

    Args:
        host: the address to bind; 127.0.0.1 keeps it on this machine.
        port: the port; 0 picks a free one.
        open_browser: open the page in the default browser.

    Returns:
        0, after Ctrl-C.
    """
    server = ExplorerServer(host, port)
    print(f"npconv explorer: {server.url}  (Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: bound to {host}, so other machines may reach it too", file=sys.stderr)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
