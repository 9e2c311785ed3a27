"""Concurrent uploads are bounded: a few are read and decoded at once, a few more wait, the rest are told
503 (with Retry-After) after their body is read and dropped; nothing else fails and the server carries on.

Unbounded, 200 concurrent 5 MB uploads held every body at once: 1.7 GB peak, 1 GB kept afterwards."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from urllib.parse import urlsplit

import numpy as np
from explorer_http import read_answer, send
from PIL import Image

from vaegan.explorer.api import UPLOAD_PATH
from vaegan.explorer.core import Explorer
from vaegan.explorer.server import ExplorerServer, make_server
from vaegan.explorer.uploads import PixelBudget, UploadGate

BURST = 60


def noise_png(side: int, seed: int = 0) -> bytes:
    """Random pixels: PNG cannot compress them, so the file is about 3 * side^2 bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the server never reached the expected state"
        time.sleep(0.01)


def test_uploads_past_the_queue_are_503_and_the_queued_ones_succeed(explorer: Explorer) -> None:
    gate = UploadGate(slots=1, queue=2, wait=30.0)
    srv = make_server(explorer, "127.0.0.1", 0, uploads=gate).start()
    picture = noise_png(64)
    where = urlsplit(srv.url)
    head = (
        f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Length: {len(picture)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    held = []
    try:
        for _ in range(3):  # one reading its body, which stalls half-way; two waiting behind it
            sock = socket.create_connection((where.hostname, where.port), timeout=30)
            sock.sendall(head + picture[:100])
            held.append(sock)
        wait_for(lambda: gate.active == 1 and gate.waiting == 2)
        refused = send(srv.url, UPLOAD_PATH, raw=picture)
        assert refused.status == 503 and refused.headers["retry-after"] == "1"
        assert "busy" in refused.json()["error"]
        for sock in held:
            sock.sendall(picture[100:])
        answers = [read_answer(sock) for sock in held]
        assert [a.status for a in answers] == [200, 200, 200]
        assert answers[0].json()["z"] == answers[2].json()["z"]  # the same picture, the same mean
        wait_for(lambda: gate.active == 0 and gate.waiting == 0)
        assert send(srv.url, UPLOAD_PATH, raw=picture).status == 200  # the gate is open again
    finally:
        for sock in held:
            sock.close()
        srv.stop()


async def upload(host: str, port: int, payload: bytes, start: asyncio.Event) -> int:
    await start.wait()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (UPLOAD_PATH.encode(), host.encode(), port, len(payload))
    )
    writer.write(payload)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return int(answer.split(b" ", 2)[1])


async def burst(url: str, payload: bytes) -> list[int | BaseException]:
    where = urlsplit(url)
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(upload(str(where.hostname), int(where.port or 80), payload, start)) for _ in range(BURST)
    ]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=120)


def test_a_burst_of_uploads_is_answered_200_or_503_and_the_server_carries_on(server: ExplorerServer) -> None:
    results = asyncio.run(burst(server.url, noise_png(600)))  # about 1 MB each
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of {BURST} failed, e.g. {failures[0]!r}"
    counts = {s: results.count(s) for s in set(results)}
    assert set(counts) <= {200, 503} and counts.get(200, 0) >= 1 and counts.get(503, 0) >= 1, counts
    gate = server.uploads
    wait_for(lambda: gate.active == gate.waiting == gate.refusing == 0)
    assert send(server.url, "/api/decode", {"z": [0.0, 0.0, 0.0, 0.0]}).status == 200


def test_decoded_pixels_in_flight_stay_within_the_budget() -> None:
    """Two 60-pixel images never decode together in a budget of 100, a 30-pixel one may join either, and one
    larger than the budget decodes alone (a white 62-megapixel PNG is 201 kB: the upload slots alone let two
    such decodes overlap, issue 63)."""
    budget, lock = PixelBudget(100), threading.Lock()
    inside: list[int] = []
    most = 0

    def decode(pixels: int) -> None:
        nonlocal most
        with budget.held(pixels):
            with lock:
                inside.append(min(pixels, 100))
                most = max(most, sum(inside))
            time.sleep(0.05)
            with lock:
                inside.remove(min(pixels, 100))

    threads = [threading.Thread(target=decode, args=(p,)) for p in (60, 60, 30, 500, 60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads) and budget.free == 100
    assert most == 100  # the large one alone; never 60 + 60 (120), nor the large one beside another
