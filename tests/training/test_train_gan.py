import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tiny import extend_run, tiny_config, tiny_gan, tiny_splits
from vaegan.checkpoint import GANCheckpoint, load_checkpoint, save_checkpoint
from vaegan.config import GANConfig, GANRunConfig, ModelConfig
from vaegan.errors import VaeganError
from vaegan.flow_prior import FLOW_NAME, FlowPrior
from vaegan.losses import generator_loss
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.prior import fitted_prior
from vaegan.runs import load_generator, load_vae, open_run
from vaegan.training.gan_step import MONITORS, GANNets, anchor_loss, ema_decay, g_moved, gan_step, r1_weight
from vaegan.training.train_gan import latent_source, train_gan, warm_start
from vaegan.training.train_vae import train_vae

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("vae")
    train_vae(tiny_config(epochs=2), run, splits=tiny_splits())
    return run


def gan_config(vae_run: Path, **overrides: object) -> GANRunConfig:
    gan = tiny_gan(**{"epochs": 2, **overrides})
    return GANRunConfig(vae_checkpoint=str(vae_run / "checkpoint.pt"), gan=gan)


def test_warm_started_generator_reproduces_the_decoder_exactly(vae_run: Path) -> None:
    vae, cfg = load_vae(vae_run)
    generator = Decoder(cfg.model)
    warm_start(generator, vae)
    z = torch.randn(5, cfg.model.latent_dim)
    with torch.no_grad():
        assert torch.equal(generator.eval()(z), vae.decode(z))


def test_mismatched_generator_names_the_keys(vae_run: Path) -> None:
    vae, cfg = load_vae(vae_run)
    other = Decoder(replace(cfg.model, latent_dim=cfg.model.latent_dim + 1))
    with pytest.raises(VaeganError, match=r"project\.0\.weight"):
        warm_start(other, vae)


TINY_MODEL = ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4)
# The step's settings the tests below assume, stated rather than taken from GANConfig's defaults.
PLAIN = GANConfig(loss="nonsaturating", anchor="none", r1_gamma=0.0, diffaugment="", d_warmup_steps=0)
D_ALONE = replace(PLAIN, d_warmup_steps=100)  # the D warm-up: G does not move


def tiny_networks() -> tuple[Decoder, Discriminator]:
    torch.manual_seed(0)
    return Decoder(TINY_MODEL), Discriminator(16, 3, 4)


def tiny_nets(gc: GANConfig, sgd: tuple[float, float] | None = None) -> GANNets:
    """The tiny networks as one GAN step sees them; `sgd`: plain SGD at these learning rates for G and D."""
    generator, disc = tiny_networks()
    nets = GANNets.build(generator, disc, VAE(TINY_MODEL).requires_grad_(False), gc)
    if sgd is None:
        return nets
    lr_g, lr_d = sgd
    opt_g, opt_d = torch.optim.SGD(generator.parameters(), lr=lr_g), torch.optim.SGD(disc.parameters(), lr=lr_d)
    return replace(nets, opt_g=opt_g, opt_d=opt_d)


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_the_d_update_changes_only_d_and_leaves_g_without_gradients() -> None:
    nets = tiny_nets(D_ALONE)
    g_before, d_before = state(nets.generator), state(nets.disc)
    gan_step(nets, torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 4), gc=D_ALONE, step=0, device=CPU, bf16=False)
    assert all(p.grad is None for p in nets.generator.parameters())
    assert all(torch.equal(v, g_before[k]) for k, v in nets.generator.state_dict().items())
    assert all(not torch.equal(v, d_before[k]) for k, v in nets.disc.state_dict().items())


def test_the_g_update_changes_only_g() -> None:
    """A step where G moves leaves D exactly as a step where it does not: G's update changes every G weight
    and no D weight, computes no weight gradients for D and leaves D trainable for its next step."""
    z, real = torch.randn(4, 4), torch.rand(4, 3, 16, 16) * 2 - 1
    d_alone, both = tiny_nets(D_ALONE), tiny_nets(PLAIN)
    gan_step(d_alone, real, z, gc=D_ALONE, step=0, device=CPU, bf16=False)
    g_before = state(both.generator)
    monitors = gan_step(both, real, z, gc=PLAIN, step=0, device=CPU, bf16=False)
    g_loss, grad_g = monitors[MONITORS.index("g_loss")], monitors[MONITORS.index("grad_g")]
    assert torch.isfinite(g_loss) and grad_g > 0
    assert all(torch.equal(v, d_alone.disc.state_dict()[k]) for k, v in both.disc.state_dict().items())
    changed = [k for k, v in both.generator.state_dict().items() if not torch.equal(v, g_before[k])]
    assert len(changed) == len(g_before)
    d_grads = zip(both.disc.parameters(), d_alone.disc.parameters(), strict=True)
    assert all(torch.equal(p.grad, q.grad) and p.requires_grad for p, q in d_grads)


