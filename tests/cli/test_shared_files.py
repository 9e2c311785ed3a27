"""Run folders and outputs that cannot lie (issue 68): every -o that cannot take what a command writes, and
every path given for the wrong kind of thing, is one line whose advice fits, with nothing written; what a
run folder holds that a command cannot show (NaN in metrics.jsonl, a garbage config.json, a GAN run given
as --vae) is said in one warning line; forged caches and damaged logs are refused in bounded memory."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from child import contents, refused, run_child
from tiny import TINY_FLAGS, tiny_folder
from vaegan.cli import main, os_fix
from vaegan.metrics.features import cache_path
from vaegan.runs import open_run

GAN_TINY = ["--disc-channels", "4", "--gan-batch-size", "4", "--device", "cpu", "--gan-epochs", "1"]
GAN_TINY += ["--precision", "fp32", "--quality-every", "0", "--min-steps", "0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding pictures/, a 1-epoch VAE run vae/ on them and a 1-epoch GAN run gan/ from it."""
    root = tmp_path_factory.mktemp("shared_files")
    data = ["--data", str(tiny_folder(root / "pictures")), "--epochs", "1", *TINY_FLAGS]
    assert main(["train-vae", *data, "--out", str(root / "vae")]) == 0
    assert main(["train-gan", "--vae", str(root / "vae"), "--out", str(root / "gan"), *GAN_TINY]) == 0
    return root


def one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """`vaegan ARGV` exits 2 with one line on stderr, no traceback; that line."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def a_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("not a folder")
    return tmp / "notes.txt"


def a_fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe")  # a special file in the test's own folder, as /dev/null is one outside it
    return tmp / "pipe"


# (id, the command for (runs, this test's folder), what its one line must say)
OUTS: list[tuple[str, Callable[[Path, Path], list[str]], str]] = [
    *[
        (
            f"{command} -o a file",
            lambda r, t, c=command: [c, str(r / "gan"), "-o", str(a_file(t))],  # type: ignore[misc]
            "notes.txt: it is a file, not a folder; pass -o a folder (created when missing)",
        )
        for command in ("report", "export", "latent-map", "curves")
    ],
    ("report -o a device", lambda r, t: ["report", str(r / "gan"), "-o", str(a_fifo(t))], "is a device or other"),
    (
        "curves -o under a file",
        lambda r, t: ["curves", str(r / "gan"), "-o", str(a_file(t) / "sub")],
        "cannot write to -o",  # the OS's reason, then "choose another -o", not the free space
    ),
    (
        "web export -o a file",
        lambda r, t: ["export", str(r / "gan"), "--format", "web", "-o", str(a_file(t))],
        "is a file, not a folder; pass -o a folder (created when missing) for the site",
    ),
    (
        "export -o x.onnx of two stages",
        lambda r, t: ["export", str(r), "-o", str(t / "x.onnx")],  # r: vae/ beside gan/, as `vaegan run` writes
        "x.onnx names one file, but this run exports decoder.onnx and generator.onnx; pass -o a folder, or --stage",
    ),
    (
        "resume a checkpoint file",
        lambda r, t: ["train-vae", "--resume", str(r / "vae" / "checkpoint.pt"), "--epochs", "2"],
        f"checkpoint.pt is a file; pass the run folder that holds it: --resume {'{vae}'}",
    ),
    (
        "attribute-file a folder",
        lambda r, t: ["attribute", str(r / "vae"), "--attribute", "smiling", "--attribute-file", str(t)],
        "is a folder, not a table; pass CelebA's list_attr_celeba.txt or a CSV",
    ),
]


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in OUTS], ids=[c[0] for c in OUTS])
def test_a_path_of_the_wrong_kind_is_one_line_that_fits(
    runs: Path,
    tmp_path: Path,
    argv: Callable[[Path, Path], list[str]],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = argv(runs, tmp_path)
    before = contents(runs) | {f"tmp/{k}": v for k, v in contents(tmp_path).items()}
    line = one_line(command, capsys)
    assert message.replace("{vae}", str(runs / "vae")) in line, line
    assert "free space" not in line and "File exists" not in line
    assert contents(runs) | {f"tmp/{k}": v for k, v in contents(tmp_path).items()} == before
    assert not (tmp_path / "x.onnx").exists()


def test_web_export_checks_its_folder_before_building_the_explorer(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explorer takes seconds and hundreds of MB to build: a folder that cannot take the site costs neither."""
    from vaegan.explorer.core import Explorer

    def never(*_: object) -> None:
        raise AssertionError("the explorer was built before -o was checked")

    monkeypatch.setattr(Explorer, "from_run", never)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "mine.txt").write_text("someone's file")
    assert "holds other files" in one_line(
        ["export", str(runs / "gan"), "--format", "web", "-o", str(tmp_path / "site")], capsys
    )
    assert "is a file" in one_line(
        ["export", str(runs / "gan"), "--format", "web", "-o", str(a_file(tmp_path))], capsys
    )


