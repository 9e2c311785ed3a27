"""Training throughput of vaegan's VAE and GAN steps against the plain tutorial loop, in one run.

    python benchmarks/throughput.py                # 64x64 emoji and 28x28 Fashion-MNIST, ~10 minutes
    python benchmarks/throughput.py --steps 10     # a quicker, noisier look
    python benchmarks/throughput.py --rows shipped # only `vaegan run`'s own steps against their plain loop
    python benchmarks/throughput.py --rows shipped --compile   # also the VAE's pick under --compile on
    python benchmarks/throughput.py --upsampling   # only: the decoder's transpose vs resize upsampling
    python benchmarks/throughput.py --save-arrays devdata    # the images, for a machine without the data
    python benchmarks/throughput.py --device cuda --arrays devdata --check-steps 0   # on a lent GPU
    python benchmarks/throughput.py --record epyc-f26-avx512bf16   # also save the run as a record

--record NAME saves what the run printed (machine, the tables, what follows them) as
docs/results/performance/NAME.json, one record per machine kind; `python benchmarks/report.py
--performance` turns the records into docs/PERFORMANCE.md.

The reference is the loop every tutorial writes: an image-folder Dataset that opens and converts each
file per item, a DataLoader, fp32, NCHW, eager, `loss.item()` every step. vaegan's rows call the very
functions its training loops call (`vae_step`, `gan_step`) on images decoded once and held as uint8,
with each technique switched on alone and then together. Same architecture, batch size and optimiser.
Everything is measured in this one process, interleaved in rounds, and the machine's load average is
printed: a busy neighbour on a 2-core machine slows training 3-4x, so compare ratios, not absolutes.
On CUDA (--device cuda) the same rows run on the GPU (the tutorial loop moving each batch there, as
tutorials do), against that GPU's measured matmul peaks, and fp32 and bf16 again at larger batches.

The tutorial model is not what `vaegan run` trains. The shipped rows (benchmarks/shipped.py) time the steps
it does train on emoji and Fashion-MNIST, with their presets' models, losses, batches and GAN settings, in
each precision and layout, against the same networks and losses in a plain fp32 loop. In both tables `*`
marks what `--precision auto --memory-format auto` train here (training/placement.py's rule: nothing is
timed to decide it); a line per step says how far that pick ran from the best eager row, and a FLAG line
names any row over 10% faster than it.
"""

from __future__ import annotations

import argparse
import datetime
import io
import itertools
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from shipped import STAGES, Latents, Shipped  # noqa: E402

from vaegan.config import DataConfig, GANConfig, LossConfig, ModelConfig, TrainConfig  # noqa: E402
from vaegan.cpu import cpu_flags, cpu_info, cpu_model  # noqa: E402
from vaegan.data import load_splits, to_float  # noqa: E402
from vaegan.losses import vae_loss  # noqa: E402
from vaegan.metrics.likelihood import likelihood_metrics  # noqa: E402
from vaegan.metrics.quality import embed, quality_metrics, uint8_to_unit  # noqa: E402
from vaegan.models.gan import Discriminator  # noqa: E402
from vaegan.models.vae import VAE, Decoder  # noqa: E402
from vaegan.training.common import adam, place, warm_up_lr  # noqa: E402
from vaegan.training.feature_net import feature_net_for  # noqa: E402
from vaegan.training.gan_step import GANNets, gan_step  # noqa: E402
from vaegan.training.placement import describe, memory_layout, use_bf16  # noqa: E402
from vaegan.training.train_vae import vae_step  # noqa: E402

