"""Screenshots of `vaegan explore` for docs/explorer/, taken in headless Chromium through Playwright.

    python scripts/explorer_screenshots.py runs/emoji --out docs/explorer

Serves RUN on a free port of 127.0.0.1, then: the page as it opens, on the first held-out image's
posterior mean (opening.png); the pointer over the latent map and the nearest image's card beside it
(map.png); VAE and GAN side by side
after moving the first principal direction and a named one (side_by_side.png); a picture of the user's
own dropped on the page and marked on the map (own_image.png: a held-out image pasted off-centre on a
wide canvas, so the crop shows); the page scrolled to the gallery with the image panel still in view
(scrolled.png).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch
from PIL import Image
from playwright.sync_api import sync_playwright

from vaegan.explorer.browser import SETTLED, drop_file, launch, settle
from vaegan.explorer.core import Explorer
from vaegan.explorer.server import make_server
from vaegan.viz import to_pil


def own_picture(explorer: Explorer, index: int) -> bytes:
    """A held-out image, enlarged and pasted left of centre on a wide grey canvas: a stand-in 'photo'."""
    image = to_pil(explorer.gallery.images[index]).convert("RGB").resize((180, 180), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (320, 200), (230, 230, 230))
    canvas.paste(image, (60, 10))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with both stages")
    parser.add_argument("--out", type=Path, default=Path("docs/explorer"))
    parser.add_argument("--image", type=int, default=3, help="held-out image used as 'your own' picture")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    explorer = Explorer.from_run(args.run)
    server = make_server(explorer, "127.0.0.1", 0).start()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 960})
            page.goto(server.url)
            page.wait_for_function(SETTLED, arg=0)
            page.screenshot(path=str(args.out / "opening.png"))
            box = page.locator("#map").bounding_box()
            assert box is not None
            settle(page, lambda: page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.35))
            page.screenshot(path=str(args.out / "map.png"))
            settle(page, lambda: page.mouse.move(0, 0))
            settle(page, lambda: page.click("#stages button[data-choice=both]"))
            for slider, value in (("#principal input", 2.0), ("#directions input", 1.0)):
                move = f"s => {{ s.value = {value}; s.dispatchEvent(new Event('input')); }}"
                if page.locator(slider).count():
                    settle(page, lambda slider=slider, move=move: page.locator(slider).first.evaluate(move))
            page.screenshot(path=str(args.out / "side_by_side.png"))
            settle(page, lambda: drop_file(page, "#drop", "my_picture.png", own_picture(explorer, args.image)))
            page.screenshot(path=str(args.out / "own_image.png"))
            page.locator("#gallery").scroll_into_view_if_needed()
            page.screenshot(path=str(args.out / "scrolled.png"))
            browser.close()
    finally:
        server.stop()
    print(f"wrote {', '.join(sorted(p.name for p in args.out.glob('*.png')))} to {args.out}")


if __name__ == "__main__":
    main()
