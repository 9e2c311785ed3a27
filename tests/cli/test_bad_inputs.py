"""Every bad input a careful or hostile user tried, through the CLI: one line, a non-zero exit, nothing
already saved changed. The table holds flags, paths, forged and broken checkpoints and refused resumes;
the tests below it cover what needs more than one command (divergence, resume, leftovers of a kill, a
full disk) and the forged checkpoint's memory, measured in a child process under a hard limit."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import load_checkpoint, seal
from vaegan.cli import main
from vaegan.flow_prior import FLOW_FORMAT, FLOW_NAME, RECIPE
from vaegan.metrics.features import cache_path
from vaegan.prior import fitted_prior
from vaegan.runs import open_run

GAN_TINY = ["--disc-channels", "4", "--gan-batch-size", "4", "--device", "cpu"]
GAN_TINY += ["--precision", "fp32", "--quality-every", "0", "--min-steps", "0"]  # exactly the epochs asked for


@dataclass(frozen=True)
class Env:
    data: Path  # a folder of 16 images
    vae: Path  # a trained 1-epoch VAE run
    gan: Path  # a trained 1-epoch GAN run from it
    tmp: Path  # this case's own folder
    patch: pytest.MonkeyPatch  # for the few cases the kernel lets root past (permissions), simulated


def image_folder(root: Path, n: int = 16) -> Path:
    folder = root / "pictures"
    folder.mkdir(parents=True)
    for i, image in enumerate(tiny_splits(n=max(n, 9)).train.images[:n]):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("bad_inputs")
    data = image_folder(root)
    assert main(["train-vae", "--data", str(data), "--epochs", "1", "--out", str(root / "vae"), *TINY_FLAGS]) == 0
    assert (
        main(["train-gan", "--vae", str(root / "vae"), "--gan-epochs", "1", "--out", str(root / "gan"), *GAN_TINY]) == 0
    )
    return data, root / "vae", root / "gan"


@pytest.fixture
def env(trained: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return Env(*trained, tmp=tmp_path, patch=monkeypatch)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """main(argv)'s exit code (argparse's SystemExit included) and its stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under the folders, by content hash: what "nothing saved has changed" compares."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def forged(env: Env, change: Callable[[dict[str, Any]], None], stage: str = "vae") -> str:
    """A copy of a real checkpoint with `change` applied to its payload, as a hostile file would be."""
    payload = torch.load((env.vae if stage == "vae" else env.gan) / "checkpoint.pt", weights_only=True)
    change(payload)
    if "checksum" in payload:
        seal(payload)  # a forger recomputes it: the checks behind it must hold on their own
    path = env.tmp / "forged.pt"
    torch.save(payload, path)
    return str(path)


def written(env: Env, content: bytes, name: str = "checkpoint.pt") -> str:
    path = env.tmp / name
    path.write_bytes(content)
    return str(path)


def a_file(env: Env) -> Path:
    path = env.tmp / "a_file"
    path.write_text("not a folder")
    return path


def train(env: Env, *flags: str) -> list[str]:
    return ["train-vae", "--data", str(env.data), "--out", str(env.tmp / "run"), *TINY_FLAGS, *flags]


def train_gan(env: Env, *flags: str) -> list[str]:
    return ["train-gan", "--vae", str(env.vae), "--out", str(env.tmp / "run"), *GAN_TINY, *flags]


def sample(env: Env, *flags: str, run: Path | str | None = None) -> list[str]:
    return ["sample", str(run or env.vae), "-o", str(env.tmp / "s.png"), *flags]