def test_export_onnx_to_one_file_for_one_stage(runs: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    assert main(["export", str(runs / "gan"), "--stage", "vae", "-o", str(tmp_path / "x.onnx")]) == 0
    assert (tmp_path / "x.onnx").is_file()


def test_an_unreadable_config_is_permission_denied(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads any file, so the kernel's refusal is simulated where vaegan reads the TOML."""
    config = tmp_path / "settings.toml"
    config.write_text("[train]\nepochs = 1\n")
    read_text = Path.read_text

    def refuse(path: Path, *args: object, **kwargs: object) -> str:
        if path == config:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", refuse)
    argv = ["train-vae", "--data", str(runs / "pictures"), "--config", str(config), "--out", str(tmp_path / "run")]
    line = one_line(argv, capsys)
    assert f"cannot read config file {config}: permission denied; make it readable (chmod u+r)" in line, line
    assert not (tmp_path / "run").exists()


def test_an_unforeseen_os_error_gets_advice_that_fits() -> None:
    assert os_fix(OSError(errno.ENOSPC, "No space left on device")) == "free some disk space"
    assert "permissions" in os_fix(PermissionError(errno.EACCES, "Permission denied"))
    assert os_fix(FileExistsError(errno.EEXIST, "File exists")) == "check the path"


def copy_pair(runs: Path, tmp_path: Path) -> Path:
    for name in ("vae", "gan"):
        shutil.copytree(runs / name, tmp_path / name)
    return tmp_path


def test_non_finite_metrics_are_named_in_one_warning(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_pair(runs, tmp_path)
    record = json.loads((run / "vae" / "metrics.jsonl").read_text().splitlines()[-1])
    record.update({"epoch": 2, "train/total": float("nan"), "val/kl": float("inf")})
    with (run / "vae" / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")  # json writes NaN and Infinity
    capsys.readouterr()
    assert main(["curves", str(run / "gan"), "-o", str(tmp_path / "out")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "non-finite" in line]
    assert warned == [
        f"{run / 'vae' / 'metrics.jsonl'}: non-finite values (NaN or Infinity) left out of its "
        "records and curves: train/total (1), val/kl (1)"
    ]


def test_report_names_a_garbage_config_json_and_non_finite_metrics(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_pair(runs, tmp_path)
    (run / "vae" / "config.json").write_text("{ not json")
    with (run / "gan" / "metrics.jsonl").open("a") as f:
        f.write('{"stage": "gan", "epoch": 2, "step": 8, "d_loss": NaN}\n')
    capsys.readouterr()
    assert main(["report", str(run / "gan"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum("config.json cannot be read" in line and "the config the checkpoint embeds" in line for line in err) == 1
    assert sum("non-finite values" in line and "d_loss (1)" in line for line in err) == 1
    assert "config.json cannot be read" in (tmp_path / "out" / "report.html").read_text()


def test_train_gan_from_a_gan_run_says_which_vae_it_starts_from(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["train-gan", "--vae", str(runs / "gan"), "--out", str(tmp_path / "gan2"), *GAN_TINY]) == 0
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if "holds a GAN stage" in line]
    assert said == [
        f"--vae {runs / 'gan'} holds a GAN stage: the new GAN starts from the VAE that GAN was trained from, "
        f"{runs / 'vae' / 'checkpoint.pt'}"
    ]
    assert open_run(tmp_path / "gan2").stage("vae").checkpoint_path.resolve() == runs / "vae" / "checkpoint.pt"


def test_report_refuses_a_damaged_log_in_bounded_memory(runs: Path, tmp_path: Path) -> None:
    run = copy_pair(runs, tmp_path)
    (run / "gan" / "metrics.jsonl").write_text("garbage\n")
    before = contents(run)
    refused(["report", str(run / "gan")], "metrics.jsonl is not valid JSON lines (1 damaged)")
    assert contents(run) == before


def test_a_forged_feature_net_cache_is_sized_before_it_is_built(runs: Path, tmp_path: Path) -> None:
    """1 KB declaring a 12,000-wide net: refused from its config and shapes, then trained again."""
    cache = tmp_path / "cache"
    path = cache_path(open_run(runs / "vae").config.data, cache)
    path.parent.mkdir(parents=True)
    config = {"kind": "simclr", "channels": 3, "outputs": 64, "width": 12_000}
    torch.save({"stage": "features", "config": config, "model": {}, "accuracy": None}, path)
    argv = ["evaluate", str(runs / "gan"), "-k", "0", "--samples", "20", "-o", str(tmp_path / "eval")]
    result, err = run_child(*argv, "--cache-dir", str(cache), "--feature-steps", "3", "--split", "train")
    assert result["code"] == 0, err
    assert sum("cannot read feature net" in line and "training it again" in line for line in err.splitlines()) == 1
    assert result["peak_mib"] < 400
