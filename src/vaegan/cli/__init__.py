"""The `vaegan` command: thin subcommands that parse flags, build a config and call one library function.

Each module in SUBCOMMANDS adds its subparsers through `register(subparsers)` and sets `func` on them.
Logging is configured here, once; user errors become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys

from vaegan.cpu import has_bf16  # noqa: E402  # no torch: read before torch loads OpenMP

# Set before torch loads OpenMP, which reads it once. fp32 steps (CPUs without bf16 instructions): threads that
# wait asleep keep 55% of their lone speed beside a neighbour, spinning ones 19% (docs/results/busy/). bf16
# steps: libgomp's default (spin a while, then sleep) beat sleeping at once alone (312-332 against 285-300
# img/s) and side by side (40-61 against 28-30; the bf16 busy record in git), so they keep the default.
if not has_bf16():
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from collections.abc import Sequence  # noqa: E402

from tqdm.contrib.logging import logging_redirect_tqdm  # noqa: E402

from vaegan import __version__  # noqa: E402
from vaegan.cli import evaluate, explore, gan, latent, loss_experiment, tools, train
from vaegan.cli.options import config_hint
from vaegan.errors import VaeganError
from vaegan.training.common import TrainingStopped

SUBCOMMANDS = (train, gan, tools, latent, evaluate, explore, loss_experiment)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line naming the problem and where help is, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}{config_hint(message)} (see '{self.prog} --help')\n")

    def parse_args(self, args: Sequence[str] | None = None, namespace: None = None) -> argparse.Namespace:  # type: ignore[override]
        """argparse's own, with the subcommand known when a flag is not: `vaegan run --resume` says how a
        pipeline continues."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            resume = getattr(parsed, "command", None) == "run" and "--resume" in extras
            self.error(f"unrecognized arguments: {' '.join(extras)}{RUN_RESUME if resume else ''}")
        return parsed


RUN_RESUME = (
    "; vaegan run has no --resume: run the same `vaegan run` command again (its --data and --out) and it "
    "finishes whichever stage is unfinished"
)


DESCRIPTION = """\
Train a VAE on a folder of images, then a GAN that starts from its decoder, and look at what both learned.

start here:
  vaegan run --data fashion-mnist --out runs/fm   train both stages; pictures, summary.txt and report.html
  vaegan report runs/fm                           (re)write runs/fm/report.html, one page to open offline
  vaegan explore runs/fm                          sliders over the latent space in your browser

data: --data fashion-mnist | mnist | emoji | emoji:people | a folder of images (read recursively)
-o/--out DIR is always a folder: the run folder training writes, or where a tool puts its files (default:
the run folder it reads). -n/--num is always how many images. Every command prints the paths it writes.
"""
EPILOG = "'vaegan COMMAND --help' lists a command's flags with their defaults."


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="vaegan",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vaegan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print debug messages")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=OneLineParser, title="commands", metavar="COMMAND"
    )
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr, force=True
    )
    try:
        # Log lines are written through tqdm, above any progress bar on the terminal, not through it.
        with logging_redirect_tqdm():
            return int(args.func(args) or 0)
    except TrainingStopped as exc:
        print(f"vaegan: {exc}", file=sys.stderr)
        return 130
    except VaeganError as exc:
        print(f"vaegan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the library did not foresee (full disk, /proc, a file as a folder)
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        print(f"vaegan {args.command}: error: {where}{reason}; {os_fix(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vaegan: interrupted", file=sys.stderr)
        return 130


def os_fix(exc: OSError) -> str:
    """The fix an OS error suggests: only a full disk is fixed by space, only permissions by chmod."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "check its permissions, or choose another path"
    return "check the path"
