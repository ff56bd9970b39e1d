"""How well each alerting rule of a run did, against the ground truth of the simulated SLIs:
precision, recall, detection time and reset time, the measures the SRE Workbook's
"Alerting on SLOs" compares its strategies by.

Ground truth, per SLO, from its per-tick budget units (events, or slices for timeslice SLOs):

- a *budget-consuming event* is a stretch of evaluation-interval buckets whose burn rate is
  above 1 (the bucket spends budget faster than the SLO allows), gaps of at most
  ``merge_gap`` joined; it starts at its first bad tick and ends after its last one;
- it is *significant* when it spent at least ``significance`` of the window's budget (the
  window's budget at the run's mean rate, as in :mod:`sim.slo`; default 2 %, what the
  Workbook's fastest page is set to catch).

An alert *answers* the latest event that started by its fire time and ended at most the
rule's lookback before it (its longest window, its ``for`` and one evaluation interval:
errors stay in a window that long after they stop). An event is also answered by an
alert of the rule that was already firing when it started. Then, per rule:

- precision: alerts that answer a significant event / alerts (None without alerts);
- recall: significant events answered / significant events (None without any);
- detection time: first answering alert's fire time - event start (0 when one was already
  firing), mean over answered significant events;
- reset time: last answering alert's resolve time - event end, mean over those that resolved
  before the run ended (``unresolved`` counts the others).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["compare", "budget_events", "SIGNIFICANCE", "MERGE_GAP"]

SIGNIFICANCE = 0.02
MERGE_GAP = 300.0


def budget_events(sim, i: int, significance: float = SIGNIFICANCE,
                  merge_gap: float = MERGE_GAP) -> list[dict[str, Any]]:
    """Budget-consuming events of SLO ``i`` in a finished run, each with its share of the window's budget."""
    tracker, tick = sim.slo, sim.tick
    slo = sim.scenario.slos[i]
    allowed = 1.0 - slo.target / 100.0
    bad, valid = tracker.unit_series(i)
    ticks = bad.size
    if ticks == 0 or valid.sum() <= 0:
        return []
    n = max(1, int(round(sim.scenario.policies.alerting.evaluation_interval / tick)))
    pad = (-ticks) % n
    b = np.concatenate([bad, np.zeros(pad)]).reshape(-1, n).sum(axis=1)
    v = np.concatenate([valid, np.zeros(pad)]).reshape(-1, n).sum(axis=1)
    burning = b > allowed * v + 1e-12
    idx = np.flatnonzero(burning)
    if idx.size == 0:
        return []
    # runs of burning buckets, joined across gaps of at most merge_gap
    gap = int(np.floor(merge_gap / (n * tick) + 1e-9))
    breaks = np.flatnonzero(np.diff(idx) > gap + 1)
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]])
    # the window's budget in units, at the run's mean rate of valid units
    budget = allowed * valid.sum() / (ticks * tick) * slo.window
    events = []
    for f, l in zip(firsts, lasts):
        lo, hi = f * n, min((l + 1) * n, ticks)
        bad_ticks = lo + np.flatnonzero(bad[lo:hi] > 0)
        spent = float(bad[lo:hi].sum()) / budget
        events.append({"slo": slo.name, "start": float(bad_ticks[0] * tick), "end": float((bad_ticks[-1] + 1) * tick),
                       "budget_spent": spent, "significant": bool(spent >= significance - 1e-12)})
    return events


def compare(sim, significance: float = SIGNIFICANCE, merge_gap: float = MERGE_GAP) -> dict[str, Any]:
    """Score every rule of a finished run on every SLO. Returns ``{"significance", "merge_gap",
    "events": [...], "rules": [...]}`` (times in seconds of simulated time)."""
    config = sim.scenario.policies.alerting
    events, rows = [], []
    for i, slo in enumerate(sim.scenario.slos):
        evs = budget_events(sim, i, significance, merge_gap)
        events.extend(evs)
        significant = [e for e in evs if e["significant"]]
        for rule in config.rules if config.enabled else []:
            alerts = [a for a in sim.alerts if a["slo"] == slo.name and a["rule"] == rule.name]
            lookback = max(rule.windows) + rule.for_ + config.evaluation_interval

            owner = [_attribute(a, evs, lookback) for a in alerts]
            true_alerts = sum(o is not None and o["significant"] for o in owner)
            detections, resets, unresolved = [], [], 0
            for e in significant:
                # its own alerts, or one already firing when it started
                hits = [a for a, o in zip(alerts, owner) if o is e or (
                    a["fired_at"] <= e["start"] and (a["resolved_at"] is None or a["resolved_at"] >= e["start"]))]
                if not hits:
                    continue
                detections.append(max(0.0, min(a["fired_at"] for a in hits) - e["start"]))
                last = max(hits, key=lambda a: a["fired_at"])
                if last["resolved_at"] is None:
                    unresolved += 1
                else:
                    resets.append(last["resolved_at"] - e["end"])
            rows.append({
                "slo": slo.name, "rule": rule.name, "kind": rule.kind, "severity": rule.severity,
                "alerts": len(alerts), "true_alerts": true_alerts,
                "significant_events": len(significant), "detected": len(detections),
                "precision": true_alerts / len(alerts) if alerts else None,
                "recall": len(detections) / len(significant) if significant else None,
                "detection_time": float(np.mean(detections)) if detections else None,
                "reset_time": float(np.mean(resets)) if resets else None,
                "unresolved": unresolved,
            })
    return {"scenario": sim.scenario.name, "engine": sim.engine_name, "seed": sim.seed,
            "significance": significance, "merge_gap": merge_gap, "events": events, "rules": rows}


def _attribute(alert: dict[str, Any], events: list[dict[str, Any]], lookback: float) -> dict[str, Any] | None:
    """The event an alert answers: the latest one that started by its fire time and ended at most
    ``lookback`` before it; None for an alert without a budget-consuming event."""
    owner = None
    for e in events:
        if e["start"] <= alert["fired_at"] <= e["end"] + lookback:
            owner = e
    return owner
