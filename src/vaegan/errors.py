"""The one exception type the CLI turns into a clean one-line error and a non-zero exit, the words its
messages use for a path that is no file, and which warnings this process has given already."""

from collections.abc import Hashable
from pathlib import Path

_GIVEN: set[Hashable] = set()


class VaeganError(Exception):
    """A problem the user can fix: the message names the problem and the fix."""


def not_a_file(path: Path, kind: str) -> str:
    """Why `path` is not the `kind` of file asked for, in words: a folder, a device (/dev/zero), or nothing."""
    if path.is_dir():
        return f"is a folder, not {kind}"
    if path.exists():
        return f"is a device or other special file, not {kind}"
    return "does not exist"


def first_time(key: Hashable) -> bool:
    """True the first time this process asks about `key`: a warning a re-read folder or the next stage would
    repeat word for word is given once."""
    if key in _GIVEN:
        return False
    _GIVEN.add(key)
    return True
