"""Error budget policy: green / yellow / red per SLO from its budget remaining.

Evaluated every ``evaluation_interval`` of simulated time. An SLO's scope is its
service and every service it calls, directly or not (networkx descendants in the
dependency graph): their releases can spend its budget, so the policy acts on
them. A service's gate is the worst level of the SLOs whose scope holds it.

- yellow (budget below ``yellow_below``): deploy gate on the scope (a canary is
  required, releases at least ``release_spacing`` apart) and more sensitive
  alerting (every rule's factor times ``alert_factor_scale`` while any SLO is
  yellow or red; the alert evaluator's scale is global);
- red (below ``red_below``): deploy freeze on the scope (releases are skipped),
  rollback of the last change (the most recent release in the scope still in
  flight, if any), escalation. While the SLO stays red and still burns faster
  than 1x over the last 5 minutes, the policy keeps walking back: every
  ``ROLLBACK_SETTLE`` it rolls back the next most recent live release in scope.

Recovery: a budget rarely grows within a run (it would take more traffic later
at a better error ratio), but when it does, a level is left only once the budget
is ``hysteresis`` points above its threshold; red -> yellow lifts the freeze (the
gate stays), yellow -> green lifts the gate, and the alert sensitivity returns
to normal when every SLO is green again. A rollback is not undone.

Every transition and action is a ``policy_actions`` entry
``{"at", "policy": "budget", "action", "target", "reason"}`` and a timeline event.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from scenarios.schema import BudgetPolicy as BudgetPolicyConfig
from sim.alerting import AlertEvaluator
from sim.deployments import GREEN, RED, YELLOW, Deployer
from sim.plane import Window

__all__ = ["BudgetPolicy", "LEVELS"]

LEVELS = ("green", "yellow", "red")
ROLLBACK_SETTLE = 300.0  # seconds a rollback is given to show its effect before the next one


def _pct(pct: float) -> str:
    """Two decimals, rounded down: 49.9999 % left is "49.99", never "50.00" below a 50 % threshold."""
    return f"{math.floor(pct * 100) / 100:.2f}"


class BudgetPolicy:
    """A control-plane :class:`~sim.simulation.Controller` (see the module docstring)."""

    def __init__(self, config: BudgetPolicyConfig | None) -> None:
        self.config = config
        self.level = np.zeros(0, np.int8)          # [slo]
        self.scope = np.zeros((0, 0), bool)         # [slo, service]
        self.deployer: Deployer | None = None
        self.alerting: AlertEvaluator | None = None

    def start(self, sim) -> None:
        slos = sim.scenario.slos
        if self.config is None or not self.config.enabled or not slos:
            return
        c = sim.compiled
        graph = sim.topology.graph
        self.scope = np.zeros((len(slos), c.n), bool)
        for i, slo in enumerate(slos):
            members = {slo.service} | nx.descendants(graph, slo.service)
            self.scope[i, [c.index[m] for m in members]] = True
        self.level = np.zeros(len(slos), np.int8)
        self._rolled_back_at = np.full(len(slos), -np.inf)
        self.deployer = next((x for x in sim.controllers if isinstance(x, Deployer)
                              and x.config is not None), None)
        self.alerting = next((x for x in sim.controllers if isinstance(x, AlertEvaluator)
                              and x.config.enabled), None)
        sim.env.process(self._loop(sim))

    def window(self, sim, tick_index: int, w: Window) -> None:
        """The policy reads the SLO tracker; nothing to do per window."""

    def classify(self, budget_pct: float, old: int) -> int:
        """The level for ``budget_pct`` percent remaining, coming from level ``old``: worse at
        once, better only ``hysteresis`` points above the threshold."""
        cfg = self.config
        raw = RED if budget_pct < cfg.red_below else YELLOW if budget_pct < cfg.yellow_below else GREEN
        if raw >= old:
            return raw
        h = cfg.hysteresis
        return min(old, RED if budget_pct < cfg.red_below + h else YELLOW if budget_pct < cfg.yellow_below + h
                   else GREEN)

    def _loop(self, sim):
        while True:
            yield sim.env.timeout(self.config.evaluation_interval)
            sim.sync()
            end = sim.now_tick()
            for i, slo in enumerate(sim.scenario.slos):
                pct = sim.slo.budget_remaining(i, end) * 100.0
                new = self.classify(pct, int(self.level[i]))
                if new != self.level[i]:
                    self._transition(sim, i, int(self.level[i]), new, pct)
                elif new == RED and sim.env.now - self._rolled_back_at[i] >= ROLLBACK_SETTLE:
                    burn = sim.slo.recent_burn_rate(i, sim.now_tick(), ROLLBACK_SETTLE)
                    if burn > 1.0:
                        self._roll_back_last(sim, i, f"{slo.name}: {_pct(pct)}% of the error budget left (red) "
                                                     f"and still burning {burn:.1f}x over 5 min")

    def _roll_back_last(self, sim, i: int, reason: str) -> None:
        """Roll back the most recent release still in flight in SLO ``i``'s scope, if any."""
        last = self.deployer.last_live(self.scope[i]) if self.deployer is not None else None
        if last is None:
            return
        self._rolled_back_at[i] = sim.env.now
        why = f"{reason}; last change in scope: release #{last.id} to {last.service}"
        self.deployer.rollback(sim, last, "budget-policy")
        self._act(sim, "rollback", last.service, why)

    def _act(self, sim, action: str, target: str, reason: str) -> None:
        entry = {"at": float(sim.env.now), "policy": "budget", "action": action, "target": target, "reason": reason}
        sim.policy_actions.append(entry)
        sim.log(f"budget-{action}", target=target, reason=reason)

    def _transition(self, sim, i: int, old: int, new: int, pct: float) -> None:
        cfg = self.config
        slo = sim.scenario.slos[i]
        was_calm = not self.level.any()
        self.level[i] = new
        bound = {GREEN: f"at or above {cfg.yellow_below + cfg.hysteresis:g}%",
                 YELLOW: (f"below {cfg.yellow_below:g}%" if new > old else
                          f"at or above {cfg.red_below + cfg.hysteresis:g}%"),
                 RED: f"below {cfg.red_below:g}%"}[new]
        reason = f"{slo.name}: {_pct(pct)}% of the error budget left, {bound} ({LEVELS[new]})"
        self._act(sim, LEVELS[new], slo.name, reason)
        n_deps = int(self.scope[i].sum()) - 1
        scope = f"{slo.service} and the {n_deps} services it calls" if n_deps else slo.service
        if self.deployer is not None:
            self.deployer.gate[:] = (self.scope * self.level[:, None]).max(axis=0)
            if new == RED:
                self._act(sim, "deploy-freeze", slo.service, f"{reason}; releases to {scope} are frozen")
                self._roll_back_last(sim, i, reason)
            elif new == YELLOW and old == GREEN:
                self._act(sim, "deploy-gate", slo.service,
                          f"{reason}; releases to {scope} need a canary and {cfg.release_spacing / 60:g} min spacing")
            elif new == YELLOW and old == RED:
                self._act(sim, "lift-freeze", slo.service, f"{reason}; the deploy gate stays")
            elif new == GREEN:
                self._act(sim, "lift-gate", slo.service, reason)
        if new == RED:
            self._act(sim, "escalate", slo.name, f"{reason}; escalated to the service owners")
        if self.alerting is not None:
            calm = not self.level.any()
            if was_calm and not calm:
                self.alerting.factor_scale = cfg.alert_factor_scale
                self._act(sim, "alert-sensitivity", "alerting",
                          f"{reason}; alert burn-rate factors x{cfg.alert_factor_scale:g}")
            elif calm and not was_calm:
                self.alerting.factor_scale = 1.0
                self._act(sim, "alert-sensitivity", "alerting", f"{reason}; every SLO green, factors x1")
