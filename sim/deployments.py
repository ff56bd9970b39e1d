"""Deployments: a release train, bad releases, canary analysis and rollback.

The train is drawn once at the start from the ``deployments`` random stream: a
Poisson process of ``per_day`` releases (exponential gaps), each to a service
chosen uniformly among ``services`` and bad with ``bad_release_probability``.
The canary settings do not touch that stream, so a scenario with and without
canaries sees the same releases.

Releases to one service go one at a time. A release, when the budget policy
allows it (:class:`~sim.budget_policy.BudgetPolicy` sets :attr:`Deployer.gate`:
red skips it as frozen, yellow requires a canary and spaces releases), runs:

1. canary (when configured or gated): the release takes ``fraction`` of the
   service's traffic for ``analysis_window``; a bad release's effect is a
   ``bad-deploy`` fault on that share. The analysis compares canary against
   baseline on two metrics, each one-sided at ``significance`` / 2 (Bonferroni):
   errors, by splitting the errors the service really served in the window
   between the two (drawn from the ``deployments/canary`` stream) for a Fisher
   exact test; latency, by a Mann-Whitney U test on up to ``LATENCY_SAMPLES``
   request latencies per side drawn from the service's measured median and p90
   in the window (a lognormal through them), the canary's plus the release's
   added delay. A significant difference rolls the release back, else it is
   promoted. The analysis is blind to whether the release is bad: only the
   counts and latencies the data plane served depend on it;
2. rollout in four equal waves over ``rollout``: a bad release's fault covers
   1/4, 2/4, 3/4, then all of the traffic;
3. live, until the run ends or someone rolls it back.

Effects go through ``Simulation.inject`` / ``revert``, so a responder that
reverts the service's ``bad-deploy`` faults ends the release too (counted as
rolled back by ``other``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from scipy import stats

from scenarios.schema import Canary, Deployments, Fault
from sim.plane import Window

__all__ = ["Deployer", "Release", "release_train", "canary_test", "canary_latency_test", "ROLLOUT_WAVES",
           "LATENCY_SAMPLES", "GREEN", "YELLOW", "RED"]

ROLLOUT_WAVES = 4
_CHUNK = 256  # releases drawn at a time
LATENCY_SAMPLES = 1000  # request latencies per side in the canary's latency comparison (a trace sample)
_Z90 = float(stats.norm.ppf(0.9))
GREEN, YELLOW, RED = 0, 1, 2
_IN_FLIGHT = ("canary", "rolling-out", "live")


@dataclass
class Release:
    id: int
    service: str
    at: float                      # scheduled time
    bad: bool
    phase: str = "scheduled"       # scheduled, canary, rolling-out, live, rolled-back, frozen
    started_at: float | None = None
    ended_at: float | None = None  # rolled back, or rollout complete
    canary: bool = False
    p_value: float | None = None    # the canary's, Bonferroni-adjusted over its two tests
    p_errors: float | None = None
    p_latency: float | None = None
    reached_production: bool = False  # a bad effect beyond the canary's share
    rolled_back_by: str | None = None  # canary | budget-policy | other
    fault: Fault | None = None
    process: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "service": self.service, "at": self.at, "bad": self.bad, "outcome": self.phase,
                "started_at": self.started_at, "ended_at": self.ended_at, "canary": self.canary,
                "p_value": self.p_value, "p_errors": self.p_errors, "p_latency": self.p_latency,
                "reached_production": self.reached_production,
                "rolled_back_by": self.rolled_back_by}


def release_train(config: Deployments, services: list[str], duration: float, tick: float,
                  rng: np.random.Generator) -> list[Release]:
    """The run's releases, in time order: a Poisson process of ``per_day`` over the run.

    Drawn in fixed-size chunks of (gap, service, bad) so that a shorter run's train is the
    start of a longer one's (``--duration`` does not reshuffle the releases)."""
    mean_gap = 86400.0 / config.per_day
    times, which, bad = [], [], []
    t = 0.0
    while t < duration:
        arrivals = t + np.cumsum(rng.exponential(mean_gap, _CHUNK))
        times.append(arrivals)
        which.append(rng.integers(len(services), size=_CHUNK))
        bad.append(rng.random(_CHUNK) < config.bad_release_probability)
        t = float(arrivals[-1])
    at = np.round(np.concatenate(times) / tick) * tick
    keep = at < duration
    return [Release(k, services[int(s)], float(a), bool(b)) for k, (a, s, b) in
            enumerate(zip(at[keep], np.concatenate(which)[keep], np.concatenate(bad)[keep]))]


