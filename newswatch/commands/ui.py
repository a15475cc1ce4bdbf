"""``newswatch ui``: a local, read-only web view of the warehouse (``newswatch/ui/``)."""

from __future__ import annotations

import argparse
import sys

from newswatch.commands.common import settings_from_args
from newswatch.commands.reading import add_reader_arguments

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="a local, read-only web view: stories, entities, why, search",
        description="Serve a read-only web view of the warehouse: the story stream with "
        "filters, a page per entity (weekly series, co-occurring entities), each article's "
        "`why`, and search. Every page opens the published snapshot (the main database, "
        "read-only, with --live or before the first snapshot) for the moment it takes to "
        "answer, so it never holds up a load. Listens on 127.0.0.1 unless told otherwise.",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default: {DEFAULT_HOST}; any other than a loopback "
        "address shows the warehouse to the network, unauthenticated)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port to listen on (default: {DEFAULT_PORT}; 0: any free port)",
    )
    add_reader_arguments(parser)
    parser.set_defaults(handler=handle)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def handle(args: argparse.Namespace) -> int:
    from newswatch.ui import server
    from newswatch.ui.app import create_app
    from newswatch.ui.data import Reader

    settings = settings_from_args(args)
    reader = Reader(settings.db_path, live=args.live)
    warning = server.exposure_warning(args.host, args.port)
    app = create_app(reader, allowed_hosts=server.allowed_hosts(args.host))
    sock = server.listen(args.host, args.port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        print(
            f"newswatch ui: {server.url_of(sock)} (read-only; {reader.describe()}); "
            "Ctrl-C stops it",
            flush=True,
        )
        server.serve(app, sock)
    finally:
        sock.close()
    return 0
