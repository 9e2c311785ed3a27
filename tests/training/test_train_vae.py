import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from tiny import tiny_config, tiny_splits
from vaegan.checkpoint import load_checkpoint
from vaegan.config import LossConfig
from vaegan.data import to_float
from vaegan.errors import VaeganError
from vaegan.losses import vae_loss
from vaegan.models.vae import VAE
from vaegan.training import stopping
from vaegan.training.common import StopRequest, TrainingStopped, adam, place, restore_adam, warm_up_lr
from vaegan.training.stopping import Clock
from vaegan.training.train_vae import train_vae, vae_step

CPU = torch.device("cpu")


def test_one_optimiser_step_changes_every_weight() -> None:
    cfg = tiny_config()
    torch.manual_seed(0)
    model = VAE(cfg.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = tiny_splits().train.images[:4].float() / 127.5 - 1
    x_hat, post = model(x)
    vae_loss(x_hat, x, post.kl(), "mse_sum", 1.0)["total"].backward()
    opt.step()
    unchanged = [k for k, v in model.state_dict().items() if torch.equal(v, before[k])]
    assert unchanged == []


def test_the_learning_rate_rises_linearly_over_its_warm_up_then_holds() -> None:
    optimizer = adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rates = []
    for step, warmup in [(0, 100), (49, 100), (99, 100), (100, 100), (5000, 100), (0, 0)]:
        warm_up_lr(optimizer, 1e-3, step, warmup)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-5, 5e-4, 1e-3, 1e-3, 1e-3, 1e-3])


def test_training_follows_the_warm_up(tmp_path: Path) -> None:
    """A warm-up far longer than the run keeps every step's rate near 0, so the weights barely move."""
    moved = {}
    for warmup in (0, 10**9):
        run = train_vae(tiny_config(epochs=1, lr_warmup_steps=warmup), tmp_path / str(warmup), splits=tiny_splits())
        trained = load_checkpoint(run.checkpoint).model
        torch.manual_seed(0)
        fresh = VAE(tiny_config().model).state_dict()
        moved[warmup] = max(float((trained[k] - fresh[k]).abs().max()) for k in fresh)
    assert moved[10**9] < 1e-6 < moved[0]


@pytest.mark.parametrize("recon, kind", [("mse_sum", "vae"), ("bce", "vae"), ("mse_mean", "ae")])
def test_training_writes_the_run_folder_and_learns(tmp_path: Path, recon: str, kind: str) -> None:
    cfg = tiny_config(recon=recon, kind=kind, epochs=3, lr=3e-3)
    # 12 steps show learning with a fixed KL weight (the epochs' totals compare), the likelihood alone and
    # one conv per decoder level: the settings before the defaults took `vaegan run`'s.
    loss = dataclasses.replace(cfg.loss, kl_warmup_steps=0, msssim_weight=0.0)
    cfg = dataclasses.replace(cfg, loss=loss, model=dataclasses.replace(cfg.model, decoder_convs=1))
    result = train_vae(cfg, tmp_path, splits=tiny_splits())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["train/total"] < records[0]["train/total"]
    assert json.loads((tmp_path / "config.json").read_text())["loss"]["reconstruction"] == recon
    for epoch in (1, 2, 3):
        assert (tmp_path / "grids" / f"samples_e{epoch:03d}.png").is_file()
        assert (tmp_path / "grids" / f"recon_e{epoch:03d}.png").is_file()
    assert load_checkpoint(result.checkpoint).loop.epoch == 4
    assert all(0 <= r["diversity"] < 2 for r in records)  # its samples' spread, as the GAN's (metrics.collapse)
    if kind == "ae":
        assert records[-1]["val/kl"] == 0.0


def test_an_msssim_term_trains_beside_the_elbo_and_stays_out_of_its_validation(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=3, lr=3e-3)
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, msssim_weight=1.0))
    train_vae(cfg, tmp_path, splits=tiny_splits())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["train/total"] < records[0]["train/total"]
    last = records[-1]
    assert last["train/total"] > last["train/reconstruction"] + last["train/kl"] + 1.0  # the term is in training
    assert last["val/neg_elbo"] == pytest.approx(last["val/reconstruction"] + last["val/kl"])  # and not in -ELBO


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt").model


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_resume_is_exact(tmp_path: Path, layout: str) -> None:
    splits = tiny_splits()
    train_vae(tiny_config(epochs=2, memory_format=layout), tmp_path / "straight", splits=splits)
    train_vae(tiny_config(epochs=1, memory_format=layout), tmp_path / "split", splits=splits)
    train_vae(tiny_config(), tmp_path / "split", resume=True, wanted={"train": {"epochs": 2}}, splits=splits)
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in records] == [1, None, 2]
    assert records[1]["changed"] == {"train.epochs": [1, 2]}  # the extension, where it happened


