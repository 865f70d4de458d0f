"""``python validation/run.py``: same as ``python -m validation``."""

import sys
from pathlib import Path

if __package__:
    from .compare import main
else:
    # Run as a script: load the sibling module without needing the repository on sys.path.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compare import main

if __name__ == "__main__":
    sys.exit(main(prog="python validation/run.py"))
