"""`vaegan explore`: serve the latent-space explorer page for a trained run until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import webbrowser
from pathlib import Path
from typing import Any

from vaegan.errors import VaeganError

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("explore", help="a local web page with a latent map and sliders over a run")
    p.add_argument("run", type=Path, help="a run folder or checkpoint file")
    p.add_argument("--stage", choices=("vae", "gan"), help="stage shown first (default: the GAN when the run has one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (the page has no login)")
    p.set_defaults(func=run_explore)


def run_explore(args: argparse.Namespace) -> int:
    import torch

    try:
        from vaegan.explorer.core import Explorer
        from vaegan.explorer.server import check_host, make_server
    except ImportError as exc:
        raise VaeganError(
            f"the explorer needs its extra ({exc.name} is missing); pip install 'vaegan[explorer]'"
        ) from exc

    check_host(args.host, args.allow_remote)  # before the slow model loading
    if not 0 <= args.port <= 65535:
        raise VaeganError(f"--port must be between 0 and 65535 (0 picks a free one), got {args.port}")
    # One thread: a single-z decode is too small to gain from intra-op parallelism, which only adds
    # scheduling latency; requests run on their own threads anyway.
    torch.set_num_threads(1)
    explorer = Explorer.from_run(args.run, args.stage)
    server = make_server(explorer, args.host, args.port, args.allow_remote)
    print(f"vaegan explorer for {args.run}: {server.url}  (Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)  # returns False without a browser; the printed URL is enough then
    server.serve()
    logger.info("explorer stopped")
    return 0
