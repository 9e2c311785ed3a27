"""The HTML report of a pipeline run and of a lone train-vae run: every section, embedded images decode."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_gan, tiny_splits
from vaegan.config import vae_run_config
from vaegan.data import load_splits
from vaegan.pipeline import run_pipeline, same_sampler_fids
from vaegan.report import SECTIONS, metrics_table, write_report
from vaegan.runs import open_run
from vaegan.training.train_vae import train_vae

TRAIN = {"epochs": 2, "batch_size": 4, "grid_size": 8, "device": "cpu", "precision": "fp32", "quality_every": 0}
TRAIN["min_steps"] = 0  # exactly the epochs asked for


def config(root: Path, labelled: bool, n: int = 12):  # noqa: ANN201 - a VAERunConfig on tiny_splits' squares
    """A folder of n PNGs, in one subfolder per class when `labelled` (so the report can sweep a class)."""
    folder = root / "pictures"
    data = tiny_splits(n=n + 8).train
    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        where = folder / data.label_names[int(label)] if labelled else folder
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(where / f"{i}.png")
    return vae_run_config(
        data={"source": str(folder), "image_size": 16, "channels": 3, "val_fraction": 0.25},
        model={"latent_dim": 4, "base_channels": 4},
        train=TRAIN,
    )


def embedded_images(page: str) -> list[Image.Image]:
    uris = re.findall(r'src="data:image/(png|gif);base64,([^"]+)"', page)
    images = []
    for kind, payload in uris:
        im = Image.open(io.BytesIO(base64.b64decode(payload)))
        im.load()
        assert im.format.lower() == kind
        images.append(im)
    return images


def sections(page: str) -> dict[str, str]:
    parts = re.split(r'<h2 id="s\d+">', page)[1:]
    return {p.split("</h2>")[0]: p.split("</h2>", 1)[1] for p in parts}


def test_pipeline_report_has_every_section_with_decodable_images(tmp_path: Path) -> None:
    gan = tiny_gan(latents="fitted")
    result = run_pipeline(config(tmp_path, labelled=True), gan, tmp_path / "run", progress=False)
    assert result.report == tmp_path / "run" / "report.html"
    assert f"report: {result.report}" in result.summary.read_text()
    page = result.report.read_text()
    found = sections(page)
    assert list(found) == list(SECTIONS)
    for title in SECTIONS[1:10]:  # every picture section holds a picture, not a note
        assert "<img" in found[title], title
    assert found["Config"].count("<details>") == 2  # folded away, one per stage
    assert "<td>train/total</td>" in found["Metrics"] and "<th>epoch 2</th>" in found["Metrics"]
    assert 'class="note"' not in page
    # 2 epochs of 4-channel nets learn nothing: said first, as summary.txt says it (metrics.collapse)
    assert found["Summary"].startswith('<p class="warn">VAE: ')
    assert 'class="warn">GAN: collapsed' in found["Summary"]
    images = embedded_images(page)
    assert len(images) == 14 and any(im.format == "GIF" for im in images)
    text = re.sub(r"data:[\w/+.-]+;base64,[\w+/=]+", "", page).replace("http-equiv", "")  # base64 can spell "http"
    assert "http" not in text  # nothing to fetch: it opens offline
    # the trained end first, as a still; the animation (which opens on an untrained grid) behind a click
    still, gif = embedded_images(found["Training progress"])
    assert still.format == "PNG" and gif.format == "GIF"
    assert found["Training progress"].index("<details>") < found["Training progress"].index("image/gif")
    gif.seek(gif.n_frames - 1)
    assert still.convert("RGB").tobytes() == gif.convert("RGB").tobytes()


def test_lone_vae_report_leaves_out_the_gan_sections(tmp_path: Path) -> None:
    train_vae(config(tmp_path, labelled=False), tmp_path / "vae")
    page = write_report(tmp_path / "vae").read_text()
    found = sections(page)
    assert list(found) == [t for t in SECTIONS if t not in ("VAE vs GAN (same z)", "Training progress")]
    assert "<h3>gan" not in page
    assert "<img" in found["Latent map"] and "<img" in found["Attribute sweep"] or "note" in found["Attribute sweep"]
    embedded_images(page)


def test_report_of_a_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    from vaegan.errors import VaeganError

    with pytest.raises(VaeganError, match="not a run folder"):
        write_report(tmp_path / "nowhere")


def test_metrics_table_has_a_row_per_metric_and_at_most_eight_epochs() -> None:
    records = [{"stage": "vae", "epoch": e, "step": 10 * e, "train/total": 100.0 / e} for e in range(1, 31)]
    table = metrics_table(records)
    assert re.findall(r"<th>epoch (\d+)</th>", table)[0] == "1" and "<th>epoch 30</th>" in table
    assert table.count("<th>epoch") == 8 and "8 of 30 epochs shown" in table
    assert table.count("<tr>") == 3  # the header, step, train/total
    assert "<td>3.333</td>" in table or "<th>epoch 3</th>" not in table


def test_only_rank_0_writes_the_run_pictures_under_torchrun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # every rank reaches the end of the pipeline; two writing progress.gif while the other read it broke a run
    monkeypatch.setenv("RANK", "1")
    assert run_pipeline(config(tmp_path, labelled=False), tiny_gan(), tmp_path / "run", progress=False) is None
    assert (tmp_path / "run" / "gan" / "checkpoint.pt").is_file()
    assert not list((tmp_path / "run").glob("*.*"))  # no vae_vs_gan.png, progress.gif, summary or report


def test_the_samples_of_both_stages_decode_the_same_z(tmp_path: Path) -> None:
    """The report's Samples section puts the VAE beside the GAN on one sampler, the one it names."""
    import torch

    from vaegan.latent import decode_batched
    from vaegan.pictures import grid_image, load_models
    from vaegan.prior import sample_latents
    from vaegan.runs import open_run

    run_pipeline(config(tmp_path, labelled=False), tiny_gan(latents="fitted"), tmp_path / "run", progress=False)
    found = sections((tmp_path / "run" / "report.html").read_text())["Samples"]
    assert "each stage decodes the same 32 z, drawn from the flow fitted to the VAE's latents" in found
    run = open_run(tmp_path / "run")
    z = sample_latents(run, "gan", 32, torch.Generator().manual_seed(run.config.train.seed + 1))
    shown = embedded_images(found)
    assert len(shown) == 2
    for stage, image in zip(("vae", "gan"), shown, strict=True):
        models = load_models(run, stage)
        expected = grid_image(decode_batched(models.decode, z), models.cfg.model.value_range, 8)
        assert image.convert("RGB").tobytes() == expected.convert("RGB").tobytes(), stage


