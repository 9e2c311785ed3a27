"""The one output convention of every command: `-o/--out DIR` is the folder it writes into.

Training commands (train-vae, train-gan, run, loss-experiment) write a run folder, and -o names it.
Commands that read a run write files with fixed names that say what they hold (`samples_gan.png`,
`evaluation_own.json`) into -o DIR, created when missing, by default the run folder itself, so a run
collects its own pictures; each prints the paths it wrote. The spelling from before the convention still
works: an -o that is not a folder and ends in the extension of what the command writes (`-o grid.png`,
`-o eval.json`) names the file itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from pathlib import Path


def add_out(p: argparse.ArgumentParser, writes: str) -> None:
    """-o/--out DIR for a command that reads a run and writes `writes` (file names, for the help)."""
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="DIR",
        help=f"folder to write {writes} into, created when missing (default: the run folder)",
    )


def add_run_out(p: argparse.ArgumentParser, default: str, what: str = "run folder") -> None:
    """-o/--out DIR for a training command: the run folder it writes."""
    p.add_argument("-o", "--out", type=Path, metavar="DIR", help=f"{what} (default {default})")


def output_path(out: Path | None, run: Path, name: str, suffixes: Collection[str] | None = None) -> Path:
    """Where a command reading `run` writes its file `name`: DIR/name, DIR being `out` or the run folder.

    An `out` that is no folder and ends in one of `suffixes` (default: name's own) is the file itself. An
    `out` that cannot take the file (a file of another kind, a device, a place nothing can be written) is
    refused in one line naming it.
    """
    from vaegan.paths import check_out_folder, check_writable

    suffixes = {Path(name).suffix} if suffixes is None else suffixes
    if out is None:
        return (run if run.is_dir() else run.parent) / name
    if not out.is_dir() and out.suffix.lower() in suffixes and (out.is_file() or not out.exists()):
        check_writable(out.parent if out.exists() else out, "-o", "choose another -o")
        return out
    check_out_folder(out, name)
    return out / name


def picture_path(out: Path | None, run: Path, name: str) -> Path:
    """output_path for a picture: an old-style `-o grid.jpg` may name any image format Pillow writes."""
    from PIL import Image

    writable = {ext for ext, kind in Image.registered_extensions().items() if kind in Image.SAVE}
    return output_path(out, run, name, writable)


def resume_conflicts(args: argparse.Namespace, stage: str, *others: str) -> None:
    """--resume continues the `stage` run it names in place: an --out elsewhere (or another of `others`, e.g.
    --vae) would silently be ignored, so it is refused before anything is read or written, as is a `vaegan run`
    folder, whose stages have folders of their own."""
    from vaegan.checkpoint import CHECKPOINT_NAME
    from vaegan.errors import VaeganError

    resume = Path(args.resume)
    if resume.is_file():  # a checkpoint inside the run folder: the fix is that folder, not --out
        raise VaeganError(f"--resume {resume} is a file; pass the run folder that holds it: --resume {resume.parent}")
    if args.out is not None and Path(args.out).resolve() != resume.resolve():
        raise VaeganError(
            f"--resume continues {resume} in place, so --out {args.out} would be ignored; drop --out, or start "
            "a new run in --out without --resume"
        )
    given = [name for name in others if getattr(args, name.lstrip("-").replace("-", "_"), None) is not None]
    if given:
        raise VaeganError(f"--resume continues {resume} with what it was started with; drop {', '.join(given)}")
    if not resume.is_dir():
        raise VaeganError(f"--resume {resume}: no such run folder; pass the folder a training command wrote")
    if (resume / "vae").is_dir() and not (resume / CHECKPOINT_NAME).exists():
        if not (resume / stage / CHECKPOINT_NAME).is_file():
            raise VaeganError(
                f"--resume {resume} is a `vaegan run` folder with no {stage.upper()} stage yet; run the same "
                "`vaegan run` command again to train it"
            )
        raise VaeganError(
            f"--resume {resume} is a `vaegan run` folder; pass its {stage.upper()} stage: --resume {resume / stage}"
        )
