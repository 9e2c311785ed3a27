"""What a browser-facing server with no login must hold: bad input is a 4xx (never a 5xx), foreign Host
names and cross-origin POSTs are refused, bodies are capped, idle and stalled connections are closed."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from explorer_http import send

from vaegan.checkpoint import load_checkpoint, save_checkpoint
from vaegan.cli import main
from vaegan.errors import VaeganError
from vaegan.explorer import server as server_module
from vaegan.explorer.core import Explorer
from vaegan.explorer.server import ExplorerServer, check_host, make_server

Z = [0.0, 0.0, 0.0, 0.0]
HUGE_INT = "1" * 4000
BAD_JSON = [
    # every case the issue found, then the rest of the usual suspects
    ("/api/decode", {"z": Z, "stage": []}, 422),
    ("/api/decode", {"z": Z, "stage": {}}, 422),
    ("/api/interpolate", {"a": 0, "b": 1, "method": []}, 422),
    ("/api/decode", {"z": [1e308, 0, 0, 0]}, 422),
    ("/api/decode", {"z": [-1e308, 0, 0, 0]}, 422),
    ("/api/decode", {"z": [0.0, 1.0]}, 400),
    ("/api/decode", {"z": Z + [0.0]}, 400),
    ("/api/decode", {"z": []}, 422),
    ("/api/decode", {"z": [0, 0, 0, "x"]}, 422),
    ("/api/decode", {"z": [0, 0, 0, True]}, 422),
    ("/api/decode", {"z": [0, 0, 0, None]}, 422),
    ("/api/decode", {"z": [0, 0, 0, [1]]}, 422),
    ("/api/decode", {"z": "0000"}, 422),
    ("/api/decode", {}, 422),
    ("/api/decode", {"z": Z, "stage": "diffusion"}, 422),
    ("/api/decode", {"z": Z, "extra": 1}, 422),
    ("/api/decode", [0, 0, 0, 0], 422),
    ("/api/decode", "z", 422),
    ("/api/encode", {"index": 10}, 400),
    ("/api/encode", {"index": -1}, 422),
    ("/api/encode", {"index": "3"}, 422),
    ("/api/encode", {"index": 1.5}, 422),
    ("/api/encode", {"index": 2**40}, 422),
    ("/api/random", {"temperature": -1}, 422),
    ("/api/random", {"seed": -5}, 422),
    ("/api/interpolate", {"a": 0, "b": 1, "steps": 1}, 422),
    ("/api/interpolate", {"a": 0, "b": 1, "steps": 1000}, 422),
    ("/api/interpolate", {"a": 0, "b": 1, "method": "cubic"}, 422),
    ("/api/interpolate", {"a": 0, "b": [1.0]}, 400),
    ("/api/interpolate", {"a": 0, "b": 99}, 400),
    ("/api/traverse", {"z": Z, "dim": 4}, 400),
    ("/api/traverse", {"z": Z, "dim": 0, "span": 0}, 422),
]
BAD_RAW = [
    ("/api/decode", b'{"z": [0, 0, 0, NaN]}'),
    ("/api/decode", b'{"z": [0, 0, 0, Infinity]}'),
    ("/api/decode", b'{"z": [0, 0, 0, -Infinity]}'),
    ("/api/decode", b"NaN"),
    ("/api/decode", b'{"z": [0, 0, 0, ' + HUGE_INT.encode() + b"]}"),  # a 4,000-digit integer in z
    ("/api/encode", b'{"index": ' + b"9" * 5000 + b"}"),  # a 5,000-digit index
    ("/api/decode", b'{"z": [0, 0, 0, 1e999]}'),
    ("/api/decode", b"{not json"),
    ("/api/decode", b""),
    ("/api/decode", b"[" * 100_000 + b"]" * 100_000),  # deeper than the JSON parser recurses
    ("/api/decode", b'{"z": "\xff\xfe"}'),
]
BAD_GET = [
    b"/api/dataset/\xff.png",  # a raw non-ASCII byte in a dataset path
    b"/api/dataset/%ff.png",
    b"/api/dataset/" + b"9" * 5000 + b".png",
    b"/api/dataset/99.png",
    b"/api/dataset/-1.png",
    b"/api/dataset/x.png",
    b"/api/gallery?offset=-1",
    b"/api/gallery?limit=100000",
    b"/static/../core.py",
    b"/static/%2e%2e/core.py",
    b"/static/..%2fcore.py",
    b"/static/app.py",
    b"/index.html",
    b"/api/nothing",
]


def four_hundreds(answer: Any) -> str:
    assert 400 <= answer.status < 500, (answer.status, answer.body[:200])
    return answer.json()["error"]


@pytest.mark.parametrize(("path", "body", "status"), BAD_JSON)
def test_bad_json_values_are_4xx_with_a_message(server: ExplorerServer, path: str, body: Any, status: int) -> None:
    answer = send(server.url, path, body)
    assert answer.status == status and answer.kind == "application/json"
    assert four_hundreds(answer)


@pytest.mark.parametrize(("path", "raw"), BAD_RAW, ids=range(len(BAD_RAW)))
def test_malformed_bodies_are_4xx(server: ExplorerServer, path: str, raw: bytes) -> None:
    assert four_hundreds(send(server.url, path, raw=raw))


@pytest.mark.parametrize("path", BAD_GET, ids=range(len(BAD_GET)))
def test_malformed_paths_are_4xx(server: ExplorerServer, path: bytes) -> None:
    answer = send(server.url, path)
    assert 400 <= answer.status < 500, (answer.status, answer.body[:200])


def test_bad_requests_never_stop_good_ones(server: ExplorerServer) -> None:
    assert send(server.url, "/api/decode", {"z": Z}).status == 200


def test_a_bug_is_a_500_without_the_traceback(server: ExplorerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> bytes:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.explorer, "decode_png", broken)
    answer = send(server.url, "/api/decode", {"z": Z})
    assert answer.status == 500 and b"secret" not in answer.body and b"Traceback" not in answer.body


def test_requests_for_another_host_name_are_refused(server: ExplorerServer) -> None:
    """DNS rebinding: a foreign page resolving its own name to 127.0.0.1 sends that name as Host."""
    port = server.url.rsplit(":", 1)[1].strip("/")
    assert send(server.url, "/api/info", headers={"Host": "attacker.example:" + port}).status == 403
    assert send(server.url, "/", headers={"Host": "attacker.example"}).status == 403
    assert send(server.url, "/api/info", headers={"Host": f"localhost:{port}"}).status == 200
    assert send(server.url, "/api/info", headers={"Host": f"[::1]:{port}"}).status == 200


def test_cross_origin_posts_are_refused(server: ExplorerServer) -> None:
    own = server.url.rstrip("/")
    assert send(server.url, "/api/decode", {"z": Z}, headers={"Origin": own}).status == 200
    for headers in [{"Origin": "http://attacker.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}]:
        answer = send(server.url, "/api/decode", {"z": Z}, headers=headers)
        assert answer.status == 403 and "cross-origin" in answer.json()["error"]


def test_bodies_are_capped(server: ExplorerServer) -> None:
    big = {"z": Z, "pad": "x" * 300_000}
    assert send(server.url, "/api/decode", big).status == 413
    assert send(server.url, "/api/decode", raw=b"", headers={"Content-Length": "abc"}).status in (400, 413)
    # a chunked body has no length up front: it is counted as it arrives
    chunk = b"x" * 200_000
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
    answer = send(
        server.url, "/api/decode", raw=chunked, headers={"Transfer-Encoding": "chunked", "Content-Length": None}
    )
    assert answer.status == 413 and "over 256 kB" in answer.json()["error"]
    small = b'{"z": [0, 0, 0, 0]}'
    answer = send(
        server.url,
        "/api/decode",
        raw=b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small),
        headers={"Transfer-Encoding": "chunked", "Content-Length": None},
    )
    assert answer.status == 200


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize(("path", "size"), [("/api/decode", 4 << 20), ("/api/encode-image", 40 << 20)])
def test_a_body_over_the_limit_is_answered_413_not_reset(
    server: ExplorerServer, path: str, size: int, chunked: bool
) -> None:
    """Megabytes past the limit, still being sent when the server has seen enough: it reads and drops them, so
    the client finishes sending and reads the 413 (it got a connection reset mid-send, issue 63)."""
    chunk = b"x" * (1 << 20)
    if chunked:
        raw = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(size // len(chunk))) + b"0\r\n\r\n"
        headers: dict[str, str | None] = {"Transfer-Encoding": "chunked", "Content-Length": None}
    else:
        raw, headers = chunk * (size // len(chunk)), {}
    answer = send(server.url, path, raw=raw, headers=headers)  # sent whole before reading: a reset fails here
    assert answer.status == 413 and "send a smaller one" in answer.json()["error"]


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass  # an answer (a 408 or the keep-alive response) may come first; wait for the close
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_idle_and_stalled_connections_are_closed(explorer: Explorer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(server_module, "KEEP_ALIVE", 1)
    srv = make_server(explorer, "127.0.0.1", 0).start()
    try:
        host, port = "127.0.0.1", int(srv.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection((host, port)) as silent:  # connects, never sends
            assert closed_within(silent, 5)
        with socket.create_connection((host, port)) as stalled:  # half a request line, then nothing
            stalled.sendall(b"GET /api/in")
            assert closed_within(stalled, 5)
        with socket.create_connection((host, port)) as slow_body:  # headers, then a body that never comes
            slow_body.sendall(b"POST /api/decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{")
            assert closed_within(slow_body, 5)
        with socket.create_connection((host, port)) as kept:  # a served keep-alive connection, then idle
            kept.sendall(f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            started = time.monotonic()
            assert closed_within(kept, 5) and time.monotonic() - started >= 0.9
    finally:
        srv.stop()


def test_non_loopback_hosts_need_allow_remote(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for host in ["127.0.0.1", "localhost", "::1", "127.0.0.2"]:
        check_host(host, allow_remote=False)
    for host in ["0.0.0.0", "192.168.1.5", "example.com"]:
        with pytest.raises(VaeganError, match="--allow-remote"):
            check_host(host, allow_remote=False)
        check_host(host, allow_remote=True)
    assert main(["explore", str(run), "--host", "0.0.0.0", "--no-browser"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_a_missing_stage_and_a_taken_port_are_user_errors(run: Path, server: ExplorerServer) -> None:
    with pytest.raises(VaeganError, match="no gan stage"):
        Explorer.from_run(run / "vae", "gan")
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(VaeganError, match="pick another --port"):
        make_server(server.explorer, "127.0.0.1", port)


@pytest.mark.parametrize(("stage", "weights"), [("vae", "model"), ("gan", "ema")])
def test_a_diverged_checkpoint_is_one_line_naming_its_file(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], stage: str, weights: str
) -> None:
    """NaN weights used to reach the map's SVD and end in a linalg traceback."""
    copy = tmp_path / "diverged"
    shutil.copytree(run / "vae", copy / "vae")
    shutil.copytree(run / "gan", copy / "gan")
    file = copy / stage / "checkpoint.pt"
    checkpoint = load_checkpoint(file)
    next(t for t in getattr(checkpoint, weights).values() if t.is_floating_point()).fill_(float("nan"))
    save_checkpoint(checkpoint, file)
    assert main(["explore", str(copy), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert str(file) in err and "NaN" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_stop_frees_the_port(explorer: Explorer) -> None:
    srv = make_server(explorer, "127.0.0.1", 0).start()
    port = int(srv.url.rsplit(":", 1)[1].strip("/"))
    assert send(srv.url, "/api/info").status == 200
    srv.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    make_server(explorer, "127.0.0.1", port).socket.close()  # the port is free again
