"""`vaegan export --format hub` end to end: the folder it writes is a run to every tool (sample, train-gan),
and every damaged, forged or foreign folder is one line on stderr and exit 2."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import vaegan
from child import contents, refused
from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import checksum
from vaegan.cli import main
from vaegan.errors import VaeganError
from vaegan.pretrained import assemble, canonical
from vaegan.runs import open_run

GAN_FLAGS = ["--disc-channels", "4", "--gan-batch-size", "4", "--gan-epochs", "1"]
GAN_ONLY = ["--device", "cpu", "--precision", "fp32", "--quality-every", "0", "--min-steps", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a two-stage run, its export written by the CLI)."""
    root = tmp_path_factory.mktemp("hub_cli")
    (root / "pictures").mkdir()
    for i, image in enumerate(tiny_splits(n=24).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "pictures" / f"{i}.png")
    data = ["--data", str(root / "pictures")]
    assert main(["run", *data, "--out", str(root / "run"), "--epochs", "1", *TINY_FLAGS, *GAN_FLAGS]) == 0
    assert main(["export", str(root / "run"), "--format", "hub", "-o", str(root / "export")]) == 0
    return root / "run", root / "export"


def test_export_prints_its_files_and_sample_reads_the_folder(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, export = trained
    assert main(["export", str(run), "--format", "hub"]) == 0  # default -o: RUN/hub
    printed = capsys.readouterr().out.split()
    assert printed == [str(run / "hub" / name) for name in sorted(p.name for p in export.iterdir())]
    for stage in ("vae", "gan"):
        assert main(["sample", str(export), "-n", "4", "--stage", stage, "-o", str(tmp_path)]) == 0
        assert (tmp_path / f"samples_{stage}_fitted.png").is_file()


def test_a_gan_trains_from_an_exported_vae(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, export = trained
    assert main(["train-gan", "--vae", str(export), "--out", str(tmp_path / "gan"), *GAN_FLAGS, *GAN_ONLY]) == 0
    run = open_run(tmp_path / "gan")  # reopened: its link leads to the export's VAE
    assert run.stages["vae"].checkpoint_path == export / "model.safetensors"
    assert main(["sample", str(tmp_path / "gan"), "-n", "4", "--stage", "vae", "-o", str(tmp_path)]) == 0


def reseal(folder: Path) -> None:
    """Each stage's checksum made to match what its files now hold: a forger's last step."""
    tensors = load_file(folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    for name, entry in config["stages"].items():
        entry = canonical({k: v for k, v in entry.items() if k != "checksum"})
        entry["checksum"] = checksum(assemble(entry, tensors, name))
        config["stages"][name] = entry
    (folder / "config.json").write_text(json.dumps(config))


def edit_config(change: Callable[[dict], None], sealed: bool = False) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))
        if sealed:
            reseal(folder)

    return edit


def edit_tensors(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """`change` on the tensors, saved, resealed: only the check the forgery is aimed at can catch it."""

    def edit(folder: Path) -> None:
        tensors = load_file(folder / "model.safetensors")
        change(tensors)
        save_file(tensors, folder / "model.safetensors")
        reseal(folder)

    return edit


def flip_byte(folder: Path) -> None:
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))


