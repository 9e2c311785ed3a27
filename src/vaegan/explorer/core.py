"""The explorer's operations on one run: checked values in, latents and PNG bytes out, no HTTP.

Loaded once at start: every stage's decoder, the held-out images (the gallery), a latent map (held-out
images plus a sample of training images, encoded and projected on their two principal directions, as
`vaegan latent-map` does), the directions the sliders move along (directions.py) and each stage's
sampler for Random z (the fitted prior where `vaegan sample` uses it). Every decode and encode goes
through vaegan.latent, as the CLI's do. The web layer (api.py) validates types and ranges with typed
models; what depends on the run (z's length, an image index, a stage) is checked here and raises
ApiError. The models run under one lock: requests arrive on a thread pool and a module must not run two
forwards at once.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vaegan import latent
from vaegan.data import DataSplits, ImageDataset, load_splits, to_uint8
from vaegan.data.folder import decode_bytes
from vaegan.errors import VaeganError
from vaegan.explorer.directions import Direction, Principal, named_directions, principal_directions
from vaegan.explorer.uploads import DECODING
from vaegan.pictures import RunModels, load_models, pick
from vaegan.prior import Prior, fitted_prior, stage_latents
from vaegan.runs import Run, open_run
from vaegan.viz import to_pil

logger = logging.getLogger(__name__)

DEFAULT_SLIDERS = 8  # the page shows sliders for the most active dimensions first; the rest stay as set
MAP_IMAGES = 2000  # encoded for the map: enough to see the clusters, a few seconds to encode on a CPU
MAX_STEPS = 32  # an interpolation or traversal strip longer than this is unreadable and slow to decode


class ApiError(Exception):
    """A bad request from the page: the message says what was wrong and is shown to the user."""


def png_bytes(image: torch.Tensor) -> bytes:
    """uint8 (C, H, W) -> PNG file bytes; compress_level 1 because these are tiny and latency matters."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_url(image: torch.Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


@dataclass(frozen=True)
class LatentMap:
    data: ImageDataset  # the mapped images: held-out first, then the training sample
    held_out: int  # how many of them are held out
    means: torch.Tensor  # (N, D) posterior means
    points: torch.Tensor  # (N, 2) their PCA coordinates
    centre: torch.Tensor  # (D,) the plane's origin in z
    components: torch.Tensor  # (D, 2) the plane's axes in z: z = centre + components @ (x, y)


def map_data(splits: DataSplits, total: int, seed: int) -> tuple[ImageDataset, int]:
    """The held-out split plus a seeded sample of the training split, `total` images at most."""
    val = splits.val.subset(pick(total, len(splits.val), seed))
    train = splits.train.subset(pick(max(0, total - len(val)), len(splits.train), seed))
    both = [d for d in (val, train) if len(d)]
    keys = set.intersection(*(set(d.attributes) for d in both))
    labelled = all(d.labels is not None for d in both)
    joined = ImageDataset(
        images=torch.cat([d.images for d in both]),
        labels=torch.cat([d.labels for d in both if d.labels is not None]) if labelled else None,
        label_names=both[0].label_names,
        attributes={k: torch.cat([d.attributes[k] for d in both]) for k in sorted(keys)},
        names=sum((d.names for d in both), ()) if all(d.names for d in both) else (),
    )
    return joined, len(val)


def colourings(data: ImageDataset, held_out: int) -> list[dict[str, Any]]:
    """Ways to colour the map: by class, by each attribute with both groups present, by split."""
    found = []
    if data.labels is not None:
        names = list(data.label_names) or [str(c) for c in range(int(data.labels.max()) + 1)]
        found.append({"name": "class", "legend": names, "values": data.labels.tolist()})
    for name, mask in data.attributes.items():
        if 0 < int(mask.sum()) < len(data):
            found.append({"name": name, "legend": [f"not {name}", name], "values": mask.int().tolist()})
    split = [1] * held_out + [0] * (len(data) - held_out)
    found.append({"name": "split", "legend": ["training", "held-out"], "values": split})
    return found


