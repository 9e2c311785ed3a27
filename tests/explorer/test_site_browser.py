"""The static site (`vaegan export --format web`) in a real browser, opened from file:// with no server: the map,
a slider, side by side, Random z and interpolation work, decodes match PyTorch's within 2 of 255 levels, the
emoji-sized decoder runs within the explorer's 100 ms, and the page asks for nothing outside its folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from vaegan.config import ModelConfig
from vaegan.data import to_uint8
from vaegan.explorer.browser import SETTLED, chromium_path, launch, settle
from vaegan.explorer.core import Explorer
from vaegan.explorer.site import Site, decoder_data, write_global
from vaegan.models.blocks import ResidualConv
from vaegan.models.vae import Decoder

playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the dev extra)")
pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium: scripts/setup.sh installs it as root")

LEVELS = 2  # of 255: what float32 summed in another order may change after rounding
BUDGET_MS = 100  # a decode under the cursor
SET = "(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }"
# uint8 RGBA pixels of images the page decodes: a blob from its own /api/decode, or decoder.js run directly
BLOB_PIXELS = """async ([zs, stage]) => {
  const out = [];
  for (const z of zs) {
    const bitmap = await createImageBitmap(await offline.request("/api/decode", { z, stage }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height), ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    out.push(Array.from(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data));
  }
  return out;
}"""
SHOWN_PIXELS = """async (stage) => {
  const img = document.querySelector(`#view-${stage} img`);
  await img.decode();
  const canvas = new OffscreenCanvas(img.naturalWidth, img.naturalHeight), ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, img.naturalWidth, img.naturalHeight).data);
}"""


def rgb(flat: list[int], side: int) -> np.ndarray:
    """RGBA bytes as the (3, H, W) layout torch decodes to."""
    return np.array(flat, dtype=np.int64).reshape(side, side, 4)[..., :3].transpose(2, 0, 1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def open_page(browser: Any, url: str) -> Any:
    """A new page at `url` that records every request and every console error."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.requests, page.problems = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(browser: Any, site: Site) -> Iterator[Any]:
    page = open_page(browser, site.index.as_uri())
    page.wait_for_function(SETTLED, arg=0)
    yield page
    page.close()


def test_the_page_runs_from_disk_and_asks_for_nothing_outside_its_folder(
    page: Any, site: Site, explorer: Explorer
) -> None:
    shown = [page.evaluate(SHOWN_PIXELS, "gan")]
    box = page.locator("#map").bounding_box()
    settle(page, lambda: page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7))
    assert page.locator("#status").inner_text().startswith("map point")
    assert page.locator("#hover-card img").get_attribute("src").startswith("data:image/png")  # the nearest image
    shown.append(page.evaluate(SHOWN_PIXELS, "gan"))
    # what the page shows under the cursor is what PyTorch draws for that point of the map
    z = torch.tensor([page.evaluate("state.preview")])
    expected = explorer.decode(z, "gan")[0].numpy().astype(np.int64)
    assert np.abs(rgb(shown[-1], explorer.models["gan"].cfg.model.image_size) - expected).max() <= LEVELS
    settle(page, lambda: page.mouse.move(0, 0))

    settle(page, lambda: page.locator("#principal input").first.evaluate(SET, 2.5))
    shown.append(page.evaluate(SHOWN_PIXELS, "gan"))
    settle(page, lambda: page.click("#stages button[data-choice=both]"))
    assert page.evaluate(SHOWN_PIXELS, "vae") != page.evaluate(SHOWN_PIXELS, "gan")
    settle(page, lambda: page.click("#random"))
    shown.append(page.evaluate(SHOWN_PIXELS, "gan"))
    assert all(a != b for a, b in zip(shown, shown[1:], strict=False)), "a control did not change the picture"
    assert page.locator("#status").inner_text().startswith("seed 0 · N(0, I)")  # the GAN's sampler

    page.click("#set-a")
    settle(page, lambda: page.click("#random"))
    page.click("#set-b")
    page.fill("#steps", "6")
    page.click("#interpolate")
    page.wait_for_function("() => document.querySelectorAll('#strip img').length === 6")
    page.locator(".thumb").nth(1).click()  # a held-out image: its posterior mean
    page.wait_for_function("() => document.getElementById('status').textContent.includes('posterior mean')")
    assert not page.locator("#drop").is_visible()  # encoding your own image needs the server

    folder = site.index.parent.as_uri() + "/"
    # blob: URLs are the page's own decodes, made in memory; anything else must be a file of the export
    outside = [u for u in page.requests if not u.startswith((folder, "blob:null/", "data:"))]
    assert outside == [] and page.requests[0] == site.index.as_uri()
    assert page.problems == []
    assert not page.locator("#error").is_visible()


