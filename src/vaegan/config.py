"""Frozen, validated configuration: one dataclass per concern, changed only through dataclasses.replace.

Every run writes its full config to `config.json` and embeds it in each checkpoint, so a checkpoint alone
rebuilds its model. Validation raises `VaeganError` with the fix; it never silently mutates a value.

The defaults are what `vaegan run` trains on 64x64 colour images, the best settings measured
(docs/results/levers/README.md): a config built with no arguments trains today's model. presets.py holds
what other kinds of data change, and checkpoint.upgrade() pins the defaults an older checkpoint trained with.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from vaegan.errors import VaeganError, not_a_file

Reconstruction = Literal["mse_sum", "mse_mean", "gaussian", "bce", "none"]  # none: KL only (losses.py)
ModelKind = Literal["vae", "ae"]
Output = Literal["tanh", "sigmoid"]
GANLoss = Literal["nonsaturating", "minimax", "hinge"]
GANInit = Literal["vae", "scratch"]
Anchor = Literal["none", "decoder", "pixel"]
Precision = Literal["auto", "fp32", "bf16"]
MemoryFormat = Literal["auto", "channels_last", "contiguous"]
Compile = Literal["off", "on"]
Upsample = Literal["transpose", "resize"]
Latents = Literal["normal", "fitted"]
PriorKind = Literal["mixture", "flow"]
DiscKind = Literal["conv", "projected"]

# The choices as tuples, for flags and messages: derived from the types so the two cannot drift.
RECONSTRUCTIONS: tuple[str, ...] = get_args(Reconstruction)
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
GAN_LOSSES: tuple[str, ...] = get_args(GANLoss)
GAN_INITS: tuple[str, ...] = get_args(GANInit)
ANCHORS: tuple[str, ...] = get_args(Anchor)
LATENTS: tuple[str, ...] = get_args(Latents)
PRIORS: tuple[str, ...] = get_args(PriorKind)
DISC_KINDS: tuple[str, ...] = get_args(DiscKind)
PRECISIONS: tuple[str, ...] = get_args(Precision)
MEMORY_FORMATS: tuple[str, ...] = get_args(MemoryFormat)
COMPILES: tuple[str, ...] = get_args(Compile)
UPSAMPLES: tuple[str, ...] = get_args(Upsample)
DIFFAUGMENTS = ("color", "translation", "cutout")  # vaegan.augment.TRANSFORMS, in the paper's order


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise VaeganError(message)


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    _check(value in choices, f"{what} must be one of {', '.join(choices)}, got {value!r}")


# The config section each dataclass is, for messages that name a value as the TOML file spells it.
SECTIONS = {"DataConfig": "data", "ModelConfig": "model", "LossConfig": "loss", "TrainConfig": "train"}
SECTIONS |= {"RunSettings": "train", "GANConfig": "gan", "GANRunConfig": "gan run"}
KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


_HINTS: dict[type, dict[str, Any]] = {}  # get_type_hints per class, once: configs are built in loops


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _type_ok(value: Any, hint: Any) -> bool:
    """`value` fits the field's annotation: bool is no int, an int is a float, a Literal needs a str."""
    if get_origin(hint) in (Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in get_args(hint))
    if get_origin(hint) is Literal:
        return isinstance(value, str)  # which string: _check_choice, with the choices in its message
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _check_types(config: Any) -> None:
    """Every plain field of `config` has its annotated type: a TOML `epochs = 1.5` or `tensorboard = "yes"`
    is refused by name here rather than trained with (or failing later with an unrelated message)."""
    for name in _hints(type(config)):
        problem = type_problem(type(config), name, getattr(config, name, None))
        if problem:
            raise VaeganError(problem)