CPU = torch.device("cpu")
LR = 1e-3  # the VAE's, as the tutorial loop trains it
# Dense bf16 tensor-core peaks from NVIDIA's datasheets (TFLOP/s, without sparsity), beside the measured one.
DATASHEET_BF16 = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0}


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued kernels, so that a clock read after it counts them (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Variant:
    """One way of running vaegan's step: optimiser kernel, memory layout, precision."""

    label: str
    fused: bool = True
    channels_last: bool = False
    bf16: bool = False
    compiled: bool = False  # the shipped VAE step as `--compile on` builds it (--compile)

    @property
    def layout(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def rule_pick(variants: list[Variant], device: torch.device) -> Variant:
    """Of `variants`, the one the training loops run on `device`: training.placement's rule for --precision
    auto and --memory-format auto, with the loops' fused Adam, eager (--compile is opt-in)."""
    bf16, layout = use_bf16("auto", device), memory_layout("auto", device)
    return next(v for v in variants if v.fused and not v.compiled and (v.bf16, v.layout) == (bf16, layout))


def describe_rule(device: torch.device) -> str:
    """The rule's pick on `device` as the training log words it: "bf16 autocast, channels_last"."""
    return describe(use_bf16("auto", device), memory_layout("auto", device))


def bf16_timed(device: torch.device) -> bool:
    """Whether bf16 rows are timed: where bf16 has kernels, a GPU or a CPU the rule gives bf16. A CPU without
    bf16 instructions ran bf16 steps at 0.04-0.07x fp32 (record epyc-avx2): hours of timing for nothing."""
    return device.type == "cuda" or use_bf16("auto", device)


# The precisions and layouts of a shipped step, each with the loops' fused Adam.
SHIPPED_VARIANTS = [
    Variant("shipped fp32 contiguous"),
    Variant("shipped fp32 channels_last", channels_last=True),
    Variant("shipped bf16 contiguous", bf16=True),
    Variant("shipped bf16 channels_last", channels_last=True, bf16=True),
]
PLAIN = Variant("plain", fused=False)  # the baseline's batches: contiguous
BASELINE = "plain fp32 loop (baseline)"
REFERENCE = "reference (tutorial loop)"
SHIPPED_DATA = [("64x64 RGB emoji", "emoji"), ("28x28 Fashion-MNIST", "fashion-mnist")]  # `vaegan run --data`'s
RULE_MARGIN = 1.10  # a row this many times faster than the rule's pick is flagged: more than the rows' noise
COMPILED = ", compiled"  # the label's end of a row under torch.compile

VARIANTS = [  # each technique added alone to the one before it, then bf16 with both
    Variant("fp32 NCHW, for-each Adam", fused=False),
    Variant("+ fused Adam"),
    Variant("+ fused Adam + channels_last", channels_last=True),
    Variant("+ fused Adam + bf16 autocast", bf16=True),
    Variant("+ fused Adam + bf16 + ch_last", channels_last=True, bf16=True),
]


# ----- the reference: the tutorial way ------------------------------------------------------------
class FolderDataset(Dataset):
    """Opens, converts, resizes and normalises one file per item, every epoch (as tutorials do)."""

    def __init__(self, files: list[Path], size: int, channels: int, value_range: tuple[float, float]) -> None:
        self.files, self.size, self.mode, self.range = files, size, "RGB" if channels == 3 else "L", value_range

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.files[i]) as im:
            im = im.convert(self.mode)
            scale = self.size / min(im.size)
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
            left, top = (im.width - self.size) // 2, (im.height - self.size) // 2
            im = im.crop((left, top, left + self.size, top + self.size))
            x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
        x = x.permute(2, 0, 1) if x.ndim == 3 else x[None]
        lo, hi = self.range
        return x * (hi - lo) + lo


def reference_vae(
    files: list[Path], cfg: ModelConfig, recon: str, bs: int, steps: int, device: torch.device = CPU
) -> float:
    torch.manual_seed(0)
    model = VAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(FolderDataset(files, cfg.image_size, cfg.channels, cfg.value_range), bs, shuffle=True)
    running, done, started = 0.0, 0, 0.0
    while done < steps + 2:
        for x in loader:
            if done == 2:
                sync(device)
                started = time.perf_counter()  # after two warm-up steps
            x = x.to(device)
            x_hat, posterior = model(x)
            loss = vae_loss(x_hat, x, posterior.kl(), recon, 1.0)["total"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            done += 1
            if done == steps + 2:
                break
    sync(device)
    return steps * bs / (time.perf_counter() - started)


def reference_gan(files: list[Path], cfg: ModelConfig, bs: int, steps: int, device: torch.device = CPU) -> float:
    torch.manual_seed(0)
    netG, netD = Decoder(cfg).to(device), Discriminator(cfg.image_size, cfg.channels).to(device)
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(FolderDataset(files, cfg.image_size, cfg.channels, cfg.value_range), bs, shuffle=True)
    done, started = 0, 0.0
    while done < steps + 2:
        for real in loader:
            if done == 2:
                sync(device)
                started = time.perf_counter()
            real = real.to(device)
            ones, zeros = torch.ones(len(real), device=device), torch.zeros(len(real), device=device)
            fake = netG(torch.randn(len(real), cfg.latent_dim, device=device))
            # (1) D: log D(x) + log(1 - D(G(z))), two forward passes as in the DCGAN example
            errD = F.binary_cross_entropy_with_logits(netD(real), ones) + F.binary_cross_entropy_with_logits(
                netD(fake.detach()), zeros
            )
            optD.zero_grad()
            errD.backward()
            optD.step()
            # (2) G: -log D(G(z))
            errG = F.binary_cross_entropy_with_logits(netD(fake), ones)
            optG.zero_grad()
            errG.backward()
            optG.step()
            errD.item(), errG.item()
            done += 1
            if done == steps + 2:
                break
    sync(device)
    return steps * bs / (time.perf_counter() - started)


# ----- vaegan: the library's own step functions on in-memory uint8 data ----------------------------
def optimiser(params: object, fused: bool, **settings: object) -> torch.optim.Adam:
    """The training loops' own Adam (fused), or the for-each kernel it replaced."""
    if fused:
        return adam(params, **settings)  # type: ignore[arg-type]
    return torch.optim.Adam(params, foreach=True, **settings)  # type: ignore[arg-type]


def timed_steps(
    images: torch.Tensor,
    cfg: ModelConfig,
    bs: int,
    steps: int,
    v: Variant,
    seed: int,
    step: Callable[[int, torch.Tensor, torch.Tensor], object],
    device: torch.device = CPU,
    latents: Latents | None = None,
) -> float:
    """Images per second of step(i, batch, noise) over `steps` timed steps, after 2 warm-up steps.

    Batches are gathered by index from the uint8 images and noise drawn per batch, as the loops do: by
    `latents` on the device where given, else N(0, I) on the CPU; on CUDA the images live on the GPU, as
    the loops hold them there.
    """
    noise = torch.Generator(device if latents else CPU).manual_seed(seed + 1)
    draw = latents or (lambda n, g: torch.randn(n, cfg.latent_dim, generator=g).to(device))
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    images = images.to(device)
    started = 0.0
    for i in range(steps + 2):
        if i == 2:
            sync(device)
            started = time.perf_counter()
        index = order[(i * bs) % (len(order) - bs) :][:bs].to(device)
        batch = to_float(images[index], cfg.value_range).contiguous(memory_format=v.layout)
        step(i, batch, draw(bs, noise))
    sync(device)
    return steps * bs / (time.perf_counter() - started)


def vaegan_vae(
    images: torch.Tensor,
    cfg: ModelConfig,
    recon: str,
    bs: int,
    steps: int,
    v: Variant,
    seed: int = 0,
    device: torch.device = CPU,
) -> tuple[float, VAE]:
    """Images per second of vae_step, and the trained model."""
    torch.manual_seed(seed)
    model = place(VAE(cfg), device, v.layout)
    opt = optimiser(model.parameters(), v.fused, lr=LR)
    warmup = TrainConfig().lr_warmup_steps  # as train_vae warms up: without it one start never trains

    def step(i: int, x: torch.Tensor, eps: torch.Tensor) -> object:
        warm_up_lr(opt, LR, i, warmup)
        loss = LossConfig(reconstruction=recon)
        return vae_step(
            model, opt, x, eps, loss=loss, beta=1.0, value_range=cfg.value_range, device=device, bf16=v.bf16
        )

    return timed_steps(images, cfg, bs, steps, v, seed, step, device), model


def vaegan_gan(
    images: torch.Tensor,
    cfg: ModelConfig,
    bs: int,
    steps: int,
    v: Variant,
    seed: int = 0,
    start: Decoder | None = None,
    device: torch.device = CPU,
) -> tuple[float, Decoder]:
    """Images per second of gan_step (D + G), and the trained generator (warm-started from `start`)."""
    torch.manual_seed(seed)
    generator = Decoder(cfg)
    if start is not None:
        generator.load_state_dict(start.state_dict())
    place(generator, device, v.layout)
    disc = place(Discriminator(cfg.image_size, cfg.channels), device, v.layout)
    # D and G both move on every step, as the reference step and gan_step_flops count it: at d_steps k
    # (colour's 4) a trained step costs less, so budgets counted at this rate overstate the GAN's minutes
    gc = GANConfig(d_warmup_steps=0, d_steps=1)
    nets = replace(  # the variant's Adam (fused or for-each) in place of the loop's fused one
        GANNets.build(generator, disc, VAE(cfg).to(device), gc),
        opt_g=optimiser(generator.parameters(), v.fused, lr=gc.lr_g, betas=(gc.beta1, gc.beta2)),
        opt_d=optimiser(disc.parameters(), v.fused, lr=gc.lr_d, betas=(gc.beta1, gc.beta2)),
    )

    def step(i: int, real: torch.Tensor, z: torch.Tensor) -> object:
        return gan_step(nets, real, z, gc=gc, step=i, device=device, bf16=v.bf16)

    rate = timed_steps(images, cfg, bs, steps, v, seed, step, device)
    return rate, generator


def data_seconds_per_batch(files: list[Path], cfg: ModelConfig, bs: int, steps: int) -> float:
    """The reference's DataLoader alone: what decoding files per item costs it per batch."""
    loader = DataLoader(FolderDataset(files, cfg.image_size, cfg.channels, cfg.value_range), bs, shuffle=True)
    done, started = 0, 0.0
    while done < steps + 2:
        for _ in loader:
            if done == 2:
                started = time.perf_counter()  # after two warm-up batches, as the reference loop
            done += 1
            if done == steps + 2:
                break
    return (time.perf_counter() - started) / steps


# ----- yardsticks --------------------------------------------------------------------------------
def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5, device: torch.device = CPU) -> float:
    """GFLOP/s of an n^3 matmul, best of `reps`; measured at 512 where one 2048 matmul would take over a
    second (bf16 without bf16 kernels runs at ~1 GFLOP/s: 2048^3 took minutes for nothing). On CUDA at
    8192^3, ten products per timing: a GPU reaches its peak only on work that large."""
    if device.type == "cuda":
        n, repeat = 8192, 10
    elif n > 512 and matmul_peak(dtype, 512, 2) * 1e9 < 2 * n**3:
        n, repeat = 512, 1
    else:
        repeat = 1
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)

    def products() -> None:
        for _ in range(repeat):
            a @ b

    products()
    best = min(timed(products, device) for _ in range(reps))
    return repeat * 2 * n**3 / best / 1e9