def canary_test(requests: float, errors: float, fraction: float, effect_rate: float,
                rng: np.random.Generator) -> tuple[float, tuple[int, int, int, int]]:
    """One-sided Fisher exact test of canary against baseline on the service's measured
    requests and errors over the analysis window.

    The data plane serves the service as one population; the canary's share of it is drawn
    as Binomial(requests, fraction), and each measured error is the canary's with the
    probability its error ratio gives it: the baseline error ratio ``p0`` is what the
    measured ratio implies without the canary's effect, the canary's is
    ``1 - (1 - p0)(1 - effect_rate)``. Returns the p-value and (canary errors, canary
    requests, baseline errors, baseline requests)."""
    n = int(round(requests))
    e = int(round(min(errors, requests)))
    if n == 0:
        return 1.0, (0, 0, 0, 0)
    p0 = float(np.clip(1 - (1 - e / n) / (1 - effect_rate * fraction), 0.0, 1.0))
    p1 = 1 - (1 - p0) * (1 - effect_rate)
    n_c = int(rng.binomial(n, fraction))
    n_b = n - n_c
    w_c, w_b = n_c * p1, n_b * p0
    e_c = int(rng.binomial(e, w_c / (w_c + w_b))) if w_c + w_b > 0 else 0
    e_c = min(e_c, n_c)
    e_b = min(e - e_c, n_b)
    p = float(stats.fisher_exact([[e_c, n_c - e_c], [e_b, n_b - e_b]], alternative="greater").pvalue)
    return p, (e_c, n_c, e_b, n_b)


def canary_latency_test(p50: float, p90: float, n_canary: int, n_baseline: int, delay: float,
                        rng: np.random.Generator) -> float:
    """One-sided Mann-Whitney U test that canary latencies are higher than the baseline's.

    Both sides draw up to :data:`LATENCY_SAMPLES` latencies from the lognormal through the
    service's measured median and p90; the canary's carry the release's added ``delay``."""
    if min(n_canary, n_baseline) < 2 or p50 <= 0:
        return 1.0
    mu = np.log(p50)
    sigma = max(np.log(max(p90, p50) / p50) / _Z90, 1e-3)
    base = rng.lognormal(mu, sigma, min(n_baseline, LATENCY_SAMPLES))
    can = rng.lognormal(mu, sigma, min(n_canary, LATENCY_SAMPLES)) + delay
    return float(stats.mannwhitneyu(can, base, alternative="greater").pvalue)


