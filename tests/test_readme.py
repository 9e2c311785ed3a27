"""The README stays true: every `vaegan` command in it runs, in order, on tiny runs; every example config loads.

Each command runs as written, with flags that make it tiny appended (a flag the command already gives
keeps the README's value), in a temporary home and working folder: `~/pictures/comics` is a folder of
small pictures, Fashion-MNIST is 48 of its real images written as IDX files, emoji are rendered at 16 px
and draw z from a mixture.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.cli import build_parser, main
from vaegan.config import GANConfig, read_toml, vae_run_config
from vaegan.data.idx import FASHION_MNIST_ROOT, SPLIT_FILES, read_idx, write_idx
from vaegan.settings import GAN_FLAGS, VAE_FLAGS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TRAINING = ("run", "train-vae", "train-gan")
# What makes each command tiny; a flag the command does not take is left out for it.
TINY = [
    *TINY_FLAGS,
    *("--epochs", "1", "--gan-epochs", "1", "--disc-channels", "4", "--prior-components", "2"),
    *("--samples", "16", "-k", "2", "--feature-steps", "10"),  # evaluate
]


# A flow fitted to every emoji's latents runs thousands of steps (flow_prior.RECIPE), most of the suite's
# time; the flow is tested on the small folders' runs, so the emoji runs draw z from a mixture.
EMOJI_CONFIG = Path("emoji-mixture.toml")


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(("vaegan ", "torchrun "))]


def vaegan_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    return argv[argv.index("vaegan") + 1 :]


def options(command: str) -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(subparsers.choices[command]._option_string_actions)


def tiny(argv: list[str]) -> list[str]:
    """argv with TINY's flags the command takes and does not already give; a resume keeps its run's."""
    if "--resume" in argv:
        return argv
    known, given = options(argv[0]), set(argv)
    extra: list[str] = []
    for flag, value in zip(TINY[::2], TINY[1::2], strict=True):
        if flag in known and flag not in given:
            extra += [flag, value]
    if "fashion-mnist" in argv:
        extra += ["--data-root", "fmnist"]
    if any(a.startswith("emoji") for a in argv) and "--config" in known and "--config" not in given:
        extra += ["--config", str(EMOJI_CONFIG)]
    return argv + extra


def write_fashion_mnist(folder: Path, n: int = 48) -> None:
    """The first n real Fashion-MNIST images of each split, relabelled to cycle through all 10 classes."""
    folder.mkdir()
    for images, labels in SPLIT_FILES.values():
        write_idx(folder / images, read_idx(Path(FASHION_MNIST_ROOT) / f"{images}.gz")[:n])
        write_idx(folder / labels, (np.arange(n) % 10).astype(np.uint8))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with ~/pictures/comics, a working folder with a.png, b.png and Fashion-MNIST's IDX files."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    comics = tmp_path / "pictures" / "comics"
    comics.mkdir(parents=True)
    for i, image in enumerate(tiny_splits(n=56).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).resize((24, 20)).save(comics / f"{i}.png")
    for name, i in (("a.png", 0), ("b.png", 1)):
        (tmp_path / name).write_bytes((comics / f"{i}.png").read_bytes())
    write_fashion_mnist(tmp_path / "fmnist")
    (tmp_path / EMOJI_CONFIG).write_text('[model]\nprior = "mixture"\n')
    return tmp_path


def python_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1"}


def run_torchrun(command: str) -> None:
    argv = shlex.split(command)
    launcher = argv[1 : argv.index("-m")]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "vaegan", *tiny(vaegan_argv(command))],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def run_explorer(argv: list[str]) -> None:
    """Serve, fetch the page once, stop: `explore` runs until it is stopped."""
    server = subprocess.Popen(
        [sys.executable, "-m", "vaegan", *tiny(argv)], env=python_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = next(m.group(0) for line in server.stdout if (m := re.search(r"http://127\.0\.0\.1:\d+/?", line)))
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_readme_command_runs_on_a_tiny_run(world: Path) -> None:
    commands = readme_commands()
    assert len(commands) >= 20
    for command in commands:
        if command.startswith("torchrun "):
            run_torchrun(command)
            continue
        argv = vaegan_argv(command)
        if argv[0] == "explore":
            run_explorer(argv)
            continue
        assert main(tiny(argv)) == 0, command
    assert (world / "runs" / "comics" / "report.html").is_file()
    assert (world / "runs" / "comics" / "decoder.onnx").is_file()
    assert (world / "runs" / "emoji" / "attribute_gan.png").is_file()
    assert (world / "runs" / "fmnist" / "evaluation_inception.json").is_file()


def test_readme_has_the_two_command_quick_start() -> None:
    quick = README.split("## Quick start")[1].split("##")[0]
    block = re.search(r"```bash\n(.*?)```", quick, flags=re.S)
    assert block is not None
    assert [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()] == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_fits_a_users_guide() -> None:
    assert len(README.splitlines()) <= 200 and len(README.encode()) <= 12_000


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_load(path: Path) -> None:
    sections = read_toml(path)
    known = {flag.section for flag in VAE_FLAGS + GAN_FLAGS}
    assert set(sections) <= known
    vae_run_config(**sections)
    GANConfig(**sections.get("gan", {}))


def test_reliability_promises_name_tests_that_exist() -> None:
    """Each promise in the README's Reliability section names its test; a renamed or deleted test fails here."""
    section = README.split("## Reliability")[1].split("\n## ")[0]
    named = re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", section)
    assert len(named) >= 8
    module = ""
    for path, test in named:
        module = path or module  # `::name` continues the module named before it
        assert re.search(rf"^def {test}\(", (ROOT / module).read_text(), flags=re.M), f"{module}::{test}"
