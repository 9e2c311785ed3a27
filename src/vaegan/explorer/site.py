"""The explorer as a static site (`vaegan export RUN --format web -o DIR`): open DIR/index.html from disk or
any static host and the latent explorer runs in the browser, with no server behind it.

What the live explorer computes once (core.py: the map, the directions, the held-out images' means, each
stage's Random z sampler) is written as data; each stage's decoder runs in the page (static/decoder.js,
which says why it is plain JS and not onnxruntime-web), and static/offline.js answers the page's API
requests from the two. A page opened from file:// may not fetch() its neighbours, so everything is a
<script> that sets a global, binary as base64:

    index.html        the explorer's own page, these scripts added before its own
    static/           its style and scripts, decoder.js and offline.js
    data/site.js      VAEGAN_SITE: info, the map, the held-out images' names and means, Random z, thumbnails
    data/<stage>.js   VAEGAN_DECODERS[stage]: the decoder's layers and float32 weights

Encoding your own image needs the encoder and stays with `vaegan explore`; the page hides it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from vaegan.config import ModelConfig
from vaegan.errors import VaeganError
from vaegan.explorer.core import Explorer, map_payload, one_latent, page_info
from vaegan.export import decoder_module
from vaegan.models.blocks import ResidualConv, ResizeConv, TransposeConv
from vaegan.models.vae import Decoder
from vaegan.paths import check_out_folder
from vaegan.viz import to_pil

MAP_POINTS = 1000  # of the explorer's map, held-out first: each carries a thumbnail, the bulk of the data
THUMBNAIL = 32  # px at most: the page shows thumbnails 56-64 px wide; a 64 px one would quadruple their bytes
RANDOM_SEEDS = 128  # Random z pre-drawn per sampler and temperature; the page's seeds wrap past them
TEMPERATURES = (0.0, 0.5, 1.0, 1.5, 2.0)  # the page's temperature slider runs from 0 to 2
POINT_TEXT = 160  # bytes for a point's coordinates, name (emoji's reach 76 characters) and colour values
DECIMALS = 4  # of exported latents: 1e-4 of a prior standard deviation changes no pixel
PAGE_SCRIPTS = ("decoder.js", "offline.js")  # the export's own, loaded after the data, before the explorer's
STATIC = ("style.css", "map.js", "sliders.js", "app.js", *PAGE_SCRIPTS)
ANCHOR = '  <script src="static/map.js"></script>\n'  # index.html's first script: the export's go before it


@dataclass(frozen=True)
class Site:
    index: Path  # DIR/index.html
    files: int
    bytes: int  # every file together


def export_site(run: str | Path, out: str | Path) -> Site:
    """Write `run`'s explorer as a static site into the folder `out`."""
    check_site_folder(Path(out))  # before the explorer is built: seconds and hundreds of MB
    return write_site(Explorer.from_run(run), Path(out))


def check_site_folder(out: Path) -> None:
    """`out` can take the site: a new or empty folder, or an earlier site; else one line naming it."""
    check_out_folder(out, "the site")
    if out.is_dir() and any(out.iterdir()) and not (out / "data" / "site.js").is_file():
        raise VaeganError(f"{out} holds other files; pass -o a new folder, or an earlier site to overwrite it")


def write_site(explorer: Explorer, out: Path) -> Site:
    """Write `explorer` (every stage, its map and directions) as a static site into the folder `out`."""
    check_site_folder(out)
    (out / "static").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(exist_ok=True)
    static = resources.files("vaegan.explorer").joinpath("static")
    for name in STATIC:
        (out / "static" / name).write_text(static.joinpath(name).read_text("utf-8"), "utf-8")
    write_global(out / "data" / "site.js", "VAEGAN_SITE", site_data(explorer))
    for stage, models in explorer.models.items():
        module = decoder_module(models)
        assert isinstance(module, Decoder), f"the {stage} stage decodes with {type(module).__name__}"
        write_global(out / "data" / f"{stage}.js", f"VAEGAN_DECODERS.{stage}", decoder_data(module))
    scripts = ["data/site.js"] + [f"data/{s}.js" for s in explorer.models] + [f"static/{n}" for n in PAGE_SCRIPTS]
    page = static.joinpath("index.html").read_text("utf-8")
    assert page.count(ANCHOR) == 1, "index.html's scripts moved; update site.ANCHOR"
    tags = "".join(f'  <script src="{s}"></script>\n' for s in scripts)
    page = page.replace(ANCHOR, "  <script>window.VAEGAN_DECODERS = {};</script>\n" + tags + ANCHOR)
    title = f"<title>{html.escape(explorer.name)} · vaegan explorer"
    (out / "index.html").write_text(page.replace("<title>vaegan explorer", title), "utf-8")
    files = [p for p in out.rglob("*") if p.is_file()]
    return Site(out / "index.html", len(files), sum(p.stat().st_size for p in files))


def write_global(path: Path, name: str, value: dict[str, Any]) -> None:
    path.write_text(f"window.{name} = {json.dumps(value, separators=(',', ':'))};\n", "utf-8")


def rounded(z: torch.Tensor) -> list[list[float]]:
    """(N, D) latents as lists, rounded as doubles: a rounded float32 prints with 17 digits."""
    return [[round(v, DECIMALS) for v in row] for row in z.tolist()]


