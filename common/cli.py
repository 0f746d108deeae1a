"""How every command reads its options and reports a command line it cannot run: tyro parses a typed
dataclass (its fields' docstrings are the `--help`); a `UsageError` ends the command with one line,
`<command>: <what to change>`, and exit status 2, never a traceback; Ctrl-C ends it with status 130."""

import sys
from typing import Callable, TypeVar

import tyro

Options = TypeVar("Options")


class UsageError(Exception):
    """A command that cannot run as asked; the message says what to change. (Not a ValueError, so that tyro
    lets one raised while the options are built through to `main`'s one-line report instead of boxing it.)"""


def parse(options_type: type[Options], args: list[str] | None, description: str | None,
          prog: str | None = None) -> Options:
    """The options of a command line (`args`, or sys.argv); `prog` names the command in its help and errors."""
    return tyro.cli(options_type, args=args, description=description, prog=prog)


def main(name: str, run: Callable[[], int | None]) -> int:
    """Runs a command (`run` parses and acts; it returns its exit status or None for 0) and reports a
    `UsageError` as one line on stderr with status 2."""
    try:
        return run() or 0
    except UsageError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
