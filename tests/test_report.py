"""The HTML report of a pipeline run and of a lone train-vae run: every section, embedded images decode."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_gan, tiny_splits
from vaegan.config import vae_run_config
from vaegan.pipeline import run_pipeline
from vaegan.report import SECTIONS, write_report
from vaegan.training.train_vae import train_vae

TRAIN = {"epochs": 2, "batch_size": 4, "grid_size": 8, "device": "cpu", "precision": "fp32", "quality_every": 0}


def config(root: Path, labelled: bool):  # noqa: ANN201 - a VAERunConfig on tiny_splits' squares as files
    """A folder of PNGs, in one subfolder per class when `labelled` (so the report can sweep a class)."""
    folder = root / "pictures"
    data = tiny_splits(n=20).train
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
    gan = tiny_gan()
    result = run_pipeline(config(tmp_path, labelled=True), gan, tmp_path / "run", progress=False)
    assert result.report == tmp_path / "run" / "report.html"
    assert f"report: {result.report}" in result.summary.read_text()
    page = result.report.read_text()
    found = sections(page)
    assert list(found) == list(SECTIONS)
    for title in SECTIONS[3:]:  # every picture section holds a picture, not a note
        assert "<img" in found[title], title
    assert 'class="note"' not in page
    images = embedded_images(page)
    assert len(images) == 13 and any(im.format == "GIF" for im in images)
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch: it opens offline


def test_lone_vae_report_omits_gan_sections_with_a_note(tmp_path: Path) -> None:
    train_vae(config(tmp_path, labelled=False), tmp_path / "vae")
    page = write_report(tmp_path / "vae").read_text()
    found = sections(page)
    assert list(found) == list(SECTIONS)
    assert "not a pipeline run" in found["VAE vs GAN (same z)"] and "<img" not in found["VAE vs GAN (same z)"]
    assert "no progress.gif" in found["Training progress"]
    assert "<img" in found["Latent map"] and "<img" in found["Attribute sweep"] or "note" in found["Attribute sweep"]
    embedded_images(page)


def test_report_of_a_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    from vaegan.errors import VaeganError

    with pytest.raises(VaeganError, match="not a run folder"):
        write_report(tmp_path / "nowhere")
