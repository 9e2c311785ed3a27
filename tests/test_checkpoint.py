import copy
import pickle
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tiny import tiny_config
from vaegan.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    GANCheckpoint,
    LoopState,
    VAECheckpoint,
    load_checkpoint,
    save_checkpoint,
    seal,
    upgrade,
)
from vaegan.config import GANConfig, GANRunConfig, to_dict
from vaegan.errors import VaeganError
from vaegan.models.gan import build_discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.runs import open_run

FIXTURES = Path(__file__).parent / "fixtures"


def vae_checkpoint(marker: float = 1.0, upsample: str = "resize") -> VAECheckpoint:
    """A tiny VAE checkpoint whose optimiser state carries `marker`, to tell two files apart."""
    cfg = tiny_config()
    cfg = replace(cfg, model=replace(cfg.model, upsample=upsample))
    model = VAE(cfg.model)
    return VAECheckpoint(cfg, LoopState(sums=torch.zeros(4)), model.state_dict(), {"marker": torch.tensor(marker)})


def test_save_then_load_gives_equal_tensors_and_config(tmp_path: Path) -> None:
    saved = vae_checkpoint()
    save_checkpoint(saved, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert isinstance(loaded, VAECheckpoint) and loaded.config == saved.config
    rebuilt = VAE(loaded.config.model)
    rebuilt.load_state_dict(loaded.model)
    for (name, a), (_, b) in zip(saved.model.items(), rebuilt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    # The file holds plain dicts only: what torch.load(weights_only=True) reads without running code.
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    assert raw["format_version"] == FORMAT_VERSION and raw["config"] == to_dict(saved.config)


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    save_checkpoint(vae_checkpoint(1.0), tmp_path / "c.pt")
    save_checkpoint(vae_checkpoint(0.0), tmp_path / "c.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    assert load_checkpoint(tmp_path / "c.pt").optimizer["marker"] == 0.0  # type: ignore[union-attr]


def test_a_failed_write_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    save_checkpoint(vae_checkpoint(1.0), tmp_path / "c.pt")
    broken = vae_checkpoint(0.0)
    broken.optimizer["bad"] = lambda: 0  # lambdas cannot be saved
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint(broken, tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt").optimizer["marker"] == 1.0  # type: ignore[union-attr]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_format_1_checkpoints_of_vaegan_0_1_still_load_and_decode_the_same() -> None:
    """tests/fixtures/format1_run was written by vaegan 0.1 (make_format1_run.py at commit 6c84068)."""
    run = open_run(FIXTURES / "format1_run")
    assert list(run.stages) == ["vae", "gan"]
    expected = torch.load(FIXTURES / "format1_run" / "expected.pt", weights_only=True)
    with torch.no_grad():  # the same weights; kernels picked per process may round differently
        torch.testing.assert_close(run.vae().decode(expected["z"]), expected["vae"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(run.generator()(expected["z"]), expected["gan"], rtol=1e-5, atol=1e-6)
    saved = run.stages["gan"].checkpoint
    assert isinstance(saved, GANCheckpoint) and saved.loop.epoch == 2 and saved.loop.step > 0
    assert run.config.model.upsample == "transpose" and saved.vae_config.model.upsample == "transpose"


def as_older_format(saved: Checkpoint, version: int, edit: Callable[[dict], object], tmp_path: Path) -> object:
    """`saved` written as format `version` wrote it (`edit` undoes what came after), then loaded today."""
    save_checkpoint(saved, tmp_path / "c.pt")
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    edit(raw)
    raw["format_version"] = version
    torch.save(raw, tmp_path / "old.pt")
    return load_checkpoint(tmp_path / "old.pt")


def test_format_2_checkpoints_come_back_with_transposed_convolutions(tmp_path: Path) -> None:
    """Files written before ModelConfig.upsample existed hold ConvTranspose decoders, whatever the default."""
    loaded = as_older_format(
        vae_checkpoint(upsample="transpose"), 2, lambda raw: raw["config"]["model"].pop("upsample"), tmp_path
    )
    assert isinstance(loaded, VAECheckpoint) and loaded.config.model.upsample == "transpose"
    VAE(loaded.config.model).load_state_dict(loaded.model)  # strict: the weights fit the rebuilt decoder


def test_format_3_resize_decoders_load_into_resize_conv(tmp_path: Path) -> None:
    """Format 3 held a resize step as nn.Sequential(Upsample, Conv2d): the same tensors under `.1.`."""
    saved = vae_checkpoint(upsample="resize")
    old_name = re.compile(r"(upsample\.\d+\.0|to_image)\.(weight|bias)$")

    def old_layout(raw: dict) -> None:
        raw["model"] = {old_name.sub(r"\1.1.\2", k): v for k, v in raw["model"].items()}
        assert any(".to_image.1.weight" in k for k in raw["model"])  # the old layout, as format 3 wrote it

    loaded = as_older_format(saved, 3, old_layout, tmp_path)
    assert isinstance(loaded, VAECheckpoint)
    assert all(torch.equal(loaded.model[k], v) for k, v in saved.model.items())
    VAE(loaded.config.model).load_state_dict(loaded.model)  # strict


def test_format_4_checkpoints_resume_without_the_learning_rate_warm_up_they_never_had(tmp_path: Path) -> None:
    """A run saved before TrainConfig.lr_warmup_steps trained at its full rate from step one; resumed
    early, a default warm-up would lower its rate and break the exact resume."""
    saved = vae_checkpoint()
    loaded = as_older_format(saved, 4, lambda raw: raw["config"]["train"].pop("lr_warmup_steps"), tmp_path)
    assert isinstance(loaded, VAECheckpoint) and loaded.config.train.lr_warmup_steps == 0
    assert saved.config.train.lr_warmup_steps == 100  # a new run gets today's default


def test_a_format_8_checkpoint_keeps_the_mixture_prior_it_sampled_with(tmp_path: Path) -> None:
    """Before ModelConfig.prior every run drew z from the mixture (prior.pt): an older file must not switch
    to a flow its GAN was never trained on."""
    saved = vae_checkpoint()
    assert saved.config.model.prior == "flow"  # a new run gets today's default

    def before_the_field(raw: dict) -> None:
        raw["config"]["model"].pop("prior")
        raw["format_version"] = 8
        seal(raw)  # format 8 files carry a checksum of all they hold

    loaded = as_older_format(saved, 8, before_the_field, tmp_path)
    assert isinstance(loaded, VAECheckpoint) and loaded.config.model.prior == "mixture"


def test_format_5_checkpoints_rebuild_with_the_defaults_of_their_time(tmp_path: Path) -> None:
    """Before format 6 the dataclasses held older defaults: a file without a field predates it and trained
    with the old value, so it rebuilds and resumes as it trained; a file that stored a field keeps it."""
    cfg = tiny_config()
    old = replace(
        cfg,
        model=replace(cfg.model, decoder_convs=1, prior_components=10),
        loss=replace(cfg.loss, kl_warmup_steps=0, msssim_weight=0.0),
        train=replace(cfg.train, min_steps=0),
    )
    saved = VAECheckpoint(old, LoopState(sums=torch.zeros(4)), VAE(old.model).state_dict(), {})

    def before_the_fields(raw: dict) -> None:
        for section, names in (
            ("model", ("decoder_convs", "prior_components")),
            ("loss", ("kl_warmup_steps", "msssim_weight")),
            ("train", ("min_steps",)),
        ):
            for name in names:
                raw["config"][section].pop(name)

    loaded = as_older_format(saved, 5, before_the_fields, tmp_path)
    assert isinstance(loaded, VAECheckpoint) and loaded.config == old
    VAE(loaded.config.model).load_state_dict(loaded.model)  # strict: one conv per decoder level, as trained
    stored = vae_checkpoint()
    assert stored.config.model.decoder_convs == 2  # today's default, stored in the file
    assert as_older_format(stored, 5, lambda raw: None, tmp_path).config == stored.config  # type: ignore[attr-defined]


def test_a_gan_from_before_format_6_keeps_the_gan_defaults_it_trained_with() -> None:
    """The format-1 fixture predates the fitted latents, the pixel anchor and R1 as defaults: its GAN
    resumes with N(0, I) latents, no anchor and no R1, and its VAE config with one conv and 10 components."""
    saved = open_run(FIXTURES / "format1_run").stages["gan"].checkpoint
    assert isinstance(saved, GANCheckpoint)
    gan = saved.config.gan
    assert (gan.latents, gan.anchor, gan.anchor_weight, gan.r1_gamma, gan.r1_every, gan.min_steps) == (
        "normal",
        "none",
        1.0,
        0.0,
        1,
        0,
    )
    model, loss = saved.vae_config.model, saved.vae_config.loss
    assert (model.decoder_convs, model.prior_components, loss.kl_warmup_steps, loss.msssim_weight) == (1, 10, 0, 0.0)
    assert saved.vae_config.train.min_steps == 0
    assert gan.disc_kind == "conv" and model.prior == "mixture"


def gan_checkpoint(gan: GANConfig) -> GANCheckpoint:
    """A tiny untrained GAN checkpoint with the discriminator `gan` describes."""
    vae_cfg = tiny_config()
    model = vae_cfg.model
    g, d = Decoder(model).state_dict(), build_discriminator(model, gan).state_dict()
    config = GANRunConfig(vae_checkpoint="vae/checkpoint.pt", gan=gan)
    return GANCheckpoint(config, LoopState(sums=torch.zeros(7)), "vae/checkpoint.pt", vae_cfg, g, d, g, {}, {})


def test_format_7_gans_load_with_the_conv_discriminator_they_trained(tmp_path: Path) -> None:
    """Before GANConfig.disc_kind every D was the conv one: the upgrade pins it, whatever today's default."""
    saved = gan_checkpoint(GANConfig(disc_channels=4))
    save_checkpoint(saved, tmp_path / "c.pt")
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    raw["config"]["gan"].pop("disc_kind")
    raw["format_version"] = 7
    assert upgrade(copy.deepcopy(raw))["config"]["gan"]["disc_kind"] == "conv"
    torch.save(seal(raw), tmp_path / "old.pt")  # format 7 files carry their checksum
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert isinstance(loaded, GANCheckpoint) and loaded.config == saved.config
    build_discriminator(loaded.vae_config.model, loaded.config.gan).load_state_dict(loaded.discriminator)  # strict


def test_a_format_9_gan_keeps_d_steps_for_its_whole_stage(tmp_path: Path) -> None:
    """Before d_steps_until's default of 1200, a file without the field trained D d_steps times per G
    update to its end: resumed past step 1,200 with today's default, G would move on every step."""
    saved = gan_checkpoint(GANConfig(disc_channels=4))
    assert saved.config.gan.d_steps_until == 1200  # a new run gets today's default

    def before_the_field(raw: dict) -> None:
        raw["config"]["gan"].pop("d_steps_until")
        raw["format_version"] = 9
        seal(raw)  # format 9 files carry a checksum of all they hold

    loaded = as_older_format(saved, 9, before_the_field, tmp_path)
    assert isinstance(loaded, GANCheckpoint) and loaded.config.gan.d_steps_until == 0


def test_a_gan_checkpoint_keeps_its_discriminator_kind(tmp_path: Path) -> None:
    saved = gan_checkpoint(GANConfig(disc_channels=4, disc_kind="projected"))
    save_checkpoint(saved, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert isinstance(loaded, GANCheckpoint) and loaded.config.gan.disc_kind == "projected"
    assert any(k.startswith("encoder.") for k in loaded.discriminator)  # the projected D's copy of the encoder


class Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("pwned",))


def test_loading_never_unpickles_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format_version": 1, "stage": "vae", "x": Evil()}, f, protocol=2)
    with pytest.raises(VaeganError, match="cannot read checkpoint"):
        load_checkpoint(path)


def test_missing_checkpoint_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match="train-vae"):
        open_run(tmp_path)


# Settings that lost their ablation and left vaegan (checkpoint.REMOVED): stored at the value that remains, a
# run loads as if it never had them; trained with another, it is refused by name.
LOADS = [("gan", "spectral_norm", False), ("gan", "anchor_pool", 8), ("gan", "disc_head", "linear")]
LOADS += [("gan", "disc_init", "scratch"), ("gan", "top_k", 1.0), ("gan", "adaptive_weight", False)]
LOADS += [("model", "decoder_norm", "none"), ("gan", "adversarial_reconstructions", False), ("gan", "disc_convs", 1)]
REFUSED = [
    ("gan", "spectral_norm", True, "--spectral-norm, removed after vaegan 0.1.0 (levers 9)"),
    ("gan", "anchor", "lowpass", "--anchor lowpass, removed after vaegan 0.1.0 (levers 10)"),
    ("gan", "anchor", "structure", "--anchor structure, removed after vaegan 0.1.0 (levers 24)"),
    ("gan", "anchor", "feature", "--anchor feature, removed after vaegan 0.1.0 (never measured;"),
    ("gan", "disc_head", "patch", "--disc-head patch, removed after vaegan 0.1.0 (levers 15)"),
    ("gan", "disc_init", "encoder", "--disc-init encoder, removed after vaegan 0.1.0 (levers 19)"),
    ("gan", "top_k", 0.5, "--top-k 0.5, removed after vaegan 0.1.0 (levers 19)"),
    ("gan", "adaptive_weight", True, "--adaptive-weight, removed after vaegan 0.1.0 (levers 21)"),
    ("model", "decoder_norm", "group", "--decoder-norm group, removed after vaegan 0.1.0 (levers 22)"),
    ("gan", "disc_kind", "selfsup", "--disc-kind selfsup, removed after vaegan 0.1.0 (its race: FID 111.8"),
    (
        "gan",
        "adversarial_reconstructions",
        True,
        "--adversarial-reconstructions, removed after vaegan 0.1.0 (levers 32)",
    ),
    ("gan", "disc_convs", 2, "--disc-convs 2, removed after vaegan 0.1.0 (levers 32)"),
]


def with_setting(tmp_path: Path, section: str, name: str, value: object) -> Path:
    """A tiny checkpoint (GAN, or VAE for a model setting) whose config also stores `name` = `value`, as a
    vaegan that had the setting wrote it; the same without it is tmp_path / "c.pt"."""
    saved = vae_checkpoint() if section == "model" else gan_checkpoint(GANConfig(disc_channels=4))
    save_checkpoint(saved, tmp_path / "c.pt")
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    raw["config"][section][name] = value
    torch.save(seal(raw), tmp_path / "old.pt")
    return tmp_path / "old.pt"


@pytest.mark.parametrize("section, name, value", LOADS, ids=[f"{n}={v}" for _, n, v in LOADS])
def test_a_run_that_stored_a_removed_setting_at_the_value_that_remains_loads(
    tmp_path: Path, section: str, name: str, value: object
) -> None:
    loaded = load_checkpoint(with_setting(tmp_path, section, name, value))
    assert loaded.config == load_checkpoint(tmp_path / "c.pt").config


@pytest.mark.parametrize("section, name, value, named", REFUSED, ids=[f"{n}={v}" for _, n, v, _ in REFUSED])
def test_a_run_trained_with_a_removed_setting_is_refused_in_one_line_naming_it(
    tmp_path: Path, section: str, name: str, value: object, named: str
) -> None:
    with pytest.raises(VaeganError) as refused:
        load_checkpoint(with_setting(tmp_path, section, name, value))
    message = str(refused.value)
    assert f"old.pt: this run was trained with {named}" in message and "retrain it" in message
    assert "\n" not in message


def test_a_run_compiled_by_the_removed_auto_trial_loads_as_eager(tmp_path: Path) -> None:
    """--compile auto left with the run-time trial: such a run trained the same model, and resumes eager."""
    save_checkpoint(vae_checkpoint(), tmp_path / "c.pt")
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    raw["config"]["train"]["compile"] = "auto"
    torch.save(seal(raw), tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").config.train.compile == "off"  # type: ignore[union-attr]
