"""Where vaegan writes: a folder checked before any work, so that a refusal costs nothing, leaves nothing
behind and names the fix."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vaegan.errors import VaeganError


def check_writable(run_dir: Path, what: str = "the run folder", fix: str = "choose a writable --out") -> None:
    """The run folder (or `what` folder) would take a file: tried in it, or where it does not exist yet in
    its nearest existing parent, so nothing is created (a refusal leaves no folder behind, and processes of
    one torchrun check side by side); else one line naming it and the fix."""
    path = Path(run_dir)
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(path))
        parent = next(p for p in [path, *path.parents] if p.exists())
        if not parent.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(parent))
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise VaeganError(f"cannot write to {what} {run_dir}: {reason}; {fix}") from exc


def check_out_folder(out: Path, writes: str) -> None:
    """`-o out` is a folder, or can be made one, that takes `writes`; else one line naming it and the fix."""
    if out.exists() and not out.is_dir():
        what = "a file" if out.is_file() else "a device or other special file"
        fix = f"pass -o a folder (created when missing) for {writes}"
        raise VaeganError(f"cannot write to -o {out}: it is {what}, not a folder; {fix}")
    check_writable(out, "-o", "choose another -o")