def timed(fn: Callable[[], object], device: torch.device = CPU) -> float:
    sync(device)
    started = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - started


def flops_per_image(step: Callable[[], object], bs: int) -> float:
    """FLOPs of one training step (forward and backward) per image, from torch's own counter."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / bs


def vae_step_flops(cfg: ModelConfig, recon: str, bs: int) -> float:
    model = VAE(cfg)
    x = (
        torch.rand(bs, cfg.channels, cfg.image_size, cfg.image_size) * (cfg.value_range[1] - cfg.value_range[0])
        + cfg.value_range[0]
    )

    def step() -> None:
        x_hat, posterior = model(x)
        vae_loss(x_hat, x, posterior.kl(), recon, 1.0)["total"].backward()

    return flops_per_image(step, bs)


def gan_step_flops(cfg: ModelConfig, bs: int) -> float:
    generator, disc = Decoder(cfg), Discriminator(cfg.image_size, cfg.channels)
    real = torch.rand(bs, cfg.channels, cfg.image_size, cfg.image_size)

    def step() -> None:
        fake = generator(torch.randn(bs, cfg.latent_dim))
        disc(torch.cat([real, fake.detach()])).sum().backward()
        disc(fake).sum().backward()

    return flops_per_image(step, bs)


def write_pngs(images: torch.Tensor, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, image in enumerate(images):
        array = image.permute(1, 2, 0).numpy()
        path = folder / f"{i:05d}.png"
        Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
        files.append(path)
    return files


# ----- the run ------------------------------------------------------------------------------------
SETUPS = [
    (
        "64x64 RGB emoji",
        DataConfig(source="emoji", image_size=64, channels=3),
        # the colour default decoder: two convs per level (ModelConfig; docs/results/levers/README.md)
        ModelConfig(image_size=64, channels=3, latent_dim=64, decoder_convs=2),
        "mse_sum",
        64,
    ),
    (
        "28x28 Fashion-MNIST",
        DataConfig(source="fashion-mnist", image_size=28, channels=1),
        ModelConfig(image_size=28, channels=1, latent_dim=32, output="sigmoid"),
        "bce",
        128,
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25, help="timed steps per measurement (after 2 warm-up steps)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the median is reported")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=1024, help="images written as PNG for the reference loop")
    parser.add_argument(
        "--check-steps", type=int, default=150, help="steps of the numerics check at 64x64 (0 skips it)"
    )
    parser.add_argument("--upsampling", action="store_true", help="only compare the two decoder upsamplings")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the steps run (cpu)")
    parser.add_argument("--arrays", type=Path, help="each setup's images from FOLDER/<data>.npz, not the dataset")
    parser.add_argument("--save-arrays", type=Path, help="only write each setup's images to FOLDER/<data>.npz")
    parser.add_argument(
        "--rows",
        choices=("all", "tutorial", "shipped"),
        default="all",
        help="tutorial: the tutorial model's rows; shipped: `vaegan run`'s own steps against their plain loop (all)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="shipped rows: also the VAE's pick as `--compile on` builds it"
    )
    parser.add_argument("--record", metavar="NAME", help=f"also save the run as {RECORDS}/NAME.json")
    args = parser.parse_args()
    if not args.record:
        run(args)
        return
    printed = Tee(sys.stdout)
    sys.stdout = printed
    try:
        run(args)
    finally:
        sys.stdout = printed.out
    command = shlex.join(["python", "benchmarks/throughput.py", *sys.argv[1:]])
    path = save_record(args.record, command, machine_kind(torch.device(args.device)), printed.getvalue())
    print(f"wrote {path}")


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    if args.save_arrays:
        save_arrays(args.save_arrays, args.images * 4)
        return
    if args.upsampling:
        upsampling(args.steps, args.rounds)
        return
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here; run without --device on this machine")

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    peak32 = matmul_peak(torch.float32, device=device)
    peak16 = matmul_peak(torch.bfloat16, device=device)
    print(f"matmul peak (measured): fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s")
    sheet = datasheet_bf16(device)
    if sheet:
        print(f"datasheet dense bf16 peak of this GPU: {sheet:.0f} TFLOP/s (measured {peak16 / sheet / 1e3:.0%} of it)")
    if not bf16_timed(device):
        print("bf16 rows not timed: this CPU lists no bf16 instructions (avx512_bf16, amx_bf16)")
    print()

    peaks = (peak32, peak16 if bf16_timed(device) else None)
    tutorial, tutorial_notes = tutorial_rows(args, device, peaks) if args.rows != "shipped" else ([], [])
    shipped, shipped_notes = shipped_rows(args, device, peaks) if args.rows != "tutorial" else ([], [])
    marked = f"* = what --precision auto and --memory-format auto train here: {describe_rule(device)}"
    if tutorial:
        print()
        print(table_header("x ref"))
        print("\n".join(tutorial))
        print(marked)
        for line in tutorial_notes:
            print(line)
    if shipped:
        print()
        print(table_header("x base"))
        print("\n".join(shipped))
        print(marked)
        print(
            "x base = over the baseline: `vaegan run`'s networks and losses in a plain fp32 loop (contiguous, "
            f"for-each Adam, .item() every step); GAN rows time whole lazy-R1 periods ({GANConfig().r1_every} steps)"
        )
        for line in shipped_notes:
            print(line)
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.arrays or device.type == "cuda":
        return  # the rest reads the datasets through the CLI, on the CPU
    if tutorial:
        generation()
    peak_rss()
    if args.check_steps and tutorial:
        numerics(args.check_steps, rule_pick(VARIANTS, CPU), VARIANTS[4] if bf16_timed(CPU) else None)


def tutorial_rows(
    args: argparse.Namespace, device: torch.device, peaks: tuple[float, float | None]
) -> tuple[list[str], list[str]]:
    """The tutorial model's rows (the reference loop, then vaegan's step with each technique), the rule's pick
    marked, and the lines saying how far that pick ran from the best row (rule_verdicts)."""
    rows, notes = [], []
    pick = rule_pick(VARIANTS, device)
    timed_variants = [v for v in VARIANTS if bf16_timed(device) or not v.bf16]
    with tempfile.TemporaryDirectory() as tmp:
        for name, data_cfg, cfg, recon, bs in SETUPS:
            images = setup_images(data_cfg, args.arrays)
            files = write_pngs(images[: args.images], Path(tmp) / name.split()[0])
            flops = {"VAE": vae_step_flops(cfg, recon, bs), "GAN": gan_step_flops(cfg, bs)}
            runs: dict[tuple[str, str], list[float]] = {}
            data_share = []
            for _ in range(args.rounds):
                reference = reference_vae(files, cfg, recon, bs, args.steps, device)
                runs.setdefault(("VAE", REFERENCE), []).append(reference)
                data_share.append(data_seconds_per_batch(files, cfg, bs, args.steps) * reference / bs)
                runs.setdefault(("GAN", REFERENCE), []).append(reference_gan(files, cfg, bs, args.steps, device))
                for v in timed_variants:
                    label = f"vaegan {v.label}" + (" *" if v == pick else "")
                    rate = vaegan_vae(images, cfg, recon, bs, args.steps, v, device=device)[0]
                    runs.setdefault(("VAE", label), []).append(rate)
                    rate = vaegan_gan(images, cfg, bs, args.steps, v, device=device)[0]
                    runs.setdefault(("GAN", label), []).append(rate)
            notes += rule_verdicts(name, data_cfg.source, runs, device)  # at the loops' own batch sizes
            if device.type == "cuda":  # a GPU is starved at the loops' batch sizes: fp32 and bf16 at larger ones
                for step in ("VAE", "GAN"):
                    for scale, v in itertools.product((4, 16), (VARIANTS[2], VARIANTS[4])):
                        big = bs * scale
                        label = f"vaegan {v.label.removeprefix('+ fused Adam + ')}, batch {big}"
                        for _ in range(args.rounds):
                            rate = (
                                vaegan_vae(images, cfg, recon, big, args.steps, v, device=device)[0]
                                if step == "VAE"
                                else vaegan_gan(images, cfg, big, args.steps, v, device=device)[0]
                            )
                            runs.setdefault((step, label), []).append(rate)
            rows += table_rows(name, runs, base=REFERENCE, flops=flops, peaks=peaks)
            print(
                f"{name}: {flops['VAE'] / 1e6:.0f} MFLOP per image per VAE step, "
                f"{flops['GAN'] / 1e6:.0f} per GAN step (D on real + fake, G through D); the reference's "
                f"DataLoader (decoding PNGs) is {statistics.median(data_share):.1%} of its VAE step"
            )
    return rows, notes


def table_header(ratio: str) -> str:
    """The printed tables' header; `ratio` names what the ratio column is over ("x ref", "x base")."""
    return f"{'data':<20} {'step':<4} {'loop':<40} {'img/s':>7} {ratio:>6} {'GFLOP/s':>8} {'% fp32':>7} {'% bf16':>7}"


