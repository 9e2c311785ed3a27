"""One self-contained HTML page about a run: config, metrics, curves and pictures, opened offline.

Every image is embedded as a base64 data URI, so the file can be mailed or archived alone. Works for a
pipeline run folder (vae/, gan/) and for a lone train-vae or train-gan run; a section whose data is
missing (no GAN stage, a dataset that moved) is replaced by a note saying why.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from vaegan import pictures
from vaegan.attributes import default_groups
from vaegan.config import to_dict
from vaegan.data import ImageDataset, load_splits
from vaegan.errors import VaeganError
from vaegan.runs import Run, open_run

log = logging.getLogger(__name__)

SMALL = 320  # pixels: narrower pictures are scaled up on the page

SECTIONS = (
    "Summary",
    "Config",
    "Metrics",
    "Loss curves",
    "VAE vs GAN (same z)",
    "Samples",
    "Reconstructions",
    "Training progress",
    "Interpolation",
    "Attribute sweep",
    "Latent map",
    "KL per dimension",
)
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
body { padding: 0 16px; } h1 { font-size: 22px; }
h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; display: block; }
.note { color: #777; font-style: italic; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; display: block; overflow-x: auto; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; } th { background: #f2f2f2; }
nav a { margin-right: 10px; }
"""


def data_uri(image: Image.Image | Path) -> str:
    """A PIL image (as PNG) or a PNG/GIF file as a data: URI."""
    if isinstance(image, Path):
        mime = "image/gif" if image.suffix.lower() == ".gif" else "image/png"
        payload = image.read_bytes()
    else:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        mime, payload = "image/png", buffer.getvalue()
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def img(image: Image.Image | Path, alt: str) -> str:
    """An <img> tag; small pictures (16-28 px grids) are shown scaled up by a whole factor, kept sharp."""
    if isinstance(image, Path):
        with Image.open(image) as opened:
            width = opened.width
    else:
        width = image.width
    factor = max(1, SMALL // width)
    style = f' style="width:{width * factor}px"' if factor > 1 else ""
    return f'<img src="{data_uri(image)}" alt="{html.escape(alt)}"{style}>'


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def latest(folder: Path, pattern: str) -> Path | None:
    found = sorted((folder / "grids").glob(pattern))
    return found[-1] if found else None


def metrics_table(records: list[dict]) -> str:
    if not records:
        return note("no epochs logged yet")
    keys = [k for k in dict.fromkeys(k for r in records for k in r) if k != "stage"]

    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value if value is not None else ""))

    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{cell(r.get(k))}</td>" for k in keys) + "</tr>" for r in records)
    return f"<table><tr>{head}</tr>{rows}</table>"


def attempt(body: Callable[[], str]) -> str:
    """A section's HTML, or a note with the reason when a user-fixable problem (VaeganError) stops it."""
    try:
        return body()
    except VaeganError as exc:
        return note(f"not available: {exc}")


def build_sections(path: Path) -> dict[str, str]:
    """Section title -> HTML body, in SECTIONS order."""
    run = open_run(path)
    models = {name: pictures.load_models(run, name) for name in run.stages}
    return {**file_sections(run, path), **latent_sections(models)}


def file_sections(run: Run, path: Path) -> dict[str, str]:
    """The sections drawn from what training wrote: summary, config, metrics, curves, grids and GIF."""
    dirs = {name: stage.folder for name, stage in run.stages.items()}
    sections: dict[str, str] = {}
    summary = path / "summary.txt"
    stages = ", ".join(f"{s} ({d})" for s, d in dirs.items())
    sections["Summary"] = (
        f"<pre>{html.escape(summary.read_text())}</pre>" if summary.is_file() else ""
    ) + f"<p>stages: {html.escape(stages)}</p>"
    sections["Config"] = "".join(
        f"<h3>{s}</h3><pre>{html.escape(json.dumps(to_dict(stage.checkpoint.config), indent=2))}</pre>"
        for s, stage in run.stages.items()
    )
    sections["Metrics"] = "".join(f"<h3>{s}</h3>{metrics_table(stage.metrics)}" for s, stage in run.stages.items())
    sections["Loss curves"] = attempt(lambda: img(pictures.curves_picture(run), "loss curves"))
    comparison = path / "vae_vs_gan.png"
    sections["VAE vs GAN (same z)"] = (
        img(comparison, "VAE vs GAN")
        if comparison.is_file()
        else note("no vae_vs_gan.png: this is not a pipeline run with both stages ('vaegan run' writes it)")
    )
    sections["Samples"] = "".join(
        f"<h3>{s} samples, {p.stem}</h3>{img(p, s)}" for s, d in dirs.items() if (p := latest(d, "samples_e*.png"))
    ) or note("no sample grids found")
    recon = latest(dirs["vae"], "recon_e*.png") if "vae" in dirs else None
    sections["Reconstructions"] = (
        (
            f"<p>odd rows: validation images; even rows: decodes of their means ({recon.stem})"
            f"</p>{img(recon, 'reconstructions')}"
        )
        if recon
        else note("no reconstruction grids")
    )
    gif = path / "progress.gif"
    sections["Training progress"] = (
        img(gif, "progress")
        if gif.is_file()
        else note("no progress.gif: the pipeline ('vaegan run') writes it from both stages' grids")
    )
    return sections


