"""Forged files are refused in one line before anything they declare is allocated or stepped: a tensor that
claims more than its storage, an optimiser moment of the wrong shape, loop counts or RNG states no run writes.
Each case runs the CLI in a child process under an address-space limit, so a crash or a huge allocation fails
the test instead of the suite."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from child import PEAK_MIB, contents, run_child
from tiny import tiny_config, tiny_folder, tiny_gan
from vaegan.checkpoint import seal
from vaegan.config import GANRunConfig
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny VAE run on a real folder of pictures, so the CLI in the child can resume it."""
    root = tmp_path_factory.mktemp("forged")
    cfg = tiny_config(epochs=1)
    cfg = replace(cfg, data=replace(cfg.data, source=str(tiny_folder(root / "pictures", n=24))))
    train_vae(cfg, root / "vae")
    return root / "vae"


def forge(trained: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the run whose checkpoint has `change` applied and its checksum recomputed, as a forger would."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (run / name).write_bytes((trained / name).read_bytes())
    payload = torch.load(trained / "checkpoint.pt", weights_only=True)
    change(payload)
    if not any(t.stride() == (0, 0) for t in payload["model"].values()):  # sealing one would allocate it here
        seal(payload)
    torch.save(payload, run / "checkpoint.pt")
    return run


def huge_stride_zero(payload: dict[str, Any]) -> None:
    first = next(iter(payload["model"]))
    payload["model"][first] = torch.zeros(1).expand(60000, 60000)  # 14.4 GB declared over 4 bytes


def adam_moment_of_wrong_shape(payload: dict[str, Any]) -> None:
    state = payload["optimizer"]["state"]
    state[0]["exp_avg"] = torch.zeros(3)


def loop(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload["loop"].update(values)


CASES = [
    ("stride-0-tensor", huge_stride_zero, "declares 14,400,000,000 bytes"),
    ("adam-moment-shape", adam_moment_of_wrong_shape, "optimiser state does not fit the model (exp_avg is (3,)"),
    ("negative-epoch", loop(epoch=-5, step=-100), "malformed loop state (epoch -5)"),
    ("batch-past-epoch", loop(batch_in_epoch=10**9), "stands at batch 1000000000 of an epoch of"),
    ("rng-garbage", loop(rng={"torch": torch.zeros(3, dtype=torch.uint8)}), "random-number state is damaged"),
    ("sums-shape", loop(sums=torch.zeros(9)), "metric sums of shape (9,) where this stage keeps (4,)"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_forged_checkpoint_is_one_line_in_bounded_memory(
    trained: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    run = forge(trained, tmp_path, change)
    before = contents(run)
    result, err = run_child("train-vae", "--resume", str(run), "--epochs", "2")
    assert result["code"] == 2 and "Traceback" not in err
    assert message in err.strip().splitlines()[-1]
    assert result["peak_mib"] < PEAK_MIB
    assert contents(run) == before  # a refusal changes nothing: not the checkpoint, not metrics.jsonl


def test_an_untouched_copy_resumes(trained: Path, tmp_path: Path) -> None:
    """The forge itself is harmless: with no change, the same command trains on."""
    run = forge(trained, tmp_path, lambda payload: None)
    result, _ = run_child("train-vae", "--resume", str(run), "--epochs", "2")
    assert result["code"] == 0


@pytest.fixture(scope="module")
def gan_run(trained: Path) -> Path:
    """A tiny GAN trained from `trained` on z from its fitted prior, so a resume would fit and save one."""
    cfg = GANRunConfig(vae_checkpoint=str(trained), gan=tiny_gan(latents="fitted"))
    train_gan(cfg, trained.parent / "gan")
    return trained.parent / "gan"


def copy_pair(gan_run: Path, tmp_path: Path) -> Path:
    """The GAN run and its VAE side by side in `tmp_path`, its link to the VAE intact; the GAN's folder."""
    for name in ("vae", "gan"):
        shutil.copytree(gan_run.parent / name, tmp_path / name)
    return tmp_path / "gan"


def test_a_gan_resume_on_damaged_metrics_changes_nothing(gan_run: Path, tmp_path: Path) -> None:
    gan = copy_pair(gan_run, tmp_path)
    (gan / "metrics.jsonl").write_text("garbage\n{{\n")
    for prior in tmp_path.glob("vae/*prior.pt"):
        prior.unlink()  # a resume that went on would fit the prior again and save it here
    before = contents(tmp_path)
    result, err = run_child("train-gan", "--resume", str(gan), "--gan-epochs", "2")
    assert result["code"] == 2 and "metrics.jsonl is not valid JSON lines" in err.strip().splitlines()[-1]
    assert contents(tmp_path) == before


def test_a_gan_whose_vae_link_names_another_file_is_refused(gan_run: Path, tmp_path: Path) -> None:
    gan = copy_pair(gan_run, tmp_path)
    (tmp_path / "secrets.txt").write_text("root:x:0:0\n")
    payload = torch.load(gan / "checkpoint.pt", weights_only=True)
    payload["vae_checkpoint"] = payload["config"]["vae_checkpoint"] = str(tmp_path / "secrets.txt")
    torch.save(seal(payload), gan / "checkpoint.pt")
    before = contents(tmp_path)
    result, err = run_child("train-gan", "--resume", str(gan), "--gan-epochs", "2")
    assert result["code"] == 2 and "Traceback" not in err
    assert f"names its VAE at {tmp_path / 'secrets.txt'}, which is no checkpoint file" in err.strip().splitlines()[-1]
    assert contents(tmp_path) == before
