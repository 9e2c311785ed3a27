"""One self-contained HTML page about a run: pictures first, then curves, metrics and the config.

Every image is embedded as a base64 data URI, so the file can be mailed or archived alone. Works for a
pipeline run folder (vae/, gan/) and for a lone train-vae or train-gan run; a section whose pictures the
run cannot have (no GAN stage) is left out, and one whose data is missing (a dataset that moved) is
replaced by a note saying why.
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

from vaegan import latent, pictures
from vaegan.attributes import default_groups
from vaegan.config import to_dict
from vaegan.data import DataSplits, ImageDataset, load_splits
from vaegan.errors import VaeganError
from vaegan.pretrained import WEIGHTS_NAME
from vaegan.prior import logged_sampler, sample_latents, stage_latents
from vaegan.runs import Run, Stage, collapse_lines, open_run
from vaegan.viz import last_frame

log = logging.getLogger(__name__)

SMALL = 560  # pixels: narrower pictures are scaled up on the page by a whole factor, kept sharp
MAX_EPOCH_COLUMNS = 8  # a metrics table shows this many epochs at most, so it fits the page's column
FEW_IMAGES = 1000  # quality metrics measured on fewer held-out images than this are biased and noisy

SECTIONS = (
    "Summary",
    "VAE vs GAN (same z)",
    "Training progress",
    "Samples",
    "Reconstructions",
    "Interpolation",
    "Attribute sweep",
    "Latent map",
    "KL per dimension",
    "Curves",
    "Metrics",
    "Config",
)
LATENT = ("Interpolation", "Attribute sweep", "Latent map", "KL per dimension")  # need the run's data
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
body { padding: 0 16px; } h1 { font-size: 22px; }
h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; display: block; }
.note { color: #777; font-style: italic; }
.warn { color: #a40000; font-weight: 600; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 8px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; } th { background: #f2f2f2; }
td:first-child { text-align: left; font-family: ui-monospace, monospace; }
nav a { margin-right: 10px; } summary { cursor: pointer; }
"""


PROGRESS_CAPTION = (
    "<p>the last frame of progress.gif: held-out images encoded to their posterior means and decoded after the "
    "last epoch. The animation decodes those same images' means after every VAE epoch, then through every GAN "
    "epoch's generator, so it changes at the cut only where the GAN changed the decoder (samples: above)</p>"
)


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


def shown_epochs(records: list[dict], limit: int = MAX_EPOCH_COLUMNS) -> list[dict]:
    """At most `limit` records, evenly spread, always with the first and the last."""
    if len(records) <= limit:
        return records
    picks = {round(i * (len(records) - 1) / (limit - 1)) for i in range(limit)}
    return [r for i, r in enumerate(records) if i in picks]


def metrics_table(records: list[dict]) -> str:
    """One row per metric, one column per epoch: dozens of metrics stay readable in a narrow column."""
    records = [r for r in records if "epoch" in r]
    if not records:
        return note("no epochs logged yet")
    shown = shown_epochs(records)
    hidden = ("stage", "epoch", "data_images", "data_fingerprint", "device")  # data_*: what a resume compares
    keys = [k for k in dict.fromkeys(k for r in shown for k in r) if k not in hidden]

    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value if value is not None else ""))

    head = "<th>metric</th>" + "".join(f"<th>epoch {r['epoch']}</th>" for r in shown)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{cell(r.get(k))}</td>" for r in shown) + "</tr>" for k in keys
    )
    left_out = (
        note(f"{len(shown)} of {len(records)} epochs shown; metrics.jsonl holds every one")
        if len(shown) < len(records)
        else ""
    )
    return f"<table><tr>{head}</tr>{rows}</table>{left_out}"


def quality_note(run: Run, stage: Stage, splits: DataSplits | None) -> str:
    """What the stage's quality/ rows score (the sampler, the counts, the real-vs-real floor), and a warning
    when few held-out images made them biased and noisy."""
    records = [r for r in stage.metrics if "quality/fid" in r]
    if not records:
        return ""
    config = stage.checkpoint.config
    settings = config.train if stage.name == "vae" else config.gan  # type: ignore[union-attr]
    text = f"quality/ rows score samples with z from {logged_sampler(run, stage.name)} in vaegan's own features"
    n = None
    if splits is not None:
        n = min(settings.quality_samples, len(splits.val) if len(splits.val) else len(splits.train))
        text += f", {n} generated vs {n} held-out images"
    if any("quality/fid_reference" in r for r in records):
        text += (
            "; quality/fid_reference scores real training images the same way: an FID at or below it means "
            "the measure cannot tell the samples from real images"
        )
    if n is not None and n < FEW_IMAGES:
        text += (
            f". With fewer than {FEW_IMAGES:,} images FID reads high and noisy: compare it only with runs "
            "measured on as many images, never with other datasets"
        )
    return note(text)


def attempt(body: Callable[[], str]) -> str:
    """A section's HTML, or a note with the reason when a user-fixable problem (VaeganError) stops it."""
    try:
        return body()
    except VaeganError as exc:
        return note(f"not available: {exc}")


def build_sections(path: Path, splits: DataSplits | None = None) -> dict[str, str]:
    """Section title -> HTML body for the sections this run has, in SECTIONS order; `splits`: the run's data
    when the caller holds it already (else loaded here)."""
    run = open_run(path)
    models = {name: pictures.load_models(run, name) for name in run.stages}
    missing = ""
    try:
        splits = splits or load_splits(run.config.data, path)
    except VaeganError as exc:
        missing = f"the run's dataset could not be loaded ({exc}), so this picture is left out"
    found = {
        **picture_sections(run, path),
        "Samples": attempt(lambda: samples_section(run, models)),
        **(latent_sections(models, splits) if splits is not None else dict.fromkeys(LATENT, note(missing))),
        **record_sections(run, splits),
    }
    return {title: found[title] for title in SECTIONS if title in found}


