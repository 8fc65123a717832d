"""`npconv explain --serve`: the JSON endpoint against npconv.explain() called
directly, hostile requests, the page and its assets, and `--html`.

The server runs in-process on a free port (a thread); requests go through a
real socket with urllib."""

import json
import random
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import asdict
from urllib.parse import quote, urlencode

import pytest

import npconv
from npconv.cli.main import main
from npconv.explain.serve import MAX_QUERY, MAX_TAPS, ExplorerServer, parse_query


@pytest.fixture(scope="module")
def server():
    server = ExplorerServer("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def get(server, path, timeout=30):
    """(status, content type, body bytes) of GET path."""
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def raw_get(server, path: bytes, timeout=30):
    """(status, body bytes) of a GET sent byte for byte over a socket, so that
    paths http.client would refuse (raw non-ASCII, '..') reach the server."""
    import socket

    with socket.create_connection(server.server_address[:2], timeout=timeout) as connection:
        connection.sendall(b"GET " + path + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def api(server, **params):
    status, kind, body = get(server, "/api/explain?" + urlencode(params))
    assert kind == "application/json"
    return status, json.loads(body)


def as_json(explanation):
    """The explanation's fields as JSON data: its own to_dict() where it has one."""
    data = explanation.to_dict() if hasattr(explanation, "to_dict") else asdict(explanation)
    return json.loads(json.dumps(data))


def test_article_case(server):
    status, data = api(server, layer="conv2d", input="5x5", kernel=3, strides=2, padding="same", to="torch")
    assert status == 200
    assert data["layer"] == "Conv2D" and data["output_size"] == [3, 3]
    assert [(d["pad_before"], d["pad_after"]) for d in data["dims"]] == [(1, 1), (1, 1)]
    output = next(f for f in data["dims"][0]["formulas"] if f["name"] == "output_length" and "floor" in f["symbolic"])
    assert output["numbers"] == "floor((5 + 1 + 1 - 3) / 2) + 1" and output["value"] == 3
    assert "torch" in data["snippet"]["code"] and data["snippet"]["framework"] == "torch"
    # 6x6: Keras pads (0, 1); the article's top/left pad floor((k-1)/2) = 1 is wrong there
    status, data = api(server, layer="conv2d", input="6x6", kernel=3, strides=2, padding="same")
    assert [(d["pad_before"], d["pad_after"]) for d in data["dims"]] == [(0, 1), (0, 1)]
    pad_rule = next(r for r in data["article"] if "pad" in r["quantity"])
    assert [(a["article"], a["truth"], a["agree"]) for a in pad_rule["axes"]] == [(1, 0, False)] * 2
    assert "snippet" not in data


def test_transposed_valid_length_beats_the_article(server):
    # (n - 1)*s + max(k, s) = 4*3 + 3 = 15; the article's (n - 1)*s + k says 14
    status, data = api(server, layer="conv2dtranspose", input=5, kernel=2, strides=3, padding="valid")
    assert status == 200 and data["output_size"] == [15, 15]
    (rule,) = data["article"]
    assert [(a["article"], a["truth"]) for a in rule["axes"]] == [(14, 15), (14, 15)]


def test_output_padding_zero_is_not_none(server):
    _, none = api(server, layer="conv1dtranspose", input=5, kernel=3, strides=2, padding="same")
    _, zero = api(server, layer="conv1dtranspose", input=5, kernel=3, strides=2, padding="same", output_padding=0)
    assert none["output_size"] == [10] and zero["output_size"] == [9]  # n*s; (n-1)*s + k - 2*1 + 0


def _random_query(rng):
    layer = rng.choice(npconv.explain.LAYER_NAMES).lower()
    rank = int(re.search(r"[123]", layer).group())
    transposed = "transpose" in layer

    def sizes(low, high):
        values = [rng.randint(low, high) for _ in range(rank)]
        return str(values[0]) if rng.random() < 0.3 else "x".join(map(str, values))

    kernel = rng.randint(1, 4)
    query = {"layer": layer, "input": sizes(kernel + 4, 12), "kernel": str(kernel), "strides": sizes(1, 3)}
    paddings = [
        "valid",
        "same",
        "full",
        str(rng.randint(0, 2)),
        ",".join(f"{rng.randint(0, 2)}:{rng.randint(0, 2)}" for _ in range(rank)),
    ]
    if layer == "conv1d":
        paddings.append("causal")
    if transposed:
        paddings = ["valid", "same"]
        if rng.random() < 0.4:
            query["output-padding"] = "0"
    elif rng.random() < 0.5:
        query["dilation"] = str(rng.randint(1, 2))
    query["padding"] = rng.choice(paddings)
    if not transposed and query["padding"] != "full" and rng.random() < 0.3:
        query["padding-mode"] = rng.choice(["zeros", "replicate", "circular"])
    if rng.random() < 0.3:
        query["data-format"] = rng.choice(["channels_last", "channels_first"])
    query["to"] = rng.choice(["torch", "onnx", "jax"])
    return query


def _direct(query):
    """npconv.explain(...) called directly with the query's values, parsed by hand here."""

    def sizes(text):
        values = tuple(int(v) for v in text.split("x"))
        return values[0] if len(values) == 1 else values

    padding = query["padding"]
    if padding not in ("valid", "same", "full", "causal"):
        pairs = [tuple(int(v) for v in axis.split(":")) for axis in padding.split(",")]
        padding = pairs[0][0] if len(pairs) == 1 and len(pairs[0]) == 1 else tuple(pairs)
    return npconv.explain(
        query["layer"],
        sizes(query["input"]),
        sizes(query["kernel"]),
        strides=sizes(query["strides"]),
        padding=padding,
        dilation_rate=sizes(query.get("dilation", "1")),
        output_padding=sizes(query["output-padding"]) if "output-padding" in query else None,
        padding_mode=query.get("padding-mode", "zeros"),
        data_format=query.get("data-format"),
    )


def test_fifty_random_configurations_match_explain(server):
    rng = random.Random(15)
    answered = 0
    while answered < 50:
        query = _random_query(rng)
        try:
            expected = _direct(query)
        except ValueError as error:  # an invalid combination: the server says the same
            status, data = api(server, **query)
            assert status == 400 and data["error"] == str(error), query
            continue
        status, data = api(server, **query)
        assert status == 200, (query, data)
        assert data["output_size"] == list(expected.output_size)
        assert [(d["pad_before"], d["pad_after"]) for d in data["dims"]] == list(expected.pads)
        for got, dim in zip(data["dims"], expected.dims):
            assert got["output_length"] == dim.output_length and list(got["pad_reason"]) == list(dim.pad_reason)
            assert [(f["name"], f["numbers"], f["value"]) for f in got["formulas"]] == [
                (f.name, f.numbers, f.value) for f in dim.formulas
            ]
            windows = got["windows"]
            assert (windows["count"] if isinstance(windows, dict) else len(windows)) == len(dim.windows)
        # every dataclass field, nested, comes through
        fields = as_json(expected)
        assert {key: data[key] for key in fields} == fields
        assert data["snippet"]["code"] == npconv.translate.render_translation(expected.to(query["to"]))
        answered += 1


def _hostile_requests():
    rng = random.Random(7)
    requests = [
        "/api/explain",
        "/api/explain?",
        "/api/explain?layer=",
        "/api/explain?layer=conv2d",
        "/api/explain?layer=conv2d&input=5x5",
        "/api/explain?layer=conv2d&input=&kernel=",
        "/api/explain?layer=conv2d&input=5&kernel=3&kernel=3",
        "/api/explain?layer=conv9d&input=5&kernel=3",
        "/api/explain?layer=conv2d&input=5&kernel=3&svg=/etc/passwd",
        "/api/explain?layer=conv2d&input=5&kernel=3&html=/tmp/x.html",
        "/api/explain?layer=conv2d&input=5&kernel=3&serve=1",
        "/api/explain?layer=conv2d&input=5&kernel=3&to=fortran",
        "/api/explain?layer=conv2d&input=5&kernel=3&padding=causal",
        "/api/explain?layer=conv2d&input=5&kernel=3&output-padding=1",
        "/api/explain?layer=conv2d&input=5&kernel=9",
        "/api/explain?layer=conv2dtranspose&input=5&kernel=3&strides=2&output-padding=2",
        "/api/explain?layer=conv2d&input=5&kernel=3&padding-mode=mirror",
        "/api/explain?layer=conv2d&input=5&kernel=3&data-format=nhwc",
        "/api/explain?layer=conv2d&input=%ff%fe&kernel=3",
        "/api/explain?layer=%00&input=5&kernel=3",
        "/api/explain?layer=--help&input=5&kernel=3",
        "/api/explain?layer=conv2d&input=--kernel&kernel=3",
        "/api/explain?layer=conv2d&input=5&kernel=3&" + "&".join(f"to={i}" for i in range(40)),
        "/api/explain?layer=conv2d&input=" + "9" * 5000 + "&kernel=3",
        "/api/explain?layer=conv1d&input=" + "9" * 1000 + "&kernel=3",
        "/api/explain?layer=conv1d&input=1000000000000&kernel=3",
        "/api/explain?layer=conv1d&input=100000&kernel=3",
        "/api/explain?layer=conv1d&input=5&kernel=100000&padding=same",
        "/api/explain?layer=conv1d&input=5&kernel=3&dilation=10000000000&padding=same",
        "/api/explain?layer=conv1d&input=5&kernel=3&padding=1000000000:0",
        "/api/explain?layer=conv1dtranspose&input=5&kernel=3&strides=100000000",
        "/api/explain?layer=conv1dtranspose&input=5&kernel=3&output-shape=100000000",
        "/api/explain?layer=conv1d&input=5&kernel=3&groups=1000000000000",
        "/api/explain?layer=conv2d&input=5x5x5x5x5x5&kernel=3",
        "/api/explain?layer=conv2d&input=-5&kernel=3",
        "/api/explain?layer=conv2d&input=5&kernel=3&padding=1:2:3",
        "/api/explain?layer=conv2d&input=5&kernel=3&padding=" + quote("𝟙"),
        "/api/explain?layer=" + quote("Сonv2D") + "&input=5&kernel=3",  # a Cyrillic С
        "/api/explain?" + quote("layér") + "=conv2d",
        "/api/explain?layer=conv2d&input=5&kernel=3&strides=" + "2x" * 3000 + "2",
        "/api/explain?" + "a" * (MAX_QUERY + 10),
        "/api/explain?layer=conv2d&input=5&kernel=3&padding=" + "1," * 20000 + "1",
        "/api/../../../etc/passwd",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/../serve.py",
        "/explorer.js/../../serve.py",
        "/serve.py",
        "/explain/serve.py",
        "/..%2fserve.py",
        "/api",
        "/api/explain/",
        "/api/explain/../explain",
        "/index.html",
        "//etc/passwd",
        "/" + quote("ünïcødé"),
    ]
    keys = ["layer", "input", "kernel", "strides", "padding", "dilation", "output-padding", "output-shape", "to"]
    junk = ["", "-1", "0", "x", "5x", "x5", "1e9", "nan", "inf", "None", "?", "5x?x", "1:2:3", ",", ":", "1,",
            "99999999999999999999999", "٣", "\u202e5", "5\n5", "'", '"', "<script>", "%", "5x5x5x5x5"]  # fmt: skip
    while len(requests) < 200:
        query = {"layer": rng.choice(["conv1d", "conv2d", "conv3d", "conv2dtranspose", "nope"]), "input": "5",
                 "kernel": "3"}  # fmt: skip
        for key in rng.sample(keys, rng.randint(1, 3)):
            query[key] = rng.choice(junk)
        path = "/api/explain?" + urlencode(query)
        if len(requests) % 10 == 0:
            path = "/" + "/".join(rng.choice(["..", "%2e%2e", "api", "explain", "etc", "ü"]) for _ in range(4))
        requests.append(path)
    return requests


def test_hostile_requests_get_400_or_404_and_the_server_keeps_answering(server):
    statuses = []
    for path in _hostile_requests():
        # a handful of junk combinations are valid; everything else is refused
        status, body = raw_get(server, path.encode())
        statuses.append(status)
        assert status in (200, 400, 404), (path, status, body[:200])
        if status != 200:
            message = json.loads(body)["error"]
            assert message and "\n" not in message and "Traceback" not in message
        if status == 200:
            assert path.startswith("/api/explain?") or path in ("/", "/index.html"), path
    assert statuses.count(400) > 120 and statuses.count(404) > 20
    assert raw_get(server, b"/../../etc/passwd")[0] == 404
    status, _, body = get(server, "/api/explain?layer=conv2d&input=5&kernel=3")
    assert status == 200 and json.loads(body)["output_size"] == [3, 3]


def test_a_request_line_too_long_for_http_is_refused_and_the_server_goes_on(server):
    status, _, _ = get(server, "/api/explain?layer=conv2d&input=" + "5x" * 40000 + "5")
    assert status == 414  # http.server's own limit on a request line (64 KiB)
    assert get(server, "/api/explain?layer=conv2d&input=5&kernel=3")[0] == 200


def test_a_slow_client_does_not_block_others(server):
    import socket

    host, port = server.server_address[:2]
    with socket.create_connection((host, port)) as idle:  # opens, never sends a request line
        idle.sendall(b"GET /api/expl")
        assert get(server, "/api/explain?layer=conv1d&input=5&kernel=3", timeout=5)[0] == 200


def test_sizes_are_bounded_before_computing():
    with pytest.raises(ValueError, match=f"at most {MAX_TAPS} kernel taps"):
        parse_query("layer=conv1d&input=1000000000000&kernel=3")
    args = parse_query("layer=conv1d&input=1000&kernel=3")  # inside
    assert args.input == 1000


def test_errors_are_the_command_lines_messages(server, capsys):
    cases = [
        (["--input", "abc", "--kernel", "3"], {"input": "abc", "kernel": "3"}, "input"),
        (["--input", "5", "--kernel", "3", "--strides", "0"], {"input": "5", "kernel": "3", "strides": "0"}, "strides"),
        (["--input", "5", "--kernel", "9"], {"input": "5", "kernel": "9"}, None),
        (["--input", "5", "--kernel", "3", "--padding", "causal"], {"input": "5", "kernel": "3", "padding": "causal"}, "padding"),
        (["--input", "5", "--kernel", "3", "--to", "x"], {"input": "5", "kernel": "3", "to": "x"}, "to"),
    ]  # fmt: skip
    for argv, params, param in cases:
        try:
            code = main(["explain", "conv2d", *argv])
        except SystemExit as exit:  # argparse refuses the option itself
            code = exit.code
        assert code == 2
        line = capsys.readouterr().err.strip()
        status, data = api(server, layer="conv2d", **params)
        assert status == 400
        assert line.endswith(data["error"]) and line.split(": error: ", 1)[1] == data["error"]
        if param:
            assert data["param"] == param


def test_page_and_assets_are_served_from_the_package(server):
    status, kind, page = get(server, "/")
    assert status == 200 and kind.startswith("text/html")
    page = page.decode()
    assert 'src="explorer.js"' in page and 'href="explorer.css"' in page
    for path, kind_start in (("/explorer.js", "text/javascript"), ("/explorer.css", "text/css")):
        status, kind, body = get(server, path)
        assert status == 200 and kind.startswith(kind_start) and len(body) > 500
        assert not re.search(rb"https?://", body)  # nothing fetched from the network
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_html_export(tmp_path, capsys):
    out = tmp_path / "page.html"
    out.write_text("old")
    argv = ["explain", "conv2d", "--input", "6x6", "--kernel", "3", "--strides", "2", "--padding", "same"]
    assert main([*argv, "--html", str(out), "--to", "jax"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    html = out.read_text()
    embedded = re.search(r'<script id="npconv-static" type="application/json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(embedded)
    expected = npconv.explain("conv2d", (6, 6), 3, strides=2, padding="same")
    fields = as_json(expected)
    assert {key: data[key] for key in fields} == fields
    assert data["snippet"]["framework"] == "jax" and "lax.conv_general_dilated" in data["snippet"]["code"]
    assert "<svg" in data["drawing"]["svg"] and len(data["drawing"]["steps"][0]) == 9
    assert "<style>" in html and "function" in html  # styles and script inline
    assert not re.search(r'(src|href)="(?!data:)', html)  # self-contained: nothing to load
    assert "</script>" not in embedded
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left


def test_html_export_refused_leaves_the_old_file(tmp_path, capsys):
    out = tmp_path / "keep.html"
    out.write_text("old")
    assert main(["explain", "conv2d", "--input", "5", "--kernel", "9", "--html", str(out)]) == 2
    assert out.read_text() == "old"


def test_html_export_to_a_directory_is_one_line(tmp_path, capsys):
    argv = ["explain", "conv1d", "--input", "5", "--kernel", "3", "--html", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err and list(tmp_path.iterdir()) == []


def test_serve_command_prints_the_url_and_exits_cleanly_on_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "npconv", "explain", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group()
        with urllib.request.urlopen(url + "api/explain?layer=conv1d&input=7&kernel=3", timeout=30) as response:
            assert json.loads(response.read())["output_size"] == [5]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.wait()


def test_bad_port_is_one_line(capsys):
    assert main(["explain", "--serve", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Expected 0..65535" in err


def test_an_answer_past_its_time_limit_gets_503_and_the_next_is_answered(server, monkeypatch):
    import npconv.explain.serve as serve_module

    release = threading.Event()
    real_answer = serve_module.answer

    def stuck_for_kernel_7(query):
        if "kernel=7" in query:
            release.wait(30)
        return real_answer(query)

    monkeypatch.setattr(serve_module, "ANSWER_TIMEOUT", 0.5)
    monkeypatch.setattr(serve_module, "answer", stuck_for_kernel_7)
    try:
        status, data = api(server, layer="conv1d", input=9, kernel=7)
        assert status == 503 and "No answer within 0.5 s" in data["error"]
        status, data = api(server, layer="conv1d", input=9, kernel=3)
        assert status == 200 and data["output_size"] == [7]
    finally:
        release.set()
