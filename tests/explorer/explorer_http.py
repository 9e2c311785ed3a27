"""A raw HTTP/1.1 client for the explorer tests: it sends exactly the bytes it is given (bad ones too)."""

from __future__ import annotations

import io
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch
from PIL import Image


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def kind(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def png(self) -> torch.Tensor:
        """The body as a PNG, uint8 (C, H, W)."""
        with Image.open(io.BytesIO(self.body)) as im:
            assert im.format == "PNG"
            return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)


def read_answer(sock: socket.socket) -> Answer:
    file = sock.makefile("rb")
    status_line = file.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    status = int(status_line.split()[1])
    headers = {}
    while (line := file.readline().decode("latin-1").strip()) != "":
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = file.read(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


def send(
    url: str,
    path: str | bytes,
    body: Any = None,
    raw: bytes | None = None,
    method: str | None = None,
    headers: dict[str, str | None] | None = None,
) -> Answer:
    """One request on its own connection; `path` as bytes goes out unencoded (for malformed targets), and a
    header given as None is left out."""
    where = urlsplit(url)
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    target = path if isinstance(path, bytes) else path.encode()
    sent: dict[str, str | None] = {"Host": where.netloc, "Connection": "close"}
    if data is not None:
        sent |= {"Content-Type": "application/json", "Content-Length": str(len(data))}
    sent |= headers or {}
    sent = {k: v for k, v in sent.items() if v is not None}
    verb = method or ("GET" if data is None else "POST")
    head = f"{verb} ".encode() + target + b" HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in sent.items()).encode("latin-1") + b"\r\n"
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(head + (data or b""))
        return read_answer(sock)
