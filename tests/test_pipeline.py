"""summary.txt: both stages' FID, training time, and only the set-up steps that took a while."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from vaegan.pipeline import write_summary


def epoch(n: int, seconds: float, fid: float | None = None, **extra: float) -> dict:
    record = {"epoch": n, "step": 10 * n, "seconds": seconds, "train_seconds": seconds - 1, **extra}
    return record if fid is None else {**record, "quality/fid": fid}


VAE_END = {"val/neg_elbo": 250.0, "val/reconstruction": 230.0, "val/kl": 20.0}
GAN_END = {"d_real": 0.6, "d_fake": 0.4, "diversity": 0.9}


def fake_run(tmp_path: Path, vae: list[dict], gan: list[dict]) -> SimpleNamespace:
    """What write_summary reads of a Run: the stages' metrics, the data and quality settings, the folder."""
    return SimpleNamespace(
        path=tmp_path,
        stages={"vae": SimpleNamespace(metrics=vae), "gan": SimpleNamespace(metrics=gan)},
        config=SimpleNamespace(
            data=SimpleNamespace(source="fashion-mnist", image_size=28, channels=1),
            train=SimpleNamespace(quality_samples=1000),
        ),
    )


def test_summary_gives_both_fids_and_training_time_apart_from_slow_set_up(tmp_path: Path) -> None:
    vae = [epoch(1, 20.0, 180.0, **VAE_END), epoch(2, 20.0, 160.04, **VAE_END)]
    gan = [epoch(1, 17.0, **GAN_END), epoch(2, 17.0, 59.3, **GAN_END)]
    setup = {"loading the data": 0.4, "training the fashion-mnist feature network (once per dataset)": 134.2}
    text = write_summary(fake_run(tmp_path, vae, gan), setup, 54000, 6000).read_text()
    assert "FID of prior samples: VAE 160.0 (epoch 2), GAN 59.3 (epoch 2)" in text
    assert "training time: 74s (VAE 40s, GAN 34s)" in text
    assert "one-time set-up, not training: training the fashion-mnist feature network (once per dataset) 134s" in text
    assert "loading the data" not in text  # 0.4 s is noise, not set-up worth a line
    assert "biased upwards" not in text  # 1,000 held-out images: no small-sample warning


def test_quick_set_up_and_unmeasured_fid_say_so(tmp_path: Path) -> None:
    vae = [epoch(1, 2.0, 300.0, **VAE_END)]
    gan = [epoch(1, 1.0, **GAN_END)]
    text = write_summary(fake_run(tmp_path, vae, gan), {"loading the data": 0.2}, 16, 8).read_text()
    assert "FID of prior samples: VAE 300.0 (epoch 1), GAN not measured" in text
    assert "set-up" not in text
    assert "measured on 8 held-out images only" in text
    no_fid = write_summary(fake_run(tmp_path, [epoch(1, 2.0, **VAE_END)], gan), {}, 16, 8).read_text()
    assert "FID not measured (--quality-every 0)" in no_fid