def picture_sections(run: Run, path: Path) -> dict[str, str]:
    """The pictures training wrote: the summary, VAE vs GAN, progress GIF, last sample and recon grids."""
    dirs = {name: stage.folder for name, stage in run.stages.items()}
    sections: dict[str, str] = {}
    summary = path / "summary.txt"
    stages = ", ".join(f"{s} ({d})" for s, d in dirs.items())
    warnings = "".join(f'<p class="warn">{html.escape(line)}</p>' for line in collapse_lines(run).values())
    sections["Summary"] = (
        warnings + (f"<pre>{html.escape(summary.read_text())}</pre>" if summary.is_file() else "")
    ) + f"<p>stages: {html.escape(stages)}</p>"
    if (comparison := path / "vae_vs_gan.png").is_file():
        sections["VAE vs GAN (same z)"] = img(comparison, "VAE vs GAN")
    if (gif := path / "progress.gif").is_file():
        sections["Training progress"] = (
            PROGRESS_CAPTION
            + img(last_frame(gif), "the last frame of progress.gif")
            + f"<details><summary>play the animation (progress.gif)</summary>{img(gif, 'progress')}</details>"
        )
    if recon := latest(dirs["vae"], "recon_e*.png") if "vae" in dirs else None:
        sections["Reconstructions"] = (
            f"<p>odd rows: validation images; even rows: decodes of their means ({recon.stem})</p>"
            + img(recon, "reconstructions")
        )
    return sections


def samples_section(run: Run, models: dict[str, pictures.RunModels], n: int = 32) -> str:
    """Every stage's samples from the very same z, drawn as `vaegan sample` draws the last stage's."""
    z = sample_latents(run, run.last, n, torch.Generator().manual_seed(run.config.train.seed + 1))
    fitted = stage_latents(run, run.last) == "fitted"
    sampler = f"the {run.config.model.prior} fitted to the VAE's latents" if fitted else "N(0, I)"
    grids = [
        f"<h3>{s}</h3>" + img(pictures.grid_image(latent.decode_batched(m.decode, z), m.cfg.model.value_range, 8), s)
        for s, m in models.items()
    ]
    return f"<p>each stage decodes the same {n} z, drawn from {sampler}</p>" + "".join(grids)


def record_sections(run: Run, splits: DataSplits | None) -> dict[str, str]:
    """What the run logged: curves, the metrics tables and the config (folded away)."""
    metrics = "".join(
        f"<h3>{s}</h3>{quality_note(run, stage, splits)}{metrics_table(stage.metrics)}"
        for s, stage in run.stages.items()
    )
    config = "".join(
        f"<details><summary>{s} config.json</summary>{config_note(stage)}"
        f"<pre>{html.escape(json.dumps(to_dict(stage.checkpoint.config), indent=2))}</pre></details>"
        for s, stage in run.stages.items()
    )
    return {
        "Curves": attempt(lambda: img(pictures.curves_picture(run), "loss curves and FID over epochs")),
        "Metrics": metrics,
        "Config": config,
    }


def config_note(stage: Stage) -> str:
    """A note (and one warning) when the stage folder's config.json is no JSON object: the report shows the
    config its checkpoint embeds, which is what trained, and says the file beside it is damaged."""
    path = stage.folder / "config.json"
    if stage.checkpoint_path.name == WEIGHTS_NAME or not path.exists():
        return ""  # an export's config.json is read, and checked, as its weights are
    try:
        if isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
            return ""
        problem = "is no JSON object"
    except (OSError, ValueError, RecursionError) as exc:
        problem = f"cannot be read ({' '.join(str(exc).split())[:120]})"
    log.warning("%s %s; the report shows the config the checkpoint embeds", path, problem)
    return note(f"{path} {problem}: shown below is the config the checkpoint embeds, what trained")


def latent_sections(models: dict[str, pictures.RunModels], splits: DataSplits) -> dict[str, str]:
    """The sections that run the models on the run's data: interpolation, attribute sweep, map, KL."""
    sections: dict[str, str] = {}
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
    sections["KL per dimension"] = (
        "<p>the encoder is shared by both stages, so this is the VAE's</p>"
        + img(chart, "KL per dimension")
        + (
            note("the autoencoder baseline has no posterior variance: its KL is zero by construction")
            if first.cfg.model.kind == "ae"
            else ""
        )
    )
    return sections


def interpolation(models: pictures.RunModels, ends: torch.Tensor) -> Image.Image:
    """lerp and slerp rows between the posterior means of two images (uint8 (2, C, H, W))."""
    a, b = models.encode_images(ends[:2])[0]
    return pictures.interpolation_frames(models, a, b, 10, inputs=ends[:2])[0]


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


def write_report(run: str | Path, out: str | Path | None = None, splits: DataSplits | None = None) -> Path:
    """Write RUN/report.html (or `out`) and return its path; `splits`: the run's data, if already loaded."""
    run = Path(run)
    if not run.is_dir():
        raise VaeganError(f"{run} is not a run folder; pass the folder written by 'vaegan run' or 'vaegan train-vae'")
    sections = build_sections(run, splits)
    nav = "".join(f'<a href="#s{i}">{html.escape(t)}</a>' for i, t in enumerate(sections))
    body = "".join(f'<h2 id="s{i}">{html.escape(t)}</h2>{b}' for i, (t, b) in enumerate(sections.items()))
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
