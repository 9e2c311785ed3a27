"""Benchmark: does the VAE start learning at each seed, and if not, where is it stuck?

    python benchmarks/vae_start.py --data emoji --seeds 0 1 2 --steps 200 --vae-set model.decoder_convs=2

Trains the race's VAE (race.py's VAETrainer: today's defaults, at the precision and layout `auto` picks
here) for --steps at each seed, and prints per seed its loss at steps 1, 2, 3 and every --every steps,
then, on the posterior means of the first 64 training images: the smallest share of positive
activations over the decoder's ReLUs (near 0: a layer died) and the decoder's output layer before its
tanh or sigmoid, as the mean magnitude and the share beyond 3 (tanh'(3) = 0.01: a saturated pixel
passes almost no gradient back).
Levers round 16 (docs/results/levers/README.md) found a seed whose loss stayed near its start this way.
"""

from __future__ import annotations

import argparse

import torch
from quality import configs, vae_overrides, vae_setting
from race import VAETrainer, auto_settings

from vaegan.data import load_splits, to_float
from vaegan.models.blocks import ResidualConv
from vaegan.models.vae import VAE

SATURATED = 3.0  # |pre-activation| beyond which tanh' < 0.01 (sigmoid' < 0.05)


@torch.no_grad()
def decoder_state(vae: VAE, x: torch.Tensor) -> str:
    """Smallest positive share over the decoder's ReLU outputs, and its output layer's pre-activations."""
    seen: dict[str, torch.Tensor] = {}
    decoder = vae.decoder
    watched = [(name, m) for name, m in decoder.named_modules() if isinstance(m, (torch.nn.ReLU, ResidualConv))] + [
        ("to_image", decoder.to_image)
    ]
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, n=name: seen.__setitem__(n, out.float())) for name, m in watched
    ]
    try:
        vae.eval()
        vae.decode(vae.encode(x).mean)
    finally:
        for hook in hooks:
            hook.remove()
    pre = seen.pop("to_image")
    alive = min(float((a > 0).float().mean()) for a in seen.values())
    return (
        f"decoder ReLUs at least {alive:.2f} positive; output layer before its activation: mean |value| "
        f"{float(pre.abs().mean()):.3g}, {float((pre.abs() > SATURATED).float().mean()):.0%} beyond {SATURATED:g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="emoji")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=100, help="print the loss every this many steps")
    parser.add_argument("--vae-set", type=vae_setting, action="append", metavar="SECTION.FIELD=NUMBER")
    args = parser.parse_args()
    cfg, gan = configs(args.data, None, vae_overrides=vae_overrides(args.vae_set))
    images = load_splits(cfg.data).train.images
    settings = auto_settings(cfg, gan, images)[0]
    x = to_float(images[:64], cfg.model.value_range).contiguous(memory_format=settings.layout)
    for seed in args.seeds:
        trainer = VAETrainer(cfg, images, seed, settings)
        losses = {}
        for step in range(1, args.steps + 1):
            loss = trainer.step()
            if step <= 3 or step % args.every == 0:
                losses[step] = loss
        trace = ", ".join(f"{step}: {loss:.0f}" for step, loss in losses.items())
        print(f"seed {seed}: loss at step {trace}; {decoder_state(trainer.model, x)}", flush=True)


if __name__ == "__main__":
    main()