def type_problem(cls: type, name: str, value: Any) -> str | None:
    """Why `value` cannot be field `name` of config class `cls`, naming it as section.name; None when it can."""
    hint = _hints(cls)[name]
    if get_origin(hint) is ClassVar or dataclasses.is_dataclass(value) or _type_ok(value, hint):
        return None
    base = next((a for a in (get_args(hint) or (hint,)) if a is not type(None)), hint)
    kind = "a string" if get_origin(base) is Literal else KINDS.get(base, str(base))
    section = SECTIONS.get(cls.__name__, cls.__name__)
    return f"{section}.{name} must be {kind}, got {value!r} ({type(value).__name__})"


def check_device(device: str, what: str = "device") -> None:
    ok = isinstance(device, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", device)
    _check(bool(ok), f"{what} must be auto, cpu, cuda or cuda:N, got {device!r}")


def _check_range(value: float, low: float, high: float, what: str, fix: str = "") -> None:
    """low <= value <= high and finite (NaN fails every comparison, so it never slips through)."""
    ok = isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
    bounds = " and ".join(str(b) if isinstance(b, int) else f"{b:g}" for b in (low, high))
    _check(ok, f"{what} must be between {bounds}, got {value!r}{'; ' + fix if fix else ''}")


# Sane limits on what a config may ask for. They also bound a forged checkpoint: the model its config
# describes is built before any tensor is read into it (see checkpoint.check_tensors).
MAX_IMAGE_SIZE = 1024
MAX_LATENT_DIM = 4096
MAX_PRIOR_COMPONENTS = 1000
MAX_DECODER_CONVS = 4  # convs per decoder level; 3 already bought nothing (docs/results/levers/README.md)
MAX_WIDTH = 512  # base channels of the encoder, decoder and discriminator (the deepest layer is 8x)
MAX_GRID = 1024  # images in a per-epoch grid
MAX_SEED = 2**32 - 1  # a seed is 32 bits, so seed + k still fits torch's 64-bit seeds (10**23 overflowed)
MAX_BATCH = 8192  # 8192 64x64 RGB images are 400 MB in fp32 before a single activation
MAX_EPOCHS = 10**6  # a time-limited race's "until the budget ends it"; seed * 1_000_003 + epoch fits 64 bits
MAX_STEPS = 10**12  # any step count (warm-ups, decay): "never" to a run, far from 64 bits; --min-steps: MAX_EPOCHS
MAX_QUALITY_SAMPLES = 50_000  # images generated and held for each FID: 2.4 GB of 64x64 fp32 at the limit
MAX_DIVERSITY_SAMPLES = 4096  # their pairwise distance matrix is n x n


@dataclass(frozen=True)
class DataConfig:
    source: str = "emoji"  # emoji | emoji:people | emoji:faces | fashion-mnist | mnist | a folder path
    root: str | None = None  # where a named dataset lives; None means its default location
    image_size: int = 64
    channels: int = 3  # 3 = RGB, 1 = grey
    val_fraction: float = 0.1
    split_seed: int = 0
    cache_dir: str | None = None  # rendered emoji and feature nets; None means ~/.cache/vaegan

    def __post_init__(self) -> None:
        _check_types(self)
        _check_range(self.image_size, 16, MAX_IMAGE_SIZE, "image size", "try --image-size 64")
        _check(self.channels in (1, 3), f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        _check_range(self.split_seed, 0, MAX_SEED, "split seed")
        _check(0.0 <= self.val_fraction < 1.0, f"val fraction must be in [0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class ModelConfig:
    kind: ModelKind = "vae"  # the plain autoencoder baseline "ae" has no sampling and no KL
    image_size: int = 64
    channels: int = 3
    latent_dim: int = 64
    base_channels: int = 32  # width of the first conv; doubles per downsampling, capped at 8x
    output: Output = "tanh"  # tanh for data in [-1, 1], sigmoid for [0, 1] (BCE)
    upsample: Upsample = "resize"  # decoder x2 steps: resize (nearest + 3x3, no checkerboard) | transpose (4x4/2)
    decoder_convs: int = 2  # convs per decoder level: the x2 step, then decoder_convs - 1 3x3 convs at its size
    prior_components: int = 100  # Gaussians in the mixture fitted to the training latents (prior.py), the sampler
    # the fitted prior that draws z: a flow fitted to the training latents (flow_prior.py; levers 29), or the
    # mixture of prior_components Gaussians; a config-file key, no flag
    prior: PriorKind = "flow"

    def __post_init__(self) -> None:
        _check_types(self)
        _check_choice(self.kind, MODEL_KINDS, "model")
        _check_choice(self.upsample, UPSAMPLES, "upsample")
        _check_range(self.image_size, 16, MAX_IMAGE_SIZE, "image size", "try --image-size 64")
        _check(self.image_size % 2 == 0, f"image size must be even (stride-2 layers), got {self.image_size}; try 64")
        _check(self.channels in (1, 3), f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        _check_range(self.latent_dim, 1, MAX_LATENT_DIM, "latent dim")
        _check_range(self.base_channels, 1, MAX_WIDTH, "base channels")
        _check_range(self.decoder_convs, 1, MAX_DECODER_CONVS, "decoder convs")
        _check_choice(self.output, get_args(Output), "output")
        _check_range(self.prior_components, 1, MAX_PRIOR_COMPONENTS, "prior components")
        _check_choice(self.prior, PRIORS, "prior")

    @property
    def value_range(self) -> tuple[float, float]:
        return (-1.0, 1.0) if self.output == "tanh" else (0.0, 1.0)


@dataclass(frozen=True)
class LossConfig:
    reconstruction: Reconstruction = "mse_sum"  # mse_sum and bce are per-image sums, mse_mean a per-pixel mean
    beta: float = 1.0
    kl_warmup_steps: int = 500  # beta rises linearly from 0 over this many steps
    # > 0: training adds msssim_weight * (1 - MS-SSIM(x_hat, x)) per pixel (losses.msssim_term), a sharper
    # reconstruction term beside the likelihood; validation's -ELBO leaves it out.
    msssim_weight: float = 0.3

    def __post_init__(self) -> None:
        _check_types(self)
        _check_choice(self.reconstruction, RECONSTRUCTIONS, "reconstruction")
        _check_range(self.msssim_weight, 0.0, 1e4, "MS-SSIM weight")
        _check(math.isfinite(self.beta) and self.beta >= 0, f"beta must be finite and >= 0, got {self.beta}")
        _check(self.kl_warmup_steps >= 0, f"kl warm-up steps must be >= 0, got {self.kl_warmup_steps}")
        _check_range(self.kl_warmup_steps, 0, MAX_STEPS, "kl warm-up steps")


@dataclass(frozen=True)
class RunSettings:
    """The settings every training stage has, declared once; [train] and [gan] each carry a copy."""

    epochs: int = 10  # each stage sets its own (TrainConfig, GANConfig)
    batch_size: int = 64
    seed: int = 0  # initialisation, data order and noise
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Precision = "auto"  # bf16 autocast on CPUs with bf16 instructions (training.placement)
    memory_format: MemoryFormat = "auto"  # channels_last on a CPU, contiguous on a GPU (training.placement)
    grid_size: int = 64  # images in the per-epoch sample and reconstruction grids
    grid_every: int = 1  # epochs between those grids (and the last epoch): progress.gif's frames
    checkpoint_every: int = 1  # epochs
    quality_every: int = 5  # epochs between FID & co. of prior samples (and the last epoch); 0 = never
    quality_samples: int = 1000  # generated and held-out images per measurement
    min_steps: int = 300  # optimiser steps at least: small data trains more epochs (presets.step_budget)
    max_minutes: float = 0.0  # stop after the epoch that would run past this much training; 0 = no limit
    tensorboard: bool = False  # also write the scalars and sample grids as TensorBoard events

    def __post_init__(self) -> None:
        _check_types(self)
        epochs = "GAN epochs (--gan-epochs)" if SECTIONS.get(type(self).__name__) == "gan" else "epochs"
        _check(self.epochs >= 1, f"{epochs} must be >= 1, got {self.epochs}")
        _check_range(self.epochs, 1, MAX_EPOCHS, epochs)
        _check(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")
        _check_range(self.batch_size, 1, MAX_BATCH, "batch size")
        _check(self.quality_every >= 0 and self.quality_samples >= 10, "quality every must be >= 0, samples >= 10")
        _check_range(self.quality_samples, 10, MAX_QUALITY_SAMPLES, "quality samples")
        _check_range(self.seed, 0, MAX_SEED, "seed")
        check_device(self.device)
        _check_range(self.grid_size, 1, MAX_GRID, "grid size")
        _check(self.checkpoint_every >= 1, f"checkpoint every must be >= 1 epoch, got {self.checkpoint_every}")
        _check_range(self.checkpoint_every, 1, MAX_EPOCHS, "checkpoint every")
        _check_range(self.grid_every, 1, MAX_EPOCHS, "grid every")
        _check_range(self.quality_every, 0, MAX_EPOCHS, "quality every")
        # at most MAX_EPOCHS: data of one batch then trains at most MAX_EPOCHS epochs (presets.step_budget)
        _check_range(self.min_steps, 0, MAX_EPOCHS, "min steps (--min-steps)")
        _check(
            math.isfinite(self.max_minutes) and self.max_minutes >= 0,
            f"max minutes must be >= 0 (0 = no limit), got {self.max_minutes}",
        )
        _check_choice(self.precision, PRECISIONS, "precision")
        _check_choice(self.memory_format, MEMORY_FORMATS, "memory format")


def stage_flag(stage: str, name: str) -> str:
    """The flag of a stage's own length, batch or time limit (`name`: epochs, batch-size, max-minutes): --epochs
    for the VAE, --gan-epochs for the GAN, as `vaegan run` and train-gan spell them."""
    return f"--{name}" if stage.lower() == "vae" else f"--gan-{name}"


@dataclass(frozen=True)
class TrainConfig(RunSettings):
    """The VAE stage's [train] section."""

    epochs: int = 30
    lr: float = 1e-3
    lr_warmup_steps: int = 100  # the learning rate rises linearly from lr / this over this many steps
    # torch.compile the VAE's step: 1.2x its eager speed on 64 px colour, but tens of seconds to compile and a
    # C++ compiler to need, so a quick run does not win it back (docs/PERFORMANCE.md); opt in for long runs
    compile: Compile = "off"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.compile, COMPILES, "compile")
        _check(math.isfinite(self.lr) and self.lr > 0, f"learning rate must be finite and > 0, got {self.lr}")
        _check(self.lr_warmup_steps >= 0, f"lr warm-up steps must be >= 0, got {self.lr_warmup_steps}")
        _check_range(self.lr_warmup_steps, 0, MAX_STEPS, "lr warm-up steps")


@dataclass(frozen=True)
class VAERunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(
            (self.model.image_size, self.model.channels) == (self.data.image_size, self.data.channels),
            "model and data disagree on image size or channels; set them through --image-size/--channels",
        )
        _check(
            not (self.model.kind == "ae" and self.loss.reconstruction == "none"),
            "--model ae with --recon none trains with no loss at all (an autoencoder has no KL term); "
            "pick a reconstruction loss with --recon, or --model vae for the KL-only ablation",
        )
        wants_sigmoid = self.loss.reconstruction == "bce"
        _check(
            (self.model.output == "sigmoid") == wants_sigmoid,
            "BCE needs a sigmoid output on [0, 1] data and MSE a tanh output on [-1, 1]; "
            "build configs with vae_run_config() so the two agree",
        )


@dataclass(frozen=True)
class GANConfig(RunSettings):
    """The GAN stage's [gan] section."""

    epochs: int = 20
    # -log D(G(z)) | log(1 - D(G(z))) | hinge. Hinge with DiffAugment below sharpened the same-z samples more
    # than the non-saturating loss, with fewer specks (levers 31)
    loss: GANLoss = "hinge"
    init: GANInit = "vae"  # vae: the generator starts as the trained decoder; scratch: random weights (baseline)
    # conv: D's own conv stack on the image; projected: small heads on the frozen VAE encoder's maps at up to
    # three scales (Projected GAN, Sauer et al. 2021). models/gan.py
    disc_kind: DiscKind = "conv"
    disc_channels: int = 32  # width of the discriminator's first conv (the projected D's: of each head)
    # G starts trained and D from random weights: G at a quarter of D's rate, and D alone for the first 100
    # steps, gave the same-z samples twice the VAE's sharpness at a defect score near real's, where G at D's
    # rate from step one added specks and holes (levers 30)
    lr_g: float = 5e-5
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # discriminator updates per generator update. 4: D keeps ahead of the fine-tuned G, so the D gap opens and
    # the holes and specks go, a third cheaper per step than 1, at the 6-minute budget's FID (levers 34, 41)
    d_steps: int = 4
    # the step from which D and G alternate again, d_steps holding before it; 0: d_steps for the whole stage.
    # 1,200 is past make run's and the 6-minute budget's stages, and a 30-minute stage drew a better FID
    # alternating after it than at 4 throughout (levers 41)
    d_steps_until: int = 1200
    d_warmup_steps: int = 100  # D alone learns real vs the decoder's samples before G moves
    anchor: Anchor = "pixel"  # decoder: L2 to the frozen decoder, same z; pixel: G(mean of q(z|x)) to x
    anchor_weight: float = 10.0  # on [-1, 1] data
    anchor_decay_steps: int = 0  # the anchor weight falls linearly to 0 over this many steps; 0 keeps it
    # normal: G's z ~ N(0, I); fitted: z from the prior (flow or mixture) fitted to the VAE's training latents
    # (prior.py), where the decoder already draws typical images, for training, grids and samples alike
    latents: Latents = "fitted"
    ema_decay: float = 0.999  # EMA of generator weights used for sampling; 0 turns it off
    diffaugment: str = "color,translation"  # DiffAugment policy for what D sees; "" = off (levers 31)
    # R1 penalty gamma/2 * E||grad_x D(x)||^2 on real images in D's loss; 0 = off. 1: at 50 (levers 28) D sat at
    # chance, D(x) - D(G(z)) 0.03, and taught G nothing; the slow G above keeps the holes away instead (levers 30)
    r1_gamma: float = 1.0
    r1_every: int = 16  # lazy R1: the penalty, times this, on every r1_every-th D step only (StyleGAN2's 16)
    collapse_fraction: float = 0.5  # warn when sample diversity < this fraction of the real data's
    diversity_samples: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self.loss, GAN_LOSSES, "GAN loss")
        _check_choice(self.init, GAN_INITS, "init")
        _check_choice(self.anchor, ANCHORS, "anchor")
        _check_choice(self.latents, LATENTS, "latents")
        _check_choice(self.disc_kind, DISC_KINDS, "discriminator kind")
        lrs_ok = all(math.isfinite(lr) and lr > 0 for lr in (self.lr_g, self.lr_d))
        _check(lrs_ok, f"GAN learning rates must be finite and > 0, got {self.lr_g} and {self.lr_d}")
        _check_range(self.disc_channels, 1, MAX_WIDTH, "disc channels")
        _check(0.0 <= self.beta1 < 1.0, f"beta1 must be in [0, 1), got {self.beta1}")
        _check(0.0 <= self.beta2 < 1.0, f"beta2 must be in [0, 1), got {self.beta2}")
        _check(self.d_steps >= 1, f"d steps must be >= 1, got {self.d_steps}")
        _check(self.d_warmup_steps >= 0, f"d warm-up steps must be >= 0, got {self.d_warmup_steps}")
        _check_range(self.d_warmup_steps, 0, MAX_STEPS, "d warm-up steps")
        _check_range(self.d_steps, 1, 100, "d steps")
        _check_range(self.d_steps_until, 0, MAX_STEPS, "d steps until")
        weight_ok = math.isfinite(self.anchor_weight) and self.anchor_weight >= 0
        _check(weight_ok, f"anchor weight must be finite and >= 0, got {self.anchor_weight}")
        _check(self.anchor_decay_steps >= 0, f"anchor decay steps must be >= 0, got {self.anchor_decay_steps}")
        _check_range(self.anchor_decay_steps, 0, MAX_STEPS, "anchor decay steps")
        _check_range(self.diversity_samples, 2, MAX_DIVERSITY_SAMPLES, "diversity samples")
        _check(0.0 <= self.ema_decay < 1.0, f"EMA decay must be in [0, 1), got {self.ema_decay}")
        unknown = [p for p in self.diffaugment.split(",") if p.strip() and p.strip() not in DIFFAUGMENTS]
        _check(not unknown, f"unknown DiffAugment transforms {unknown}; use a comma list of {', '.join(DIFFAUGMENTS)}")
        _check(self.r1_gamma >= 0, f"R1 gamma must be >= 0, got {self.r1_gamma}")
        _check(self.r1_every >= 1, f"R1 every must be >= 1 (1 = every step), got {self.r1_every}")
        _check_range(self.r1_every, 1, MAX_STEPS, "R1 every")
        _check(0.0 < self.collapse_fraction < 1.0, f"collapse fraction must be in (0, 1), got {self.collapse_fraction}")


@dataclass(frozen=True)
class GANRunConfig:
    vae_checkpoint: str = ""  # the trained VAE whose decoder is the generator's start and whose data it uses
    gan: GANConfig = field(default_factory=GANConfig)

    def __post_init__(self) -> None:
        _check_types(self)
        _check(bool(self.vae_checkpoint), "the GAN stage needs a trained VAE: pass --vae RUN_OR_CHECKPOINT")


def vae_run_config(**sections: Any) -> VAERunConfig:
    """A VAERunConfig whose model matches the data's size and channels and the loss's value range.

    `sections` maps data/model/loss/train to dicts of overrides.
    """
    data = from_dict(DataConfig, sections.get("data", {}))  # from_dict: unknown keys are named, not a TypeError
    loss = from_dict(LossConfig, sections.get("loss", {}))
    model_kw = {
        "image_size": data.image_size,
        "channels": data.channels,
        "output": "sigmoid" if loss.reconstruction == "bce" else "tanh",
        **sections.get("model", {}),
    }
    model = from_dict(ModelConfig, model_kw)
    return VAERunConfig(data=data, model=model, loss=loss, train=from_dict(TrainConfig, sections.get("train", {})))


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


T = TypeVar("T")


def from_dict(cls: type[T], raw: dict[str, Any]) -> T:
    """Rebuild a (nested) config dataclass; unknown keys are an error that names them."""
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(known))
    _check(not unknown, f"unknown config keys for {cls.__name__}: {unknown}; valid keys are {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        sub = known[name].default_factory  # type: ignore[misc]
        if isinstance(value, dict) and sub is not dataclasses.MISSING and dataclasses.is_dataclass(sub):
            kwargs[name] = from_dict(sub, value)  # type: ignore[arg-type]
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise VaeganError(f"bad config for {cls.__name__}: {exc}") from exc


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise VaeganError(
            f"config file {path} {not_a_file(path, 'a TOML file')}; pass the path of a TOML file such as "
            "configs/emoji.toml"
        )
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VaeganError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:  # a file we may not read: its permissions, not the disk's space, are the fix
        reason = (exc.strerror or type(exc).__name__).lower()
        raise VaeganError(
            f"cannot read config file {path}: {reason}; make it readable (chmod u+r) or pass another"
        ) from exc


def write_json(config: Any, path: Path) -> None:
    path.write_text(json.dumps(to_dict(config), indent=2) + "\n")