def latent_sections(models: dict[str, pictures.RunModels]) -> dict[str, str]:
    """The sections that run the models on the run's data: interpolation, attribute sweep, map, KL."""
    sections: dict[str, str] = {}
    try:
        splits = load_splits(next(iter(models.values())).cfg.data)
    except VaeganError as exc:
        for title in ("Interpolation", "Attribute sweep", "Latent map", "KL per dimension"):
            sections[title] = note(f"the run's dataset could not be loaded ({exc}), so this picture is left out")
        return sections
    train, data = splits.train, splits.val if len(splits.val) else splits.train

    ends = data.images[pictures.pick(2, len(data), 1)]
    sections["Interpolation"] = (
        "<p>between two validation images (posterior means); rows: lerp, slerp</p>"
        + "".join(f"<h3>{s}</h3>{img(interpolation(m, ends), 'interpolation')}" for s, m in models.items())
        if len(data) >= 2
        else note("fewer than two validation images")
    )
    sections["Attribute sweep"] = attempt(lambda: attribute_section(models, train))
    sections["Latent map"] = "".join(
        f"<h3>{s}</h3>{img(pictures.latent_map_picture(m, data, 2000, 10), 'latent map')}" for s, m in models.items()
    )
    first = next(iter(models.values()))
    chart, _ = pictures.kl_picture(first, data.images[pictures.pick(2000, len(data), 0)])
    sections["KL per dimension"] = img(chart, "KL per dimension") + (
        note("the autoencoder baseline has no posterior variance: its KL is zero by construction")
        if first.cfg.model.kind == "ae"
        else ""
    )
    return sections


def interpolation(models: pictures.RunModels, ends: torch.Tensor) -> Image.Image:
    """lerp and slerp rows between the posterior means of two images (uint8 (2, C, H, W))."""
    a, b = models.encode_images(ends)[0][:2]
    return pictures.interpolation_frames(models, a, b, 10)[0]


def attribute_section(models: dict[str, pictures.RunModels], train: ImageDataset) -> str:
    groups = default_groups(train)
    if groups is None:
        return note(
            "the dataset has neither labels nor attributes, so there is no direction to sweep; "
            "use 'vaegan attribute --folders WITH WITHOUT'"
        )
    targets = groups.images[groups.negative][pictures.pick(6, int(groups.negative.sum()), 0)]
    strengths = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
    parts = [
        f"<p>direction: {html.escape(groups.description)}, from the training images' posterior means; "
        "rows: images without the attribute, columns: multiples of the vector added to their latents</p>"
    ]
    parts += [
        f"<h3>{s}</h3>{img(pictures.attribute_picture(m, groups, targets, strengths), 'attribute sweep')}"
        for s, m in models.items()
    ]
    return "".join(parts)


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write RUN/report.html (or `out`) and return its path."""
    run = Path(run)
    if not run.is_dir():
        raise VaeganError(f"{run} is not a run folder; pass the folder written by 'vaegan run' or 'vaegan train-vae'")
    sections = build_sections(run)
    nav = "".join(f'<a href="#s{i}">{html.escape(t)}</a>' for i, t in enumerate(SECTIONS))
    body = "".join(f'<h2 id="s{i}">{html.escape(t)}</h2>{sections[t]}' for i, t in enumerate(SECTIONS))
    title = f"vaegan report: {run.resolve().name}"
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>{body}</body></html>\n"
    )
    path = Path(out) if out is not None else run / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    log.debug("wrote %s", path)
    return path
