"""The explorer's memory under a burst of uploads: peak RSS during it and RSS a minute later.

    python scripts/explorer_upload_memory.py runs/emoji            # 200 concurrent 5 MB uploads
    python scripts/explorer_upload_memory.py runs/emoji --slots 1000 --no-trim   # unbounded, no malloc_trim

Serves RUN in a child process (so the client's own buffers do not count), samples the child's VmRSS from
/proc every 20 ms, fires the uploads at once, waits --after seconds and prints one JSON record: the
command, RSS at start, peak and after (MB), the answers by status, and the load average before and after.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

SAMPLE_EVERY = 0.02  # seconds between RSS samples


def serve(args: argparse.Namespace) -> None:
    """The child: the explorer on a free port with the given gate, its URL on stdout."""
    import torch

    from vaegan.explorer import uploads
    from vaegan.explorer.core import Explorer
    from vaegan.explorer.server import make_server

    torch.set_num_threads(1)  # as `vaegan explore` runs
    if args.no_trim:
        uploads.MALLOC_TRIM = None
    gate = uploads.UploadGate(args.slots, args.queue)
    server = make_server(Explorer.from_run(args.run), "127.0.0.1", 0, uploads=gate)
    print(server.url, flush=True)
    server.serve()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def noise_png(megabytes: float) -> bytes:
    """Random pixels, stored uncompressed: a PNG of about `megabytes` MB."""
    side = int((megabytes * 1e6 / 3) ** 0.5)
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


async def upload(host: str, port: int, payload: bytes) -> int | str:
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /api/encode-image HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (host.encode(), port, len(payload))
        )
        writer.write(payload)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        return int(answer.split(b" ", 2)[1])
    except (OSError, IndexError, ValueError) as exc:
        return type(exc).__name__


async def burst(url: str, payload: bytes, n: int) -> list[int | str]:
    where = urlsplit(url)
    return await asyncio.gather(*(upload(str(where.hostname), int(where.port or 80), payload) for _ in range(n)))


def measure(args: argparse.Namespace) -> None:
    command = [sys.executable, __file__, "--serve", str(args.run), "--slots", str(args.slots)]
    command += ["--queue", str(args.queue)] + (["--no-trim"] if args.no_trim else [])
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        time.sleep(2)  # settled after loading
        start = rss_mb(child.pid)
        peak = [start]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(child.pid))
                time.sleep(SAMPLE_EVERY)

        sampler = threading.Thread(target=sample, daemon=True)
        payload = noise_png(args.megabytes)
        load_before = os.getloadavg()
        sampler.start()
        began = time.monotonic()
        answers = asyncio.run(burst(url, payload, args.uploads))
        took = time.monotonic() - began
        end_of_burst = rss_mb(child.pid)
        time.sleep(args.after)
        done.set()
        sampler.join()
        record = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "uploads": args.uploads,
            "upload_mb": round(len(payload) / 1e6, 2),
            "slots": args.slots,
            "queue": args.queue,
            "trim": not args.no_trim,
            "answers": {str(k): answers.count(k) for k in sorted(set(answers), key=str)},
            "burst_s": round(took, 1),
            "rss_start_mb": round(start),
            "rss_peak_mb": round(peak[0]),
            "rss_end_of_burst_mb": round(end_of_burst),
            f"rss_after_{args.after:g}s_mb": round(rss_mb(child.pid)),
            "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in os.getloadavg()],
        }
        print(json.dumps(record))
    finally:
        child.terminate()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder")
    parser.add_argument("--uploads", type=int, default=200, help="concurrent uploads (default 200)")
    parser.add_argument("--megabytes", type=float, default=5.0, help="size of each upload (default 5)")
    parser.add_argument("--after", type=float, default=60.0, help="seconds to wait before the last reading")
    parser.add_argument("--slots", type=int, default=2, help="uploads decoded at once (the explorer's default 2)")
    parser.add_argument("--queue", type=int, default=6, help="uploads waiting (the explorer's default 6)")
    parser.add_argument("--no-trim", action="store_true", help="leave freed memory to glibc (no malloc_trim)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
