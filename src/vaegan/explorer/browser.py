"""Headless Chromium for the explorer's browser test and its screenshots, through Playwright.

Debian's `chromium` package, never a browser Playwright downloads (scripts/setup.sh installs it). As root
Chromium needs --no-sandbox; the background-networking flags stop it calling Google's hosts, which a
closed network refuses many times a second. Playwright gives each launch a fresh profile directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> Path | None:
    """The installed Chromium: $VAEGAN_CHROMIUM, else `chromium` on PATH (Debian's /usr/bin/chromium)."""
    found = os.environ.get("VAEGAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a sync_playwright() context."""
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no chromium on PATH; install Debian's package: apt-get install chromium")
    return playwright.chromium.launch(executable_path=str(path), headless=True, args=list(CHROMIUM_FLAGS))