def setting(section: str, key: str, value: Any, **more: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the embedded config (size and channels in [data] too, as a careful forger would)."""

    def change(payload: dict[str, Any]) -> None:
        for k, v in {key: value, **more}.items():
            payload["config"][section][k] = v
            if k in ("image_size", "channels"):
                payload["config"]["data"][k] = v

    return change


def toml(env: Env, text: str) -> str:
    return written(env, text.encode(), "c.toml")


def from_file(env: Env, text: str) -> list[str]:
    """train-vae with a config file alone: no flag overrides what the file says."""
    return ["train-vae", "--config", toml(env, text), "--out", str(env.tmp / "run")]


def vae_copy(env: Env, prior: bytes | None = None) -> Path:
    """A copy of the trained VAE run in the case's folder, with its flow_prior.pt (the default prior) fitted,
    or these bytes as one."""
    run = env.tmp / "vae"
    shutil.copytree(env.vae, run)
    if prior is None:
        fitted_prior(open_run(run))
    else:
        (run / FLOW_NAME).write_bytes(prior)
    return run


def saved_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def forged_prior(env: Env) -> bytes:
    """A sealed flow_prior.pt of the right format and recipe whose flow has the wrong dimension."""
    step = load_checkpoint(env.vae / "checkpoint.pt").loop.step
    payload = {"format": FLOW_FORMAT, "vae_step": step, "recipe": dict(RECIPE)}
    payload |= {"mean": torch.zeros(5), "std": torch.ones(5), "field": {"project.weight": torch.zeros(4, 5)}}
    return saved_bytes(seal(payload))


def flipped(env: Env, name: str = "checkpoint.pt") -> str:
    """The VAE's checkpoint with two bytes flipped inside its largest tensor, as a bad disk or copy would."""
    data = bytearray((env.vae / "checkpoint.pt").read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        largest = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    name_length, extra_length = struct.unpack("<HH", data[largest.header_offset + 26 : largest.header_offset + 30])
    start = largest.header_offset + 30 + name_length + extra_length + largest.file_size // 2
    data[start] ^= 0xFF
    data[start + 1] ^= 0x01
    return written(env, bytes(data), name)


def half_of_the_checkpoint(env: Env) -> bytes:
    data = (env.vae / "checkpoint.pt").read_bytes()
    return data[: len(data) // 2]


def nan_weights(payload: dict[str, Any]) -> None:
    key = next(iter(payload["model"]))
    payload["model"][key] = torch.full_like(payload["model"][key], math.nan)


def vae_gone(env: Env) -> Callable[[dict[str, Any]], None]:
    """A GAN checkpoint whose links to its VAE, relative and absolute, lead to nothing in this case's folder."""

    def change(payload: dict[str, Any]) -> None:
        payload["vae_checkpoint"] = "gone-vae/checkpoint.pt"  # relative to the forged file, in env.tmp
        payload["config"]["vae_checkpoint"] = str(env.tmp / "gone-vae" / "checkpoint.pt")

    return change


def evil_pickle() -> bytes:
    return pickle.dumps({"format_version": 7, "stage": "vae", "x": Evil()}, protocol=2)


class Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("pwned",))


def bomb(env: Env) -> str:
    """A tiny PNG whose header claims 100,000 x 100,000 pixels: Pillow refuses it before decoding."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return written(env, bytes(data), "bomb.png")


def a_picture(env: Env) -> str:
    return str(next(env.data.glob("*.png")))


def trained_twice(env: Env) -> Path:
    assert main(train(env, "--epochs", "2")) == 0
    return env.tmp / "run"


def stopped_before_any_checkpoint(env: Env, stage: str) -> Path:
    run = env.tmp / "run"
    run.mkdir()
    (run / "config.json").write_bytes(((env.vae if stage == "vae" else env.gan) / "config.json").read_bytes())
    return run


def forged_feature_net(env: Env) -> str:
    """A cache folder whose feature net for the run's data is a forged file."""
    cache = env.tmp / "cache"
    path = cache_path(load_checkpoint(env.vae / "checkpoint.pt").config.data, cache)  # type: ignore[union-attr]
    path.parent.mkdir(parents=True)
    path.write_bytes(evil_pickle())
    return str(cache)


def evaluate(env: Env, *flags: str) -> list[str]:
    run = vae_copy(env)
    return ["evaluate", str(run), "-k", "0", "--samples", "20", "-o", str(env.tmp / "eval"), *flags]


def tool(name: str, env: Env, *flags: str) -> list[str]:
    return [name, str(env.vae), "-o", str(env.tmp / "out"), *flags]


# -- issue 63: bounds bypassed, values taken silently, messages that misled ------------------------------


def other_folder(env: Env) -> str:
    """A second folder of images, for attribute --folders WITH WITHOUT."""
    return str(image_folder(env.tmp / "other", n=4))


def data_copy(env: Env, name: str = "copy") -> Path:
    return Path(shutil.copytree(env.data, env.tmp / name))


def the_data_9_times(env: Env) -> list[str]:
    return [str(env.data)] * 9  # 72 image files: more than the 64 rows of a similar or attribute picture


def denied(env: Env, path: Path) -> None:
    """`path` unreadable, as the kernel answers a user without read permission (chmod 000): root reads any
    file, so the refusal is simulated where torch opens checkpoints and os.walk lists folders."""
    load, scandir = torch.load, os.scandir

    def no_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(f) == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(f))
        return load(f, *args, **kwargs)

    def no_scandir(p: Any = ".") -> Any:
        if not isinstance(p, int) and os.fspath(p) == str(path):  # an int: a folder opened by descriptor
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(p))
        return scandir(p)

    env.patch.setattr(torch, "load", no_load)
    env.patch.setattr(os, "scandir", no_scandir)


def unreadable_checkpoint(env: Env) -> Path:
    run = Path(shutil.copytree(env.vae, env.tmp / "locked"))
    denied(env, run / "checkpoint.pt")
    return run


def locked_subfolder(env: Env) -> Path:
    """A data folder of two subfolders, the second unreadable."""
    root = env.tmp / "locked"
    shutil.copytree(env.data, root / "open")
    shutil.copytree(env.data, root / "shut")
    denied(env, root / "shut")
    return root


def data_gone(env: Env) -> Callable[[dict[str, Any]], None]:
    return setting("data", "source", str(env.tmp / "gone-data"))


def changed_data(env: Env) -> list[str]:
    """A run trained on a copy of the data, then 5 of its 8 images replaced: what resuming it runs on."""
    data = data_copy(env)
    assert main(["train-vae", "--data", str(data), "--out", str(env.tmp / "run"), "--epochs", "1", *TINY_FLAGS]) == 0
    for i, image in enumerate(tiny_splits(n=40).train.images[20:25]):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(data / f"{i}.png")
    return ["train-vae", "--resume", str(env.tmp / "run"), "--epochs", "2"]


def protocol_4_pickle() -> bytes:
    return pickle.dumps({"format_version": 7, "stage": "vae"}, protocol=4)


# Every size at its limit (config.MAX_*): a valid config whose VAE would take 12.3 GiB of fp32 weights.
LARGEST = setting("model", "latent_dim", 4096, base_channels=512, image_size=1024)


def grow_first_tensor(payload: dict[str, Any]) -> None:
    key = next(iter(payload["model"]))
    payload["model"][key] = torch.zeros(*payload["model"][key].shape[:-1], payload["model"][key].shape[-1] + 1)


