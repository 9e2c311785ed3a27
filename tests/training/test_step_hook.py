"""TrainingRun.on_step through train_vae: every step's losses, in order, the same numbers the epoch means sum."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tiny import tiny_config, tiny_splits
from vaegan.training.train_vae import train_vae


def test_on_step_sees_every_step_and_matches_the_epoch_means(tmp_path: Path) -> None:
    seen: list[tuple[int, torch.Tensor]] = []
    splits = tiny_splits(n=26)  # 18 training images: batches of 4, 4, 4, 4, 2
    train_vae(
        tiny_config(epochs=2), tmp_path / "run", splits=splits, progress=False, on_step=lambda s, v: seen.append((s, v))
    )
    assert [s for s, _ in seen] == list(range(1, 11))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    sizes = torch.tensor([4.0, 4, 4, 4, 2])
    for epoch, record in enumerate(records):
        values = torch.stack([v for _, v in seen[5 * epoch : 5 * epoch + 5]])  # (5, 3): total, rec, kl
        means = (values * sizes[:, None]).sum(0) / sizes.sum()
        expected = [record["train/total"], record["train/reconstruction"], record["train/kl"]]
        assert torch.allclose(means, torch.tensor(expected), rtol=1e-5)