def table_rows(
    name: str,
    runs: dict[tuple[str, str], list[float]],
    *,
    base: str,
    flops: dict[str, float],
    peaks: tuple[float, float | None],
) -> list[str]:
    """One printed row per (step, loop) of `runs`: median img/s, its ratio to the `base` loop's, GFLOP/s
    and its share of the fp32 and bf16 matmul peaks (n/a where bf16 has no kernels here: bf16_timed)."""
    peak32, peak16 = peaks
    rows = []
    for step in ("VAE", "GAN"):
        ref = statistics.median(runs[(step, base)])
        for (s, loop), values in runs.items():
            if s != step:
                continue
            rate = statistics.median(values)
            gflops = rate * flops[step] / 1e9
            of_bf16 = f"{gflops / peak16:7.1%}" if peak16 else f"{'n/a':>7}"
            rows.append(
                f"{name:<20} {step:<4} {loop:<40} {rate:7.0f} {rate / ref:6.2f} {gflops:8.0f} "
                f"{gflops / peak32:7.1%} {of_bf16}"
            )
    return rows


def rule_verdicts(name: str, key: str, runs: dict[tuple[str, str], list[float]], device: torch.device) -> list[str]:
    """Per step of `runs`, a line saying how far the rule's pick (the row marked " *") ran from the best eager
    row, and how fast a compiled row ran over it; a FLAG line where an eager row ran over RULE_MARGIN times
    the pick. `key` names the step in the line ("emoji shipped"), `name` in the flag (the table's data)."""
    lines = []
    for step in STAGES:
        rates = {loop: statistics.median(values) for (s, loop), values in runs.items() if s == step}
        pick = next((loop for loop in rates if loop.endswith(" *")), None)
        if pick is None:
            continue
        eager = {loop: rate for loop, rate in rates.items() if not loop.endswith(COMPILED)}
        best = max(eager, key=eager.__getitem__)
        ratio = eager[best] / eager[pick]
        gap = "the best eager row" if best == pick else f"within {ratio - 1:.0%} of the best eager row ({best})"
        compiled = [f"compiled {rate / rates[pick]:.2f}x as fast" for loop, rate in rates.items() if loop not in eager]
        lines.append(f"rule's pick, {key} {step}: {describe_rule(device)}, " + "; ".join([gap, *compiled]))
        if ratio > RULE_MARGIN:
            lines.append(f"FLAG {name} {step}: the rule picks {pick.removesuffix(' *')}; {best} is {ratio:.2f}x faster")
    return lines