# (id, the command for an Env, what its one line must say)
CASES: list[tuple[str, Callable[[Env], list[str]], str]] = [
    # flags of train-vae
    ("epochs-0", lambda e: train(e, "--epochs", "0"), "epochs must be >= 1"),
    ("epochs-word", lambda e: train(e, "--epochs", "zero"), "invalid int value"),
    ("recon-unknown", lambda e: train(e, "--recon", "l1"), "invalid choice"),
    ("checkpoint-every-0", lambda e: train(e, "--config", toml(e, "[train]\ncheckpoint_every = 0\n")), "must be >= 1"),
    ("grid-size-0", lambda e: train(e, "--config", toml(e, "[train]\ngrid_size = 0\n")), "grid size must be between"),
    ("grid-size-negative", lambda e: train(e, "--config", toml(e, "[train]\ngrid_size = -1\n")), "grid size must be"),
    ("grid-every-a-flag", lambda e: train(e, "--grid-every", "2"), "no flag sets grid_every: use a --config file"),
    ("kl-warmup-a-flag", lambda e: train(e, "--kl-warmup=9"), "no flag sets kl_warmup_steps: use a --config file"),
    ("device-meta", lambda e: train(e, "--device", "meta"), "device must be auto, cpu, cuda or cuda:N"),
    ("device-unknown", lambda e: train(e, "--device", "tpu9"), "device must be auto"),
    ("lr-inf", lambda e: train(e, "--lr", "inf"), "learning rate must be finite"),
    ("lr-nan", lambda e: train(e, "--lr", "nan"), "learning rate must be finite"),
    ("lr-negative", lambda e: train(e, "--lr", "-1"), "learning rate must be finite and > 0"),
    ("beta-inf", lambda e: train(e, "--beta", "inf"), "beta must be finite"),
    ("beta-nan", lambda e: train(e, "--beta", "nan"), "beta must be finite"),
    ("msssim-weight-nan", lambda e: train(e, "--msssim-weight", "nan"), "MS-SSIM weight must be between 0 and"),
    ("msssim-weight-negative", lambda e: train(e, "--msssim-weight", "-0.1"), "MS-SSIM weight must be between 0"),
    ("latent-dim-huge", lambda e: train(e, "--latent-dim", "1000000"), "latent dim must be between 1 and 4096"),
    ("latent-dim-0", lambda e: train(e, "--latent-dim", "0"), "latent dim must be between 1 and 4096"),
    ("image-size-huge", lambda e: train(e, "--image-size", "1000000"), "image size must be between 16 and 1024"),
    ("image-size-odd", lambda e: train(e, "--image-size", "17"), "image size must be even"),
    ("base-channels-0", lambda e: train(e, "--base-channels", "0"), "base channels must be between"),
    ("channels-2", lambda e: train(e, "--channels", "2"), "channels must be 1 (grey) or 3"),
    ("val-fraction-1.5", lambda e: train(e, "--val-fraction", "1.5"), "val fraction must be in [0, 1)"),
    ("batch-size-0", lambda e: train(e, "--batch-size", "0"), "batch size must be >= 1"),
    ("quality-samples-1", lambda e: train(e, "--config", toml(e, "[train]\nquality_samples = 1\n")), "samples >= 10"),
    ("data-missing", lambda e: train(e, "--data", str(e.tmp / "no-such-folder")), "no-such-folder"),
    ("config-missing", lambda e: train(e, "--config", str(e.tmp / "no-such.toml")), "does not exist"),
    ("config-not-toml", lambda e: train(e, "--config", written(e, b"[train\nepochs=", "c.toml")), "not valid TOML"),
    ("config-unknown-key", lambda e: train(e, "--config", written(e, b"[train]\nepoch = 3\n", "c.toml")), "unknown"),
    # --out that cannot be written
    ("out-in-proc", lambda e: train(e, "--out", "/proc/vaegan-run"), "cannot write to the run folder /proc"),
    ("out-in-sys", lambda e: train(e, "--out", "/sys/vaegan-run"), "cannot write to the run folder /sys"),
    ("out-is-a-file", lambda e: train(e, "--out", str(a_file(e))), "choose a writable --out"),
    ("out-under-a-file", lambda e: train(e, "--out", str(a_file(e) / "run")), "choose a writable --out"),
    ("out-is-a-trained-run", lambda e: train(e, "--out", str(e.vae)), "already holds a trained run"),
    # flags of train-gan
    ("gan-without-vae", lambda e: ["train-gan", "--out", str(e.tmp / "g")], "needs a trained VAE"),
    ("gan-vae-missing", lambda e: ["train-gan", "--vae", str(e.tmp / "no-such-run")], "no checkpoint"),
    ("beta1-5", lambda e: train_gan(e, "--config", toml(e, "[gan]\nbeta1 = 5.0\n")), "beta1 must be in [0, 1)"),
    ("beta2-nan", lambda e: train_gan(e, "--config", toml(e, "[gan]\nbeta2 = nan\n")), "beta2 must be in [0, 1)"),
    ("removed-lever", lambda e: train_gan(e, "--spectral-norm"), "unrecognized arguments: --spectral-norm (see"),
    ("disc-channels-0", lambda e: train_gan(e, "--disc-channels", "0"), "disc channels must be between"),
    ("anchor-weight-nan", lambda e: train_gan(e, "--anchor-weight", "nan"), "anchor weight must be finite"),
    ("anchor-weight-negative", lambda e: train_gan(e, "--anchor-weight", "-1"), "anchor weight must be finite"),
    ("anchor-decay-negative", lambda e: train_gan(e, "--anchor-decay", "-5"), "anchor decay steps must be >= 0"),
    ("disc-kind-unknown", lambda e: train_gan(e, "--disc-kind", "style"), "invalid choice"),
    ("d-warmup-negative", lambda e: train_gan(e, "--d-warmup", "-3"), "d warm-up steps must be >= 0"),
    ("d-steps-0", lambda e: train_gan(e, "--config", toml(e, "[gan]\nd_steps = 0\n")), "d steps must be >= 1"),
    ("lr-g-inf", lambda e: train_gan(e, "--lr-g", "inf"), "GAN learning rates must be finite"),
    ("ema-decay-1", lambda e: train_gan(e, "--ema-decay", "1"), "EMA decay must be in [0, 1)"),
    (
        "collapse-fraction-0",
        lambda e: train_gan(e, "--config", toml(e, "[gan]\ncollapse_fraction = 0.0\n")),
        "collapse",
    ),
    ("gan-out-in-proc", lambda e: train_gan(e, "--out", "/proc/vaegan-gan"), "cannot write to the run folder"),
    # sample and explore
    ("sample-n-0", lambda e: sample(e, "-n", "0"), "-n must be between 1 and"),
    ("sample-n-huge", lambda e: sample(e, "-n", "10000000"), "-n must be between 1 and"),
    ("sample-temperature-nan", lambda e: sample(e, "--temperature", "nan"), "--temperature must be finite"),
    ("sample-temperature-negative", lambda e: sample(e, "--temperature", "-1"), "--temperature must be finite"),
    ("sample-out-is-a-file", lambda e: ["sample", str(e.vae), "-o", str(a_file(e))], "cannot write to"),
    ("interpolate-out-is-a-file", lambda e: ["interpolate", str(e.vae), "-o", str(a_file(e))], "cannot write to"),
    ("sample-out-in-proc", lambda e: ["sample", str(e.vae), "-o", "/proc/vaegan/s.png"], "cannot write to -o /proc"),
    ("sample-out-under-a-file", lambda e: ["sample", str(e.vae), "-o", str(a_file(e) / "s.png")], "cannot write"),
    ("sample-run-missing", lambda e: sample(e, run=e.tmp / "no-such-run"), "no checkpoint"),
    ("sample-stage-gan-of-vae", lambda e: sample(e, "--stage", "gan"), "has no gan stage"),
    (
        "reconstruct-out-is-a-file",
        lambda e: ["reconstruct", str(e.vae), "--images", str(e.data), "-o", str(a_file(e))],
        "cannot write to",
    ),
    ("explore-port-70000", lambda e: ["explore", str(e.vae), "--port", "70000", "--no-browser"], "--port must be"),
    ("explore-port-negative", lambda e: ["explore", str(e.vae), "--port", "-1", "--no-browser"], "--port must be"),
    # broken and forged checkpoints
    ("checkpoint-empty", lambda e: sample(e, run=written(e, b"")), "cannot read checkpoint"),
    ("checkpoint-garbage", lambda e: sample(e, run=written(e, os.urandom(4096))), "cannot read checkpoint"),
    ("checkpoint-folder-empty", lambda e: sample(e, run=e.tmp), "no checkpoint"),
    ("checkpoint-a-list", lambda e: sample(e, run=forged(e, lambda p: p.clear())), "not a vaegan checkpoint"),
    ("checkpoint-no-model", lambda e: sample(e, run=forged(e, lambda p: p.pop("model"))), "it lacks ['model']"),
    ("checkpoint-no-stage", lambda e: sample(e, run=forged(e, lambda p: p.pop("stage"))), "stage None"),
    ("checkpoint-stage-unknown", lambda e: sample(e, run=forged(e, lambda p: p.update(stage="x"))), "stage 'x'"),
    (
        "checkpoint-version-text",
        lambda e: sample(e, run=forged(e, lambda p: p.update(format_version="2"))),
        "no format_version",
    ),
    (
        "checkpoint-version-future",
        lambda e: sample(e, run=forged(e, lambda p: p.update(format_version=99))),
        "upgrade vaegan",
    ),
    ("checkpoint-config-a-string", lambda e: sample(e, run=forged(e, lambda p: p.update(config="x"))), "config"),
    ("checkpoint-config-unknown-key", lambda e: sample(e, run=forged(e, setting("model", "x", 1))), "unknown config"),
    ("checkpoint-config-wrong-type", lambda e: sample(e, run=forged(e, setting("model", "latent_dim", "8"))), "latent"),
    ("checkpoint-loop-foreign", lambda e: sample(e, run=forged(e, lambda p: p.update(loop={"x": 1}))), "loop state"),
    ("checkpoint-model-not-tensors", lambda e: sample(e, run=forged(e, lambda p: p.update(model=[1]))), "model"),
    ("checkpoint-wrong-shape", lambda e: sample(e, run=forged(e, grow_first_tensor)), "stored (4, 3, 4, 5)"),
    (
        "checkpoint-latent-dim-huge",
        lambda e: sample(e, run=forged(e, setting("model", "latent_dim", 10**6))),
        "latent dim must be between",
    ),
    (
        "checkpoint-image-size-huge",
        lambda e: sample(e, run=forged(e, setting("model", "image_size", 10**6))),
        "image size must be between",
    ),
    (
        "checkpoint-model-within-limits-but-not-stored",
        lambda e: sample(e, run=forged(e, LARGEST)),
        "does not match the model its config describes",
    ),
    (
        "checkpoint-gan-disc-forged",
        lambda e: sample(e, run=forged(e, setting("gan", "disc_channels", 512), "gan")),
        "discriminator does not match",
    ),
    ("curves-metrics-garbage", lambda e: ["curves", str(garbage_metrics(e))], "not valid JSON lines"),
    # resume: what a run cannot change, and what is not a run
    ("resume-missing", lambda e: ["train-vae", "--resume", str(e.tmp / "typo")], "typo: no such run folder"),
    ("resume-gan-as-vae", lambda e: ["train-vae", "--resume", str(e.gan)], "resume it with train-gan"),
    ("resume-vae-as-gan", lambda e: ["train-gan", "--resume", str(e.vae)], "resume it with train-vae"),
    ("resume-latent-dim", lambda e: ["train-vae", "--resume", str(e.vae), "--latent-dim", "8"], "model.latent_dim"),
    ("resume-data", lambda e: ["train-vae", "--resume", str(e.vae), "--data", "emoji"], "data.source"),
    ("resume-batch-size", lambda e: ["train-vae", "--resume", str(e.vae), "--batch-size", "8"], "train.batch_size"),
    ("resume-seed", lambda e: ["train-vae", "--resume", str(e.vae), "--seed", "3"], "train.seed"),
    ("resume-lr-bad", lambda e: ["train-vae", "--resume", str(e.vae), "--lr", "nan"], "learning rate must be"),
    ("resume-gan-disc", lambda e: ["train-gan", "--resume", str(e.gan), "--disc-channels", "8"], "gan.disc_channels"),
    # issue 50: values that overflowed, were taken silently, or misled
    ("seed-1e23-train-vae", lambda e: train(e, "--seed", str(10**23)), "seed must be between 0 and 4294967295"),
    ("seed-1e23-sample", lambda e: sample(e, "--seed", str(10**23)), "--seed must be between 0 and 4294967295"),
    ("seed-1e23-interpolate", lambda e: tool("interpolate", e, "--seeds", str(10**23), "0"), "--seeds must be"),
    ("config-seed-text", lambda e: train(e, "--config", toml(e, '[train]\nseed = "x"\n')), "train.seed must be an"),
    (
        "config-top-level-key",
        lambda e: train(e, "--config", toml(e, "epochs = 3\n")),
        "'epochs' is outside any section; put it under [train] or [gan]",
    ),
    ("config-source-number", lambda e: from_file(e, "[data]\nsource = 5\n"), "data.source must be"),
    (
        "config-diffaugment-number",
        lambda e: train_gan(e, "--config", toml(e, "[gan]\ndiffaugment = 5\n")),
        "gan.diffaugment must be a string, got 5",
    ),
    ("config-epochs-fraction", lambda e: train(e, "--config", toml(e, "[train]\nepochs = 1.5\n")), "an integer"),
    (
        "config-latent-dim-bool",
        lambda e: from_file(e, "[model]\nlatent_dim = true\n"),
        "model.latent_dim must be an integer, got True",
    ),
    (
        "config-unknown-section",
        lambda e: train(e, "--config", toml(e, "[training]\nepochs = 3\n")),
        "unknown section [training]",
    ),
    (
        "config-tensorboard-yes",
        lambda e: train(e, "--config", toml(e, '[train]\ntensorboard = "yes"\n')),
        "train.tensorboard must be true or false",
    ),
    (
        "config-image-size-float",
        lambda e: from_file(e, "[data]\nimage_size = 16.0\n"),
        "data.image_size must be an integer, got 16.0",
    ),
    (
        "config-channels-bool",
        lambda e: from_file(e, "[data]\nchannels = true\n"),
        "data.channels must be an integer",
    ),
    (
        "config-batch-size-fraction",
        lambda e: from_file(e, "[train]\nbatch_size = 2.5\n"),
        "train.batch_size must be an integer, got 2.5",
    ),
    ("batch-size-huge", lambda e: train(e, "--batch-size", "100000"), "batch size must be between 1 and 8192"),
    ("epochs-huge", lambda e: train(e, "--epochs", str(10**9)), "epochs must be between 1 and 1000000"),
    ("similar-variants-0", lambda e: tool("similar", e, "--variants", "0"), "--variants must be between 1 and 64"),
    ("similar-variants-negative", lambda e: tool("similar", e, "--variants", "-3"), "--variants must be between 1"),
    ("similar-variants-huge", lambda e: tool("similar", e, "--variants", "100000000"), "--variants must be between"),
    ("similar-n-huge", lambda e: tool("similar", e, "-n", "100000"), "-n must be between 1 and 64"),
    ("similar-scale-nan", lambda e: tool("similar", e, "--scale", "nan"), "--scale must be finite"),
    ("similar-scale-inf", lambda e: tool("similar", e, "--scale", "inf"), "--scale must be finite"),
    ("latent-map-grid-huge", lambda e: tool("latent-map", e, "--grid", "100000"), "--grid must be between 2 and 64"),
    ("interpolate-steps-huge", lambda e: tool("interpolate", e, "--steps", "10000000"), "--steps must be between 2"),
    ("interpolate-temperature-nan", lambda e: tool("interpolate", e, "--temperature", "nan"), "must be finite"),
    ("sample-temperature-inf", lambda e: sample(e, "--temperature", "inf"), "--temperature must be finite"),
    (
        "interpolate-images-bomb",
        lambda e: tool("interpolate", e, "--images", bomb(e), a_picture(e)),
        "bomb.png (too many pixels)",
    ),
    (
        "interpolate-images-text",
        lambda e: tool("interpolate", e, "--images", a_picture(e), written(e, b"hello", "a.png")),
        "a.png (not an image)",
    ),
    (
        "attribute-strengths-nan-inf",
        lambda e: tool("attribute", e, "--folders", str(e.data), str(e.data), "--strengths", "nan", "inf"),
        "--strengths must be finite",
    ),
    (
        "attribute-file-a-png",
        lambda e: tool("attribute", e, "--attribute", "smiling", "--attribute-file", a_picture(e)),
        "is not text",
    ),
    ("evaluate-device-tpu", lambda e: evaluate(e, "--device", "tpu"), "--device must be auto, cpu, cuda or cuda:N"),
    ("evaluate-feature-steps-negative", lambda e: evaluate(e, "--feature-steps", "-5"), "--feature-steps must be"),
    (
        "evaluate-inception-weights-forged",
        lambda e: evaluate(e, "--inception", written(e, evil_pickle(), "i.pth")),
        "cannot read Inception weights",
    ),
    # side files and integrity
    (
        "prior-truncated-sample",
        lambda e: sample(e, run=vae_copy(e, half_of_the_checkpoint(e))),
        "cannot read flow prior",
    ),
    (
        "prior-a-list-sample-fitted",
        lambda e: sample(e, "--sampler", "fitted", run=vae_copy(e, saved_bytes([1, 2]))),
        "is not a vaegan flow prior; delete it",
    ),
    (
        "prior-forged-train-gan",
        lambda e: [*train_gan(e), "--vae", str(vae_copy(e, forged_prior(e)))],
        "does not hold a 4-dimensional flow",
    ),
    ("checkpoint-two-flipped-bytes", lambda e: sample(e, run=flipped(e)), "fails its checksum"),
    ("best-pt-flipped", lambda e: sample(e, run=flipped(e, "best.pt")), "best.pt fails its checksum"),
    ("checkpoint-no-checksum", lambda e: sample(e, run=forged(e, lambda p: p.pop("checksum"))), "has no checksum"),
    ("checkpoint-pickled-code", lambda e: sample(e, run=written(e, evil_pickle())), "objects other than tensors"),
    ("checkpoint-nan-weights", lambda e: sample(e, run=forged(e, nan_weights)), "holds non-finite weights"),
    (
        "checkpoint-nan-weights-export",
        lambda e: ["export", forged(e, nan_weights), "-o", str(e.tmp / "out")],
        "holds non-finite weights",
    ),
    ("gan-vae-gone", lambda e: sample(e, run=forged(e, vae_gone(e), "gan")), "a GAN trained from a VAE that is gone"),
    (
        "gan-vae-gone-stage-gan",
        lambda e: sample(e, "--stage", "gan", run=forged(e, vae_gone(e), "gan")),
        "a VAE that is gone (looked for",
    ),
    # resume that would train nothing, or has nothing to resume
    (
        "resume-epochs-below-done",
        lambda e: ["train-vae", "--resume", str(trained_twice(e)), "--epochs", "1"],
        "has trained 2 VAE epochs already, so --epochs 1 would train nothing; pass --epochs 3 or more",
    ),
    (
        "resume-before-first-checkpoint",
        lambda e: ["train-vae", "--resume", str(stopped_before_any_checkpoint(e, "vae"))],
        "has no checkpoint yet: it stopped before its first epoch ended; start it over with 'vaegan train-vae",
    ),
    (
        "resume-gan-before-first-checkpoint",
        lambda e: ["train-gan", "--resume", str(stopped_before_any_checkpoint(e, "gan"))],
        "without --resume",
    ),
    # issue 63, bounds bypassed: image files given by path count against the rows before any is read
    (
        "similar-images-over-the-rows",
        lambda e: tool("similar", e, "--images", *the_data_9_times(e), "--variants", "64"),
        "--images name 72 image files (a folder counts every image under it), more than the 64",
    ),
    (
        "attribute-images-over-the-rows",
        lambda e: tool("attribute", e, "--folders", str(e.data), other_folder(e), "--images", *the_data_9_times(e)),
        "--images name 72 image files",
    ),
    (
        "interpolate-images-a-folder",
        lambda e: tool("interpolate", e, "--images", str(e.data), a_picture(e)),
        "--images name 9 image files (a folder counts every image under it), more than the 2",
    ),
    # issue 63, taken silently: overflowing multiples, conflicting flags, ignored or empty settings
    ("similar-scale-1e308", lambda e: tool("similar", e, "--scale", "1e308"), "--scale must be finite and between"),
    (
        "attribute-strengths-1e308",
        lambda e: tool("attribute", e, "--folders", str(e.data), other_folder(e), "--strengths", "1e308"),
        "--strengths must be finite and between -1000 and 1000, got 1e+308",
    ),
    (
        "similar-images-and-index",
        lambda e: tool("similar", e, "--images", a_picture(e), "--index", "0"),
        "--images and --index both pick the images to start from; pass one of them",
    ),
    (
        "interpolate-images-and-seeds",
        lambda e: tool("interpolate", e, "--images", a_picture(e), a_picture(e), "--seeds", "3", "4"),
        "--images and --seeds both pick the two ends; pass one of them",
    ),
    (
        "attribute-folders-the-same",
        lambda e: tool("attribute", e, "--folders", str(e.data), str(e.data)),
        "twice, so the direction between them is zero",
    ),
    (
        "attribute-folders-the-same-images",
        lambda e: tool("attribute", e, "--folders", str(e.data), str(data_copy(e))),
        "hold the same images, so the direction between them is zero",
    ),
    ("data-root-with-a-folder", lambda e: train(e, "--data-root", str(e.tmp)), "is a folder read where it is; drop"),
    ("ae-with-no-loss", lambda e: train(e, "--model", "ae", "--recon", "none"), "trains with no loss at all"),
    (
        "config-epochs-word-under-a-flag",
        lambda e: train(e, "--epochs", "1", "--config", toml(e, '[train]\nepochs = "ten"\n')),
        "c.toml: train.epochs must be an integer, got 'ten' (str)",
    ),
    # issue 63, misleading, late or many lines
    (
        "checkpoint-pickle-protocol-4",
        lambda e: sample(e, run=written(e, protocol_4_pickle())),
        "it is not a file torch.save wrote",
    ),
    ("cache-dir-a-file", lambda e: train(e, "--cache-dir", str(a_file(e))), "a_file is a file, not a folder"),
    ("config-a-folder", lambda e: train(e, "--config", str(e.tmp)), "is a folder, not a TOML file"),
    (
        "images-dev-zero",
        lambda e: ["reconstruct", str(e.vae), "--images", "/dev/zero", "-o", str(e.tmp / "out")],
        "/dev/zero is a device or other special file, not an image",
    ),
    (
        "sample-temperature-1e308",
        lambda e: sample(e, "--temperature", "1e308"),
        "--temperature must be finite and between 0 and 1000",
    ),
    (
        "min-steps-1e12",
        lambda e: train(e, "--min-steps", str(10**12)),
        "min steps (--min-steps) must be between 0 and 1000000, got 1000000000000",
    ),
    ("gan-epochs-0", lambda e: train_gan(e, "--gan-epochs", "0"), "GAN epochs (--gan-epochs) must be >= 1, got 0"),
    (
        "checkpoint-unreadable",
        lambda e: sample(e, run=unreadable_checkpoint(e)),
        "checkpoint.pt: permission denied; give yourself read permission",
    ),
    (
        "explore-host-not-an-address",
        lambda e: ["explore", str(e.vae), "--host", "999.1.1.1", "--allow-remote", "--no-browser"],
        "--host 999.1.1.1 is not an IP address",
    ),
    (
        "evaluate-json-in-proc",
        lambda e: evaluate(e, "--json", "/proc/vaegan.json"),
        "cannot write to the folder /proc",
    ),
    (
        "evaluate-device-missing-gpu",
        lambda e: evaluate(e, "--device", "cuda:99"),
        "device cuda:99 asked for, but this torch",
    ),
    (
        "run-data-gone",
        lambda e: ["similar", forged(e, data_gone(e)), "-o", str(e.tmp / "out")],
        "gone-data, which is gone; put them back there",
    ),
]