def cut_in_half(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def first_vae_key(tensors: dict) -> str:
    return min(k for k in tensors if k.startswith("vae.model.") and k.endswith("weight"))


def add_model_key(config: dict) -> None:
    config["stages"]["vae"]["config"]["model"]["wings"] = 2


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a flipped byte in the weights": (flip_byte, "fails its checksum: its bytes changed"),
    "weights cut in half": (cut_in_half, r"cannot read .*model\.safetensors: .*damaged or not a safetensors file"),
    "a forged shape, resealed": (
        edit_tensors(lambda t: t.update({first_vae_key(t): torch.zeros(3, 3)})),
        r"model does not match the model its config describes .*stored \(3, 3\)",
    ),
    "NaN weights, resealed": (
        edit_tensors(lambda t: t[first_vae_key(t)].fill_(float("nan"))),
        "holds non-finite weights",
    ),
    "a tensor no stage names, resealed": (
        edit_tensors(lambda t: t.update({"extra.weight": torch.zeros(2)})),
        "holds tensors no stage of its config.json names",
    ),
    "an unknown setting": (edit_config(add_model_key), r"unknown config keys for ModelConfig: \['wings'\]"),
    "an unknown setting, resealed": (
        edit_config(add_model_key, sealed=True),
        r"invalid config: unknown config keys for ModelConfig: \['wings'\]",
    ),
    "a newer export format": (
        edit_config(lambda c: c.update(vaegan_export=99)),
        "export format 99, newer than this vaegan reads",
    ),
    "config.json not JSON": (lambda f: (f / "config.json").write_text("{"), "is not valid JSON"),
    "no config.json": (lambda f: (f / "config.json").unlink(), "has model.safetensors but no config.json"),
    "no weights: no export": (
        lambda f: (f / "model.safetensors").unlink(),
        "no checkpoint at .*, or a folder written by 'vaegan export --format hub'",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_or_forged_export_is_one_line_and_exit_2(
    case: str, trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage, message = CASES[case]
    folder = Path(shutil.copytree(trained[1], tmp_path / "export"))
    damage(folder)
    capsys.readouterr()
    assert main(["sample", str(folder), "-n", "2", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(message, err), err
    assert not list(tmp_path.glob("*.png"))


def test_hub_export_refuses_a_run_folder_as_out_and_a_stage(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = trained
    before = sorted(p.name for p in (run / "vae").iterdir())
    assert main(["export", str(run), "--format", "hub", "-o", str(run / "vae")]) == 2
    assert "exists and is not a vaegan export" in capsys.readouterr().err
    assert sorted(p.name for p in (run / "vae").iterdir()) == before
    assert main(["export", str(run), "--format", "hub", "--stage", "vae", "-o", str(run / "x")]) == 2
    assert "drop --stage" in capsys.readouterr().err


def retyped(dtype: torch.dtype) -> Callable[[Path], None]:
    return edit_tensors(lambda t: t.update({first_vae_key(t): t[first_vae_key(t)].to(dtype)}))


def folder_in_place_of(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return damage


def unknown_keys(config: dict) -> None:
    config["stages"]["vae"]["note"] = "hello"


def gan_link(config: dict) -> None:
    config["stages"]["gan"]["vae_checkpoint"] = "/etc/passwd"  # a string only: nothing is opened


FORGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "config.json nested 100,000 deep": (
        lambda f: (f / "config.json").write_text("[" * 100_000 + "]" * 100_000),
        "config.json nests deeper than any config vaegan writes",
    ),
    **{
        f"{dtype} weights": (retyped(dtype), f"is {str(dtype)[6:]} where vaegan writes float32")
        for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.bool)
    },
    "a tensor of 5e7 elements": (  # 200 MB: read before the shape check, it took twice that
        edit_tensors(lambda t: t.update({first_vae_key(t): torch.zeros(50_000_000)})),
        "stored (50000000,), expected",
    ),
    "a stage config without its model section": (
        edit_config(lambda c: c["stages"]["vae"]["config"].pop("model"), sealed=True),
        "its config has no model section; it is damaged or forged",
    ),
    "model.safetensors a folder": (folder_in_place_of("model.safetensors"), "model.safetensors is a folder, not"),
    "flow_prior.pt a folder": (folder_in_place_of("flow_prior.pt"), "flow_prior.pt is a folder, not a fitted prior"),
    "an unknown key, resealed": (
        edit_config(unknown_keys, sealed=True),
        "holds stages.vae.note, which no vaegan export writes",
    ),
    "the GAN's VAE elsewhere, resealed": (
        edit_config(gan_link, sealed=True),
        "stages.gan.vae_checkpoint is '/etc/passwd', where an export names its own model.safetensors",
    ),
}


@pytest.mark.parametrize("case", FORGED)
def test_a_forged_export_is_one_line_in_bounded_memory(case: str, trained: tuple[Path, Path], tmp_path: Path) -> None:
    damage, message = FORGED[case]
    folder = Path(shutil.copytree(trained[1], tmp_path / "export"))
    damage(folder)
    before = contents(folder)
    refused(["sample", str(folder), "-n", "2", "-o", str(tmp_path)], message)
    assert contents(folder) == before and not list(tmp_path.glob("*.png"))


def test_from_pretrained_of_an_empty_name_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty string is no folder, though Path("") is the working directory."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VaeganError, match="'' names no export"):
        vaegan.from_pretrained("")
