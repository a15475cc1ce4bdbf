"""``newswatch doctor``: is this install the tested, locked set?"""

from __future__ import annotations

import argparse
from pathlib import Path

from newswatch.install_check import LOCK_FILE, drift, read_lock, version_lines


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="compare the installed packages with the lock (constraints.txt)",
        description="Print the versions that matter and every installed package whose "
        "version differs from the lock. Exit 1 when anything differs.",
    )
    parser.add_argument("--lock", type=Path, default=None, help=f"lock file (default: {LOCK_FILE})")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    print("\n".join(version_lines()))
    lock_path = args.lock or LOCK_FILE
    if not lock_path.is_file():
        print(f"no lock file at {lock_path}: cannot compare (install from a checkout)")
        return 1
    lock = read_lock(lock_path)
    differences = drift(lock)
    if not differences:
        print(f"install matches {lock_path} ({len(lock)} locked packages)")
        return 0
    print(f"{len(differences)} package(s) differ from {lock_path}:")
    for d in differences:
        print(f"  {d.name}: locked {d.locked}, installed {d.installed or 'missing'}")
    print(f"reinstall with: pip install -c {lock_path} -e .")
    return 1
