"""Capacity planning: forecast demand, size every service for the forecast peak with one zone
lost (N+1 zones), and verify the plan by simulating that peak with a zone outage.

1. Demand per entry point, hourly: a CSV history (``t`` in seconds and one column per entry
   point, or ``rps`` for the total) or a synthetic one from the scenario's workload (its rate
   over the weeks before the run, a weekend dip, monthly growth and noise).
2. Holt-Winters (statsmodels; additive trend, multiplicative weekly season of 168 hours, which
   holds the daily one) is fitted on all but the last two weeks and scored on them (MASE
   against the seasonal-naive forecast, sMAPE), then refitted on everything and run over the
   horizon; the plan sizes for the highest forecast hour.
3. Replica demand per request at each service comes from a short flow-engine run of the
   current fleet at the scenario's mean load (visit ratios, retries and slot holding as the
   simulator models them). A service needs ``ceil(peak rate x replica demand / target)``
   replicas; spread so that the zones left after losing one still hold them, that is
   ``ceil(needed / (zones - 1))`` per zone (one spare replica with a single zone).
4. Verification: the forecast peak for 30 minutes, the zone with most replicas lost after 5,
   on the current and on the planned fleet; the plan holds when every SLO meets its target.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.schema import Scenario
from sim.queueing import erlang_c_exact
from sim.simulation import Simulation
from sim.workload import RateFunction, entry_weights
from srelab.errors import InputError
from topology import Topology
from topology.io import from_dict, to_dict

__all__ = ["Plan", "plan_capacity", "synthetic_history", "read_history", "forecast", "mase", "smape",
           "HOURS_PER_MONTH"]

HOUR, WEEK = 3600.0, 168
HOURS_PER_MONTH = 730.0
HOLDOUT = 2 * WEEK
MIN_HOURS = 2 * WEEK + HOLDOUT


def mase(actual: np.ndarray, predicted: np.ndarray, train: np.ndarray, season: int = WEEK) -> float:
    """Mean absolute scaled error: forecast MAE over the in-sample seasonal-naive MAE (< 1 beats it)."""
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    return float(np.mean(np.abs(actual - predicted))) / scale if scale > 0 else float("inf")


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, in percent (0-200)."""
    den = np.abs(actual) + np.abs(predicted)
    return float(np.mean(np.where(den > 0, 2 * np.abs(predicted - actual) / np.where(den > 0, den, 1), 0.0)) * 100)


def synthetic_history(scenario: Scenario, entries: list[str], weights: np.ndarray, weeks: int = 8,
                      growth: float = 0.03, weekend: float = 0.85, noise: float = 0.03) -> np.ndarray:
    """Hourly requests/s per entry point [hours, entries] over ``weeks`` before the run: the
    scenario's rate (hour means), ``weekend`` on Saturdays and Sundays, ``growth`` per month
    compounded, lognormal ``noise``; deterministic from the scenario's seed."""
    hours = weeks * WEEK
    t0 = -hours * HOUR
    minutes = t0 + (np.arange(hours * 60) + 0.5) * 60.0
    level = RateFunction(scenario)(minutes).reshape(hours, 60).mean(1)
    h = np.arange(hours)
    day = (h // 24) % 7
    weekly = np.where(day >= 5, weekend, 1.0)
    trend = (1 + growth) ** ((h - hours) / HOURS_PER_MONTH)
    rng = np.random.default_rng(np.random.SeedSequence([scenario.seed, 0xCA9]))
    total = level * weekly * trend * rng.lognormal(-noise ** 2 / 2, noise, hours)
    return total[:, None] * (weights / weights.sum())[None, :]


def read_history(path: Path, entries: list[str], weights: np.ndarray) -> np.ndarray:
    """An hourly CSV: ``t`` (seconds) and a column per entry point, or ``rps`` split by the
    scenario's entry-point weights."""
    where = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # Excel writes a BOM
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"cannot read the history: {exc.strerror}", source=where, field="--history") from None
    cols = list(rows[0]) if rows else []
    per_entry = all(e in cols for e in entries)
    if "t" not in cols or not (per_entry or "rps" in cols):
        raise InputError(f"the history needs a header with t and either rps or one column per entry point "
                         f"({', '.join(entries)}); it has {', '.join(cols) or 'nothing'}", source=where,
                         field="--history")
    try:
        t = np.array([float(r["t"]) for r in rows])
        values = np.array([[float(r[e]) for e in entries] if per_entry else [float(r["rps"])] for r in rows])
    except (TypeError, ValueError):
        raise InputError("every row needs numbers in t and the rate columns", source=where, field="--history") \
            from None
    step = np.diff(t)
    if step.size == 0 or np.any(np.abs(step - HOUR) > 1e-6):
        raise InputError("rows must be hourly: t increasing by 3600 s", source=where, field="--history")
    if len(rows) < MIN_HOURS:
        raise InputError(f"{len(rows)} hours is too short: give at least 4 weeks ({MIN_HOURS} rows), two to fit "
                         "the weekly season and two held out to score the forecast", source=where, field="--history")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError("rates must be finite numbers >= 0", source=where, field="--history")
    if not np.any(values > 0):
        raise InputError("every rate is zero: there is no demand to forecast", source=where, field="--history")
    if per_entry:
        return values
    return values[:, :1] * (weights / weights.sum())[None, :]