def test_the_g_update_adds_the_weighted_anchor_to_ds_term() -> None:
    """G's gradient in the step is that of D's term plus anchor_weight times the pixel anchor's."""
    z, real = torch.randn(4, 4), torch.rand(4, 3, 16, 16) * 2 - 1
    frozen = VAE(TINY_MODEL).requires_grad_(False)
    generator, disc = tiny_networks()
    fake_x = generator(frozen.encode(real).mean)
    fake = generator(z)
    adversarial, anchor = generator_loss(disc(fake), "nonsaturating"), (fake_x - real).square().mean()
    expected = torch.autograd.grad(adversarial + 10 * anchor, generator.to_image.weight)[0]

    gc = replace(PLAIN, anchor="pixel", anchor_weight=10.0)
    nets = tiny_nets(gc, sgd=(0.0, 0.0))  # the same weights again, and D's update (1) leaves them so
    nets = replace(nets, frozen=frozen)
    g_loss = gan_step(nets, real, z, gc=gc, step=0, device=CPU, bf16=False)[MONITORS.index("g_loss")]
    assert torch.allclose(nets.generator.to_image.weight.grad, expected, rtol=1e-4, atol=1e-7)
    assert g_loss.item() == pytest.approx(adversarial.item())  # the monitor is D's term alone


@pytest.mark.parametrize(
    "loss, anchor",
    [
        ("nonsaturating", "decoder"),
        ("minimax", "pixel"),
        ("hinge", "none"),
    ],
)
def test_gan_stage_runs_with_finite_monitors(vae_run: Path, tmp_path: Path, loss: str, anchor: str) -> None:
    train_gan(gan_config(vae_run, loss=loss, anchor=anchor), tmp_path, splits=tiny_splits())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "grad_d", "grad_g", "diversity"):
        assert all(torch.isfinite(torch.tensor(r[key])) for r in records), key
    assert 0 < records[-1]["d_real"] < 1 and records[-1]["grad_g"] > 0
    if anchor != "none":
        assert records[-1]["anchor"] > 0


def test_gs_logged_monitors_are_means_over_the_steps_g_moved(vae_run: Path, tmp_path: Path) -> None:
    """With D twice per G update, the epoch's G loss is that of G's updates, not halved by D's steps alone."""
    g_loss: dict[int, float] = {}  # 0-based step -> its G loss
    train_gan(
        gan_config(vae_run, epochs=1, d_steps=2, d_warmup_steps=1),
        tmp_path,
        splits=tiny_splits(),
        on_step=lambda step, monitors: g_loss.update({step - 1: monitors[MONITORS.index("g_loss")].item()}),
    )
    moved = [s for s in g_loss if s >= 1 and s % 2 == 0]  # after the warm-up step, every other step
    assert moved and all(g_loss[s] == 0 for s in g_loss if s not in moved)
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert logged["g_loss"] == pytest.approx(sum(g_loss[s] for s in moved) / len(moved), rel=1e-4)


def test_g_moves_every_step_from_d_steps_until(vae_run: Path, tmp_path: Path) -> None:
    """D twice per G update until step 5, then D and G alternate: G's loss is 0 exactly where G stood still."""
    g_loss: dict[int, float] = {}  # 0-based step -> its G loss
    gc = gan_config(vae_run, epochs=2, d_steps=2, d_warmup_steps=1, d_steps_until=5)
    train_gan(
        gc,
        tmp_path,
        splits=tiny_splits(),
        on_step=lambda step, monitors: g_loss.update({step - 1: monitors[MONITORS.index("g_loss")].item()}),
    )
    expected = [s for s in sorted(g_loss) if s in (2, 4) or s >= 5]
    assert len(g_loss) > 6 and [s for s in sorted(g_loss) if g_loss[s] != 0] == expected
    assert g_moved(gc.gan, len(g_loss)) == len(expected)