def shipped_rows(
    args: argparse.Namespace, device: torch.device, peaks: tuple[float, float | None]
) -> tuple[list[str], list[str]]:
    """The steps `vaegan run` ships, in each precision and layout, beside their plain fp32 baseline, and the
    lines saying how far the rule's pick ran from the best row (rule_verdicts)."""
    rows, notes = [], []
    variants = {stage: shipped_variants(stage, device, args.compile) for stage in STAGES}
    for name, source in SHIPPED_DATA:
        setup = Shipped.of(name, source)
        images = setup_images(setup.vae.data, args.arrays)
        latents = {stage: setup.latents(stage, images, device) for stage in STAGES}
        flops = {stage: shipped_flops(setup, stage, images, latents[stage], device) for stage in STAGES}
        runs: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):  # interleaved: a busy neighbour slows every row alike
            for stage in STAGES:
                steps, bs = shipped_steps(setup, stage, args.steps), setup.batch(stage)
                for label, v in {BASELINE: PLAIN, **variants[stage]}.items():
                    step = (
                        setup.plain(stage, device)
                        if v is PLAIN
                        else setup.step(stage, device, bf16=v.bf16, layout=v.layout, compiled=v.compiled)
                    )
                    rate = timed_steps(images, setup.vae.model, bs, steps, v, 0, step, device, latents[stage])
                    runs.setdefault((stage, label), []).append(rate)
        print(
            f"{name}, shipped: {flops['VAE'] / 1e6:.0f} MFLOP per image per VAE step, {flops['GAN'] / 1e6:.0f} "
            f"per GAN step (a step without lazy R1, which runs every {setup.gan.r1_every}th)"
        )
        rows += table_rows(name, runs, base=BASELINE, flops=flops, peaks=peaks)
        notes += rule_verdicts(name, f"{source} shipped", runs, device)
    return rows, notes


