"""One module per command group; each exposes ``register(subparsers)``.

A command handler takes the parsed ``argparse.Namespace`` and returns an exit code.
"""
