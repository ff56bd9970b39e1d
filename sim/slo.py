"""SLO accounting per tick: good and valid events for each SLO's service.

- availability: valid = requests that reached the service, good = successes;
- latency: valid = successful requests, good = those faster than the threshold.

A run is a slice of the SLO window: the budget of the window is
``(1 - target) x valid events over the window`` at the run's request rate, so
a 30-minute outage spends a share of a 30-day budget, as it would in production.

Budgeting by ``occurrences`` counts events; by ``timeslices`` (OpenSLO) it counts
slices of ``timeslice_window``: a slice is good when its good/valid ratio reaches
``timeslice_target`` (a slice without traffic is good), and the window's budget is
``(1 - target) x`` its slices. Windows are rolling (the last ``window``) or calendar
periods (the budget of the period the run is in; a new period starts afresh).
``initial_budget_remaining`` is the share left when the run starts: in a rolling
window that earlier spend is taken as spread evenly over the window before the
run and ages out as the window moves; in a calendar period it stays until the
period ends.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.schema import SLO
from sim.plane import Window

__all__ = ["SLOTracker", "BURN_WINDOW", "CURRENT_WINDOW"]

BURN_WINDOW = 300.0  # seconds: max_burn_rate is the highest over any window this long
CURRENT_WINDOW = 3600.0  # seconds: the current burn rate (time to exhaustion) is over the last hour


class SLOTracker:
    def __init__(self, slos: list[SLO], index: dict[str, int], ticks: int, tick: float) -> None:
        self.slos = slos
        self.tick = tick
        self.service = np.array([index[s.service] for s in slos], np.int64)
        self.good = np.zeros((len(slos), ticks))
        self.valid = np.zeros((len(slos), ticks))
        self.latency_slos = [i for i, s in enumerate(slos) if s.kind == "latency"]

    def probes(self) -> list[tuple[int, float]]:
        """(service index, threshold) of each latency SLO, for the engines to measure."""
        return [(int(self.service[i]), float(self.slos[i].threshold or 0.0)) for i in self.latency_slos]

    def record(self, tick_index: int, w: Window) -> None:
        if not self.slos:
            return
        sl = slice(tick_index, tick_index + w.ticks)
        arr, err = w.at(self.service)                           # [T, s]
        succ = arr - err
        for i, slo in enumerate(self.slos):
            if slo.kind == "availability":
                self.valid[i, sl] = arr[:, i]
                self.good[i, sl] = succ[:, i]
        if self.latency_slos:
            under = w.under()
            for p, i in enumerate(self.latency_slos):
                self.valid[i, sl] = succ[:, i]
                self.good[i, sl] = succ[:, i] * under[:, p]

    # -- budget units: events (occurrences) or slices (timeslices) ---------------------
    def slice_ticks(self, i: int) -> int:
        """Ticks per time slice of SLO ``i`` (0 when it budgets by occurrences)."""
        slo = self.slos[i]
        if slo.budgeting != "timeslices":
            return 0
        return max(1, int(round((slo.timeslice_window or self.tick) / self.tick)))

    def units(self, i: int, start: int, end: int) -> tuple[float, float]:
        """(bad, valid) budget units of SLO ``i`` in ticks [start, end): events, or the time
        slices that end within the range."""
        start, end = max(0, start), min(end, self.good.shape[1])
        if end <= start:
            return 0.0, 0.0
        n = self.slice_ticks(i)
        if not n:
            valid = float(self.valid[i, start:end].sum())
            return valid - float(self.good[i, start:end].sum()), valid
        bad = self.bad_slices(i, -(-(start + 1) // n) - 1, end // n)
        return float(bad.sum()), float(bad.size)

    def bad_slices(self, i: int, first: int, last: int) -> np.ndarray:
        """1.0 for each bad slice among slices ``first`` .. ``last`` - 1 of SLO ``i`` (slice k covers
        ticks [k n, (k + 1) n), aligned to the run's start)."""
        n = self.slice_ticks(i)
        if last <= first:
            return np.zeros(0)
        good = self.good[i, first * n:last * n].reshape(-1, n).sum(axis=1)
        valid = self.valid[i, first * n:last * n].reshape(-1, n).sum(axis=1)
        target = (self.slos[i].timeslice_target or 100.0) / 100.0
        ok = (valid <= 0) | (good >= target * valid - 1e-9 * valid)
        return (~ok).astype(float)

    def unit_series(self, i: int, end: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-tick (bad, valid) units over the first ``end`` ticks: events per tick, or for
        timeslices each complete slice counted at its last tick."""
        end = self.good.shape[1] if end is None else end
        n = self.slice_ticks(i)
        if not n:
            return self.valid[i, :end] - self.good[i, :end], self.valid[i, :end].copy()
        bad, valid = np.zeros(end), np.zeros(end)
        k = end // n
        bad[n - 1:k * n:n] = self.bad_slices(i, 0, k)
        valid[n - 1:k * n:n] = 1.0
        return bad, valid

    def burn_rate(self, i: int, start: int, end: int) -> float:
        """Burn rate of SLO ``i`` over ticks [start, end): bad / valid units over (1 - target)."""
        bad, valid = self.units(i, start, end)
        if valid <= 0:
            return 0.0
        return bad / valid / (1.0 - self.slos[i].target / 100.0)

    def recent_burn_rate(self, i: int, end: int, seconds: float) -> float:
        """Burn rate of SLO ``i`` over the ``seconds`` before tick ``end`` (the run's part of them)."""
        return self.burn_rate(i, max(0, end - int(round(seconds / self.tick))), end)

    def scope(self, i: int, end: int) -> tuple[int, float]:
        """The run's part of the window that holds tick ``end``: its first tick, and the share of
        the budget spent before the run that still counts."""
        slo = self.slos[i]
        spent_before = 1.0 - slo.initial_budget_remaining / 100.0
        elapsed = end * self.tick
        if slo.calendar is not None:
            # the period holding the instant just before `end` (a run ending on a boundary reports the period it filled)
            k = max(0, math.ceil((slo.calendar.elapsed + elapsed) / slo.window - 1e-9) - 1)
            if k == 0:
                return 0, spent_before
            return int(round((k * slo.window - slo.calendar.elapsed) / self.tick)), 0.0
        start = max(0, end - int(round(slo.window / self.tick)))
        return start, spent_before * max(0.0, slo.window - elapsed) / slo.window

    def budget_remaining(self, i: int, end_tick: int | None = None) -> float:
        """Share of SLO ``i``'s window budget left after the run's first ``end_tick`` ticks
        (the whole run by default); below zero when overspent."""
        end = self.good.shape[1] if end_tick is None else end_tick
        start, carried = self.scope(i, end)
        bad, valid = self.units(i, start, end)
        if valid <= 0:
            return 1.0 - carried
        n = self.slice_ticks(i)
        span = valid * n * self.tick if n else (end - start) * self.tick
        return 1.0 - carried - self.burn_rate(i, start, end) * span / self.slos[i].window

    def time_to_exhaustion(self, i: int, end_tick: int | None = None) -> float | None:
        """Seconds until SLO ``i``'s budget runs out at the burn rate of the last hour
        (``CURRENT_WINDOW``): remaining x window / burn rate; 0 when already spent, None
        when nothing burns."""
        end = self.good.shape[1] if end_tick is None else end_tick
        remaining = self.budget_remaining(i, end)
        if remaining <= 0:
            return 0.0
        burn = self.burn_rate(i, end - int(round(CURRENT_WINDOW / self.tick)), end)
        return remaining * self.slos[i].window / burn if burn > 0 else None

    def summary(self, duration: float) -> list[dict]:
        out = []
        win = max(1, int(round(min(BURN_WINDOW, duration) / self.tick)))
        end = self.good.shape[1]
        for i, slo in enumerate(self.slos):
            bad_units, valid_units = self.units(i, 0, end)
            target = slo.target / 100.0
            attainment = 1 - bad_units / valid_units if valid_units > 0 else 1.0
            bad, valid = self.unit_series(i)
            bad_c = np.concatenate([[0.0], np.cumsum(bad)])
            val_c = np.concatenate([[0.0], np.cumsum(valid)])
            if len(bad_c) > win:
                bad_w = bad_c[win:] - bad_c[:-win]
                val_w = val_c[win:] - val_c[:-win]
            else:
                bad_w, val_w = bad_c[-1:], val_c[-1:]
            with np.errstate(divide="ignore", invalid="ignore"):
                burn = np.where(val_w > 0, bad_w / val_w, 0.0) / (1 - target)
            out.append({
                "name": slo.name, "service": slo.service, "kind": slo.kind, "target": round(target, 10),
                "attainment": float(attainment), "budget_remaining": self.budget_remaining(i),
                "max_burn_rate": float(burn.max()) if burn.size else 0.0,
                "burn_rate": self.burn_rate(i, end - int(round(CURRENT_WINDOW / self.tick)), end),
                "time_to_exhaustion": self.time_to_exhaustion(i),
            })
        return out
