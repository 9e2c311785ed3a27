"""1,000 decode requests at once, each on its own connection: every one answered, none with a 5xx.

The old http.server's listen backlog of 5 reset 59-66% of 200 concurrent connections."""

from __future__ import annotations

import asyncio
import io
import json
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
