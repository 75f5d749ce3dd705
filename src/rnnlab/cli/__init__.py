"""The `rnnlab` command: predictions and what drives them, surnames, text samples, part-of-speech tags and lemmas
from the pipeline's models (`rnnlab.cli.models`); the UI, the team's tracking server, moving runs into it, the DVC
remote and budget profiles (`rnnlab.cli.team`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab import UserError
from rnnlab.cli import models, team
from rnnlab.cli.errors import CommandError
from rnnlab.team.remote import RemoteError
from rnnlab.team.server import ServerError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="rnnlab", description="Recurrent text classifiers: use the results.")
    commands = parser.add_subparsers(dest="command", required=True)
    checkpoint = {"type": Path, "help": "a checkpoint file (default: the stage's out in dvc.yaml)"}

    models.add_commands(commands, checkpoint)
    team.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rnnlab` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (CommandError, UserError, FileNotFoundError, KeyError, ValueError, RemoteError, ServerError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        hint = " (train it with `dvc repro`)" if isinstance(err, FileNotFoundError) else ""
        print(f"rnnlab: error: {message}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