def _fit(series: np.ndarray):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    with warnings.catch_warnings():  # a fit that stopped early still forecasts; the held-out score judges it
        warnings.simplefilter("ignore")
        return ExponentialSmoothing(np.maximum(series, 1e-6), trend="add", seasonal="mul", seasonal_periods=WEEK,
                                    initialization_method="heuristic").fit()


def forecast(series: np.ndarray, horizon_hours: int) -> dict[str, Any]:
    """Score on the held-out tail, then forecast ``horizon_hours`` from the whole series."""
    train, test = series[:-HOLDOUT], series[-HOLDOUT:]
    held = np.maximum(_fit(train).forecast(HOLDOUT), 0.0)
    ahead = np.maximum(_fit(series).forecast(horizon_hours), 0.0)
    return {"mase": mase(test, held, train), "smape": smape(test, held), "forecast": ahead,
            "peak": float(ahead.max()), "peak_hour": int(ahead.argmax()), "last_week_peak": float(series[-WEEK:].max())}


@dataclass
class Plan:
    entries: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    target_utilization: float
    horizon_days: float
    verification: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        s = self.services.values()
        return {"current_replicas": sum(v["current"] for v in s), "planned_replicas": sum(v["planned"] for v in s),
                "current_cost_per_month": sum(v["current_cost_per_month"] for v in s),
                "planned_cost_per_month": sum(v["cost_per_month"] for v in s)}

    def to_dict(self) -> dict[str, Any]:
        return {"target_utilization": self.target_utilization, "horizon_days": self.horizon_days,
                "entrypoints": self.entries, "services": self.services, "totals": self.totals(),
                "verification": self.verification}


