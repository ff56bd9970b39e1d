"""Terminal output shared by the CLI: one rich console for results, one for errors."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

__all__ = ["out", "err", "print_json", "is_interactive"]

# Pipes and CI logs get a wide fixed width so tables do not fold.
out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour, no wrapping) so scripts can parse it."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def is_interactive() -> bool:
    """True on a terminal (show progress bars), False in CI logs and pipes."""
    import os
    return sys.stderr.isatty() and not os.environ.get("CI")
