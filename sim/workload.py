"""Arrival rates per entry point over time, and Poisson arrivals per tick."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from scenarios.schema import Constant, Diurnal, Replay, Scenario, Spike, Stages, Step
from sim.compiled import Compiled
from srelab.errors import ScenarioError

__all__ = ["RateFunction", "entry_weights"]


class RateFunction:
    """Total external rate (requests/s) at any times, vectorised."""

    def __init__(self, scenario: Scenario) -> None:
        self.pattern = scenario.workload.rate
        self._series: tuple[np.ndarray, np.ndarray] | None = None
        if isinstance(self.pattern, Replay):
            self._series = _read_replay(Path(scenario.base_dir) / self.pattern.file, self.pattern, scenario.source)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        p = self.pattern
        t = np.asarray(t, float)
        if isinstance(p, Constant):
            return np.full_like(t, p.rps)
        if isinstance(p, Diurnal):
            peak_at = p.period / 2 if p.peak_at is None else p.peak_at
            phase = 2 * np.pi * (t - peak_at) / p.period
            return p.base + (p.peak - p.base) * 0.5 * (1 + np.cos(phase))
        if isinstance(p, Step):
            return np.where(t < p.at, p.before, p.after)
        if isinstance(p, Spike):
            return np.where((t >= p.at) & (t < p.at + p.duration), p.peak, p.base)
        if isinstance(p, Stages):
            ends = np.cumsum([s.duration for s in p.stages])
            rps = np.array([s.rps for s in p.stages])
            if p.repeat:
                t = np.mod(t, ends[-1])
            return rps[np.minimum(np.searchsorted(ends, t, side="right"), len(rps) - 1)]
        assert self._series is not None
        ts, rs = self._series
        return np.interp(t, ts, rs)


def _read_replay(path: Path, p: Replay, source: str) -> tuple[np.ndarray, np.ndarray]:
    field = "workload.rate.file"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ScenarioError(f"cannot read the replay file {path}: {exc.strerror}", source=source, field=field) from None
    if not rows or p.time_column not in rows[0] or p.column not in rows[0]:
        raise ScenarioError(f"{path} needs a header with columns {p.time_column!r} and {p.column!r}",
                            source=source, field=field)
    try:
        ts = np.array([float(r[p.time_column]) for r in rows])
        rs = np.array([float(r[p.column]) for r in rows])
    except (TypeError, ValueError):
        raise ScenarioError(f"{path}: every row needs numbers in {p.time_column!r} and {p.column!r}",
                            source=source, field=field) from None
    if np.any(np.diff(ts) <= 0) or np.any(rs < 0):
        raise ScenarioError(f"{path}: times must increase and rates be >= 0", source=source, field=field)
    return ts, rs


def entry_weights(scenario: Scenario, compiled: Compiled) -> np.ndarray:
    """Share of external traffic per service: the scenario's weights, or even over entry points."""
    w = np.zeros(compiled.n)
    if scenario.workload.entrypoints:
        for name, weight in scenario.workload.entrypoints.items():
            w[compiled.index[name]] = weight
    else:
        w[compiled.entry] = 1.0
    return w / w.sum()