def _replica_demand(scenario: Scenario, topo: Topology, mix: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per service: arrivals per entry request with the entry points in ``mix``, and busy
    replicas per request/s (from a 10-minute fault-free flow run of the current fleet at the
    scenario's mean load)."""
    rate = float(RateFunction(scenario)(np.linspace(0, scenario.duration, 2001)).mean())
    sim = Simulation(_variant(scenario, duration=600.0, rate={"pattern": "constant", "rps": max(rate, 1.0)},
                               entrypoints=mix), topology=topo)
    sim.run()
    rec = sim.recorder
    seconds = sim.duration
    arrivals = rec.total_arrivals / seconds                             # [n] requests/s
    entry = float(arrivals[sim.entry_idx].sum())
    busy = rec.util_sum / max(rec.ticks_seen, 1) * (rec.reps_sum / max(rec.ticks_seen, 1))  # busy replicas
    per_rps = np.divide(busy, arrivals, out=np.zeros_like(busy), where=arrivals > 0)
    return arrivals / entry, per_rps


def _variant(scenario: Scenario, duration: float, rate: dict[str, Any], entrypoints: dict[str, float] | None = None,
             faults: list[dict[str, Any]] | None = None) -> Scenario:
    """The scenario's fleet and SLOs under a fixed load: no autoscaling, releases, budget policy,
    responders, other faults or assertions."""
    data = scenario.model_dump(by_alias=True, mode="json", exclude={"workload", "faults", "assertions",
                                                                    "deployments"})
    data.update({"duration": duration, "engine": "flow", "faults": faults or [],
                 "workload": {"rate": rate, **({"entrypoints": entrypoints} if entrypoints else {})}})
    policies = {k: v for k, v in data.get("policies", {}).items() if k != "incident_response"}  # no responders
    data["policies"] = {**policies, "autoscaling": None, "budget": None}
    return Scenario.model_validate(data)


def _with_replicas(topo: Topology, replicas: dict[str, list[int]]) -> Topology:
    data = to_dict(topo)
    for name, spec in data["services"].items():
        if name in replicas:
            spec["replicas"] = {z: int(k) for z, k in zip(topo.zones, replicas[name])}
    return from_dict(data)


def _verify(scenario: Scenario, topo: Topology, peak_rps: float, entry_share: dict[str, float]) -> dict[str, Any]:
    """The forecast peak for 30 minutes with the zone holding most replicas lost after 5."""
    per_zone = np.zeros(len(topo.zones))
    for s in topo.services.values():
        per_zone += [s.replicas.get(z, 0) for z in topo.zones]
    zone = topo.zones[int(per_zone.argmax())]
    faults = [{"at": 300.0, "kind": "zone-outage", "zone": zone}] if len(topo.zones) > 1 else []
    sc = _variant(scenario, duration=1800.0, rate={"pattern": "constant", "rps": peak_rps},
                  entrypoints=entry_share, faults=faults)
    result = Simulation(sc, topology=topo).run()
    slos = [{"name": s["name"], "attainment": s["attainment"], "target": s["target"],
             "held": s["attainment"] >= s["target"]} for s in result["slos"]]
    return {"zone_lost": zone if len(topo.zones) > 1 else None, "peak_rps": peak_rps, "slos": slos,
            "passed": all(s["held"] for s in slos)}


def plan_capacity(scenario: Scenario, topo: Topology, history: Path | None = None, horizon_days: float = 180.0,
                  target_utilization: float | None = None, growth: float = 0.03, verify: bool = True) -> Plan:
    """The whole plan; see the module docstring."""
    from sim.compiled import compile_topology

    c = compile_topology(topo)
    weights = entry_weights(scenario, c)
    entry_idx = np.flatnonzero(weights > 0)
    entries = [c.names[i] for i in entry_idx]
    w = weights[entry_idx]
    series = read_history(history, entries, w) if history is not None else synthetic_history(scenario, entries, w,
                                                                                              growth=growth)
    horizon = int(math.ceil(horizon_days * 24))
    try:
        fc = {e: forecast(series[:, k], horizon) for k, e in enumerate(entries)}
    except ValueError as exc:  # statsmodels refuses series it cannot fit
        raise InputError(f"cannot fit the demand history: {exc}", source=str(history or "synthetic history"),
                         field="--history") from None
    # the hour when the forecast total peaks, and each entry point's demand then
    total = np.sum([f["forecast"] for f in fc.values()], axis=0)
    hour = int(total.argmax())
    peak = {e: float(fc[e]["forecast"][hour]) for e in entries}
    peak_total = sum(peak.values())

    target = target_utilization
    if target is None:
        scaling = scenario.policies.autoscaling
        target = scaling.target_utilization if scaling is not None and scaling.target_utilization else 0.6
    # the forecast peak's own entry mix, for the demand run and the verification alike
    share = {e: peak[e] / peak_total for e in entries} if peak_total > 0 else {e: 1.0 for e in entries}
    visit, per_rps = _replica_demand(scenario, topo, share)
    Z = len(c.zones)
    lam = visit * peak_total                                          # requests/s at each service at the peak
    needed = np.ceil(lam * per_rps / target - 1e-9).astype(int)        # replicas, all zones up
    needed = np.maximum(needed, 1)
    per_zone = np.ceil(needed / (Z - 1)).astype(int) if Z > 1 else needed + 1
    planned = per_zone * Z if Z > 1 else per_zone
    current = c.replicas.sum(1)
    services: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(c.names):
        surviving = planned[i] - (per_zone[i] if Z > 1 else 1)
        busy = lam[i] * per_rps[i]
        cost = float(c.cost[i]) * HOURS_PER_MONTH
        slots = int(c.concurrency[i])
        a = busy * slots / max(surviving, 1)                          # offered load per replica, in slots
        services[name] = {
            "current": int(current[i]), "planned": int(planned[i]), "needed": int(needed[i]),
            "peak_rps": float(lam[i]),
            "utilization_at_peak": float(busy / planned[i]),
            "utilization_zone_lost": float(busy / max(surviving, 1)),
            "p_wait_zone_lost": float(erlang_c_exact(slots, a)) if a < slots else 1.0,
            "cost_per_month": float(planned[i] * cost), "current_cost_per_month": float(current[i] * cost),
            "over_provisioning": float(planned[i] / needed[i] - 1),
        }
    entries_out = {e: {"mase": fc[e]["mase"], "smape": fc[e]["smape"], "peak_rps": peak[e],
                       "last_week_peak_rps": fc[e]["last_week_peak"]} for e in entries}
    plan = Plan(entries_out, services, float(target), float(horizon_days))
    if verify:
        planned_topo = _with_replicas(topo, {
            name: _spread(int(services[name]["planned"]), Z) for name in c.names})
        plan.verification = {"peak_hour": hour, "current": _verify(scenario, topo, peak_total, share),
                             "planned": _verify(scenario, planned_topo, peak_total, share)}
    return plan


def _spread(k: int, zones: int) -> list[int]:
    """``k`` replicas over ``zones`` as evenly as possible."""
    base, extra = divmod(k, zones)
    return [base + (1 if z < extra else 0) for z in range(zones)]
