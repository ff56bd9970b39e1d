"""Multiwindow, multi-burn-rate SLO alerts (SRE Workbook, "Alerting on SLOs").

A rule fires for an SLO when the burn rate (error ratio / (1 - target)) over
both its long and its short window is at least its factor, and resolves when
that no longer holds. It is evaluated every ``evaluation_interval`` of simulated
time, so detection is quantised to that interval, as in Prometheus. Windows
reaching back before the run count only the run's own requests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenarios.schema import Alerting
from sim.plane import Window

__all__ = ["AlertEvaluator"]


class AlertEvaluator:
    """A control-plane :class:`~sim.simulation.Controller` that fires and resolves SLO alerts."""

    def __init__(self, config: Alerting) -> None:
        self.config = config
        self.firing: dict[tuple[int, str], dict[str, Any]] = {}
        # < 1 makes every rule more sensitive (a budget policy in yellow lowers it)
        self.factor_scale = 1.0

    def start(self, sim) -> None:
        if self.config.enabled and sim.scenario.slos and self.config.rules:
            sim.env.process(self._loop(sim))

    def window(self, sim, tick_index: int, w: Window) -> None:
        """Alerts read the SLO series; nothing to do per window."""

    def burn_rates(self, sim, i: int, seconds: float) -> float:
        """Burn rate of SLO ``i`` over the last ``seconds`` of simulated time."""
        tracker = sim.slo
        end = sim.now_tick()
        start = max(0, end - int(round(seconds / sim.tick)))
        valid = float(tracker.valid[i, start:end].sum())
        if valid <= 0:
            return 0.0
        bad = valid - float(tracker.good[i, start:end].sum())
        target = sim.scenario.slos[i].target / 100.0
        return bad / valid / (1.0 - target)

    def _loop(self, sim):
        step = self.config.evaluation_interval
        while True:
            yield sim.env.timeout(step)
            sim.sync()
            now = float(sim.env.now)
            for i, slo in enumerate(sim.scenario.slos):
                for rule in self.config.rules:
                    factor = rule.factor(slo.window) * self.factor_scale
                    hot = (self.burn_rates(sim, i, rule.long_window) >= factor
                           and self.burn_rates(sim, i, rule.short_window) >= factor)
                    key = (i, rule.name)
                    if hot and key not in self.firing:
                        alert = {"rule": rule.name, "slo": slo.name, "severity": rule.severity,
                                 "fired_at": now, "resolved_at": None}
                        self.firing[key] = alert
                        sim.alerts.append(alert)
                        sim.log("alert-fired", target=f"{slo.name} {rule.name}")
                    elif not hot and key in self.firing:
                        self.firing.pop(key)["resolved_at"] = now
                        sim.log("alert-resolved", target=f"{slo.name} {rule.name}")


def burn_rate_threshold_time(window: float, factor: float, target: float, error_ratio: float) -> float:
    """Seconds after errors start until a clean window's burn rate reaches ``factor``
    (the Workbook's detection time): window x factor x (1 - target) / error ratio."""
    return window * factor * (1 - target) / error_ratio if error_ratio > 0 else float(np.inf)
