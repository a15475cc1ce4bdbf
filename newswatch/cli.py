"""The ``newswatch`` command line: parses arguments, dispatches, translates errors.

Each command group lives in ``newswatch/commands/<group>.py`` and exposes
``register(subparsers)``; handlers return an exit code. Errors from the error tree become
one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from newswatch.core.errors import ConfigError, NewswatchError, PrefectApiLost, WarehouseLocked

# Order here is the order in `newswatch --help`.
COMMAND_MODULES = (
    "newswatch.commands.run",
    "newswatch.commands.sql",
    "newswatch.commands.trends",
    "newswatch.commands.search",
    "newswatch.commands.sources",
    "newswatch.commands.extract",
    "newswatch.commands.entities",
    "newswatch.commands.serve",
    "newswatch.commands.report",
    "newswatch.commands.alerts",
    "newswatch.commands.watch",
    "newswatch.commands.status",
    "newswatch.commands.backfill",
    "newswatch.commands.why",
    "newswatch.commands.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Monitor news coverage of one topic: fetch, clean, match, load, alert.",
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
    return main(exit_at_once_on_lost_api=True)


if __name__ == "__main__":
    sys.exit(console())
