"""When vaegan shows progress bars: one rule for every wait, training epochs and one-time work alike.

A bar goes to stderr when stderr is a terminal and the CI environment variable is unset (or "false"/"0");
redirected output and CI logs get no bars, only the log lines, so a log stays one line per event. Log
lines reach a terminal through tqdm's writer (the CLI wraps every command in `logging_redirect_tqdm`),
so they print above a bar instead of through it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

NOT_CI = ("", "0", "false", "no")
DELAY = 2.0  # seconds before a bar first draws: waits shorter than that never flash one


def bars_wanted() -> bool:
    """True on an interactive terminal outside CI: the one rule every bar in vaegan follows."""
    in_ci = os.environ.get("CI", "").strip().lower() not in NOT_CI
    return sys.stderr.isatty() and not in_ci


def progress_bar(total: int, desc: str, unit: str = "it", enabled: bool | None = None) -> Any:
    """A tqdm bar on stderr that disappears when done, shown only where `bars_wanted()` (or `enabled`)
    and only once the wait has lasted DELAY seconds."""
    from tqdm import tqdm

    show = bars_wanted() if enabled is None else enabled
    return tqdm(total=total, desc=desc, unit=unit, leave=False, delay=DELAY, disable=not show, file=sys.stderr)
