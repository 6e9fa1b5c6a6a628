"""`python -m services simulate-departments`: placeholder, to be replaced.

Interface the CLI relies on (keep it when replacing this module):
- ``configure_parser(parser)`` adds the command's options to its argparse sub-parser;
- ``main(args) -> int`` runs the command and returns the process exit code.

`python -m services up --simulate-departments` starts this command as a child process once
every service is ready; exit code 0 is accepted there, anything else shuts the platform down.
"""

from __future__ import annotations

import argparse
import sys


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    print("simulate-departments: not implemented yet", file=sys.stderr)
    return 0