def image_names(data: ImageDataset) -> list[str]:
    """A caption per image: its file or emoji name, else its class, else its index."""
    if data.names:
        return list(data.names)
    if data.labels is not None and data.label_names:
        return [f"{data.label_names[c]} #{i}" for i, c in enumerate(data.labels.tolist())]
    return [f"#{i}" for i in range(len(data))]


def refuse_non_finite(module: torch.nn.Module, path: Path) -> None:
    """A checkpoint whose training diverged decodes nothing and breaks the map's SVD: say so, naming it."""
    if any(t.is_floating_point() and not torch.isfinite(t).all() for t in module.state_dict().values()):
        raise VaeganError(
            f"{path} has NaN or infinite weights (its training diverged); explore an earlier checkpoint "
            "or retrain it, e.g. with a lower learning rate"
        )


def samplers(run: Run, train: torch.Tensor) -> dict[str, Prior | None]:
    """Each stage's "Random z" sampler, as `vaegan sample` picks it: the prior fitted to the training latents
    (None: N(0, I)) for a VAE and for a GAN trained on it. Fitted once; prior.pt (flow_prior.pt) keeps it."""
    kinds = {s: stage_latents(run, s) for s in run.stages}
    prior = None
    if "fitted" in kinds.values():
        if len(train) >= 2:
            prior = fitted_prior(run, images=train)
        else:
            logger.warning("too few training images to fit a prior; Random z draws from N(0, I)")
    return {s: prior if kind == "fitted" else None for s, kind in kinds.items()}


