"""What a command prints as one line: its own errors."""


class CommandError(RuntimeError):
    """Bad input to a command: printed without a traceback, exit status 2."""
