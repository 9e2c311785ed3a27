"""Decode latency of `vaegan explore` as the page sees it: one HTTP round trip per slider move.

    python benchmarks/explorer_latency.py runs/emoji                  # 500 decodes per stage
    python benchmarks/explorer_latency.py runs/emoji --requests 2000

Starts `vaegan explore RUN` as its own process (so this client does not share its interpreter), then
sends decode requests one after another on one keep-alive connection, as the page's coalescing loop
does, each with a fresh seeded z, after a warm-up. Prints p50, p95 and the worst per stage, in ms, and the
machine's load average before and after: on a shared 2-core machine a busy neighbour doubles the times.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

WARM_UP = 30


def start(run: Path) -> tuple[subprocess.Popen[str], str]:
    """`vaegan explore RUN --port 0` in its own process, and the URL it prints once it listens."""
    command = [sys.executable, "-m", "vaegan", "explore", str(run), "--port", "0", "--no-browser"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    if "http://" not in line:
        server.kill()
        raise SystemExit(f"the explorer did not start: {line!r}")
    return server, line.split("http://", 1)[1].split()[0].rstrip("/")


def decode_times(address: str, stage: str, latent_dim: int, n: int, seed: int) -> list[float]:
    """Milliseconds per decode round trip, request to last byte of the PNG."""
    connection = http.client.HTTPConnection(address, timeout=30)
    z = torch.randn(n + WARM_UP, latent_dim, generator=torch.Generator().manual_seed(seed))
    times = []
    for i, row in enumerate(z):
        body = json.dumps({"z": row.tolist(), "stage": stage})
        started = time.perf_counter()
        connection.request("POST", "/api/decode", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        payload = answer.read()
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status != 200 or not payload.startswith(b"\x89PNG"):
            raise SystemExit(f"decode failed: {answer.status} {payload[:200]!r}")
        if i >= WARM_UP:
            times.append(elapsed)
    connection.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder or checkpoint file")
    parser.add_argument("--requests", type=int, default=500, help="decodes per stage after the warm-up")
    args = parser.parse_args()
    load_before = os.getloadavg()
    server, address = start(args.run)
    try:
        connection = http.client.HTTPConnection(address, timeout=30)
        connection.request("GET", "/api/info")
        info = json.loads(connection.getresponse().read())
        connection.close()
        size = info["image_size"]
        print(f"{info['run']}: {size}x{size}, latent {info['latent_dim']} dims, {args.requests} decodes per stage")
        for stage in info["stages"]:
            times = sorted(decode_times(address, stage, info["latent_dim"], args.requests, seed=1))
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"  {stage}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, worst {times[-1]:.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
    after = os.getloadavg()
    print(f"load average (1 min) before {load_before[0]:.2f}, after {after[0]:.2f}, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