@dataclass
class Explorer:
    models: dict[str, RunModels]  # stage -> models; every stage shares the VAE encoder and the config
    gallery: ImageDataset  # the held-out images
    map: LatentMap
    directions: list[Direction]
    principal: list[Principal]  # the map means' principal directions, largest variance first
    kl: torch.Tensor  # (D,) mean KL per dimension over the held-out images, nats
    samplers: dict[str, Prior | None]  # stage -> what Random z draws from (None: N(0, I))
    default_stage: str
    name: str = "run"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_run(
        cls, run: str | Path, stage: str | None = None, splits: DataSplits | None = None, seed: int = 0
    ) -> Explorer:
        """Load every stage of `run` and its data; `splits` replaces the run's data (tests inject tiny data)."""
        return load_explorer(run, stage, splits, seed)

    @property
    def latent_dim(self) -> int:
        return int(self.kl.shape[0])

    @property
    def value_range(self) -> tuple[float, float]:
        return next(iter(self.models.values())).cfg.model.value_range

    # -- run-dependent checks: each returns a clean value or raises ApiError naming the field

    def models_for(self, stage: str | None) -> RunModels:
        stage = stage or self.default_stage
        if stage not in self.models:
            raise ApiError(f"this run has no {stage} stage; it has {', '.join(self.models)}")
        return self.models[stage]

    def latent(self, values: list[float], field: str = "z") -> torch.Tensor:
        if len(values) != self.latent_dim:
            raise ApiError(f"{field} must be a list of {self.latent_dim} numbers, got {len(values)}")
        return torch.tensor(values, dtype=torch.float32)

    def index(self, value: int, field: str = "index") -> int:
        if not 0 <= value < len(self.gallery):
            raise ApiError(f"{field} must be an image index from 0 to {len(self.gallery) - 1}, got {value}")
        return value

    # -- operations

    def decode(self, z: torch.Tensor, stage: str | None) -> torch.Tensor:
        """(B, D) latents -> uint8 (B, C, H, W), exactly what the stage's model draws for them."""
        models = self.models_for(stage)
        with self.lock:
            return to_uint8(latent.decode_batched(models.decode, z), self.value_range)

    def decode_png(self, z: list[float], stage: str | None) -> bytes:
        return png_bytes(self.decode(self.latent(z).unsqueeze(0), stage)[0])

    def decode_strip(self, z: torch.Tensor, stage: str | None) -> list[str]:
        return [data_url(image) for image in self.decode(z, stage)]

    def thumbnail_png(self, index: int) -> bytes:
        return png_bytes(self.gallery.images[self.index(index)])

    def map_thumbnail_png(self, index: int) -> bytes:
        """Mapped image `index` (held-out or training), for the map's hover card."""
        if not 0 <= index < len(self.map.data):
            raise ApiError(f"index must be a map point from 0 to {len(self.map.data) - 1}, got {index}")
        return png_bytes(self.map.data.images[index])

    def gallery_page(self, offset: int, limit: int) -> dict[str, Any]:
        names = image_names(self.gallery)
        shown = range(min(offset, len(names)), min(offset + limit, len(names)))
        return {"total": len(names), "offset": offset, "items": [{"index": i, "name": names[i]} for i in shown]}

    def encode_images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, C, H, W) -> posterior mean and std, (B, D) each."""
        with self.lock:
            mean, logvar = next(iter(self.models.values())).encode_images(images)
        return mean, torch.exp(0.5 * logvar)

    def encode_index(self, index: int) -> dict[str, Any]:
        """The posterior mean and std of a held-out image: the point in z the encoder thinks it is."""
        i = self.index(index)
        mean, std = self.encode_images(self.gallery.images[i : i + 1])
        return {"index": i, "z": mean[0].tolist(), "std": std[0].tolist()}

    def encode_upload(self, payload: bytes) -> dict[str, Any]:
        """A user's image file, prepared as training images are (EXIF turn, white under transparency, short
        side resized, centre crop, RGB or grey), then encoded; nothing is written to disk."""
        model = next(iter(self.models.values())).cfg.model
        image = uploaded_image(payload, model.image_size, model.channels)
        mean, std = self.encode_images(image.unsqueeze(0))
        return {"z": mean[0].tolist(), "std": std[0].tolist(), "input": data_url(image)}

    def random(self, seed: int, temperature: float, stage: str | None) -> dict[str, Any]:
        """z from `stage`'s sampler at `temperature`, seeded: the same seed gives what `vaegan sample
        --seed` draws first, here and everywhere."""
        prior = self.samplers[self.models_for(stage).stage]
        z = one_latent(prior, self.latent_dim, seed, temperature)
        sampler = "normal" if prior is None else "fitted"
        return {"seed": seed, "temperature": temperature, "sampler": sampler, "z": z.tolist()}

    def endpoint(self, value: int | list[float], field: str) -> torch.Tensor:
        """An interpolation end: a held-out image index (encoded to its mean) or a latent list."""
        if isinstance(value, list):
            return self.latent(value, field)
        return torch.tensor(self.encode_index(self.index(value, field))["z"])

    def interpolate(
        self, a: int | list[float], b: int | list[float], steps: int, method: str, stage: str | None
    ) -> dict[str, Any]:
        z = latent.interpolate(self.endpoint(a, "a"), self.endpoint(b, "b"), steps, method)
        return {"z": z.tolist(), "images": self.decode_strip(z, stage)}

    def traverse(self, z: list[float], dim: int, span: float, steps: int, stage: str | None) -> dict[str, Any]:
        """z with dimension `dim` swept from -span to +span (the rest as they are): what that one axis draws."""
        if not 0 <= dim < self.latent_dim:
            raise ApiError(f"dim must be a latent dimension from 0 to {self.latent_dim - 1}, got {dim}")
        values, swept = latent.sweep(self.latent(z), dim, span, steps)
        return {"values": values.tolist(), "z": swept.tolist(), "images": self.decode_strip(swept, stage)}


def one_latent(prior: Prior | None, latent_dim: int, seed: int, temperature: float) -> torch.Tensor:
    """One z (D,) from `prior` (None: N(0, I)) at `temperature`, seeded as `vaegan sample --seed` draws."""
    generator = torch.Generator().manual_seed(seed)
    if prior is None:
        return latent.prior_latents(1, latent_dim, generator, temperature)[0]
    return prior.sample(1, generator, temperature)[0]


def uploaded_image(payload: bytes, size: int, channels: int) -> torch.Tensor:
    """A user's image file as uint8 (C, H, W), prepared as training images are (EXIF turn, white under
    transparency, short side resized, centre crop, RGB or grey); one ApiError line for anything else."""
    if not payload:
        raise ApiError("the request has no file in it; drop or pick an image file")
    try:
        with warnings.catch_warnings():  # the size alone, nothing decoded; decode_bytes refuses a bomb
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(payload)) as header:
                pixels = header.width * header.height
        with DECODING.held(pixels):
            array = decode_bytes(payload, size, channels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(f"that image has too many pixels ({exc}); send a smaller one") from exc
    except Exception as exc:  # noqa: BLE001 - whatever Pillow raises, the file is not a usable image
        raise ApiError("that file is not an image vaegan can read; drop a PNG, JPEG, WebP, BMP or GIF") from exc
    return torch.tensor(array).permute(2, 0, 1).contiguous()  # (H, W, C) -> (C, H, W)


def load_explorer(run: str | Path, stage: str | None, splits: DataSplits | None, seed: int) -> Explorer:
    """Load every stage of `run` and its data; `splits` replaces the run's data (tests inject tiny data)."""
    opened = open_run(run)
    stages = tuple(opened.stages)
    if stage is not None and stage not in stages:
        raise VaeganError(f"{run} has no {stage} stage (it has {', '.join(stages)}); pick --stage {stages[0]}")
    models = {s: load_models(opened, s) for s in stages}
    first = models[stages[0]]
    refuse_non_finite(first.vae, opened.stages["vae"].checkpoint_path)
    generator = models["gan"].decode if "gan" in models else None
    if isinstance(generator, torch.nn.Module):
        refuse_non_finite(generator, opened.stages["gan"].checkpoint_path)
    splits = load_splits(first.cfg.data, run) if splits is None else splits
    if len(splits.val) + len(splits.train) == 0:
        raise VaeganError(f"{run}'s dataset has no images to explore; check the data the run was trained on")
    gallery = splits.val if len(splits.val) else splits.train
    data, held_out = map_data(splits, MAP_IMAGES, seed)
    means, logvars = first.encode_images(data.images)
    if not torch.isfinite(means).all():
        raise VaeganError(f"{opened.stages['vae'].checkpoint_path} encodes images to NaN; it cannot be explored")
    points, centre, components = latent.pca_2d(means)
    kl = latent.kl_per_dim(means[:held_out], logvars[:held_out]) if held_out else latent.kl_per_dim(means, logvars)
    return Explorer(
        models,
        gallery,
        LatentMap(data, held_out, means, points, centre, components),
        named_directions(data, means),
        principal_directions(means),
        kl,
        samplers(opened, splits.train.images),
        stage or stages[-1],
        Path(run).resolve().name,
    )


def page_info(explorer: Explorer) -> dict[str, Any]:
    """What the page needs to lay itself out: the run, its stages, sliders and directions."""
    cfg = next(iter(explorer.models.values())).cfg
    return {
        "run": explorer.name,
        "latent_dim": explorer.latent_dim,
        "stages": list(explorer.models),
        "stage": explorer.default_stage,
        "active_dims": torch.argsort(explorer.kl, descending=True)[:DEFAULT_SLIDERS].tolist(),
        "kl": [round(float(v), 4) for v in explorer.kl],
        "active_threshold": latent.ACTIVE_KL,
        "image_size": cfg.model.image_size,
        "channels": cfg.model.channels,
        "dataset_size": len(explorer.gallery),
        "dataset": cfg.data.source,
        "directions": [
            {"name": d.name, "description": d.description, "vector": [round(float(v), 5) for v in d.vector]}
            for d in explorer.directions
        ],
        # axes through the map's centre; the page shows z's coordinate on each in units of its spread
        "principal": [
            {"name": f"PC{k + 1}", "share": p.share, "spread": p.spread, "axis": p.axis.tolist()}
            for k, p in enumerate(explorer.principal)
        ],
        "samplers": {s: "normal" if p is None else "fitted" for s, p in explorer.samplers.items()},
    }


def map_payload(explorer: Explorer) -> dict[str, Any]:
    """The points, how to colour them, and the plane in z, so the page can turn (x, y) into z."""
    m = explorer.map
    return {
        "points": [[round(float(x), 4), round(float(y), 4)] for x, y in m.points],
        "names": image_names(m.data),
        "colourings": colourings(m.data, m.held_out),
        "centre": m.centre.tolist(),
        "components": m.components.T.tolist(),  # [axis x (D values), axis y (D values)]
    }