def shown(cell: str) -> tuple[float, float]:
    """A number as the page or summary.txt shows it, and half a unit of its last digit: what rounding hid."""
    digits = len(cell.split(".")[1]) if "." in cell else 0
    return float(cell), 0.5 * 10.0**-digits


def last_column(section: str, stage: str) -> dict[str, str]:
    """metric -> the last epoch's cell of `stage`'s metrics table, and "epoch" -> that epoch."""
    table = section.split(f"<h3>{stage}</h3>")[1].split("</table>")[0]
    epoch = re.findall(r"<th>epoch (\d+)</th>", table)[-1]
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table)
    return {"epoch": epoch} | {name: re.findall(r"<td>([^<]*)</td>", cells)[-1] for name, cells in rows}


def test_summary_and_report_agree_on_every_number_both_show(tmp_path: Path, quick_feature_net: None) -> None:
    """issue 68: make run's GAN FID was 17.39 in summary.txt and 12.87 in the report's table: the summary drew
    other z from the same prior. It now scores the z of the GAN's logged FID, and shows the logged number."""
    cfg = config(tmp_path, labelled=False, n=80)  # 20 held out: FID moves with the draw of z
    cfg = replace(cfg, train=replace(cfg.train, quality_every=2, quality_samples=20))
    # a G from scratch on N(0, I): a tiny VAE's 6 steps draw one picture for every z, which scores alike on any z
    gan = tiny_gan(epochs=2, quality_every=2, quality_samples=20, latents="normal", init="scratch")
    result = run_pipeline(cfg, gan, tmp_path / "run", progress=False)
    summary, found = result.summary.read_text(), sections(result.report.read_text())
    table = {stage: last_column(found["Metrics"], stage) for stage in ("vae", "gan")}
    floor = r"real training images \(the floor at this count\): ([\d.]+)"
    pairs = {  # summary.txt's pattern -> (stage, the report's metric)
        r"VAE: (\d+) epochs": ("vae", "epoch"),
        r"VAE: \d+ epochs \((\d+) optimiser steps\)": ("vae", "step"),
        r"validation -ELBO ([\d.]+) nats": ("vae", "val/neg_elbo"),
        r"\(reconstruction ([\d.]+),": ("vae", "val/reconstruction"),
        r", KL ([\d.]+)\)": ("vae", "val/kl"),
        r"GAN: (\d+) epochs": ("gan", "epoch"),
        r"GAN: \d+ epochs \((\d+) optimiser steps\)": ("gan", "step"),
        r"D\(x\) ([\d.]+),": ("gan", "d_real"),
        r"D\(G\(z\)\) ([\d.]+),": ("gan", "d_fake"),
        r"sample diversity ([\d.]+) of the real data's": ("gan", "diversity"),
        r"GAN, z from N\(0, I\): ([\d.]+)": ("gan", "quality/fid"),
        floor: ("gan", "quality/fid_reference"),
        r"draws z ~ N\(0, I\): FID ([\d.]+)": ("vae", "quality/fid"),
        r"draws z ~ N\(0, I\): FID [\d.]+ at epoch (\d+)": ("vae", "epoch"),
        r", real vs real ([\d.]+)\)": ("vae", "quality/fid_reference"),
    }
    for pattern, (stage, metric) in pairs.items():
        match = re.search(pattern, summary)
        assert match is not None, pattern
        (ours, ours_unit), (theirs, their_unit) = shown(match.group(1)), shown(table[stage][metric])
        assert abs(ours - theirs) <= ours_unit + their_unit, (metric, match.group(1), table[stage][metric])
    logged = [json.loads(line) for line in (tmp_path / "run" / "gan" / "metrics.jsonl").read_text().splitlines()]
    fids = same_sampler_fids(open_run(tmp_path / "run"), load_splits(cfg.data))
    assert fids is not None and fids.values["gan"] == logged[-1]["quality/fid"]  # to the last digit, not by luck
    counts = re.search(r"(\d+) generated vs (\d+) held-out images", summary)
    assert counts is not None
    assert f"{counts.group(1)} generated vs {counts.group(2)} held-out images" in found["Metrics"]
    assert "quality/ rows score samples with z from N(0, I)" in found["Metrics"].split("<h3>gan</h3>")[1]
