"""What the agent's and agentctl's command lines share: one-line usage errors, help made cheaply.

Parser               argparse's parser: a usage error is one line on stderr and exit code 2
HelpFormatter        argparse's formatter, as wide as the terminal, found without shutil
terminal_columns()   the terminal's width as shutil.get_terminal_size() finds it
"""

import argparse
import os
import sys

EXIT_USAGE = 2


def terminal_columns(fallback: int = 80) -> int:
    """Return the terminal's width the way shutil.get_terminal_size() does: $COLUMNS first."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else fallback


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, as wide as the terminal, found without importing shutil.

    argparse makes one for every argument added, and the default one imports shutil (and its
    compression modules) to ask the terminal's width: most runs print no help at all.
    """

    def __init__(self, prog: str, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            width = terminal_columns() - 2  # what argparse itself keeps free
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2; help by HelpFormatter."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message}; see {self.prog} --help\n")
        sys.exit(EXIT_USAGE)
