"""Thin DVC stage entry points: `python -m stages.<name>`.

The repository's own src/ goes first on sys.path so a stage always runs the library code next to
it: in `dvc exp run --temp/--queue` copies and test copies, not the editable install's checkout.
"""

import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[1] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
