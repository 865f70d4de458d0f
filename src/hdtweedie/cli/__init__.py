"""The ``hdtweedie`` command line.

Subcommands: ``demo``, ``fit``, ``score``, ``explain``, ``compare`` and
``factor-table``; ``hdtweedie <command> --help`` describes each.  User errors
(a missing column, an unreadable file, a bad option) are reported on one line
of standard error with exit status 1 (2 for a bad command line), without a
traceback; ``--verbose`` adds the traceback.  Output files are written whole
or not at all.

Progress of long steps is drawn on standard error only when it is a terminal
and ``--quiet`` is not given, so output piped to a file stays clean.
"""

from ._main import EXIT_ERROR, EXIT_USAGE, build_parser, main

__all__ = ["main", "build_parser", "EXIT_ERROR", "EXIT_USAGE"]
