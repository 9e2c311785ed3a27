"""summary.txt: both stages' FID, training time, and only the set-up steps that took a while; the GIF's frames."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from vaegan.config import GANConfig
from vaegan.pipeline import SummaryFids, evenly_spaced, write_summary


def epoch(n: int, seconds: float, fid: float | None = None, **extra: float) -> dict:
    record = {"epoch": n, "step": 10 * n, "seconds": seconds, "train_seconds": seconds - 1, **extra}
    return record if fid is None else {**record, "quality/fid": fid}


VAE_END = {"val/neg_elbo": 250.0, "val/reconstruction": 230.0, "val/kl": 20.0}
GAN_END = {"d_real": 0.6, "d_fake": 0.4, "diversity": 0.9}
GAN = GANConfig(d_warmup_steps=5, d_steps=4)  # G moves on steps 8, 12 and 16 of 20


def fake_run(tmp_path: Path, vae: list[dict], gan: list[dict]) -> SimpleNamespace:
    """What write_summary reads of a Run: the stages' metrics, the data and quality settings, the folder."""
    return SimpleNamespace(
        path=tmp_path,
        stages={
            "vae": SimpleNamespace(metrics=vae),
            "gan": SimpleNamespace(metrics=gan, checkpoint=SimpleNamespace(config=SimpleNamespace(gan=GAN))),
        },
        config=SimpleNamespace(
            data=SimpleNamespace(source="fashion-mnist", image_size=28, channels=1),
            model=SimpleNamespace(latent_dim=16),
            train=SimpleNamespace(quality_samples=1000),
        ),
    )


def test_summary_gives_both_fids_on_one_sampler_and_training_time_apart_from_slow_set_up(tmp_path: Path) -> None:
    vae = [epoch(1, 20.0, 180.0, **VAE_END), epoch(2, 20.0, 160.04, **VAE_END)]
    gan = [epoch(1, 17.0, **GAN_END), epoch(2, 17.0, 59.3, **GAN_END)]
    setup = {"loading the data": 0.4, "training the fashion-mnist feature network (once per dataset)": 134.2}
    fids = SummaryFids({"vae": 101.04, "gan": 59.3}, "the fitted prior", 1000, 1.65, {"vae": 0.41, "gan": 0.47}, 0.5)
    text = write_summary(fake_run(tmp_path, vae, gan), setup, 54000, 6000, fids).read_text()
    assert "copy rate (samples nearer a training image than half the held-out images are): VAE 0.41, GAN 0.47; " in text
    assert "held-out images 0.50" in text
    assert "FID in vaegan's own features, 1000 generated vs 1000 held-out images" in text
    assert "  real training images (the floor at this count): 1.65\n" in text
    assert "  VAE, z from the fitted prior: 101.04\n  GAN, z from the fitted prior: 59.30\n" in text
    assert "(the VAE's training log draws z ~ N(0, I): FID 160.04 at epoch 2)" in text  # labelled, not compared
    assert "training time: 74s (VAE 40s, GAN 34s)" in text
    assert "GAN: 2 epochs (20 optimiser steps)" in text and "  G moved on 3 of them (D alone" in text
    assert "one-time set-up, not training: training the fashion-mnist feature network (once per dataset) 134s" in text
    assert "loading the data" not in text  # 0.4 s is noise, not set-up worth a line
    assert "biased upwards" not in text  # 1,000 held-out images: no small-sample warning
    assert "cannot tell" not in text  # both above the floor


def test_quick_set_up_and_unmeasured_fid_say_so(tmp_path: Path) -> None:
    vae = [epoch(1, 2.0, 300.0, **VAE_END)]
    gan = [epoch(1, 1.0, **GAN_END)]
    fids = SummaryFids({"vae": 300.0, "gan": 250.0}, "N(0, I)", 8, None)
    text = write_summary(fake_run(tmp_path, vae, gan), {"loading the data": 0.2}, 16, 8, fids).read_text()
    assert "  VAE, z from N(0, I): 300.00\n  GAN, z from N(0, I): 250.00\n" in text
    assert "real training images" not in text  # no reference measured: none shown
    assert "set-up" not in text
    assert "measured on 8 held-out images only: with fewer than 1,000 images FID is biased upwards and noisy" in text
    no_fid = write_summary(fake_run(tmp_path, [epoch(1, 2.0, **VAE_END)], gan), {}, 16, 8).read_text()
    assert "FID not measured (--quality-every 0)" in no_fid
    one = write_summary(fake_run(tmp_path, [epoch(1, 2.0, **VAE_END)], gan), {}, 1, 1).read_text()
    assert "FID not measured: 1 held-out image(s), and FID needs at least 2" in one


