"""The explorer's operations on one run: validated JSON values in, latents and PNG bytes out.

A thin layer over vaegan.latent and vaegan.pictures so the HTTP handler (server.py) only routes and maps
errors. Every input a browser sends is checked here and a bad one raises ApiError, which the server turns
into HTTP 400 with the message; the models run under one lock because ThreadingHTTPServer handles each
request on its own thread and a module must not run two forwards at once.
"""

from __future__ import annotations

import base64
import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaegan import latent
from vaegan.data import ImageDataset, to_uint8
from vaegan.errors import VaeganError
from vaegan.pictures import RunModels, dataset, load_models
from vaegan.runs import open_run
from vaegan.viz import to_pil

DEFAULT_SLIDERS = 8  # the page shows sliders for the most active dimensions only; the rest stay as set
MAX_STEPS = 32  # an interpolation strip longer than this is unreadable and slow to decode


class ApiError(Exception):
    """A bad request from the page: the message says what was wrong and is shown to the user."""


def png_bytes(image: torch.Tensor) -> bytes:
    """uint8 (C, H, W) -> PNG file bytes; compress_level 1 because these are tiny and latency matters."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@dataclass
class Explorer:
    models: dict[str, RunModels]  # stage -> models; every stage shares the VAE encoder and the config
    data: ImageDataset  # the held-out images the page can encode
    kl: torch.Tensor  # (D,) mean KL per dimension over `data`, nats
    default_stage: str
    name: str = "run"

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    @classmethod
    def from_run(cls, run: str | Path, stage: str | None = None, data: ImageDataset | None = None) -> Explorer:
        """Load every stage of `run`; `data` replaces the run's validation split (tests inject tiny data)."""
        opened = open_run(run)
        stages = tuple(opened.stages)
        if stage is not None and stage not in stages:
            raise VaeganError(f"{run} has no {stage} stage (it has {', '.join(stages)}); pick --stage {stages[0]}")
        models = {s: load_models(opened, s) for s in stages}
        first = models[stages[0]]
        data = dataset(first) if data is None else data
        if len(data) == 0:
            raise VaeganError(f"{run}'s dataset has no images to explore; check the data the run was trained on")
        mean, logvar = first.encode_images(data.images)
        name = Path(run).resolve().name
        return cls(models, data, latent.kl_per_dim(mean, logvar), stage or stages[-1], name)

    @property
    def latent_dim(self) -> int:
        return int(self.kl.shape[0])

    @property
    def value_range(self) -> tuple[float, float]:
        return next(iter(self.models.values())).cfg.model.value_range

    def info(self) -> dict[str, Any]:
        cfg = next(iter(self.models.values())).cfg
        order = torch.argsort(self.kl, descending=True)
        return {
            "run": self.name,
            "latent_dim": self.latent_dim,
            "stages": list(self.models),
            "stage": self.default_stage,
            "active_dims": order[:DEFAULT_SLIDERS].tolist(),  # most informative first
            "kl": [round(float(v), 4) for v in self.kl],
            "active_threshold": latent.ACTIVE_KL,
            "image_size": cfg.model.image_size,
            "channels": cfg.model.channels,
            "dataset_size": len(self.data),
            "dataset": cfg.data.source,
        }

    # -- validation: each returns a clean value or raises ApiError naming the field and what it wants

    def stage(self, body: dict[str, Any]) -> RunModels:
        stage = body.get("stage", self.default_stage)
        if stage not in self.models:
            raise ApiError(f"unknown stage {stage!r}; this run has {', '.join(self.models)}")
        return self.models[stage]

    def latent(self, value: Any, field: str = "z") -> torch.Tensor:
        if not isinstance(value, list) or len(value) != self.latent_dim:
            got = f"{len(value)} values" if isinstance(value, list) else type(value).__name__
            raise ApiError(f"{field} must be a list of {self.latent_dim} numbers, got {got}")
        # bool is an int in Python; json.loads gives inf/nan only if asked, but check anyway
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            raise ApiError(f"{field} must hold only finite numbers")
        return torch.tensor(value, dtype=torch.float32)

    def index(self, value: Any, field: str = "index") -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(self.data):
            raise ApiError(f"{field} must be an image index from 0 to {len(self.data) - 1}, got {value!r}")
        return value

    @staticmethod
    def number(body: dict[str, Any], field: str, default: float, lo: float, hi: float) -> float:
        value = body.get(field, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
            raise ApiError(f"{field} must be a number from {lo:g} to {hi:g}, got {value!r}")
        return float(value)

    # -- operations

    def decode(self, z: torch.Tensor, models: RunModels) -> torch.Tensor:
        """(B, D) latents -> uint8 (B, C, H, W), exactly what the model draws for them."""
        with self.lock, torch.no_grad():
            return to_uint8(models.decode(z), self.value_range)

    def decode_png(self, body: dict[str, Any]) -> bytes:
        return png_bytes(self.decode(self.latent(body.get("z")).unsqueeze(0), self.stage(body))[0])

    def thumbnail_png(self, index: int) -> bytes:
        return png_bytes(self.data.images[self.index(index)])

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        """The posterior mean and std of a held-out image: the point in z the encoder thinks it is."""
        i = self.index(body.get("index"))
        models = next(iter(self.models.values()))
        with self.lock:
            mean, logvar = models.encode_images(self.data.images[i : i + 1])
        return {"index": i, "z": mean[0].tolist(), "std": torch.exp(0.5 * logvar[0]).tolist()}

    def random(self, body: dict[str, Any]) -> dict[str, Any]:
        """z ~ N(0, temperature^2 I) from a seed, so the same seed shows the same face everywhere."""
        seed = int(self.number(body, "seed", 0, 0, 2**63 - 1))
        temperature = self.number(body, "temperature", 1.0, 0.0, 5.0)
        z = latent.prior_latents(1, self.latent_dim, torch.Generator().manual_seed(seed), temperature)
        return {"seed": seed, "temperature": temperature, "z": z[0].tolist()}

    def endpoint(self, value: Any, field: str) -> torch.Tensor:
        """An interpolation end: a dataset index (encoded to its mean) or a latent list."""
        if isinstance(value, list):
            return self.latent(value, field)
        return torch.tensor(self.encode({"index": self.index(value, field)})["z"])

    def interpolate(self, body: dict[str, Any]) -> dict[str, Any]:
        a, b = self.endpoint(body.get("a"), "a"), self.endpoint(body.get("b"), "b")
        steps = self.number(body, "steps", 8, 2, MAX_STEPS)
        method = body.get("method", "slerp")
        if method not in latent.INTERPOLATIONS or not float(steps).is_integer():
            raise ApiError(f"method must be one of {', '.join(latent.INTERPOLATIONS)} and steps a whole number")
        z = latent.interpolate(a, b, int(steps), method)
        images = self.decode(z, self.stage(body))
        urls = ["data:image/png;base64," + base64.b64encode(png_bytes(im)).decode("ascii") for im in images]
        return {"z": z.tolist(), "images": urls}
