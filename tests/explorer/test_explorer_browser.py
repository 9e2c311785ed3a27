"""The page in a real browser (Debian's Chromium through Playwright): slider, map hover, a dropped image,
side by side. Each step must change the decoded picture, and the console must stay free of errors. The
page opens on a real image, its principal directions visibly move the picture, and the map shows the
nearest image by the cursor and marks the current and the uploaded z."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from explorer_http import send
from PIL import Image

from vaegan.explorer.browser import SETTLED, chromium_path, drop_file, launch, settle
from vaegan.explorer.core import Explorer
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


CLEAR_CHANGE = 8.0  # mean |difference| in 0-255 levels: a change anyone sees, not a flicker of a few pixels
SET = "(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }"


def pixels(page: Any, stage: str) -> np.ndarray:
    """The decoded picture the page shows for `stage`, (H, W, 3) as floats."""
    flat = np.array([int(v) for v in page.evaluate(PIXELS, stage).split(",")], dtype=np.float64)
    side = int(np.sqrt(len(flat) // 4))
    return flat.reshape(side, side, 4)[..., :3]


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


def test_the_page_opens_on_a_real_image_and_its_principal_directions_move_it(
    page: Any, server: ExplorerServer, explorer: Explorer
) -> None:
    page.goto(server.url)
    page.wait_for_function(SETTLED, arg=0)
    first = pixels(page, "gan")
    mean = send(server.url, "/api/encode", {"index": 0}).json()["z"]
    expected = send(server.url, "/api/decode", {"z": mean, "stage": "gan"}).png().permute(1, 2, 0).numpy()
    assert np.array_equal(first, expected)  # the first held-out image's posterior mean, not z = 0
    assert first.std() > 2 * CLEAR_CHANGE  # a picture, not a flat square
    assert explorer.gallery.names[0] in page.locator("#status").inner_text()

    pc1, pc2 = page.locator("#principal input").first, page.locator("#principal input").nth(1)
    start, marker, other = float(pc1.input_value()), page.evaluate("scatter.markers.current"), pc2.input_value()
    settle(page, lambda: pc1.evaluate(SET, -2.5 if start > 0 else 2.5))
    moved = pixels(page, "gan")
    assert np.abs(moved - first).mean() > CLEAR_CHANGE
    # PC1 is the map's x axis: the marker of the current z moves along x alone, and PC2 stays where it was
    after = page.evaluate("scatter.markers.current")
    # y comes from float32 z through the page's JS and torch: equal to float32's ~1e-6 relative, a few ulps more
    assert abs(after[0] - marker[0]) > 1 and after[1] == pytest.approx(marker[1], rel=1e-5, abs=1e-5)
    assert pc2.input_value() == other


def test_the_map_shows_the_nearest_image_and_marks_the_current_and_uploaded_z(
    page: Any, server: ExplorerServer, explorer: Explorer
) -> None:
    page.goto(server.url)
    page.wait_for_function(SETTLED, arg=0)
    assert page.locator("#map").get_attribute("data-markers") == "current"
    box = page.locator("#map").bounding_box()
    settle(page, lambda: page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6))
    card = page.locator("#hover-card")
    assert card.is_visible()
    thumbnail = card.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    index = int(thumbnail.get_attribute("src").removeprefix("/api/map/").removesuffix(".png"))
    names = send(server.url, "/api/map").json()["names"]
    assert card.locator("b").inner_text() == names[index]  # the thumbnail and the name are of one image
    nearest = page.evaluate(
        "([x, y]) => scatter.nearest(scatter.toMap({ clientX: x, clientY: y }))[0]",
        [box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6],
    )
    assert index == nearest  # and of the point nearest the cursor
    settle(page, lambda: page.mouse.move(0, 0))  # leaving the map decodes the current z again
    assert not card.is_visible()

    settle(page, lambda: drop_file(page, "#drop", "mine.png", explorer_png(explorer, 2)))
    assert page.locator("#map").get_attribute("data-markers") == "current upload"
    assert page.problems == []  # type: ignore[attr-defined]


def explorer_png(explorer: Explorer, index: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(explorer.gallery.images[index].permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_seed_box_shows_the_seed_its_captions_name(page: Any, server: ExplorerServer) -> None:
    """The caption said "seed 1" while the box already showed 2, the next click's seed."""
    page.goto(server.url)
    page.wait_for_function(SETTLED, arg=0)
    page.fill("#seed", "1")
    for expected in ("1", "2"):  # the typed seed first, then the next one
        settle(page, lambda: page.click("#random"))
        page.click("#set-a")  # the interpolation's end A, captioned with the z's label
        page.wait_for_function(
            "s => document.getElementById('cap-a').textContent.startsWith(s)", arg=f"A: seed {expected}"
        )
        assert page.locator("#seed").input_value() == expected
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_marker_far_off_the_map_is_drawn_whole_at_its_edge(page: Any, server: ExplorerServer) -> None:
    """An uploaded image encoded far from the mapped ones showed as a 1-px tick at the border, or not at all."""
    page.goto(server.url)
    page.wait_for_function(SETTLED, arg=0)
    accent = page.evaluate(
        """() => {
          scatter.markers = { current: null, upload: [1e6, -1e6] };
          scatter.draw();
          const { width, height } = scatter.canvas;
          const data = scatter.canvas.getContext("2d").getImageData(0, 0, width, height).data;
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (Math.abs(data[i] - 0x4a) + Math.abs(data[i + 1] - 0x5c) + Math.abs(data[i + 2] - 0xf0) < 60) n += 1;
          }
          return n;
        }"""
    )
    assert accent > 40  # the whole diamond's outline, not a tick