def test_a_run_that_learnt_nothing_says_so_and_shows_no_fid_from_a_net_at_chance(tmp_path: Path) -> None:
    """issue 68's 40-image folder: KL 0.01, white GAN samples, a feature classifier at 0.500, and a summary that
    printed FIDs and a copy rate all the same."""
    vae = [epoch(55, 1.0, **{**VAE_END, "val/kl": 0.01, "epochs_asked": 300})]
    gan = [epoch(30, 1.0, **{**GAN_END, "diversity": 0.01})]
    withheld = "FID withheld: the feature classifier it is measured in scores 0.500 on 4 held-out images, ..."
    fids = SummaryFids({}, "", 4, None, withheld=withheld)
    text = write_summary(fake_run(tmp_path, vae, gan), {}, 36, 4, fids).read_text()
    lines = text.splitlines()
    assert lines[1].startswith("VAE: posterior collapse, KL 0.0006 nats per latent dimension")
    assert lines[1].endswith(
        "stopped it after 550 steps, in epoch 55 of the 300 asked; likely fix: raise --max-minutes"
    )
    assert lines[2].startswith("GAN: collapsed, sample diversity 0.01 of the real images'")
    assert withheld in lines and "FID in vaegan's own features" not in text and "copy rate" not in text
    copies = SummaryFids({"vae": 9.0, "gan": 8.0}, "N(0, I)", 4, 1.0, {"vae": 0.5, "gan": 1.0}, 0.5)
    text = write_summary(fake_run(tmp_path, vae, gan), {}, 36, 4, copies).read_text()
    assert "VAE collapsed, not a copier, GAN collapsed, not a copier; held-out images 0.50" in text


def test_a_gan_below_the_real_reference_is_not_presented_as_a_win(tmp_path: Path) -> None:
    """gemoji's "VAE 2.0, GAN 1.0" beside a real-vs-real 1.65 read as "the GAN halved the error"."""
    vae = [epoch(1, 2.0, 2.0, **VAE_END)]
    gan = [epoch(1, 1.0, **GAN_END)]
    fids = SummaryFids({"vae": 2.0, "gan": 1.0}, "the fitted prior", 5000, 1.65)
    text = write_summary(fake_run(tmp_path, vae, gan), {}, 54000, 6000, fids).read_text()
    assert "  VAE, z from the fitted prior: 2.00\n" in text  # above the floor: no verdict
    assert (
        "  GAN, z from the fitted prior: 1.00; at or below real vs real (1.65): at 5000 images FID cannot tell "
        "these samples from real ones\n" in text
    )


def test_a_pipeline_scores_both_stages_on_the_same_z(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_feature_net: None
) -> None:
    """summary.txt's FIDs: the GAN against its own VAE on one sampler, as its grid compares them by eye."""
    from tiny import tiny_config, tiny_gan, tiny_splits
    from vaegan.pipeline import run_pipeline, same_sampler_fids
    from vaegan.runs import open_run

    splits = tiny_splits(n=48)
    monkeypatch.setattr("vaegan.pipeline.load_splits", lambda data: splits)
    vae = tiny_config(epochs=2, quality_every=2, quality_samples=16)
    run_pipeline(vae, tiny_gan(quality_every=1, quality_samples=16, latents="fitted"), tmp_path / "run", progress=False)
    text = (tmp_path / "run" / "summary.txt").read_text()
    fids = same_sampler_fids(open_run(tmp_path / "run"), splits)
    assert fids is not None and fids.sampler == "the fitted prior" and fids.n == 8  # tiny_splits holds out 8
    assert f"  VAE, z from the fitted prior: {fids.values['vae']:.2f}" in text
    assert f"  GAN, z from the fitted prior: {fids.values['gan']:.2f}" in text
    assert fids.reference is not None and f"(the floor at this count): {fids.reference:.2f}\n" in text
    # issue 68: blobs scored GAN 0.59 beside a floor of 0.27 in a net trained a minute, and read as nearly real
    judge = "  these features are a small classifier trained on the 40 training images: they rank runs on this data"
    assert judge + ", but cannot tell blobs from real pictures" in text
    assert "Inception's can: vaegan evaluate RUN --features inception --samples 1000 (about 5 min on a 2-core" in text


def test_a_long_run_gif_keeps_evenly_spaced_frames_and_each_stages_last() -> None:
    grids = [("vae", e, Path(f"v{e}")) for e in range(1, 97)] + [("gan", e, Path(f"g{e}")) for e in range(1, 37)]
    kept = evenly_spaced(grids, 40)
    assert 40 <= len(kept) <= 41 and kept[0] == grids[0] and kept[-1] == grids[-1]
    assert ("vae", 96, Path("v96")) in kept  # the VAE's last grid, the GAN's starting point
    assert evenly_spaced(grids[:30], 40) == grids[:30]


def test_the_gif_shows_each_stages_held_out_grids_and_never_their_samples(tmp_path: Path) -> None:
    """Every frame decodes the same held-out images' means: sample grids (N(0, I) for the VAE, the prior for
    the GAN) made the animation jump at the cut where only the sampler changed."""
    from PIL import Image

    from vaegan.pipeline import write_progress_gif

    stages = {}
    for stage, epochs in (("vae", [1, 2, 3]), ("gan", [0, 1, 2])):
        grids = tmp_path / stage / "grids"
        grids.mkdir(parents=True)
        for e in epochs:
            Image.new("RGB", (16, 16), (10 * e, 0, 0)).save(grids / f"heldout_e{e:03d}.png")
            Image.new("RGB", (16, 16), "blue").save(grids / f"samples_e{e:03d}.png")
        stages[stage] = SimpleNamespace(folder=tmp_path / stage)
    run = SimpleNamespace(stages=stages, config=SimpleNamespace(data=SimpleNamespace(val_fraction=0.1)))
    gif = write_progress_gif(run, tmp_path / "progress.gif")  # type: ignore[arg-type]
    with Image.open(gif) as frames:
        assert frames.n_frames == 5  # VAE 1-3, GAN 1-2: the GAN's epoch 0 is the VAE's last
        for i in range(frames.n_frames):
            frames.seek(i)
            assert frames.convert("RGB").getpixel((240, 400))[2] == 0  # no blue sample grid among them