def shipped_variants(stage: str, device: torch.device, compiled: bool) -> dict[str, Variant]:
    """The settings to time for a shipped stage by row label, the rule's pick marked " *", bf16 where it has
    kernels (bf16_timed). `compiled` adds the VAE's pick as `--compile on` builds it, unmarked: opt-in."""
    pick = rule_pick(SHIPPED_VARIANTS, device)
    timed = [v for v in SHIPPED_VARIANTS if bf16_timed(device) or not v.bf16]
    variants = {v.label + (" *" if v == pick else ""): v for v in timed}
    if compiled and stage == "VAE":
        variants[pick.label + COMPILED] = replace(pick, compiled=True)
    return variants


def shipped_steps(setup: Shipped, stage: str, steps: int) -> int:
    """`steps`, for the GAN rounded up to whole lazy-R1 periods: the penalty's share as in training."""
    period = setup.gan.r1_every if stage == "GAN" else 1
    return math.ceil(steps / period) * period


def shipped_flops(setup: Shipped, stage: str, images: torch.Tensor, latents: Latents, device: torch.device) -> float:
    """FLOPs per image of the shipped step (fp32, on the CPU). The GAN's is a step without lazy R1, whose
    autograd.grad the counter's module hooks refuse, so its % of peak is a slight underestimate."""
    bs = setup.batch(stage)
    x = to_float(images[:bs], setup.vae.model.value_range)
    noise = latents(bs, torch.Generator(device).manual_seed(0)).cpu()  # latents draw on `device`
    step = setup.step(stage, CPU, bf16=False, layout=torch.contiguous_format)
    return flops_per_image(lambda: step(1, x, noise), bs)  # step 1: past R1's step 0


