"""1,000 decode requests at once, each on its own connection: every one answered, none with a 5xx; and
decodes one after another on a keep-alive connection, as the page sends them, answered without a stall.

The old http.server's listen backlog of 5 reset 59-66% of 200 concurrent connections."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import statistics
import time
from urllib.parse import urlsplit

from PIL import Image

from vaegan.explorer.server import ExplorerServer

CONCURRENT = 1000


async def decode_once(host: str, port: int, z: list[float], start: asyncio.Event) -> tuple[int, bytes]:
    await start.wait()  # every connection opens at once, not as the previous ones finish
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"z": z, "stage": "vae"}).encode()
    writer.write(
        b"POST /api/decode HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (host.encode(), port, len(body), body)
    )
    await writer.drain()
    answer = await reader.read()  # to the close: the whole response
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


async def fire(url: str) -> list[tuple[int, bytes] | BaseException]:
    where = urlsplit(url)
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(
            decode_once(str(where.hostname), int(where.port or 80), [i / 500 - 1, 0.5, -0.5, 0.0], start)
        )
        for i in range(CONCURRENT)
    ]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=120)


def test_a_thousand_concurrent_decodes_all_succeed(server: ExplorerServer) -> None:
    results = asyncio.run(fire(server.url))
    failures = [r for r in results if isinstance(r, BaseException)]
    statuses = [r[0] for r in results if not isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of {CONCURRENT} failed, e.g. {failures[0]!r}"
    assert statuses.count(200) == CONCURRENT, {s: statuses.count(s) for s in set(statuses)}
    for _, payload in results[:: CONCURRENT // 10]:  # type: ignore[misc]
        with Image.open(io.BytesIO(payload)) as im:
            assert im.format == "PNG" and im.size == (16, 16)


def test_keep_alive_decodes_do_not_wait_for_delayed_acks(server: ExplorerServer) -> None:
    # With Nagle on, each response's body waited for the client's delayed ACK of its headers: 40 ms or
    # more per request on Linux, against a few ms for a tiny decode even on a busy machine.
    connection = http.client.HTTPConnection(str(urlsplit(server.url).netloc), timeout=30)
    body = json.dumps({"z": [0.5, -0.5, 0.0, 0.0], "stage": "vae"})
    times = []
    for _ in range(12):
        started = time.perf_counter()
        connection.request("POST", "/api/decode", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 200 and answer.read().startswith(b"\x89PNG")
        times.append(time.perf_counter() - started)
    connection.close()
    assert statistics.median(times[2:]) < 0.030, f"median round trip {statistics.median(times[2:]) * 1000:.1f} ms"
