"""``python -m validation``: compare hdtweedie with the R reference fits."""

import sys

from .compare import main

sys.exit(main())
