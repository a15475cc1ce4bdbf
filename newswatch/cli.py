"""The ``newswatch`` command line: parses arguments, dispatches, translates errors.

Each command group lives in ``newswatch/commands/<group>.py`` and exposes
``register(subparsers)``; handlers return an exit code. Errors from the error tree become
one clear line on stderr and a non-zero exit (the codes: ``EXIT_CODES``, shown by
``newswatch --help``).

A reader that closes the pipe early (``newswatch sql ... | head -1``) ends the command
quietly with 141, what a shell reports for a tool stopped by SIGPIPE (128 + 13), so a
``set -o pipefail`` script still sees that the output was cut; no traceback. Python's
default SIGPIPE handling is kept (a signal would also kill a run mid-write on a closed
socket); the console entry catches ``BrokenPipeError`` instead and points stdout at
``/dev/null`` so the interpreter's last flush cannot raise again. Output that cannot be
written at all (``> /dev/full``, a full disk or quota, an I/O error) is one line on stderr
and exit 74 (EX_IOERR), not a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from newswatch.core.errors import ConfigError, NewswatchError, PrefectApiLost, WarehouseLocked

# Order here is the order in `newswatch --help`.
COMMAND_MODULES = (
    "newswatch.commands.run",
    "newswatch.commands.sql",
    "newswatch.commands.attach",
    "newswatch.commands.maintain",
    "newswatch.commands.migrate",
    "newswatch.commands.trends",
    "newswatch.commands.search",
    "newswatch.commands.sources",
    "newswatch.commands.extract",
    "newswatch.commands.entities",
    "newswatch.commands.serve",
    "newswatch.commands.report",
    "newswatch.commands.ui",
    "newswatch.commands.alerts",
    "newswatch.commands.watch",
    "newswatch.commands.status",
    "newswatch.commands.backfill",
    "newswatch.commands.why",
    "newswatch.commands.doctor",
)


PIPE_CLOSED = 141  # 128 + SIGPIPE: the reader closed stdout early (`| head`)
CANNOT_WRITE = 74  # EX_IOERR: the output could not be written (disk full, I/O error)
WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})
EXIT_CODES = (
    (0, "done"),
    (1, "failed: the one line on stderr says why (a run: the Prefect API lost)"),
    (2, "bad command line (usage)"),
    (69, "run: no source answered (EX_UNAVAILABLE)"),
    (CANNOT_WRITE, "output could not be written: disk full, quota, I/O error (EX_IOERR)"),
    (75, "the warehouse is locked by another writer, or a batch is left staged (EX_TEMPFAIL)"),
    (78, "configuration error: a sources/alerts/entities file, --cron, a channel (EX_CONFIG)"),
    (130, "interrupted (Ctrl-C)"),
    (PIPE_CLOSED, "the reader closed the pipe (`| head`): output cut, no error"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Monitor news coverage of one topic: fetch, clean, match, load, alert.",
        epilog="exit codes:\n"
        + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_PrintVersions, nargs=0, help="print versions and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not written yet
                continue
            raise
        module.register(subparsers)
    return parser


class _PrintVersions(argparse.Action):
    """``--version``: newswatch and the key packages (compare them with constraints.txt)."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        from newswatch.install_check import version_lines

        print("\n".join(version_lines()))
        parser.exit(0)


def main(argv: Sequence[str] | None = None, *, exit_at_once_on_lost_api: bool = False) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PrefectApiLost as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        if exit_at_once_on_lost_api:
            # Prefect's client would spend minutes at interpreter exit retrying every queued
            # event against the server that is gone (measured: 131 s after one run); they
            # cannot be delivered, and everything of ours is on disk, so end the process now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    except WarehouseLocked as exc:
        print(f"newswatch: database locked: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL
    except ConfigError as exc:
        print(f"newswatch: configuration error: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG
    except NewswatchError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("newswatch: interrupted", file=sys.stderr)
        return 130


def console() -> int:
    """The ``newswatch`` console script (and ``python -m newswatch.cli``)."""
    try:
        code = main(exit_at_once_on_lost_api=True)
        sys.stdout.flush()  # output that fit in the buffer meets the closed pipe here
    except BrokenPipeError:
        _drop_stdout()
        return PIPE_CLOSED
    except OSError as exc:
        if exc.errno not in WRITE_FAILURES:
            raise
        _drop_stdout()
        print(f"newswatch: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return CANNOT_WRITE
    return code


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the closed pipe is dropped
    instead of raising again when the interpreter flushes at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(console())
