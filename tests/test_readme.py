"""The README and the example configs stay true: every `vaegan` command in them parses, every config loads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from vaegan.cli import build_parser
from vaegan.cli.options import GAN_FLAGS, VAE_FLAGS
from vaegan.config import GANConfig, read_toml, vae_run_config

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(("vaegan ", "torchrun "))]


def test_readme_has_the_two_command_quick_start() -> None:
    quick = (ROOT / "README.md").read_text().split("## Quick start")[1].split("##")[0]
    block = re.search(r"```bash\n(.*?)```", quick, flags=re.S)
    assert block is not None
    assert [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()] == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("command", readme_commands())
def test_readme_commands_parse(command: str) -> None:
    argv = shlex.split(command)
    if argv[0] == "torchrun":
        argv = argv[argv.index("vaegan") + 1 :]
    else:
        argv = argv[1:]
    build_parser().parse_args(argv)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_load(path: Path) -> None:
    sections = read_toml(path)
    known = {flag.section for flag in VAE_FLAGS + GAN_FLAGS}
    assert set(sections) <= known
    vae_run_config(**sections)
    GANConfig(**sections.get("gan", {}))


def test_reliability_promises_name_tests_that_exist() -> None:
    """Each promise in the README's Reliability section names its test; a renamed or deleted test fails here."""
    section = (ROOT / "README.md").read_text().split("## Reliability")[1].split("\n## ")[0]
    named = re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", section)
    assert len(named) >= 8
    module = ""
    for path, test in named:
        module = path or module  # `::name` continues the module named before it
        assert re.search(rf"^def {test}\(", (ROOT / module).read_text(), flags=re.M), f"{module}::{test}"
