"""The static site's files and size (`vaegan export --format web`); test_site_browser.py runs it in Chromium."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import torch

from vaegan.cli import main
from vaegan.config import ModelConfig
from vaegan.explorer.core import Explorer, one_latent
from vaegan.explorer.site import MAP_POINTS, Site, decoder_layers, size_bound
from vaegan.models.vae import Decoder

EMOJI_BUDGET = 15_000_000  # bytes: what the 64 px emoji run's site may take (issue 64)


def read_global(path: Path) -> dict:
    """The JSON a data/*.js file assigns to its global."""
    return json.loads(path.read_text().split(" = ", 1)[1].removesuffix(";\n"))


def test_the_site_holds_every_stage_and_what_the_page_needs(site: Site, explorer: Explorer) -> None:
    folder = site.index.parent
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == [
        "data/gan.js",
        "data/site.js",
        "data/vae.js",
        "index.html",
        *(f"static/{n}" for n in ("app.js", "decoder.js", "map.js", "offline.js", "sliders.js", "style.css")),
    ]
    page = site.index.read_text()
    order = [page.index(f'src="{s}"') for s in ("data/site.js", "data/gan.js", "static/offline.js", "static/app.js")]
    assert order == sorted(order)  # data before the scripts that read it
    data = read_global(folder / "data" / "site.js")
    n = len(explorer.map.points)  # under MAP_POINTS here: every mapped image
    assert len(data["map"]["points"]) == len(data["thumbnails"]) == n <= MAP_POINTS
    assert all(url.startswith("data:image/png;base64,") for url in data["thumbnails"])
    assert len(data["gallery"]) == len(data["means"]) == explorer.map.held_out
    assert torch.allclose(torch.tensor(data["means"]), explorer.map.means[: explorer.map.held_out], atol=1e-4)
    assert data["info"]["dataset"] == "images"  # the data folder's name, not its path on this machine
    # Random z as the server draws it at each exported temperature: seed 7 at T = 0.5 and 1.5
    fitted = explorer.samplers["vae"]
    draws = data["random"]["fitted"]
    for t in (0.5, 1.5):
        z = torch.tensor(draws["z"][draws["temperatures"].index(t)][7])
        assert torch.allclose(z, one_latent(fitted, explorer.latent_dim, 7, t), atol=2e-4)
    assert set(data["random"]) == {"fitted", "normal"}  # the GAN of the fixture draws from N(0, I)


@pytest.mark.parametrize(
    "model",
    [
        ModelConfig(image_size=16, latent_dim=4, base_channels=4),
        ModelConfig(image_size=28, channels=1, latent_dim=3, base_channels=4, upsample="transpose", decoder_convs=1),
        ModelConfig(image_size=16, latent_dim=4, base_channels=4, output="sigmoid", decoder_convs=3),
    ],
)
def test_the_decoder_goes_to_the_page_whole(model: ModelConfig) -> None:
    decoder = Decoder(model)
    layers, weights = decoder_layers(decoder)
    assert sum(len(w) for w in weights) == sum(p.numel() for p in decoder.parameters())  # 3x3 resize kernels
    ops = [layer["op"] for layer in layers]
    up = "resize" if model.upsample == "resize" else "transpose"
    assert ops[:3] == ["linear", "relu", up] and ops[-2:] == [up, model.output]
    assert ops.count("residual") == (model.decoder_convs - 1) * (ops.count(up) - 1)  # per level; to_image has none


def test_the_export_stays_within_its_size_bound_and_the_emoji_one_within_budget(site: Site, explorer: Explorer) -> None:
    model = explorer.models["vae"].cfg.model
    assert site.bytes <= size_bound(model, len(explorer.models), len(explorer.map.points))
    emoji = size_bound(ModelConfig(), stages=2)  # the emoji run's model is the defaults (presets.RGB_64)
    assert emoji <= EMOJI_BUDGET
    # the bound is tight where it is exact: the weights, base64 of float32, are three quarters of it
    params = sum(p.numel() for p in Decoder(ModelConfig()).parameters())
    assert 2 * 4 * params * 4 / 3 > 0.6 * emoji


def test_the_weights_are_the_decoders_own(site: Site, explorer: Explorer) -> None:
    gan = read_global(site.index.parent / "data" / "gan.js")
    floats = torch.frombuffer(bytearray(base64.b64decode(gan["weights"])), dtype=torch.float32)
    linear = gan["layers"][0]
    weight = floats[linear["weight"] : linear["weight"] + linear["in"] * linear["out"]].view(linear["in"], -1)
    assert torch.equal(weight, explorer.models["gan"].decode.project[0].weight.T)  # type: ignore[union-attr,index]


def test_the_cli_writes_a_site_and_refuses_a_stage(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(run), "--format", "web", "-o", str(tmp_path / "site")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{tmp_path / 'site' / 'index.html'} (10 files, ") and "MB" in printed
    assert main(["export", str(run), "--format", "web", "-o", str(tmp_path / "site")]) == 0  # over an earlier one
    capsys.readouterr()
    assert main(["export", str(run), "--format", "web", "--stage", "gan", "-o", str(tmp_path / "other")]) == 2
    assert "a web export holds every stage" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("my own page")
    assert main(["export", str(run), "--format", "web", "-o", str(tmp_path / "mine")]) == 2
    assert "holds other files" in capsys.readouterr().err
    assert (tmp_path / "mine" / "index.html").read_text() == "my own page"
