"""Helpers shared by the benchmarks (not a benchmark: ``python -m benchmarks`` skips ``_`` names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol, Sequence


class TimedRow(Protocol):
    """What :func:`print_table` reads from a benchmark's result row."""
    size: int
    step: str
    seconds: float
    baseline: str
    ratio: float
    note: str


@dataclass
class Row:
    """A plain :class:`TimedRow`."""
    size: int
    step: str
    seconds: float
    baseline: str
    ratio: float
    note: str = ""


def fmt_time(seconds: float) -> str:
    """A duration in a fixed width: milliseconds below 10 s, else seconds."""
    return f"{seconds * 1e3:9.1f} ms" if seconds < 10 else f"{seconds:9.2f} s "


def print_table(rows: Iterable[TimedRow], *, columns: Sequence[tuple[str, int, Callable[[Any], str]]] = (),
                ratio_width: int = 10, baseline_width: int = 13) -> None:
    """Print one table per fleet size: step, time, any extra ``columns`` (title, width,
    cell of a row; right-aligned), ratio, the baseline it is against, and the note."""
    rows = list(rows)
    for size in sorted({r.size for r in rows}):
        extra = "".join(f" {title:>{width}}" for title, width, _ in columns)
        print(f"\n{size:,} services")
        print(f"  {'step':<30} {'time':>12}{extra} {'ratio':>{ratio_width}}  {'vs baseline':<{baseline_width}} note")
        for r in (r for r in rows if r.size == size):
            extra = "".join(f" {cell(r):>{width}}" for _, width, cell in columns)
            print(f"  {r.step:<30} {fmt_time(r.seconds):>12}{extra} {r.ratio:>{ratio_width - 1}.2f}x"
                  f"  {r.baseline:<{baseline_width}} {r.note}")