class Deployer:
    """The deployer, a control-plane :class:`~sim.simulation.Controller` (see the module docstring)."""

    def __init__(self, config: Deployments | None) -> None:
        self.config = config
        self.releases: list[Release] = []
        self.gate = np.zeros(0, np.int8)  # [n] GREEN / YELLOW / RED, set by the budget policy
        self._index: dict[str, int] = {}
        self._locks: dict[str, simpy.Resource] = {}
        self._last_start: dict[str, float] = {}
        # release id -> (service, [requests, errors, successes, successes x p50, successes x p90])
        self._watch: dict[int, tuple[int, np.ndarray]] = {}
        self._canary_rng: np.random.Generator | None = None

    # -- controller -----------------------------------------------------------
    def start(self, sim) -> None:
        self._index = sim.compiled.index
        self.gate = np.zeros(sim.compiled.n, np.int8)
        if self.config is None:
            return
        services = list(self.config.services or sim.compiled.names)
        self.releases = release_train(self.config, services, sim.duration, sim.tick, sim.control_rng("deployments"))
        self._canary_rng = sim.control_rng("deployments/canary")
        if self.releases:
            sim.env.process(self._train(sim))

    def window(self, sim, tick_index: int, w: Window) -> None:
        """Count the requests and errors of services under canary analysis."""
        if not self._watch:
            return
        ids = list(self._watch)
        idx = np.array([self._watch[r][0] for r in ids])
        arr, err = w.at(idx)
        succ = arr - err
        lat = w.latency()[:, idx, 1:3]                                  # [T, s, (p50, p90)]
        for k, r in enumerate(ids):
            sk = succ[:, k]
            self._watch[r][1][:] += (arr[:, k].sum(), err[:, k].sum(), sk.sum(), sk @ lat[:, k, 0], sk @ lat[:, k, 1])

    # -- the release train ------------------------------------------------------
    def _train(self, sim):
        for rel in self.releases:
            yield sim.env.timeout(max(0.0, rel.at - sim.env.now))
            rel.process = sim.env.process(self._release(sim, rel))

    def _release(self, sim, rel: Release):
        lock = self._locks.setdefault(rel.service, simpy.Resource(sim.env, 1))
        with lock.request() as req:
            try:
                yield req
                yield from self._deploy(sim, rel)
            except simpy.Interrupt:
                pass  # rolled back by another control-plane part

    def _deploy(self, sim, rel: Release):
        cfg = self.config
        i = self._index[rel.service]
        if self.gate[i] == YELLOW:  # slower cadence: hold until the spacing since the last release
            budget = sim.scenario.policies.budget
            wait = self._last_start.get(rel.service, -np.inf) + budget.release_spacing - sim.env.now
            if wait > 0:
                sim.log("release-deferred", target=f"{rel.service} #{rel.id}", wait=float(wait))
                yield sim.env.timeout(wait)
        if self.gate[i] == RED:
            rel.phase = "frozen"
            sim.log("release-frozen", target=f"{rel.service} #{rel.id}")
            return
        canary = cfg.canary if cfg.canary is not None and cfg.canary.enabled else None
        if canary is None and self.gate[i] == YELLOW:
            canary = cfg.canary or Canary()  # the deploy gate requires one
        rel.started_at = float(sim.env.now)
        self._last_start[rel.service] = rel.started_at
        sim.log("release-started", target=f"{rel.service} #{rel.id}" + (" (bad)" if rel.bad else ""), bad=rel.bad)
        if canary is not None:
            rel.canary, rel.phase = True, "canary"
            if rel.bad:
                self._effect(sim, rel, canary.fraction, "release-canary")
            else:
                sim.sync()
            self._watch[rel.id] = (i, np.zeros(5))
            try:
                yield sim.env.timeout(canary.analysis_window)
                sim.sync()
            finally:
                requests, errors, succ, p50_sum, p90_sum = self._watch.pop(rel.id)[1]
            if self._reverted_elsewhere(sim, rel):
                return
            rate = cfg.effect.error_rate if rel.bad else 0.0
            delay = cfg.effect.delay if rel.bad else 0.0
            rel.p_errors, (e_c, n_c, e_b, n_b) = canary_test(requests, errors, canary.fraction, rate,
                                                             self._canary_rng)
            p50, p90 = (p50_sum / succ, p90_sum / succ) if succ > 0 else (0.0, 0.0)
            rel.p_latency = canary_latency_test(p50, p90, n_c - e_c, n_b - e_b, delay, self._canary_rng)
            p = rel.p_value = min(1.0, 2 * min(rel.p_errors, rel.p_latency))  # Bonferroni over the two
            verdict = (f"canary {e_c}/{n_c} errors vs baseline {e_b}/{n_b} (Fisher p={rel.p_errors:.2g}), "
                       f"latency Mann-Whitney p={rel.p_latency:.2g}; adjusted p={p:.2g} "
                       f"(significance {canary.significance:g})")
            if p < canary.significance:
                sim.log("canary-failed", target=f"{rel.service} #{rel.id}", reason=verdict)
                self.rollback(sim, rel, "canary")
                return
            sim.log("canary-promoted", target=f"{rel.service} #{rel.id}", reason=verdict)
        rel.phase = "rolling-out"
        waves = ROLLOUT_WAVES if cfg.rollout > 0 else 1
        for k in range(1, waves + 1):
            if self._reverted_elsewhere(sim, rel):
                return
            if rel.bad:
                rel.reached_production = True
                self._effect(sim, rel, k / waves, "release-wave")
            yield sim.env.timeout(cfg.rollout / waves)
        if self._reverted_elsewhere(sim, rel):
            return
        rel.phase, rel.ended_at = "live", float(sim.env.now)
        sim.log("release-complete", target=f"{rel.service} #{rel.id}")

    def _effect(self, sim, rel: Release, share: float, event: str) -> None:
        """Put the bad release's effect on ``share`` of the service's traffic (replacing the previous share)."""
        eff = self.config.effect
        fault = Fault(at=float(sim.env.now), kind="bad-deploy", service=rel.service,
                      rate=eff.error_rate * share if eff.error_rate > 0 else None,
                      delay=eff.delay if eff.delay > 0 else None,
                      fraction=share if eff.delay > 0 else None)
        old, rel.fault = rel.fault, fault
        sim.inject(fault, event=event)
        if old is not None:
            sim.revert(old, event="release-wave-superseded")

    def _reverted_elsewhere(self, sim, rel: Release) -> bool:
        """True when the release is over: rolled back here, or its fault reverted by someone else."""
        if rel.phase not in _IN_FLIGHT:
            return True
        if rel.fault is not None and not any(a is rel.fault for a in sim.active_faults):
            rel.phase, rel.rolled_back_by, rel.ended_at = "rolled-back", "other", float(sim.env.now)
            return True
        return False

    # -- rollback -----------------------------------------------------------------
    def rollback(self, sim, rel: Release, by: str) -> None:
        """Roll ``rel`` back now: end its effect and its process (canary, budget policy)."""
        self._reverted_elsewhere(sim, rel)
        if rel.phase == "rolled-back":
            return
        rel.phase, rel.rolled_back_by, rel.ended_at = "rolled-back", by, float(sim.env.now)
        if rel.fault is not None:  # the revert's event is the rollback's line in the timeline
            sim.revert(rel.fault, event="release-rolled-back")
        else:
            sim.log("release-rolled-back", target=f"{rel.service} #{rel.id}", by=by)
        if rel.process is not None and rel.process is not sim.env.active_process and rel.process.is_alive:
            rel.process.interrupt()

    def last_live(self, services: np.ndarray) -> Release | None:
        """The most recently started release still in flight on any service where ``services`` [n] is true."""
        live = [r for r in self.releases
                if r.phase in _IN_FLIGHT and services[self._index[r.service]]]
        return max(live, key=lambda r: (r.started_at, r.id)) if live else None

    # -- measures -----------------------------------------------------------------
    def summary(self, sim) -> dict[str, Any]:
        """Deployment measures for the result's ``deployments`` key (see the README)."""
        for rel in self.releases:
            if rel.phase in _IN_FLIGHT:
                self._reverted_elsewhere(sim, rel)
        rels = [r for r in self.releases if r.started_at is not None]
        finished = [r for r in rels if r.phase in ("live", "rolled-back")]
        successful = sum(r.phase == "live" and not r.bad for r in finished)
        degraded = sum(r.bad and r.reached_production for r in finished)
        by = {k: sum(r.rolled_back_by == k for r in rels) for k in ("canary", "budget-policy", "other")}
        canaried = [r for r in rels if r.canary and r.p_value is not None]
        return {
            "scheduled": len(self.releases),
            "started": len(rels),
            "finished": len(finished),
            "in_progress": len(rels) - len(finished),
            "frozen": sum(r.phase == "frozen" for r in self.releases),
            "pending": sum(r.phase == "scheduled" for r in self.releases),
            "bad": sum(r.bad for r in rels),
            "successful": successful,
            "rolled_back": sum(by.values()),
            "rolled_back_by": by,
            "degraded": degraded,
            "success_rate": successful / len(finished) if finished else None,
            "change_failure_rate": degraded / len(finished) if finished else None,
            "canary": {
                "analysed": len(canaried),
                "caught": sum(r.bad and r.rolled_back_by == "canary" for r in canaried),
                "escaped": sum(r.bad and r.rolled_back_by != "canary" for r in canaried),
                "false_alarms": sum(not r.bad and r.rolled_back_by == "canary" for r in canaried),
            },
            "releases": [r.as_dict() for r in self.releases],
        }
