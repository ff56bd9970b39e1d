"""Durations and other units used in topology and scenario files."""

from __future__ import annotations

import re

__all__ = ["parse_duration", "format_duration"]

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h|d|w)\s*$")


def parse_duration(value: object) -> float:
    """Parse ``500ms``, ``30s``, ``5m``, ``6h``, ``30d`` (or a number of seconds) into seconds.

    Raises ``ValueError`` with the expected form, so pydantic reports the field.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 30s, 5m, 6h or 30d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration; write it as 500ms, 30s, 5m, 6h or 30d")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError("expected a duration such as 500ms, 30s, 5m, 6h or 30d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds the way files write them: 0.05 -> ``50ms``, 5400 -> ``90m``."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        q = seconds / scale
        if q >= 1 and abs(q - round(q, 3)) < 1e-9:
            text = f"{round(q, 3):g}"
            return f"{text}{unit}"
    return f"{seconds * 1e6:g}us"
