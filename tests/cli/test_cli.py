"""The CLI end to end on a tiny temporary image folder, asserting on the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.cli import main

TINY = TINY_FLAGS


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=16).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).resize((24, 20)).save(folder / f"{i}.png")
    return folder


def test_train_vae_then_sample_and_reconstruct(tmp_path: Path, image_folder: Path) -> None:
    run = tmp_path / "run"
    assert main(["train-vae", "--data", str(image_folder), "--epochs", "2", "--out", str(run), *TINY]) == 0
    assert (run / "checkpoint.pt").is_file()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in (run / "grids").iterdir()) == [
        "heldout_e001.png",
        "heldout_e002.png",
        "recon_e001.png",
        "recon_e002.png",
        "samples_e001.png",
        "samples_e002.png",
    ]

    assert main(["sample", str(run), "-n", "6", "-o", str(tmp_path / "s.png"), "--seed", "1"]) == 0
    with Image.open(tmp_path / "s.png") as grid:
        assert grid.size == (3 * 18 + 2, 2 * 18 + 2)  # 3 per row, 16 px + 2 px padding

    assert (
        main(
            [
                "reconstruct",
                str(run),
                "--images",
                str(image_folder / "0.png"),
                str(image_folder / "1.png"),
                "-o",
                str(tmp_path / "r.png"),
            ]
        )
        == 0
    )
    with Image.open(tmp_path / "r.png") as grid:
        assert grid.size == (2 * 18 + 2, 2 * 18 + 2)  # originals above reconstructions


def test_grid_every_draws_the_cadence_and_the_last_epoch(tmp_path: Path, image_folder: Path) -> None:
    """A setting without a flag, from a config file: grids every 2nd epoch and at the last."""
    run, config = tmp_path / "run", tmp_path / "c.toml"
    config.write_text("[train]\ngrid_every = 2\n")
    flags = ["--epochs", "3", "--config", str(config), "--out", str(run), *TINY]
    assert main(["train-vae", "--data", str(image_folder), *flags]) == 0
    assert sorted(p.name for p in (run / "grids").iterdir()) == [
        "heldout_e002.png",
        "heldout_e003.png",
        "recon_e002.png",
        "recon_e003.png",
        "samples_e002.png",
        "samples_e003.png",
    ]


def test_resume_continues_from_the_checkpoint(tmp_path: Path, image_folder: Path) -> None:
    run = tmp_path / "run"
    assert main(["train-vae", "--data", str(image_folder), "--epochs", "1", "--out", str(run), *TINY]) == 0
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    assert payload["loop"]["epoch"] == 2
    assert main(["train-vae", "--resume", str(run)]) == 0  # already done: nothing more to train
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train-vae", "--data", "{tmp}/no-such-folder"], "no-such-folder"),
        (["train-vae", "--epochs", "zero"], "invalid int value"),
        (["train-vae", "--recon", "l1"], "invalid choice"),
        (["train-vae", "--epochs", "0"], "epochs must be >= 1"),
        (["sample", "{tmp}/no-such-run"], "no checkpoint"),
        (["train-vae", "--config", "{tmp}/no-such.toml"], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main([arg.format(tmp=tmp_path) for arg in argv]))  # missing paths in this test's folder
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_config_file_and_flags_layer(tmp_path: Path, image_folder: Path) -> None:
    (tmp_path / "c.toml").write_text("[train]\nepochs = 1\nlr = 0.002\n[model]\nlatent_dim = 3\n")
    run = tmp_path / "run"
    assert (
        main(
            [
                "train-vae",
                "--data",
                str(image_folder),
                "--config",
                str(tmp_path / "c.toml"),
                "--out",
                str(run),
                *TINY[:2],
                *TINY[4:],
            ]
        )
        == 0
    )
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["lr"] == 0.002 and saved["train"]["epochs"] == 1
    assert saved["model"]["latent_dim"] == 3  # from the file: the flag was left out


@pytest.mark.parametrize("source", ["fashion-mnist", "emoji"])
def test_help_states_the_defaults_the_configs_really_use(source: str) -> None:
    """The help texts are generated from the config classes and presets, so they cannot drift from them."""
    from vaegan.cli.options import default_text, shown
    from vaegan.config import GANConfig, vae_run_config
    from vaegan.presets import dataset_defaults
    from vaegan.settings import GAN_FLAGS, VAE_FLAGS

    sections = dataset_defaults(source)
    configs = {"gan": GANConfig(**sections.get("gan", {})), **vars(vae_run_config(**sections))}
    part = 0 if source == "fashion-mnist" else -1  # "default A for fashion-mnist and mnist, B otherwise"
    for flag in VAE_FLAGS + GAN_FLAGS:
        value = getattr(configs[flag.section], flag.key)
        text = default_text(flag)
        assert text.startswith("default ") and shown(value, flag.unset) in text.split(", ")[part], (flag.name, text)


def test_help_shows_an_empty_diffaugment_policy_as_off() -> None:
    from vaegan.cli.options import default_text
    from vaegan.settings import GAN_FLAGS

    flag = next(f for f in GAN_FLAGS if f.key == "diffaugment")
    assert default_text(flag) == "default off for fashion-mnist and mnist, color,translation otherwise"


def test_every_setting_without_a_flag_is_listed_at_its_default_in_the_emoji_config() -> None:
    """configs/emoji.toml is where the settings without a flag are documented: each in its section, at the
    default a config file would change (commented out, or set to it)."""
    import re
    import tomllib

    from vaegan.config import GANConfig, vae_run_config
    from vaegan.presets import dataset_defaults
    from vaegan.settings import GAN_FLAGS, VAE_FLAGS, config_only

    text = (Path(__file__).parents[2] / "configs" / "emoji.toml").read_text()
    listed = tomllib.loads(re.sub(r"^# (\w+ = )", r"\1", text, flags=re.M))  # the commented keys, uncommented
    sections = dataset_defaults("emoji")
    configs = {"gan": GANConfig(**sections.get("gan", {})), **vars(vae_run_config(**sections))}
    keys = config_only(VAE_FLAGS + GAN_FLAGS)
    assert {"grid_every", "kl_warmup_steps", "beta1", "r1_every", "split_seed"} <= set(keys)
    for name, (section, key) in keys.items():
        assert listed[section].get(key) == getattr(configs[section], key), name


@pytest.mark.parametrize("columns", ["60", "80", "120"])
def test_run_help_lists_each_option_once_on_a_line_of_its_own(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No help text wraps a flag it mentions onto the start of a line, where it reads as another option; and
    `vaegan run` keeps to at most 45 options (issue 60: only the options that won stay)."""
    import argparse
    import re

    from vaegan.cli import build_parser

    monkeypatch.setenv("COLUMNS", columns)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    run = sub.choices["run"]
    options = [a.option_strings[0] for a in run._actions if a.option_strings[0].startswith("--")]
    listed = re.findall(r"^\s+(--[a-z0-9-]+)", run.format_help(), flags=re.M)
    assert listed == options and len(options) <= 45
