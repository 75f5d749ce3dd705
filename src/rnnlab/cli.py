"""The `rnnlab` command: each feature module adds its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that define `add_commands(subparsers)`; each subcommand sets `func(args) -> int`.
COMMAND_MODULES = ("rnnlab.predict", "rnnlab.names", "rnnlab.charlm")


class CommandError(RuntimeError):
    """Bad input to a command: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every module's subcommands."""
    parser = argparse.ArgumentParser(prog="rnnlab", description="Recurrent text classifiers: use the results.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rnnlab` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except CommandError as err:
        print(f"rnnlab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