def garbage_metrics(env: Env) -> Path:
    (env.tmp / "vae").mkdir()
    for name in ("checkpoint.pt", "config.json"):
        (env.tmp / "vae" / name).write_bytes((env.vae / name).read_bytes())
    (env.tmp / "vae" / "metrics.jsonl").write_text('{"stage": "va')  # cut short in its first line
    return env.tmp / "vae"


@pytest.mark.parametrize("argv, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    env: Env, argv: Callable[[Env], list[str]], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = argv(env)
    capsys.readouterr()  # what building the case printed (a run it trains first) is not the command's
    before = snapshot(env.vae, env.gan, env.data, env.tmp)
    code, err = run_cli(command, capsys)
    assert code == 2
    assert "Traceback" not in err and "weights_only" not in err  # never torch's advice to run a forged file
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert snapshot(env.vae, env.gan, env.data, env.tmp) == before


# Inputs that are no mistake but deserve a word: the command runs, and one warning line says what it left out
# or what changed. (id, the command for an Env, what its one warning line must say)
WARNED: list[tuple[str, Callable[[Env], list[str]], str]] = [
    (
        "data-subfolder-unreadable",
        lambda e: train(e, "--data", str(locked_subfolder(e)), "--epochs", "1"),
        "left out 1 folder(s) under",
    ),
    ("resume-data-changed", changed_data, "its data changed since epoch 1 (8 images, 8 before)"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in WARNED], ids=[c[0] for c in WARNED])
def test_questionable_input_runs_with_one_warning_line(
    env: Env, argv: Callable[[Env], list[str]], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = argv(env)
    capsys.readouterr()
    before = snapshot(env.vae, env.gan, env.data)
    code, err = run_cli(command, capsys)
    assert code == 0, err
    assert "Traceback" not in err
    assert sum(message in line for line in err.splitlines()) == 1, err
    assert snapshot(env.vae, env.gan, env.data) == before


def test_a_forged_feature_net_cache_is_rebuilt_and_never_run(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged cache is not the user's to fix: one warning, a new net in its place, the payload never run."""
    cache = forged_feature_net(env)
    code, err = run_cli([*evaluate(env, "--cache-dir", cache, "--feature-steps", "3", "--split", "train")], capsys)
    out = capsys.readouterr().out
    assert code == 0 and "pwned" not in out + err and "weights_only" not in err, err
    assert sum("cannot read feature net" in line and "training it again" in line for line in err.splitlines()) == 1
    (path,) = (Path(cache) / "features").glob("*.pt")
    assert path.read_bytes() != evil_pickle()  # replaced by a net it trained


def test_the_table_covers_every_case_of_the_issue() -> None:
    """The count the closing note of the hardening issue asks for; a lost row fails here."""
    assert len(CASES) == len({c[0] for c in CASES}) == 164
    assert len(WARNED) == len({c[0] for c in WARNED} - {c[0] for c in CASES}) == 2


# -- divergence: each stage and loss stops with its checkpoint untouched ------------------------------


def last_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert sum("error:" in line for line in lines) == 1 and "error:" in lines[-1], err
    return lines[-1]


@pytest.mark.parametrize("recon", ["mse_sum", "mse_mean", "bce"])
@pytest.mark.parametrize("lr", ["1e6", "1e3"])
def test_vae_divergence_stops_and_keeps_the_checkpoint(
    env: Env, recon: str, lr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = env.tmp / "run"
    assert main(train(env, "--epochs", "1", "--recon", recon)) == 0
    kept = snapshot(run)
    code, err = run_cli(["train-vae", "--resume", str(run), "--epochs", "3", "--lr", lr], capsys)
    assert code == 2
    line = last_line_error(err)
    assert "training diverged" in line and f"{run / 'checkpoint.pt'} (step 2) is untouched" in line
    assert "resume it with a lower --lr" in line
    after = snapshot(run)
    assert {p for p in after if after[p] != kept.get(p)} == {str(run / "metrics.jsonl")}  # the resume's record
    event = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert event["changed"] == {"train.epochs": [1, 3], "train.lr": [1e-3, float(lr)]}


def test_vae_divergence_before_any_checkpoint_says_so(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(train(env, "--epochs", "1", "--lr", "1e6", "--recon", "bce"), capsys)
    assert code == 2
    assert "no checkpoint had been written yet; train again with a lower --lr" in last_line_error(err)
    assert not (env.tmp / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax", "hinge"])
def test_gan_divergence_stops_and_keeps_the_checkpoint(env: Env, loss: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = env.tmp / "run"
    assert main(train_gan(env, "--gan-epochs", "1", "--gan-loss", loss)) == 0
    before = (run / "checkpoint.pt").read_bytes()
    code, err = run_cli(
        ["train-gan", "--resume", str(run), "--gan-epochs", "3", "--lr-g", "1e6", "--lr-d", "1e6"], capsys
    )
    assert code == 2
    assert "training diverged" in last_line_error(err) and "is untouched" in err
    assert (run / "checkpoint.pt").read_bytes() == before


# -- resume extends a run, exactly -----------------------------------------------------------------------


def test_resume_extends_a_run_bitwise(env: Env) -> None:
    assert main(train(env, "--epochs", "4", "--out", str(env.tmp / "straight"))) == 0
    assert main(train(env, "--epochs", "2", "--out", str(env.tmp / "split"))) == 0
    every_2 = toml(env, "[train]\ncheckpoint_every = 2\n")
    assert main(["train-vae", "--resume", str(env.tmp / "split"), "--epochs", "4", "--config", every_2]) == 0
    straight, split = (load_checkpoint(env.tmp / r / "checkpoint.pt") for r in ("straight", "split"))
    assert straight.loop.step == split.loop.step
    for key, value in straight.model.items():  # type: ignore[union-attr]
        assert torch.equal(value, split.model[key]), key  # type: ignore[union-attr]
    records = [json.loads(line) for line in (env.tmp / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in records] == [1, 2, None, 3, 4]
    assert records[2]["changed"] == {"train.epochs": [2, 4], "train.checkpoint_every": [1, 2]}
    config = json.loads((env.tmp / "split" / "config.json").read_text())
    assert (config["train"]["epochs"], config["train"]["checkpoint_every"]) == (4, 2)


def test_resume_extends_a_gan_run(env: Env) -> None:
    run = env.tmp / "run"
    assert main(train_gan(env, "--gan-epochs", "1")) == 0
    assert main(["train-gan", "--resume", str(run), "--gan-epochs", "2", "--lr-d", "1e-4"]) == 0
    saved = load_checkpoint(run / "checkpoint.pt")
    assert (saved.loop.epoch, saved.config.gan.lr_d) == (3, 1e-4)  # type: ignore[union-attr]
    assert saved.opt_d["param_groups"][0]["lr"] == 1e-4  # type: ignore[union-attr]


def test_a_pipeline_rerun_extends_the_gan_and_keeps_its_vae(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    out = env.tmp / "pipeline"
    pipeline = ["run", "--data", str(env.data), "--out", str(out), "--epochs", "1", "--gan-epochs", "1"]
    pipeline += [*TINY_FLAGS, "--disc-channels", "4", "--gan-batch-size", "4"]
    assert main(pipeline) == 0
    vae = (out / "vae" / "checkpoint.pt").read_bytes()
    assert main([*pipeline, "--gan-epochs", "2"]) == 0  # the same command, two GAN epochs: one more is trained
    assert load_checkpoint(out / "gan" / "checkpoint.pt").loop.epoch == 3
    assert (out / "vae" / "checkpoint.pt").read_bytes() == vae
    capsys.readouterr()
    code, err = run_cli([*pipeline, "--epochs", "2"], capsys)  # the GAN started from this VAE: refused
    assert code == 2 and "cannot train further" in last_line_error(err)
    assert (out / "vae" / "checkpoint.pt").read_bytes() == vae


# -- leftovers of a kill, and data that cannot validate ----------------------------------------------------


def test_orphaned_temporary_checkpoints_are_removed_when_a_run_opens(env: Env) -> None:
    orphan = env.vae.parent / "orphan-run"
    orphan.mkdir()
    for name in ("checkpoint.pt", "config.json", "metrics.jsonl"):
        (orphan / name).write_bytes((env.vae / name).read_bytes())
    (orphan / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    (orphan / "notes.tmp").write_text("not ours")
    assert main(["train-vae", "--resume", str(orphan)]) == 0
    assert not (orphan / ".checkpoint.pt.k1ll3d.tmp").exists()
    assert (orphan / "notes.tmp").exists()


def test_a_rerun_after_a_kill_before_any_checkpoint_starts_clean(env: Env) -> None:
    run = env.tmp / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.jsonl").write_text('{"stage": "vae", "epoch": 1}\n')  # the killed attempt's epoch 1
    (run / "grids").mkdir()
    (run / "grids" / "samples_e005.png").write_bytes(b"old")
    assert main(train(env, "--epochs", "2")) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert not (run / "grids" / "samples_e005.png").exists()


def test_one_image_is_refused_in_one_line(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """It trained, validating on its training image, and `vaegan run` then failed fitting the prior to one
    latent; 3 images are the least (tests/cli/test_small_folders.py)."""
    one = image_folder(env.tmp / "one", n=1)
    assert main(["train-vae", "--data", str(one), "--out", str(env.tmp / "run"), "--epochs", "1", *TINY_FLAGS]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "1 readable image(s), 1 to train on and 0 held out" in err


# -- a full disk: one line, the previous checkpoint intact --------------------------------------------------


@pytest.mark.parametrize("what", ["checkpoint", "grid"])
def test_full_disk_is_one_line_and_keeps_the_checkpoint(
    env: Env, what: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = env.tmp / "run"
    assert main(train(env, "--epochs", "1")) == 0
    before = (run / "checkpoint.pt").read_bytes()

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if what == "checkpoint":
        monkeypatch.setattr(torch, "save", no_space)  # the bytes never fit; what the writer then does is real
    else:
        monkeypatch.setattr(Image.Image, "save", no_space)
    code, err = run_cli(["train-vae", "--resume", str(run), "--epochs", "2"], capsys)
    assert code == 2
    assert "No space left on device" in last_line_error(err)
    assert (run / "checkpoint.pt").read_bytes() == before
    assert not list(run.glob(".*.tmp"))


# -- a forged checkpoint cannot exhaust memory ----------------------------------------------------------------

CHILD = """
import json, resource, sys
limit = 1 << 30
resource.setrlimit(resource.RLIMIT_AS, (limit + (1 << 30), limit + (1 << 30)))  # address space: 2 GiB
from vaegan.cli import main
code = main(["sample", sys.argv[1], "-o", sys.argv[2]])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))  # this process's own peak
print(json.dumps({"code": code, "peak_kib": int(hwm.split()[1])}))
"""


@pytest.mark.parametrize(
    "change",
    [setting("model", "latent_dim", 10**6), setting("model", "image_size", 10**6), LARGEST],
    ids=["latent-dim-1e6", "image-size-1e6", "largest-valid-config"],
)
def test_forged_checkpoint_is_refused_in_bounded_memory(env: Env, change: Callable[[dict[str, Any]], None]) -> None:
    """The largest valid config passes the limits but not the meta-device shape check, which allocates nothing."""
    path = forged(env, change)
    src = Path(__file__).resolve().parents[2] / "src"
    child_env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, path, str(env.tmp / "s.png")],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    print(f"peak resident memory: {result['peak_kib'] / 1024:.0f} MiB")  # shown with pytest -s
    assert result["peak_kib"] < 1 << 20  # under 1 GiB resident