def datasheet_bf16(device: torch.device) -> float | None:
    """This GPU's datasheet dense bf16 peak in TFLOP/s, where DATASHEET_BF16 knows its name."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for model, peak in DATASHEET_BF16.items() if model in name), None)


def setup_images(data_cfg: DataConfig, arrays: Path | None) -> torch.Tensor:
    """A setup's training images (uint8 N, C, H, W): the dataset's, or those --save-arrays wrote."""
    if arrays is None:
        return load_splits(data_cfg).train.images
    path = arrays / f"{data_cfg.source}.npz"
    if not path.is_file():
        raise SystemExit(f"no {path}; write it with `python benchmarks/throughput.py --save-arrays {arrays}`")
    return torch.from_numpy(np.load(path)["images"])


def save_arrays(folder: Path, count: int) -> None:
    """The first `count` training images of each setup, compressed, for a machine without the datasets
    (a lent GPU has neither the emoji font nor Debian's Fashion-MNIST)."""
    folder.mkdir(parents=True, exist_ok=True)
    for _, data_cfg, *_ in SETUPS:
        path = folder / f"{data_cfg.source}.npz"
        np.savez_compressed(path, images=load_splits(data_cfg).train.images[:count].numpy())
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")


# One emoji VAE epoch through the CLI, in a fresh interpreter that reports its own peak resident memory.
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child of this
# benchmark (1 GiB by then) would report the parent's peak whatever it used itself.
RSS_RUN = """
import sys
from vaegan.cli import main
try:
    main(sys.argv[1:])
finally:
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("peak RSS KiB", hwm.split()[1])
"""


def peak_rss() -> None:
    """Peak RSS of a one-epoch 64x64 emoji VAE run with the auto settings and with plain fp32, each in
    its own process: bf16 autocast keeps the fp32 weights and adds bf16 copies, and auto must cost no more
    memory than fp32."""
    for settings in (
        ["--precision", "auto", "--memory-format", "auto"],
        ["--precision", "fp32", "--memory-format", "contiguous"],
    ):
        with tempfile.TemporaryDirectory() as out:
            args = [
                "train-vae",
                "--data",
                "emoji",
                "--epochs",
                "1",
                "--min-steps",
                "0",
                "--quality-every",
                "0",
                "-o",
                out,
            ]
            done = subprocess.run(
                [sys.executable, "-c", RSS_RUN, *args, *settings],
                capture_output=True,
                text=True,
                env={**os.environ, "CI": "true"},
                check=False,
            )
        line = next((x for x in done.stdout.splitlines() if x.startswith("peak RSS KiB")), "")
        peak = f"{int(line.split()[-1]) / 1024:.0f} MiB" if line else f"failed: {done.stderr.strip()[-200:]}"
        print(f"peak RSS, 64x64 emoji VAE epoch, {' '.join(settings)}: {peak}")


def upsampling(steps: int, rounds: int) -> None:
    """Images per second of vae_step and gan_step with each decoder upsampling, interleaved in rounds,
    at the settings the loops pick on this machine (the rule's)."""
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'data':<20} {'step':<4} {'upsample':<10} {'img/s':>7} {'x transpose':>12}")
    v = rule_pick(VARIANTS, CPU)
    for name, data_cfg, cfg, recon, bs in SETUPS:
        images = load_splits(data_cfg).train.images
        runs: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for mode in ("transpose", "resize"):
                mode_cfg = replace(cfg, upsample=mode)
                runs.setdefault(("VAE", mode), []).append(vaegan_vae(images, mode_cfg, recon, bs, steps, v)[0])
                runs.setdefault(("GAN", mode), []).append(vaegan_gan(images, mode_cfg, bs, steps, v)[0])
        for (step, mode), values in runs.items():
            rate, base = statistics.median(values), statistics.median(runs[(step, "transpose")])
            print(f"{name:<20} {step:<4} {mode:<10} {rate:7.0f} {rate / base:12.2f}")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def numerics(steps: int, pick: Variant, bf16: Variant | None = VARIANTS[4], seeds: tuple[int, ...] = (0, 1)) -> None:
    """The speed must not come from broken numerics: validation -ELBO and FID after `steps` steps.

    Each 64x64 variant trains the VAE from the same seeds, then the GAN warm-started from that seed's
    fp32 VAE; the spread over seeds is the noise any variant's difference must be read against.
    """
    name, data_cfg, cfg, recon, bs = SETUPS[0]
    splits = load_splits(data_cfg)
    net = feature_net_for(data_cfg, splits)
    val = splits.val.images[:512]
    real_features = embed(net, uint8_to_unit(splits.test.images[:1000]))
    print(f"\nnumerics check, {name}: {steps} VAE steps then {steps} GAN steps (warm start), seeds {seeds}")
    print(f"{'variant':<40} {'val -ELBO (nats)':>24} {'GAN FID':>20}")
    starts: dict[int, Decoder] = {}
    # the tutorial's maths, the rule's pick, bf16 (None where it has no kernels here: hours for nothing)
    checked = dict.fromkeys([VARIANTS[0], pick] + ([bf16] if bf16 else []))
    for v in checked:
        elbos, fids = [], []
        for seed in seeds:
            model = vaegan_vae(splits.train.images, cfg, recon, bs, steps, v, seed)[1].eval()
            elbos.append(likelihood_metrics(model, val, recon, cfg.value_range, k=0)["neg_elbo"])
            starts.setdefault(seed, model.decoder)  # the first variant (fp32 NCHW) starts every GAN
            generator = vaegan_gan(splits.train.images, cfg, bs, steps, v, seed, starts[seed])[1].eval()
            with torch.no_grad():
                metrics = quality_metrics(
                    generator,
                    cfg.latent_dim,
                    splits.test.images,
                    cfg.value_range,
                    net,
                    n=1000,
                    generator=torch.Generator().manual_seed(seed),
                    real_features=real_features,
                )
            fids.append(metrics["fid"])
        print(
            f"vaegan {v.label + (' *' if v == pick else ''):<33} {' / '.join(f'{e:.1f}' for e in elbos):>24} "
            f"{' / '.join(f'{f:.1f}' for f in fids):>20}"
        )


