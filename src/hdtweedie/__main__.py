"""``python -m hdtweedie``: the same command line as the ``hdtweedie`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