def test_first_gan_grid_equals_the_vaes_last(vae_run: Path, tmp_path: Path) -> None:
    # The VAE's grid decodes z ~ N(0, I); with G on the same z its first grid is the warm start itself.
    train_gan(gan_config(vae_run, epochs=1, latents="normal"), tmp_path, splits=tiny_splits())
    assert (tmp_path / "grids" / "samples_e000.png").read_bytes() == (
        vae_run / "grids" / "samples_e002.png"
    ).read_bytes()


def test_the_held_out_grid_goes_on_through_the_cut_from_the_same_z(vae_run: Path, tmp_path: Path) -> None:
    """progress.gif's frames: the GAN's first held-out grid is the VAE's last, pixel for pixel, on the fitted
    prior too; its sample grids draw the prior's z, which the VAE's (N(0, I)) never showed."""
    train_gan(gan_config(vae_run, epochs=1, latents="fitted"), tmp_path, splits=tiny_splits())
    vae_last, gan_first = vae_run / "grids" / "heldout_e002.png", tmp_path / "grids" / "heldout_e000.png"
    assert gan_first.read_bytes() == vae_last.read_bytes()
    assert (tmp_path / "grids" / "heldout_e001.png").is_file()
    samples = (tmp_path / "grids" / "samples_e000.png").read_bytes()
    assert samples != (vae_run / "grids" / "samples_e002.png").read_bytes()  # the jump the GIF used to show


def test_scratch_generator_differs_from_the_decoder(vae_run: Path, tmp_path: Path) -> None:
    train_gan(gan_config(vae_run, epochs=1, init="scratch"), tmp_path, splits=tiny_splits())
    assert (tmp_path / "grids" / "samples_e000.png").read_bytes() != (
        vae_run / "grids" / "samples_e002.png"
    ).read_bytes()


@pytest.mark.parametrize(
    "layout, kind",
    [("contiguous", "conv"), ("channels_last", "conv"), ("channels_last", "projected")],
)
def test_gan_resume_is_exact(vae_run: Path, tmp_path: Path, layout: str, kind: str) -> None:
    splits = tiny_splits()
    settings = {"anchor": "decoder", "memory_format": layout, "r1_gamma": 1.0, "disc_kind": kind}
    train_gan(gan_config(vae_run, **settings), tmp_path / "straight", splits=splits)
    train_gan(gan_config(vae_run, **settings, epochs=1), tmp_path / "split", splits=splits)
    train_gan(gan_config(vae_run), tmp_path / "split", resume=True, wanted={"gan": {"epochs": 2}}, splits=splits)
    a, b = (load_checkpoint(tmp_path / run / "checkpoint.pt") for run in ("straight", "split"))
    for part in ("generator", "discriminator", "ema"):
        assert all(torch.equal(getattr(a, part)[k], getattr(b, part)[k]) for k in getattr(a, part)), part


def test_projected_d_judges_with_the_trained_vaes_encoder_and_keeps_it(vae_run: Path, tmp_path: Path) -> None:
    train_gan(gan_config(vae_run, epochs=1, disc_kind="projected"), tmp_path, splits=tiny_splits())
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert isinstance(saved, GANCheckpoint) and saved.config.gan.disc_kind == "projected"
    encoder = load_vae(vae_run)[0].encoder.features.state_dict()
    assert all(torch.equal(saved.discriminator[f"encoder.{k}"], v) for k, v in encoder.items())
    assert open_run(tmp_path).discriminator()(torch.zeros(2, 3, 16, 16)).shape == (2, 8 * 8 + 4 * 4)


