"""Serving the explorer with uvicorn: the loopback-only bind, a deep listen backlog and read timeouts.

The socket is bound here rather than by uvicorn, so a taken port is a one-line error before serving,
port 0 reports the port the OS picked, and the backlog is ours: the old http.server's backlog of 5 reset
most of 200 concurrent connections. uvicorn closes idle keep-alive connections after KEEP_ALIVE seconds,
but only once a response has gone out; ReadTimeoutProtocol also closes a connection that sends nothing,
or stops half-way through a request, for READ_TIMEOUT seconds (slowloris).

Binding the socket ourselves has one cost to undo: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
sockets whose proto is IPPROTO_TCP, and socket.create_server leaves proto 0, so accepted connections kept
Nagle. uvicorn writes a response's headers and body in two sends; Nagle held the body until the client
acknowledged the headers, which it delays by 40 ms, so every request took 40 ms more. The protocol below
sets TCP_NODELAY on each connection itself.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import re
import socket
import threading

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from vaegan.errors import VaeganError
from vaegan.explorer.api import create_app, is_loopback
from vaegan.explorer.core import Explorer
from vaegan.explorer.uploads import UploadGate

logger = logging.getLogger(__name__)

BACKLOG = 2048  # queued connections the kernel holds while the server accepts (capped by somaxconn)
KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open after a response
READ_TIMEOUT = 10.0  # seconds to receive a whole request once a connection is open or a request begun


class ReadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for reading each request, and Nagle off (see the top)."""

    read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        set_nodelay(transport)
        self.arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE or self.transport.is_closing():
            self.disarm()  # the request is in: the handler's own time is not limited here
        elif self.read_deadline is None:
            self.arm()

    def on_response_complete(self) -> None:
        self.disarm()  # from here uvicorn's keep-alive timeout closes the connection if it stays idle
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def arm(self) -> None:
        self.disarm()
        self.read_deadline = self.loop.call_later(READ_TIMEOUT, self.read_timed_out)

    def disarm(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def read_timed_out(self) -> None:
        self.read_deadline = None
        if not self.transport.is_closing() and self.conn.their_state is not h11.DONE:
            self.transport.close()


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once: a response's body must not wait for the ACK of its headers."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to expose the explorer beyond this machine unless asked: it has no authentication; and a host
    that is no address at all (999.1.1.1), before the model loads."""
    if re.fullmatch(r"[\d.]+", host) and not is_ip(host):
        raise VaeganError(f"--host {host} is not an IP address; pass one such as 127.0.0.1, or 0.0.0.0 for all")
    if is_loopback(host):
        return
    if not allow_remote:
        raise VaeganError(
            f"refusing to listen on {host}: the explorer has no login, so anyone who can reach that address "
            "could use it; keep the default --host 127.0.0.1 (use an SSH tunnel from elsewhere) "
            "or pass --allow-remote"
        )


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class ExplorerServer:
    """A bound socket and the uvicorn server that will serve the explorer on it."""

    def __init__(
        self, explorer: Explorer, sock: socket.socket, allow_remote: bool, uploads: UploadGate | None = None
    ) -> None:
        self.explorer = explorer
        self.socket = sock
        self.uploads = UploadGate() if uploads is None else uploads
        config = uvicorn.Config(
            create_app(explorer, allow_remote, self.uploads),
            http=ReadTimeoutProtocol,
            lifespan="off",
            timeout_keep_alive=KEEP_ALIVE,
            backlog=BACKLOG,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
        self.uvicorn = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]  # the real port when 0 asked the OS to pick
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def serve(self) -> None:
        """Serve until Ctrl-C (uvicorn handles the signal and finishes open requests)."""
        self.uvicorn.run(sockets=[self.socket])

    def start(self) -> ExplorerServer:
        """Serve on a daemon thread (tests, notebooks); returns once it accepts connections."""
        self.thread = threading.Thread(target=self.uvicorn.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        while not self.uvicorn.started:
            if not self.thread.is_alive():
                raise VaeganError("the explorer server stopped while starting; see the log above")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.socket.close()


def make_server(
    explorer: Explorer,
    host: str = "127.0.0.1",
    port: int = 8765,
    allow_remote: bool = False,
    uploads: UploadGate | None = None,
) -> ExplorerServer:
    """A bound (not yet serving) server; port 0 picks a free port, see `.url`; `uploads` bounds concurrent
    uploads (default: uploads.SLOTS at once, uploads.QUEUE waiting)."""
    check_host(host, allow_remote)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        reason = str(exc.strerror or exc).split(" (while attempting")[0]  # asyncio-style suffix: the address again
        raise VaeganError(f"cannot listen on {host}:{port} ({reason}); {bind_fix(exc, host)}") from exc
    if not is_loopback(host):
        logger.warning(
            "warning: the explorer listens on %s without authentication; anyone who can reach it can use it", host
        )
    return ExplorerServer(explorer, sock, allow_remote, uploads)


def bind_fix(exc: OSError, host: str) -> str:
    """What to change when the socket cannot be bound: the host when it names no address of this machine
    (a name that resolves nowhere, or another machine's address), else the port."""
    # getaddrinfo's errors are negative (EAI_NONAME: a name that resolves nowhere)
    if isinstance(exc, socket.gaierror) or (exc.errno or 0) < 0 or exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine; pass one that is, such as 127.0.0.1 or 0.0.0.0"
    return "pick another --port, or 0 for any free one"
