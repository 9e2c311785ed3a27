"""Headless Chromium for the explorer's browser test and its screenshots, through Playwright (the dev extra).

Debian's `chromium` package, never a browser Playwright downloads (scripts/setup.sh installs it). As root
Chromium needs --no-sandbox; the background-networking flags stop it calling Google's hosts, which a
closed network refuses many times a second. Playwright gives each launch a fresh profile directory.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable
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


# The page counts finished decodes in body[data-frames] and says whether one is in flight in data-busy.
SETTLED = "n => +document.body.dataset.frames > n && document.body.dataset.busy === '0'"
DROP = """([selector, name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  const drop = new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
  document.querySelector(selector).dispatchEvent(drop);
}"""


def settle(page: Any, action: Callable[[], Any]) -> None:
    """Run `action`, then wait until the page has drawn at least one new decode and has none in flight."""
    before = int(page.evaluate("+document.body.dataset.frames"))
    action()
    page.wait_for_function(SETTLED, arg=before)


def drop_file(page: Any, selector: str, name: str, payload: bytes) -> None:
    """Drop a file on an element, as a user dragging it from their desktop does."""
    page.evaluate(DROP, [selector, name, base64.b64encode(payload).decode("ascii")])
