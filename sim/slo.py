"""SLO accounting per tick: good and valid events for each SLO's service.

- availability: valid = requests that reached the service, good = successes;
- latency: valid = successful requests, good = those faster than the threshold.

A run is a slice of the SLO window: the budget of the window is
``(1 - target) x valid events over the window`` at the run's request rate, so
a 30-minute outage spends a share of a 30-day budget, as it would in production.
"""

from __future__ import annotations

import numpy as np

from scenarios.schema import SLO
from sim.plane import Window

__all__ = ["SLOTracker", "BURN_WINDOW"]

BURN_WINDOW = 300.0  # seconds: max_burn_rate is the highest over any window this long


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

    def budget_remaining(self, i: int, end_tick: int | None = None) -> float:
        """Share of SLO ``i``'s window budget left after the run's first ``end_tick`` ticks
        (the whole run by default); below zero when overspent."""
        end = self.good.shape[1] if end_tick is None else end_tick
        slo = self.slos[i]
        valid = float(self.valid[i, :end].sum())
        if valid <= 0:
            return 1.0
        error_ratio = 1 - float(self.good[i, :end].sum()) / valid
        elapsed = end * self.tick
        return 1 - error_ratio / (1 - slo.target / 100.0) * min(elapsed, slo.window) / slo.window

    def summary(self, duration: float) -> list[dict]:
        out = []
        win = max(1, int(round(min(BURN_WINDOW, duration) / self.tick)))
        for i, slo in enumerate(self.slos):
            good, valid = self.good[i].sum(), self.valid[i].sum()
            target = slo.target / 100.0
            attainment = good / valid if valid > 0 else 1.0
            bad_c = np.concatenate([[0.0], np.cumsum(self.valid[i] - self.good[i])])
            val_c = np.concatenate([[0.0], np.cumsum(self.valid[i])])
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
            })
        return out
