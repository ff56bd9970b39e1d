"""SLO alerts: the strategies of the SRE Workbook's "Alerting on SLOs".

A rule fires for an SLO when the burn rate (error ratio / (1 - target)) over each
of its windows is at least its factor: both the long and the short window for a
``multiwindow`` rule, one window for ``single-window``; a ``threshold`` rule compares
the error ratio over its window with a fixed ratio (the same test, as a burn rate of
error_ratio / (1 - target)). With ``for``, the condition must hold that long (at every
evaluation) before the alert fires, as Prometheus' pending state; an alert resolves at
the first evaluation where the condition no longer holds. Rules are evaluated every
``evaluation_interval`` of simulated time, so detection is quantised to that interval.
Windows reaching back before the run count only the run's own requests. Timeslice
SLOs burn in slices (see :mod:`sim.slo`).
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
        return sim.slo.recent_burn_rate(i, sim.now_tick(), seconds)

    def _loop(self, sim):
        step = self.config.evaluation_interval
        pending: dict[tuple[int, str], float] = {}  # condition true since (before a `for` has passed)
        while True:
            yield sim.env.timeout(step)
            sim.sync()
            now = float(sim.env.now)
            for i, slo in enumerate(sim.scenario.slos):
                for rule in self.config.rules:
                    factor = rule.factor(slo.window, slo.target / 100.0) * self.factor_scale
                    hot = all(self.burn_rates(sim, i, w) >= factor for w in rule.windows)
                    key = (i, rule.name)
                    if hot and key not in self.firing:
                        since = pending.setdefault(key, now)
                        if now - since < rule.for_ - 1e-9:
                            continue
                        pending.pop(key)
                        alert = {"rule": rule.name, "slo": slo.name, "severity": rule.severity,
                                 "fired_at": now, "resolved_at": None}
                        self.firing[key] = alert
                        sim.alerts.append(alert)
                        sim.log("alert-fired", target=f"{slo.name} {rule.name}")
                    elif not hot:
                        pending.pop(key, None)
                        if key in self.firing:
                            self.firing.pop(key)["resolved_at"] = now
                            sim.log("alert-resolved", target=f"{slo.name} {rule.name}")


def burn_rate_threshold_time(window: float, factor: float, target: float, error_ratio: float) -> float:
    """Seconds after errors start until a clean window's burn rate reaches ``factor``
    (the Workbook's detection time): window x factor x (1 - target) / error ratio."""
    return window * factor * (1 - target) / error_ratio if error_ratio > 0 else float(np.inf)