def site_data(explorer: Explorer) -> dict[str, Any]:
    """What the page asks the server for (core.page_info, core.map_payload), cut to the map's first
    MAP_POINTS images; the held-out ones among them, whose means the gallery sets z to; and Random z."""
    n = min(MAP_POINTS, len(explorer.map.points))
    held_out = min(explorer.map.held_out, n)
    info = page_info(explorer)
    # the data folder's name, not where it lay on the machine that trained the run
    info |= {"dataset_size": held_out, "dataset": Path(info["dataset"]).name}
    payload = map_payload(explorer)
    payload["points"], payload["names"] = payload["points"][:n], payload["names"][:n]
    for colouring in payload["colourings"]:
        colouring["values"] = colouring["values"][:n]
    return {
        "info": info,
        "map": payload,
        "value_range": explorer.value_range,
        "gallery": payload["names"][:held_out],
        "means": rounded(explorer.map.means[:held_out]),
        "random": random_draws(explorer),
        "thumbnails": [thumbnail_url(image) for image in explorer.map.data.images[:n]],
    }


def random_draws(explorer: Explorer) -> dict[str, dict[str, Any]]:
    """Per sampler, each seed's z at every temperature of TEMPERATURES, drawn as the server draws them; the page
    interpolates between the two nearest. Exact at those temperatures, and at every temperature for N(0, I) and
    the mixture (a mean plus T times seeded noise); the flow's z bends between them (T scales its start)."""
    draws = {}
    for prior in explorer.samplers.values():
        kind = "normal" if prior is None else "fitted"
        if kind not in draws:
            d = explorer.latent_dim
            at = [torch.stack([one_latent(prior, d, s, t) for s in range(RANDOM_SEEDS)]) for t in TEMPERATURES]
            draws[kind] = {"temperatures": list(TEMPERATURES), "z": [rounded(z) for z in at]}
    return draws


def thumbnail_url(image: torch.Tensor) -> str:
    """uint8 (C, H, W) -> a PNG data URL at most THUMBNAIL px wide."""
    picture = to_pil(image)
    if picture.width > THUMBNAIL:
        picture = picture.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decoder_layers(decoder: Decoder) -> tuple[list[dict[str, Any]], list[torch.Tensor]]:
    """The decoder as decoder.js runs it: its layers (op, sizes, offsets into the weights) and the weights,
    each laid out as the JS reads it (a linear layer's as (in, out), a conv's as (c_in, kh, kw, c_out))."""
    layers: list[dict[str, Any]] = []
    weights: list[torch.Tensor] = []

    def offset(t: torch.Tensor) -> int:
        start = sum(len(w) for w in weights)
        weights.append(t.detach().float().contiguous().flatten())
        return start

    def add(op: str, weight: torch.Tensor, bias: torch.Tensor | None, **sizes: Any) -> None:
        assert bias is not None, f"every {op} layer of a Decoder has a bias"
        layers.append({"op": op, **sizes, "weight": offset(weight), "bias": offset(bias)})

    def add_module(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            sizes = {"in": module.in_features, "out": module.out_features, "shape": list(decoder.start)}
            add("linear", module.weight.T, module.bias, **sizes)
        elif isinstance(module, ResizeConv):  # (c_out, c_in, 3, 3)
            c_out, c_in = module.weight.shape[:2]
            add("resize", module.weight.permute(1, 2, 3, 0), module.bias, cin=c_in, cout=c_out)
        elif isinstance(module, TransposeConv):  # (c_in, c_out, 4, 4)
            c_in, c_out = module.weight.shape[:2]
            add("transpose", module.weight.permute(0, 2, 3, 1), module.bias, cin=c_in, cout=c_out)
        elif isinstance(module, ResidualConv):  # (c_out, c_in, 3, 3)
            add("residual", module.conv.weight.permute(1, 2, 3, 0), module.conv.bias)
        elif isinstance(module, nn.ReLU | nn.Tanh | nn.Sigmoid):
            layers.append({"op": type(module).__name__.lower()})
        elif isinstance(module, nn.Sequential):
            for child in module:
                add_module(child)
        elif not isinstance(module, nn.Unflatten):  # the linear layer's shape carries the reshape
            raise NotImplementedError(f"decoder.js has no {type(module).__name__} layer; add it there and here")

    for part in (decoder.project, decoder.upsample, decoder.to_image, decoder.activation):
        add_module(part)
    return layers, weights


def decoder_data(decoder: Decoder) -> dict[str, Any]:
    """decoder.js's input: the layers and every weight as little-endian float32, base64."""
    layers, weights = decoder_layers(decoder)
    floats = torch.cat(weights).numpy().astype("<f4")
    return {"layers": layers, "weights": base64.b64encode(floats.tobytes()).decode("ascii")}


def size_bound(model: ModelConfig, stages: int, points: int = MAP_POINTS) -> int:
    """Bytes a site of a run with this model may take, for `points` mapped images (held-out or not).

    Exact for the code and the weights (base64 of float32: 4 * 4/3 bytes a parameter); PNG thumbnails
    at their worst, stored uncompressed; and an allowance per point for its coordinates, name and colour
    values (names past POINT_TEXT characters would exceed it) and, for a held-out image, its mean.
    """
    static = resources.files("vaegan.explorer").joinpath("static")
    code = sum(len(static.joinpath(n).read_bytes()) for n in (*STATIC, "index.html")) + 1000
    params = sum(p.numel() for p in Decoder(model).parameters())
    weights = stages * (b64(4 * params) + 4000)  # and the layer list
    side = min(model.image_size, THUMBNAIL)
    png = 8 + 25 + 12 + 12 + 6 + side * (1 + side * model.channels) + 5 * math.ceil(side * side * 3 / 16384)
    latent_text = model.latent_dim * (DECIMALS + 6)  # "-12.3456," per value
    per_point = b64(png) + 30 + POINT_TEXT + latent_text
    random = 2 * len(TEMPERATURES) * RANDOM_SEEDS * latent_text  # two samplers at most, a draw a temperature
    return code + weights + points * per_point + random


def b64(n: int) -> int:
    return 4 * math.ceil(n / 3)
