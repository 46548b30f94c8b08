"""``wsi2ml-toolkit``: convert annotation files, cut patches, turn model output into GeoJSON.

Each subcommand lives beside what it runs (``convert``, ``patches``, ``predictions``) and adds
its parser here through ``add_parser(subparsers)``; its function takes the parsed arguments and
returns the exit status. Errors a person can fix (a missing file, a malformed annotation, a bad
option) are one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wsi2ml_toolkit import __version__, convert, patches, predictions
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.geometry import GeometryError


class UsageError(Exception):
    """A command that cannot run as asked; the message says why and what to do."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="wsi2ml-toolkit",
        description="Turn WSI2ML exports and annotation files into training data, and model "
        "output back into GeoJSON that WSI2ML and QuPath open.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (convert, patches, predictions):
        module.add_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments)
    except (UsageError, AnnotationFileError, GeometryError, OSError) as exc:
        print(f"wsi2ml-toolkit {arguments.command}: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wsi2ml-toolkit {arguments.command}: interrupted", file=sys.stderr)
        return 130


def _message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