def test_a_time_limit_ends_the_gan_stage_with_its_checkpoint_saying_so(
    vae_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        train_gan(gan_config(vae_run, epochs=3, max_minutes=1e-9), tmp_path, splits=tiny_splits())
    assert "--gan-max-minutes 1e-09 is spent; resume with --gan-epochs 2 or more to train further" in caplog.text
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert (saved.loop.epoch, saved.config.gan.epochs) == (2, 1)
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_a_collapse_is_warned_of_once_and_its_diversity_kept_every_epoch(
    vae_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A small folder's GAN warned in each of its 300 epochs; below a threshold this high every epoch collapses."""
    with caplog.at_level("WARNING"):
        train_gan(gan_config(vae_run, epochs=3, collapse_fraction=0.999), tmp_path, splits=tiny_splits())
    warnings = [r.getMessage() for r in caplog.records if "mode collapse" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("possible mode collapse at epoch 1: ")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["diversity"] < 0.999] == [1, 2, 3]


def test_forced_nan_stops_cleanly_with_the_previous_checkpoint_intact(vae_run: Path, tmp_path: Path) -> None:
    train_gan(gan_config(vae_run, epochs=1), tmp_path, splits=tiny_splits())
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    saved.discriminator = {k: torch.full_like(v, float("nan")) for k, v in saved.discriminator.items()}  # type: ignore[union-attr]
    save_checkpoint(saved, tmp_path / "checkpoint.pt")
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(VaeganError, match="diverged.*untouched"):
        train_gan(gan_config(vae_run), tmp_path, resume=True, wanted={"gan": {"epochs": 2}}, splits=tiny_splits())
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_generator_loads_from_the_gan_checkpoint_alone(vae_run: Path, tmp_path: Path) -> None:
    train_gan(gan_config(vae_run, epochs=1), tmp_path, splits=tiny_splits())
    generator, cfg = load_generator(tmp_path)
    assert generator(torch.zeros(2, cfg.model.latent_dim)).shape == (2, 3, 16, 16)


def test_ema_warms_up_then_holds_its_decay() -> None:
    assert ema_decay(0, 0.999) == pytest.approx(0.1)  # the first updates follow G closely
    assert ema_decay(90, 0.999) == pytest.approx(0.91)
    assert ema_decay(100_000, 0.999) == 0.999
    assert ema_decay(5, 0.0) == 0.0


def test_gan_quality_record_has_psnr_through_g_beside_the_vaes(tmp_path: Path, quick_feature_net: None) -> None:
    splits = tiny_splits()
    train_vae(tiny_config(epochs=1, quality_every=1, quality_samples=10), tmp_path / "vae", splits=splits)
    vae_record = json.loads((tmp_path / "vae" / "metrics.jsonl").read_text().splitlines()[-1])
    cfg = GANRunConfig(str(tmp_path / "vae"), tiny_gan(epochs=1, quality_every=1, quality_samples=10, lr_g=0.05))
    train_gan(cfg, tmp_path / "gan", splits=splits)
    record = json.loads((tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()[-1])
    # The VAE decoder's PSNR is measured on the same held-out images in both stages.
    assert record["quality/psnr_vae"] == pytest.approx(vae_record["quality/psnr"])
    assert record["quality/psnr"] != pytest.approx(record["quality/psnr_vae"])  # G moved (a large lr_g)
    assert record["quality/artifact"] > 0


def test_psnr_through_g_is_measured_on_reconstructions_not_samples(tmp_path: Path, quick_feature_net: None) -> None:
    """A G that has not moved from the decoder (D's warm-up outlasts the run) reconstructs as well as it."""
    splits = tiny_splits()
    train_vae(tiny_config(epochs=12, quality_every=12, quality_samples=10, lr=3e-3), tmp_path / "vae", splits=splits)
    gan = tiny_gan(epochs=1, quality_every=1, quality_samples=10, latents="fitted", d_warmup_steps=1000)
    train_gan(GANRunConfig(str(tmp_path / "vae"), gan), tmp_path / "gan", splits=splits)
    record = json.loads((tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["quality/psnr"] == pytest.approx(record["quality/psnr_vae"], abs=1e-4)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_diffaugment_and_r1_train_and_resume_exactly(vae_run: Path, tmp_path: Path, layout: str) -> None:
    splits = tiny_splits()
    levers = {"diffaugment": "color,translation,cutout", "r1_gamma": 1.0, "memory_format": layout}
    train_gan(gan_config(vae_run, **levers), tmp_path / "straight", splits=splits)
    train_gan(gan_config(vae_run, epochs=1, **levers), tmp_path / "split", splits=splits)
    extend_run(tmp_path / "split", 2)
    train_gan(gan_config(vae_run), tmp_path / "split", resume=True, splits=splits)
    a, b = (load_checkpoint(tmp_path / run / "checkpoint.pt") for run in ("straight", "split"))
    assert all(torch.equal(a.generator[k], b.generator[k]) for k in a.generator)  # type: ignore[union-attr]
    plain = tmp_path / "plain"
    train_gan(gan_config(vae_run, memory_format=layout), plain, splits=splits)
    c = load_checkpoint(plain / "checkpoint.pt")
    assert not all(torch.equal(a.discriminator[k], c.discriminator[k]) for k in a.discriminator)  # type: ignore[union-attr]


def test_r1_changes_the_discriminator_update() -> None:
    updates = []
    for gamma in (0.0, 10.0):
        gc = replace(D_ALONE, r1_gamma=gamma)
        nets = tiny_nets(gc, sgd=(0.1, 0.1))
        real = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
        loss = gan_step(nets, real, torch.zeros(4, 4), gc=gc, step=0, device=CPU, bf16=False)[0]
        updates.append((loss, nets.disc.head.weight.detach().clone()))
    (plain_loss, plain_w), (r1_loss, r1_w) = updates
    assert r1_loss > plain_loss and not torch.equal(plain_w, r1_w)


def test_lazy_r1_weighs_every_nth_step_by_n_and_skips_the_others() -> None:
    every_step, lazy = GANConfig(r1_gamma=2.0, r1_every=1), GANConfig(r1_gamma=2.0, r1_every=4)
    assert [r1_weight(s, every_step) for s in range(3)] == [1.0, 1.0, 1.0]
    assert [r1_weight(s, lazy) for s in range(9)] == [4.0, 0, 0, 0, 4.0, 0, 0, 0, 4.0]  # the same mean
    assert r1_weight(0, GANConfig(r1_gamma=0.0, r1_every=4)) == 0.0  # no gamma, no penalty


def test_gan_step_takes_lazy_r1_only_on_its_steps() -> None:
    """With r1_every 2, step 1's D update is the plain one and step 2's is not."""

    def d_after(step: int, gc: GANConfig) -> dict[str, torch.Tensor]:
        nets = tiny_nets(gc, sgd=(0.1, 0.1))
        real = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
        gan_step(nets, real, torch.ones(4, 4), gc=gc, step=step, device=CPU, bf16=False)
        return state(nets.disc)

    def same(step: int) -> bool:
        plain, lazy = d_after(step, D_ALONE), d_after(step, replace(D_ALONE, r1_gamma=10.0, r1_every=2))
        return all(torch.equal(plain[k], lazy[k]) for k in plain)

    assert same(1) and not same(2)


def test_pixel_anchor_is_the_squared_error_of_g_on_the_posterior_mean_against_x() -> None:
    generator, _ = tiny_networks()
    frozen = VAE(ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4)).requires_grad_(False)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    fake_x = generator(frozen.encode(real).mean)
    z, fake = torch.randn(4, 4), generator(torch.randn(4, 4))
    loss = anchor_loss("pixel", frozen=frozen, z=z, fake=fake, fake_x=fake_x, real=real)
    assert torch.allclose(loss, ((fake_x - real) ** 2).mean())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())


def test_a_gan_on_the_fitted_prior_trains_on_the_flow_saved_beside_the_vae(
    vae_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[int] = []
    sample = FlowPrior.sample
    monkeypatch.setattr(FlowPrior, "sample", lambda self, n, g, t=1.0: drawn.append(n) or sample(self, n, g, t))
    result = train_gan(gan_config(vae_run, latents="fitted", epochs=1), tmp_path, splits=tiny_splits())
    assert (vae_run / FLOW_NAME).is_file() and not (vae_run / "prior.pt").exists()  # the default prior, saved once
    assert drawn.count(4) >= len(tiny_splits().train) // 4  # every training batch of 4 drew its z from the flow
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert torch.isfinite(torch.tensor(records[-1]["g_loss"])) and records[-1]["diversity"] > 0
    assert load_checkpoint(result.checkpoint).config.gan.latents == "fitted"  # type: ignore[union-attr]
    assert isinstance(fitted_prior(open_run(tmp_path)), FlowPrior)


@pytest.mark.parametrize("latents", ["normal", "fitted"])
def test_latent_source_draws_from_the_prior_the_config_names(vae_run: Path, latents: str) -> None:
    run, images = open_run(vae_run), tiny_splits().train.images
    draw, grid_z = latent_source(tiny_gan(latents=latents), run, images, CPU)
    z = draw(6, torch.Generator().manual_seed(3))
    if latents == "fitted":
        expected = fitted_prior(run, images=images).sample(6, torch.Generator().manual_seed(3))
    else:
        expected = torch.randn(6, run.config.model.latent_dim, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, expected) and grid_z.shape[1] == run.config.model.latent_dim


def test_a_gan_run_gives_back_its_discriminator_as_trained(vae_run: Path, tmp_path: Path) -> None:
    train_gan(gan_config(vae_run, epochs=1), tmp_path / "gan", splits=tiny_splits())
    saved = load_checkpoint(tmp_path / "gan" / "checkpoint.pt")
    disc = open_run(tmp_path / "gan").discriminator()
    assert not disc.training
    assert all(torch.equal(v, saved.discriminator[k]) for k, v in disc.state_dict().items())
