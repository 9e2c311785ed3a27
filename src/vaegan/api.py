"""vaegan from Python: train a run, open one, and use either stage's latent space.

    import vaegan
    model = vaegan.train(data="~/pictures/comics", out="runs/comics", preset="quick")
    model = vaegan.load("runs/comics")            # the GAN; stage="vae" for the VAE
    images = model.sample(16, seed=0)             # (16, C, H, W) floats in [0, 1]
    vaegan.to_pil(images).save("samples.png")     # one grid
    model.save_pretrained("comics-hub")           # safetensors, config.json, prior, model card
    model = vaegan.from_pretrained("comics-hub")  # or a Hugging Face repo id, OWNER/NAME

Images go in as file paths, PIL images or tensors ((N, C, H, W) uint8, or floats in [0, 1]); paths and
PIL images are prepared as training prepares a folder (upright, flattened onto white, short side resized,
centre cropped). Images come out as float tensors in [0, 1]. The CLI's tools call the same functions.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from vaegan import latent
from vaegan.data import to_float, to_uint8
from vaegan.errors import VaeganError
from vaegan.limits import MAX_SAMPLES, MAX_STEPS, MAX_VARIANTS, check_count, check_finite, check_strengths, seeded
from vaegan.pictures import RunModels, dataset, group_direction, load_models
from vaegan.runs import Run, open_run
from vaegan.viz import make_grid

ImageInput = torch.Tensor | Image.Image | str | Path | Sequence[Image.Image | str | Path]
UNIT = (0.0, 1.0)  # the value range the API speaks, whatever the model trained on


def train(
    data: str,
    out: str | Path,
    *,
    preset: str | None = None,
    config: str | Path | None = None,
    progress: bool | None = None,
    **settings: Any,
) -> Model:
    """Train a VAE on `data` (a folder, "emoji", "fashion-mnist", ...) and a GAN from it into `out`, as
    `vaegan run` does; returns the GAN. `settings` are the run command's flags in snake case
    (`epochs=3`, `gan_epochs=2`, `image_size=32`), or a setting without a flag by its config key
    (`grid_every=2`, `beta1=0.0`; configs/emoji.toml lists them); `preset` ("quick" or "full") and `config`
    (a TOML file) as its --preset and --config. Training an existing `out` again resumes and extends it.

    Progress (the CLI's log lines) goes to stderr unless your program configured logging itself;
    `progress=False` keeps it quiet, and True also forces progress bars off a terminal."""
    from vaegan.pipeline import run_pipeline
    from vaegan.settings import GAN_FLAGS, VAE_FLAGS, pipeline_configs, settings_sections

    given = settings_sections({"data": str(data), **settings}, VAE_FLAGS + GAN_FLAGS, config)
    vae_cfg, gan_cfg, wanted = pipeline_configs(given, preset)
    with speaking(progress is not False):
        run_pipeline(vae_cfg, gan_cfg, Path(out), wanted=wanted, progress=progress)
    return load(out)


@contextmanager
def speaking(wanted: bool) -> Iterator[None]:
    """vaegan's INFO lines on stderr for the duration, where nothing else would show them: no handler is
    configured anywhere (logging.basicConfig or the like) and `wanted`."""
    logger = logging.getLogger("vaegan")
    if not wanted or logger.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def load(run: str | Path, stage: str | None = None) -> Model:
    """A trained run (a folder or checkpoint) with the latent tools of `stage`: "vae", "gan" or None for
    its last stage."""
    opened = open_run(Path(run))
    return Model(opened, load_models(opened, stage))


def from_pretrained(source: str | Path, stage: str | None = None, *, revision: str | None = None) -> Model:
    """A Hub-style export (`model.save_pretrained`, `vaegan export --format hub`): a folder here, or a
    Hugging Face repo id OWNER/NAME (at `revision`), downloaded once into the Hub's cache."""
    from vaegan.hub import resolve

    return load(resolve(source, revision), stage)


@dataclass(frozen=True)
class Model:
    """One stage of a trained run: the VAE's encoder, and the VAE decoder or the GAN's EMA generator."""

    run: Run
    models: RunModels

    def __repr__(self) -> str:
        data = self.models.cfg.data
        return (
            f"vaegan.Model(stage={self.stage!r}, run={str(self.run.path)!r}, latent_dim={self.latent_dim}, "
            f"images={data.channels}x{data.image_size}x{data.image_size})"
        )

    @property
    def stage(self) -> str:
        return self.models.stage

    @property
    def latent_dim(self) -> int:
        return self.models.cfg.model.latent_dim

    def save_pretrained(self, folder: str | Path, *, repo_id: str | None = None) -> Path:
        """The whole run (every stage) as a Hub-style folder for `vaegan.from_pretrained`: weights in
        safetensors, config.json, the fitted prior, samples.png and a README.md model card, whose examples
        name `repo_id` when given."""
        from vaegan.hub import save_pretrained

        return save_pretrained(self.run, folder, repo_id=repo_id)

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
        """save_pretrained, then upload as the Hugging Face model repo `repo_id` (created when missing) with
        your login (`hf auth login`) or `token`; returns the commit's URL."""
        from vaegan.hub import push_to_hub

        return push_to_hub(self.run, repo_id, private=private, token=token)

    def held_out(self, n: int = 8) -> torch.Tensor:
        """The first n of the run's held-out images (its validation split), (n, C, H, W) in [0, 1]."""
        return to_float(dataset(self.models, "val").images[:n], UNIT)

    def images(self, images: ImageInput) -> torch.Tensor:
        """`images` prepared as the model sees them: (N, C, H, W) uint8 at its size and channels."""
        return prepare(images, self.models.cfg.data.image_size, self.models.cfg.data.channels)

    def encode(self, images: ImageInput) -> torch.Tensor:
        """The posterior means mu(x), (N, latent_dim)."""
        return self.posterior(images)[0]

    def posterior(self, images: ImageInput) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma) of q(z|x), (N, latent_dim) each."""
        mean, logvar = self.models.encode_images(self.images(images))
        return mean, torch.exp(0.5 * logvar)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim) -> images (N, C, H, W) in [0, 1]."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not bool(torch.isfinite(z).all()):
            raise VaeganError(f"z must be finite with shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        decoded = latent.decode_batched(self.models.decode, z.float())
        return to_float(to_uint8(decoded, self.models.cfg.model.value_range), UNIT)

    def sample_latents(self, n: int, *, seed: int = 0, temperature: float = 1.0, sampler: str = "auto") -> torch.Tensor:
        """n z as `vaegan sample` draws them: "fitted" (the prior fitted to the training latents),
        "prior" (N(0, I)) or "auto" (the stage's own: fitted for the VAE, the GAN's training z)."""
        from vaegan.prior import SAMPLERS, sample_latents

        check_count(n, 1, MAX_SAMPLES, "n")
        check_finite(temperature, "temperature", low=0)
        if sampler not in SAMPLERS:
            raise VaeganError(f"unknown sampler {sampler!r}; use {', '.join(SAMPLERS)}")
        return sample_latents(self.run, self.stage, n, seeded(seed, "seed"), temperature, sampler)

    def sample(self, n: int, *, seed: int = 0, temperature: float = 1.0, sampler: str = "auto") -> torch.Tensor:
        """n generated images, (n, C, H, W) in [0, 1]."""
        return self.decode(self.sample_latents(n, seed=seed, temperature=temperature, sampler=sampler))

    def reconstruct(self, images: ImageInput) -> torch.Tensor:
        """Each image decoded from its posterior mean."""
        return self.decode(self.encode(images))

    def similar(self, images: ImageInput, n: int = 8, *, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
        """n look-alikes of each image, z = mu(x) + scale * sigma(x) * eps: (N, n, C, H, W)."""
        check_count(n, 1, MAX_VARIANTS, "n")
        generator = seeded(seed, "seed")
        mean, sigma = self.posterior(images)
        z = latent.similar_latents(mean, sigma, n, check_finite(scale, "scale"), generator, True)
        return self.decode(z.flatten(0, 1)).unflatten(0, (len(mean), n))

    def interpolate(self, a: ImageInput, b: ImageInput, steps: int = 8, *, method: str = "slerp") -> torch.Tensor:
        """The path from image a to image b through the latent space ("lerp" or "slerp"): (steps, C, H, W)."""
        if method not in latent.INTERPOLATIONS:
            raise VaeganError(f"unknown interpolation {method!r}; use {' or '.join(latent.INTERPOLATIONS)}")
        check_count(steps, 2, MAX_STEPS, "steps")
        za, zb = self.encode(a)[0], self.encode(b)[0]
        return self.decode(latent.interpolate(za, zb, steps, method))

    def direction(
        self, attribute: str | None = None, *, label: str | None = None, versus: str | None = None
    ) -> torch.Tensor:
        """The attribute vector (latent_dim,): mean z of the training images with `attribute` (emoji:
        "smiling", "skin_dark", ...) or class `label`, minus the mean of those without (or of `versus`)."""
        from vaegan import attributes

        if (attribute is None) == (label is None):
            raise VaeganError("name one of attribute= or label=")
        data = dataset(self.models, "train")
        if label is not None:
            groups = attributes.from_labels(data, label, versus, attributes.PYTHON)
        else:
            groups = attributes.from_attributes(data, str(attribute), versus, None, attributes.PYTHON)
        return group_direction(self.models, groups)

    def apply(
        self, images: ImageInput, direction: torch.Tensor, strengths: Sequence[float] = (-2, -1, 0, 1, 2)
    ) -> torch.Tensor:
        """Each image decoded from mu(x) + s * direction for each strength s: (N, len(strengths), C, H, W)."""
        steps = torch.tensor(check_strengths(list(strengths), "strengths"))
        swept = latent.apply_direction(self.encode(images), direction, steps)  # (N, S, D)
        return self.decode(swept.flatten(0, 1)).unflatten(0, swept.shape[:2])


def prepare(images: ImageInput, size: int, channels: int) -> torch.Tensor:
    """Paths, PIL images or tensors -> (N, channels, size, size) uint8."""
    from vaegan.data.folder import decode_pil, load_image_files

    if isinstance(images, torch.Tensor):
        batch = images if images.ndim == 4 else images.unsqueeze(0)
        if tuple(batch.shape[1:]) != (channels, size, size):
            raise VaeganError(f"image tensors must be (N, {channels}, {size}, {size}), got {tuple(images.shape)}")
        return batch if batch.dtype == torch.uint8 else to_uint8(batch, UNIT)
    items = [images] if isinstance(images, Image.Image | str | Path) else list(images)
    if all(isinstance(item, Image.Image) for item in items):
        arrays = [decode_pil(item, size, channels) for item in items]  # type: ignore[arg-type]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return load_image_files([Path(str(item)).expanduser() for item in items], size, channels)


def to_pil(images: torch.Tensor, nrow: int | None = None) -> Image.Image:
    """Images, (C, H, W), (N, C, H, W) or (N, M, C, H, W) as rows, -> one PIL grid: uint8 tensors as they
    are (0-255), float tensors as the API's images in [0, 1]."""
    if images.ndim not in (3, 4, 5) or images.shape[-3] not in (1, 3):
        shape = tuple(images.shape)
        raise VaeganError(f"images must be (C, H, W), (N, C, H, W) or (N, M, C, H, W) with C 1 or 3, got {shape}")
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim == 5:
        nrow, images = images.shape[1], images.flatten(0, 1)
    if images.dtype != torch.uint8:
        images = to_uint8(images, UNIT)
    grid = make_grid(images.cpu(), nrow=nrow)  # (C, H, W) uint8
    array = grid.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
