"""What every stage entry point shares: user-facing errors and the seed."""

from __future__ import annotations

import sys
from typing import Callable

from gantext.errors import GantextError


def run(main: Callable[[], None]) -> None:
    """Call a stage's main(); a GantextError becomes one clear line on stderr and exit code 1."""
    try:
        main()
    except GantextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
