"""The page in a real browser (Debian's Chromium through Playwright): slider, map hover, a dropped image,
side by side. Each step must change the decoded picture, and the console must stay free of errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from vaegan.explorer.browser import SETTLED, chromium_path, drop_file, launch, settle
from vaegan.explorer.server import ExplorerServer

playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the dev extra)")
pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium: scripts/setup.sh installs it as root")

PIXELS = """async (stage) => {
  const img = document.querySelector(`#view-${stage} img`);
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data).join(",");
}"""


@pytest.fixture(scope="module")
def page(server: ExplorerServer) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        page.problems = []  # type: ignore[attr-defined]
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        yield page
        browser.close()


def test_the_page_reacts_to_every_control_without_console_errors(page: Any, server: ExplorerServer) -> None:
    page.goto(server.url)
    page.wait_for_function(SETTLED, arg=0)
    seen = [page.evaluate(PIXELS, "gan")]

    slider = page.locator("#sliders input").first
    settle(page, lambda: slider.evaluate("s => { s.value = 2.5; s.dispatchEvent(new Event('input')); }"))
    seen.append(page.evaluate(PIXELS, "gan"))

    box = page.locator("#map").bounding_box()
    settle(page, lambda: page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.2))
    seen.append(page.evaluate(PIXELS, "gan"))
    assert page.locator("#status").inner_text().startswith("map point")

    picture = Image.new("RGB", (30, 20), "white")
    picture.paste((30, 160, 40), (4, 2, 20, 18))
    encoded = io.BytesIO()
    picture.save(encoded, format="PNG")
    settle(page, lambda: drop_file(page, "#drop", "mine.png", encoded.getvalue()))
    assert page.locator("#upload-input").is_visible()
    assert "mine.png" in page.locator("#status").inner_text()
    seen.append(page.evaluate(PIXELS, "gan"))

    # toggled while a decode is in flight: the answers of the old stages must not land in the new views
    settle(
        page,
        lambda: (
            slider.evaluate("s => { s.value = -1; s.dispatchEvent(new Event('input')); }"),
            page.click("#stages button[data-choice=both]"),
        ),
    )
    seen.append(page.evaluate(PIXELS, "gan"))
    pair = page.evaluate(PIXELS, "vae"), page.evaluate(PIXELS, "gan")
    assert pair[0] != pair[1]  # the VAE beside the GAN draws the same z its own way

    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), "a control did not change the picture"
    assert page.locator(".thumb figcaption").first.inner_text().endswith(".png")  # thumbnails carry names
    assert page.problems == []  # type: ignore[attr-defined]
    assert not page.locator("#error").is_visible()  # the page's own error toast stayed hidden too
