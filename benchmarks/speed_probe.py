"""What `--precision auto` and `--memory-format auto` pick on this machine, and what the probe costs.

    python benchmarks/speed_probe.py
For the default models of emoji (64x64 RGB) and Fashion-MNIST (28x28 grey), each stage's probe is run
with a fresh cache, so every line is a new measurement: the verdict, the per-candidate step times and
the seconds the probe took. Best on an idle machine: the probe times the real training step.
"""

from __future__ import annotations

import platform
import tempfile
import time

import torch

from vaegan.config import GANConfig, vae_run_config
from vaegan.data import load_splits
from vaegan.presets import dataset_defaults
from vaegan.training import speed
from vaegan.training.train_gan import gan_probe
from vaegan.training.train_vae import vae_probe

CPU = torch.device("cpu")


def main() -> None:
    print(
        f"CPU: {speed.cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}"
    )
    for source in ("emoji", "fashion-mnist"):
        sections = dataset_defaults(source)
        cfg = vae_run_config(**{**sections, "data": {**sections["data"], "source": source}})
        images = load_splits(cfg.data).train.images
        for name, probe in (
            ("VAE", vae_probe(cfg, images)),
            ("GAN", gan_probe(GANConfig(**sections["gan"]), cfg, images)),
        ):
            seconds: dict = {}

            def recording(
                bf16: bool, layout: torch.memory_format, time_steps=probe.time_steps, seconds=seconds
            ) -> float:
                took = time_steps(bf16, layout)
                seconds.setdefault((bf16, layout == torch.channels_last), []).append(took)
                return took

            with tempfile.TemporaryDirectory() as cache:
                started = time.perf_counter()
                choice = speed.choose("auto", "auto", CPU, probe.shape, recording, cache)
                cost = time.perf_counter() - started
            steps = ", ".join(
                f"{'bf16' if b else 'fp32'}+{'NHWC' if c else 'NCHW'} {1e3 * min(v):.0f} ms"
                for (b, c), v in seconds.items()
            )
            print(f"{source:14s} {name}: {choice.note}  [{steps}; probe {cost:.1f}s]")


if __name__ == "__main__":
    main()