def generation() -> None:
    """Images per second of `sample` and the latency of decoding one z (the explorer's slider)."""
    decoder = VAE(SETUPS[0][2]).decoder.eval()  # the 64x64 setup's: today's colour decoder
    with torch.no_grad():
        z = torch.randn(256, 64)
        decoder(z)
        rate = 256 / min(timed(lambda: decoder(z)) for _ in range(3))
        one = torch.randn(1, 64)
        for _ in range(5):
            decoder(one)
        latency = statistics.median(timed(lambda: decoder(one)) for _ in range(50))
    print(f"generation (64x64 decoder): sample {rate:.0f} img/s at batch 256; one z decoded in {latency * 1e3:.1f} ms")


RECORDS = Path("docs/results/performance")
# One printed table row: data, step, loop (" *": the rule's pick), img/s, x ref (or x base), GFLOP/s, % fp32, % bf16.
ROW = re.compile(r"^(.{20}) (VAE|GAN)  (.{40}) +(\d+) +([\d.]+) +(\d+) +([\d.]+%) +([\d.]+%|n/a)$")


class Tee(io.StringIO):
    """Standard output that is also kept, for --record."""

    def __init__(self, out: io.TextIOBase) -> None:
        super().__init__()
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text)
        return super().write(text)


def machine_kind(device: torch.device) -> str:
    """The machine kind a record stands for: the GPU, or the CPU model and its bf16 instructions."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    flags = cpu_flags(cpu_info())
    bf16 = "AMX" if "amx_bf16" in flags else "avx512_bf16, no AMX" if "avx512_bf16" in flags else "no bf16 instructions"
    return f"{cpu_model()}: {bf16}"


def parse_printed(text: str) -> dict[str, list]:
    """A run's printed lines as a record's fields: machine lines, lines before the tables, their rows (each
    with its table: tutorial or shipped), lines after."""
    parts: dict[str, list] = {"machine": [], "before": [], "rows": [], "after": []}
    part, table = "before", "tutorial"
    for line in text.splitlines():
        row = ROW.match(line)
        if line.startswith(("machine:", "GPU:")):
            parts["machine"].append(line)
        elif line.startswith("data "):  # a table's header: its ratio column says which table follows
            table = "shipped" if "x base" in line else "tutorial"
        elif row:
            loop = row[3].rstrip()
            of_bf16 = None if row[8] == "n/a" else round(float(row[8][:-1]) / 100, 4)
            parts["rows"].append(
                {
                    "table": table,
                    "data": row[1].rstrip(),
                    "step": row[2],
                    "loop": loop.removesuffix(" *"),
                    "auto": loop.endswith(" *"),
                    "img_s": int(row[4]),
                    "x_ref": float(row[5]),
                    "gflops": int(row[6]),
                    "of_fp32": round(float(row[7][:-1]) / 100, 4),
                    "of_bf16": of_bf16,
                }
            )
            part = "after"
        elif line.strip() and not line.startswith(("* = ", "x base = ")):
            parts[part].append(line)
    return parts


def save_record(name: str, command: str, kind: str, printed: str) -> Path:
    """RECORDS/NAME.json: the machine kind, the date, the command and what it printed (report.py reads it)."""
    record = {"name": name, "kind": kind, "date": datetime.date.today().isoformat(), "command": command}
    RECORDS.mkdir(parents=True, exist_ok=True)
    path = RECORDS / f"{name}.json"
    path.write_text(json.dumps({**record, **parse_printed(printed)}, indent=1) + "\n")
    return path


if __name__ == "__main__":
    main()