def test_ten_fixed_z_decode_in_the_page_as_in_pytorch(page: Any, explorer: Explorer) -> None:
    z = 1.5 * torch.randn(10, explorer.latent_dim, generator=torch.Generator().manual_seed(0))
    side = explorer.models["vae"].cfg.model.image_size
    for stage in ("vae", "gan"):
        got = np.stack([rgb(p, side) for p in page.evaluate(BLOB_PIXELS, [z.tolist(), stage])])
        expected = explorer.decode(z, stage).numpy().astype(np.int64)
        assert np.abs(got - expected).max() <= LEVELS, stage
        assert np.abs(got - expected).mean() < 0.1  # nearly every pixel exact
    assert page.problems == []


# Decoders of every op decoder.js runs: the emoji run's (the defaults: resize, two convs a level, tanh, 64 px,
# timed), a transposed-conv grey one and a sigmoid one with three convs a level.
MODELS = {
    "emoji": ModelConfig(),
    "grey": ModelConfig(
        image_size=28, channels=1, latent_dim=8, base_channels=8, upsample="transpose", decoder_convs=1
    ),
    "sigmoid": ModelConfig(image_size=32, latent_dim=8, base_channels=8, output="sigmoid", decoder_convs=3),
}
RUN = """async ([name, zs, valueRange]) => {
  const spec = VAEGAN_DECODERS[name], decoder = WebDecoder.fromBase64(spec.layers, spec.weights);
  const images = zs.map((z) => Array.from(toRGBA(decoder.run(z), valueRange)));
  const times = [];
  for (let k = 0; k < 15; k++) {
    const t0 = performance.now();
    decoder.run(zs[k % zs.length]);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { images, median: times[7] };
}"""


def test_every_decoder_kind_decodes_as_in_pytorch_and_the_emoji_one_within_100_ms(browser: Any, tmp_path: Path) -> None:
    static = resources.files("vaegan.explorer").joinpath("static")
    shutil.copy(str(static.joinpath("decoder.js")), tmp_path / "decoder.js")
    decoders = {}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for name, model in MODELS.items():
            decoders[name] = decoder = Decoder(model).eval()
            for layer in decoder.modules():  # trained ones are not the identity they start as
                if isinstance(layer, ResidualConv):
                    nn.init.normal_(layer.conv.weight, std=0.02)
            write_global(tmp_path / f"{name}.js", f"VAEGAN_DECODERS.{name}", decoder_data(decoder))
    scripts = "".join(f'<script src="{name}.js"></script>' for name in MODELS)
    (tmp_path / "index.html").write_text(
        f'<!doctype html><script>window.VAEGAN_DECODERS = {{}};</script>{scripts}<script src="decoder.js"></script>'
    )
    page = open_page(browser, (tmp_path / "index.html").as_uri())
    for name, model in MODELS.items():
        z = torch.randn(3, model.latent_dim, generator=torch.Generator().manual_seed(1))
        result = page.evaluate(RUN, [name, z.tolist(), list(model.value_range)])
        with torch.no_grad():
            expected = to_uint8(decoders[name](z), model.value_range).numpy().astype(np.int64)
        got = np.stack([rgb(image, model.image_size) for image in result["images"]])
        assert np.abs(got[:, : model.channels] - expected).max() <= LEVELS, name
        if name == "emoji":
            print(f"emoji-sized decoder in the page: {result['median']:.1f} ms a decode (median of 15)")
            assert result["median"] <= BUDGET_MS
    assert page.problems == []
    page.close()