def test_stop_mid_epoch_checkpoints_and_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    splits = tiny_splits()
    train_vae(tiny_config(epochs=2), tmp_path / "straight", splits=splits)

    class StopAfterThreeSteps(StopRequest):
        calls = 0

        @property  # type: ignore[override]
        def requested(self) -> bool:
            type(self).calls += 1
            return type(self).calls >= 3

        @requested.setter
        def requested(self, value: bool) -> None:
            pass

    monkeypatch.setattr(stopping, "StopRequest", StopAfterThreeSteps)
    with pytest.raises(TrainingStopped, match="resume"):
        train_vae(tiny_config(epochs=2), tmp_path / "stopped", splits=splits)
    state = load_checkpoint(tmp_path / "stopped" / "checkpoint.pt").loop
    assert (state.epoch, state.batch_in_epoch) == (1, 3)
    monkeypatch.undo()
    train_vae(tiny_config(), tmp_path / "stopped", resume=True, splits=splits)
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "stopped")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_channels_last_trains_the_same_model_as_contiguous(tmp_path: Path) -> None:
    """The layout is a speed choice only: the losses and weights agree up to summation order."""
    splits = tiny_splits()
    for layout in ("contiguous", "channels_last"):
        train_vae(tiny_config(epochs=2, memory_format=layout), tmp_path / layout, splits=splits)
    logs = {
        layout: [json.loads(line) for line in (tmp_path / layout / "metrics.jsonl").read_text().splitlines()]
        for layout in ("contiguous", "channels_last")
    }
    for plain, nhwc in zip(logs["contiguous"], logs["channels_last"], strict=True):
        assert nhwc["val/neg_elbo"] == pytest.approx(plain["val/neg_elbo"], rel=1e-4)
    plain_w, nhwc_w = final_weights(tmp_path / "contiguous"), final_weights(tmp_path / "channels_last")
    assert nhwc_w["decoder.to_image.weight"].is_contiguous()  # the feature maps carry the layout, not the weights
    for key in plain_w:
        torch.testing.assert_close(nhwc_w[key], plain_w[key], rtol=1e-3, atol=1e-5)


def test_adam_state_follows_the_weights_layout_on_resume() -> None:
    """Saved with channels_last weights (as earlier versions placed them), resumed contiguous: the same update."""
    cfg = tiny_config()
    x = to_float(tiny_splits().train.images[:4], cfg.model.value_range).contiguous(memory_format=torch.channels_last)
    eps = torch.randn(4, cfg.model.latent_dim, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    saved_model = place(VAE(cfg.model), CPU, torch.channels_last).to(memory_format=torch.channels_last)
    saved_opt = adam(saved_model.parameters(), lr=1e-3)
    value_range = cfg.model.value_range
    vae_step(
        saved_model, saved_opt, x, eps, loss=LossConfig(), beta=1.0, value_range=value_range, device=CPU, bf16=False
    )
    resumed = VAE(cfg.model)
    resumed.load_state_dict(saved_model.state_dict())
    resumed_opt = adam(resumed.parameters(), lr=1e-3)
    restore_adam(resumed_opt, copy.deepcopy(saved_opt.state_dict()), 1e-3)  # as if read from disk: nothing shared
    # The same gradients into both: any difference after the step is the optimiser state's doing.
    for mine, theirs in zip(resumed.parameters(), saved_model.parameters(), strict=True):
        grad = torch.randn(theirs.shape, generator=torch.Generator().manual_seed(theirs.numel()))
        theirs.grad, mine.grad = torch.empty_like(theirs).copy_(grad), torch.empty_like(mine).copy_(grad)
    saved_opt.step()
    resumed_opt.step()
    for key, value in saved_model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-6, atol=1e-7)
    # A run saved by the for-each optimiser of earlier versions resumes on the fused kernel.
    old = saved_opt.state_dict()
    for group in old["param_groups"]:
        group["fused"], group["foreach"] = None, True
    restore_adam(resumed_opt, old, 1e-3)
    assert all(group["fused"] for group in resumed_opt.param_groups)


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    train_vae(tiny_config(epochs=1), tmp_path, splits=tiny_splits())
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(VaeganError, match="--resume"):
        train_vae(tiny_config(epochs=1), tmp_path, splits=tiny_splits())
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_divergence_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    train_vae(tiny_config(epochs=1), tmp_path, splits=tiny_splits())
    good = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(VaeganError, match="diverged.*untouched; resume it with a lower --lr"):
        wanted = {"train": {"epochs": 2, "lr": 1e30}}  # one step to infinity
        train_vae(tiny_config(), tmp_path, resume=True, wanted=wanted, splits=tiny_splits())
    assert (tmp_path / "checkpoint.pt").read_bytes() == good


