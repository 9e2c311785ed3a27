"""Export a run's decoder (VAE) or generator (GAN, EMA weights) as ONNX, checked against torch.

The graph maps z (batch, latent_dim) to images (batch, C, H, W) in the model's value range, with a dynamic
batch axis: [-1, 1] (tanh output, the default), or [0, 1] for a model trained with BCE (sigmoid output). To
save a picture, map [-1, 1] to 0-255 by (x + 1) * 127.5. onnx and onnxruntime are the optional extra
`vaegan[onnx]`, imported only here.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from vaegan.errors import VaeganError
from vaegan.paths import check_out_folder
from vaegan.pictures import RunModels, load_models
from vaegan.runs import open_run

log = logging.getLogger(__name__)

# `vaegan export --format`: ONNX files (export_run), a Hub-style folder (vaegan.hub.save_pretrained), and
# the latent explorer as a static site (vaegan.explorer.site.export_site)
FORMATS = ("onnx", "hub", "web")
TOLERANCE = 1e-4  # max absolute difference from torch; float32 kernels differ in summation order only
OPSET = 17


@dataclass(frozen=True)
class Exported:
    stage: str
    path: Path
    max_abs_error: float  # onnxruntime vs torch on a seeded batch
    value_range: tuple[float, float] = (-1.0, 1.0)  # of the output images


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise VaeganError(
            f"ONNX export needs onnx and onnxruntime ({exc.name} is missing); "
            "install them with: pip install 'vaegan[onnx]'"
        ) from exc


def export_decoder(decode: torch.nn.Module, latent_dim: int, path: Path) -> float:
    """Write `decode` (z -> image) to `path` as ONNX and return onnxruntime's max abs error vs torch."""
    _require_onnx()
    import onnxruntime

    decode = decode.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    z = torch.randn(3, latent_dim, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False) needs nothing beyond onnx; the dynamo exporter would also
        # need onnxscript. torch warns that the former is deprecated, which the user cannot act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            decode,
            (z,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["z"],
            output_names=["image"],
            dynamic_axes={"z": {0: "batch"}, "image": {0: "batch"}},
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    error = 0.0
    for batch in (1, 5):  # a batch size other than the traced one proves the axis is dynamic
        z = torch.randn(batch, latent_dim, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = decode(z).numpy()
        (got,) = session.run(None, {"z": z.numpy()})
        error = max(error, float(abs(got - expected).max()))
    if error > TOLERANCE:
        raise VaeganError(
            f"the ONNX model {path} differs from torch by {error:.2g} (> {TOLERANCE}); "
            "please report this with your torch and onnxruntime versions"
        )
    return error


def decoder_module(models: RunModels) -> torch.nn.Module:
    """The module that draws a stage's images from z: the VAE's decoder, or the GAN's EMA generator."""
    module = models.vae.decoder if models.stage == "vae" else models.decode
    assert isinstance(module, torch.nn.Module), f"the {models.stage} stage decodes with a {type(module).__name__}"
    return module


def export_run(
    run: str | Path, out: str | Path | None = None, stage: str | None = None, fmt: str = "onnx"
) -> list[Exported]:
    """Export every trained stage of `run` (or just `stage`) into `out` (default: the run folder).

    Files: decoder.onnx for the VAE stage, generator.onnx for the GAN stage.
    """
    if fmt not in FORMATS:
        raise VaeganError(f"unknown export format {fmt!r}; use {', '.join(FORMATS)}")
    if fmt != "onnx":  # a programming slip: the CLI sends hub and web to their own calls (FORMATS)
        raise ValueError(f"export_run writes ONNX only, not {fmt!r}")
    _require_onnx()
    run = Path(run)
    if out is not None and not onnx_file(Path(out)):
        check_out_folder(Path(out), "decoder.onnx and generator.onnx")  # before any model is loaded
    opened = open_run(run)
    pipeline = run.is_dir() and (run / "vae").is_dir()
    stages = [stage] if stage else (list(opened.stages) if pipeline else [opened.last])
    paths = onnx_paths(run, None if out is None else Path(out), [opened.stage(s).name for s in stages])
    results = []
    for wanted in stages:
        models = load_models(opened, wanted)
        module = decoder_module(models)
        path = paths[models.stage]
        error = export_decoder(module, models.cfg.model.latent_dim, path)
        log.debug("wrote %s (max abs difference from torch %.2g)", path, error)
        results.append(Exported(models.stage, path, error, models.cfg.model.value_range))
    return results


def onnx_file(out: Path) -> bool:
    """-o names the .onnx file itself (the spelling from before -o was a folder, cli/outputs.py)."""
    return out.suffix.lower() == ".onnx" and not out.is_dir()


def onnx_paths(run: Path, out: Path | None, stages: list[str]) -> dict[str, Path]:
    """Each stage's ONNX file: decoder.onnx and generator.onnx in -o (default: the run folder), or the one
    file -o names when one stage is exported."""
    names = {s: "decoder.onnx" if s == "vae" else "generator.onnx" for s in stages}
    if out is not None and onnx_file(out):
        if len(stages) > 1:
            raise VaeganError(
                f"-o {out} names one file, but this run exports {' and '.join(names.values())}; pass -o a "
                "folder, or --stage vae or --stage gan for one file"
            )
        return {stages[0]: out}
    folder = out if out is not None else (run.parent if run.is_file() else run)
    return {s: folder / name for s, name in names.items()}
