"""HTTP layer of the explorer: routes, JSON errors, static files, and the loopback-only bind.

Standard library only (http.server), so `vaegan explore` needs nothing beyond vaegan itself. The page
lives in static/ as plain HTML/JS/CSS: no build step, no CDN, works offline. See vaegan.explorer for
the API.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from vaegan.errors import VaeganError
from vaegan.explorer.app import ApiError, Explorer

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # bytes: a latent of a few hundred floats is a few kB
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a hostname other than localhost: it may resolve anywhere
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to expose the explorer beyond this machine unless asked: it has no authentication."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise VaeganError(
            f"refusing to listen on {host}: the explorer has no login, so anyone who can reach that address "
            "could use it; keep the default --host 127.0.0.1 (use an SSH tunnel from elsewhere) "
            "or pass --allow-remote"
        )
    logger.warning(
        "warning: the explorer listens on %s without authentication; anyone who can reach it can use it", host
    )


def static_file(name: str) -> tuple[bytes, str] | None:
    """(bytes, content type) of a file in static/, or None: only plain names, so no path escapes it."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = resources.files("vaegan.explorer").joinpath("static", name)
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in CONTENT_TYPES or not path.is_file():
        return None
    return path.read_bytes(), CONTENT_TYPES[suffix]


class Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"  # keep-alive: one TCP connection for a whole slider drag
    # Headers and body go out as two writes; with Nagle on, the body waits for the client's delayed ACK
    # (~40 ms), which measured as 50 ms per decode instead of 3 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        logger.debug("%s " + format, self.address_string(), *args)

    def send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, value: Any, status: int = HTTPStatus.OK) -> None:
        self.send(status, json.dumps(value).encode(), "application/json")

    def error(self, status: int, message: str) -> None:
        self.send_json({"error": message}, status)

    def host_allowed(self) -> bool:
        """Behind a loopback bind, answer only requests addressed to loopback: a web page elsewhere could
        otherwise point its own domain at 127.0.0.1 (DNS rebinding) and read the explorer."""
        if self.server.allow_remote:
            return True
        host = urlsplit("//" + self.headers.get("Host", "")).hostname or ""
        return is_loopback(host)

    def read_body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError as exc:
            raise ApiError("Content-Length must be a number") from exc
        if not 0 < length <= MAX_BODY:
            raise ApiError(f"send a JSON object body of at most {MAX_BODY} bytes")

        def no_constants(name: str) -> None:
            raise ApiError(f"{name} is not a number; send finite numbers")

        try:
            body = json.loads(self.rfile.read(length), parse_constant=no_constants)
        except (ValueError, RecursionError) as exc:
            raise ApiError(f"the body is not valid JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise ApiError("the body must be a JSON object")
        return body

    def handle_safely(self, route: Any) -> None:
        """Run a route; bad input becomes 400 with its message, a bug 500 without the traceback."""
        if not self.host_allowed():
            self.error(HTTPStatus.FORBIDDEN, "unexpected Host header; open the explorer at 127.0.0.1")
            return
        try:
            route()
        except ApiError as exc:
            self.error(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception:  # a bug: the traceback goes to the server's log, never to the client
            logger.exception("explorer request %s %s failed", self.command, self.path)
            self.error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the explorer's terminal")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.handle_safely(self.get)

    def do_HEAD(self) -> None:  # noqa: N802
        self.handle_safely(self.get)

    def do_POST(self) -> None:  # noqa: N802
        self.handle_safely(self.post)

    def get(self) -> None:
        path = urlsplit(self.path).path
        explorer = self.server.explorer
        if path == "/api/info":
            self.send_json(explorer.info())
        elif path.startswith("/api/dataset/") and path.endswith(".png"):
            stem = path.removeprefix("/api/dataset/").removesuffix(".png")
            if not stem.isdigit():
                raise ApiError(f"the image index must be a whole number, got {stem!r}")
            self.send(HTTPStatus.OK, explorer.thumbnail_png(int(stem)), "image/png", cache=True)
        else:
            found = static_file("index.html" if path == "/" else path.removeprefix("/static/"))
            if found is None or not (path == "/" or path.startswith("/static/")):
                self.error(HTTPStatus.NOT_FOUND, f"no page at {path}; open / for the explorer")
                return
            self.send(HTTPStatus.OK, *found)

    def post(self) -> None:
        path = urlsplit(self.path).path
        explorer = self.server.explorer
        routes = {
            "/api/encode": explorer.encode,
            "/api/random": explorer.random,
            "/api/interpolate": explorer.interpolate,
        }
        if path == "/api/decode":
            self.send(HTTPStatus.OK, explorer.decode_png(self.read_body()), "image/png")
        elif path in routes:
            self.send_json(routes[path](self.read_body()))
        else:
            self.error(HTTPStatus.NOT_FOUND, f"no API at {path}; see vaegan.explorer's docstring")


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True  # an open keep-alive connection must not hold the process at exit

    def __init__(self, explorer: Explorer, host: str, port: int, allow_remote: bool) -> None:
        self.explorer = explorer
        self.allow_remote = allow_remote
        self.host = host
        if ":" in host:  # an IPv6 literal such as ::1
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        port = self.server_address[1]  # the real one when port 0 asked the OS to pick
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}/"


def make_server(
    explorer: Explorer, host: str = "127.0.0.1", port: int = 8765, allow_remote: bool = False
) -> ExplorerServer:
    """A bound (not yet serving) server; port 0 picks a free port, see `.url`."""
    check_host(host, allow_remote)
    try:
        return ExplorerServer(explorer, host, port, allow_remote)
    except OSError as exc:
        raise VaeganError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port, or 0 for any free one"
        ) from exc


def serve_in_thread(server: ExplorerServer) -> threading.Thread:
    """Serve on a daemon thread (tests, notebooks); stop with server.shutdown() then server.server_close()."""
    thread = threading.Thread(target=server.serve_forever, name="vaegan-explorer", daemon=True)
    thread.start()
    return thread