def test_quality_is_measured_at_its_interval_and_the_best_checkpoint_kept(
    tmp_path: Path, quick_feature_net: None
) -> None:
    cfg = tiny_config(epochs=3, quality_every=2, quality_samples=10)
    train_vae(cfg, tmp_path, splits=tiny_splits())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    measured = [r["epoch"] for r in records if "quality/fid" in r]
    assert measured == [2, 3]  # every 2nd epoch and the last
    assert {"quality/kid", "quality/precision", "quality/recall", "quality/coverage"} <= set(records[-1])
    assert records[-1]["quality/psnr"] > 5 and records[-1]["quality/artifact"] > 0
    # real vs real at the same count, the floor beside every FID: measured once, logged with each
    floors = [r["quality/fid_reference"] for r in records if "quality/fid" in r]
    assert floors[0] == floors[1] and 0 <= floors[0] < records[-1]["quality/fid"]
    best = load_checkpoint(tmp_path / "best.pt").loop
    assert best.best_fid == min(r["quality/fid"] for r in records if "quality/fid" in r)
    assert load_checkpoint(tmp_path / "checkpoint.pt").loop.best_fid == best.best_fid


def test_resuming_a_run_of_the_other_stage_is_a_clear_error(tmp_path: Path) -> None:
    train_vae(tiny_config(epochs=1), tmp_path, splits=tiny_splits())
    from vaegan.training.run_folder import resume_or_refuse

    with pytest.raises(VaeganError, match="vae checkpoint; resume it with train-vae"):
        resume_or_refuse(tmp_path, "gan", resume=True)


def test_a_time_limit_ends_the_stage_after_a_whole_epoch_and_resume_extends_it_exactly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--max-minutes: the run stops at an epoch boundary, says so, and counts as finished (a pipeline rerun
    trains nothing more); asking for more epochs continues it bit for bit."""
    from vaegan.pipeline import stage_state

    splits = tiny_splits()
    train_vae(tiny_config(epochs=2), tmp_path / "straight", splits=splits)
    with caplog.at_level("INFO"):
        train_vae(tiny_config(epochs=3, max_minutes=1e-9), tmp_path / "limited", splits=splits)
    assert "epoch 1 of 3 is the last" in caplog.text
    saved = load_checkpoint(tmp_path / "limited" / "checkpoint.pt")
    assert (saved.loop.epoch, saved.config.train.epochs) == (2, 1)
    assert json.loads((tmp_path / "limited" / "config.json").read_text())["train"]["epochs"] == 1
    assert stage_state(tmp_path / "limited") == "done"
    # a rerun of the same command (3 epochs asked for under the same limit) trains no further;
    # more epochs than first asked, or another limit, do
    assert stage_state(tmp_path / "limited", epochs=3, max_minutes=1e-9) == "done"
    assert stage_state(tmp_path / "limited", epochs=4, max_minutes=1e-9) == "partial"
    assert stage_state(tmp_path / "limited", epochs=3, max_minutes=0.0) == "partial"
    more = {"train": {"epochs": 2, "max_minutes": 0.0}}
    train_vae(tiny_config(), tmp_path / "limited", resume=True, wanted=more, splits=splits)
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "limited")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert stage_state(tmp_path / "limited", epochs=3, max_minutes=1e-9) == "partial"  # extended: no longer the limit's


class StepClock(Clock):
    """A clock that reads 0 until `late` is set, then far past any budget: time runs out at a chosen step."""

    late = False

    def seconds(self) -> float:
        return 1e6 if self.late else 0.0


def test_a_time_limit_cuts_a_later_epoch_at_its_step_and_resume_continues_it_exactly(tmp_path: Path) -> None:
    """--max-minutes is looked at after every step: past the first epoch the stage ends at the step the
    budget ran out, its checkpoint at that very batch, so asking for more epochs continues bit for bit."""
    from vaegan.pipeline import stage_state

    splits = tiny_splits()  # 16 training images: 4 steps an epoch
    train_vae(tiny_config(epochs=3), tmp_path / "straight", splits=splits)
    clock = StepClock()

    def on_step(step: int, values: torch.Tensor) -> None:
        clock.late = step >= 6  # epoch 2's second step

    train_vae(tiny_config(epochs=3, max_minutes=1.0), tmp_path / "cut", splits=splits, on_step=on_step, clock=clock)
    saved = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert (saved.loop.epoch, saved.loop.batch_in_epoch, saved.config.train.epochs) == (2, 2, 2)
    records = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"], r.get("epochs_asked")) for r in records] == [(1, 4, None), (2, 6, 3)]
    # finished for a pipeline rerun of the same command, which must not resume the VAE under its GAN
    assert stage_state(tmp_path / "cut", epochs=3, max_minutes=1.0) == "done"
    assert stage_state(tmp_path / "cut", epochs=4, max_minutes=1.0) == "partial"
    more = {"train": {"epochs": 3, "max_minutes": 0.0}}
    train_vae(tiny_config(), tmp_path / "cut", resume=True, wanted=more, splits=splits)
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "cut")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    records = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in records] == [1, None, 2, 3]  # the cut epoch's line redone whole
