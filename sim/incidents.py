"""Pages, alert correlation and incidents (a control-plane :class:`~sim.simulation.Controller`).

Every alert of severity ``page`` is a page. A page is grouped into an open
incident when the two share a root cause upstream in the dependency graph, or
when its SLO already pages for the incident and that is not mitigated yet; or,
when the root cause of either could not be localised, when it fires within
``correlation_window`` of the incident's last page on a service connected to
the incident's services through the graph (one calls the other, or both call a
common service, directly or not). Otherwise it opens a new incident.

Root causes are localised the way a topology-aware correlation engine does it:
the *unhealthy* services (over the last ``lookback``, an error ratio of at
least ``min_error_ratio``, or as large a share of the calls into them failing:
a slow service errs little itself, its callers time out) in the alerting SLO
service's dependency closure (itself
and everything it calls, directly or not) that have no unhealthy dependency of
their own. The incident's cause is then diagnosed from the faults active in
the simulation that touch those services (or, failing that, the closure); the
cause decides the runbook (see :mod:`sim.responders`).

Timing: ``started_at`` is when the cause started (its faults' injection, or, for
a bad release, when the release first went live: the deployer re-injects its
``bad-deploy`` fault at every rollout wave, and the waves of one release are one
change; with no fault, the start of the stretch of minutes that burnt budget
before the page), ``detected_at`` the first page, ``mitigated_at`` when the mitigation
took effect (a responder's verified action, or the faults ending by
themselves), ``resolved_at`` when the incident is mitigated and all its pages
have resolved; its ``incident-mitigated`` event carries that time (a
``mitigation-verified`` event follows when a responder verified it later).

A new change (a fault, or a bad release) that starts while a page of an SLO it
touches is already firing cannot page again: once a service it touches is
unhealthy it opens an incident of its own (detected then), so each cause is one
incident whether its page was free or not. An incident whose own cause is gone
(reverted by the responder) while another open incident's cause keeps its SLOs
burning counts as mitigated at that action.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from scenarios.schema import Fault, IncidentResponse
from sim.plane import Window
from sim.responders import Responders, affected_services, plan_for
from sim.state import CAUSES

__all__ = ["IncidentManager", "Incident"]

_OVERLOAD = CAUSES.index("overload")
QUIET = 120.0  # seconds back at the baseline after which errors with no fault behind them count as stopped
BASELINE = 1800.0  # seconds before the cause whose burn rate is the SLO's usual level


@dataclass
class Incident:
    """An open or closed incident: its record in ``sim.incidents`` plus what correlation needs."""

    record: dict[str, Any]
    slos: list[int]                               # indices into scenario.slos
    services: set[str]                            # SLO services paged
    roots: set[str]                               # localised root-cause services
    faults: list[Fault] = field(default_factory=list)
    last_page: float = 0.0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    own_reverts: set[int] = field(default_factory=set)   # id() of faults a responder ended
    settled: dict[int, float] = field(default_factory=dict)  # SLO -> burn rate that counts as back to normal
    busy: bool = False                            # a responder's action awaits verification

    @property
    def mitigated(self) -> bool:
        return self.record["mitigated_at"] is not None

    @property
    def resolved(self) -> bool:
        return self.record["resolved_at"] is not None


class IncidentManager:
    """Turns pages into incidents and hands them to the responders."""

    def __init__(self, config: IncidentResponse) -> None:
        self.config = config
        self.incidents: list[Incident] = []
        self.fault_start: dict[int, float] = {}   # id(fault) -> injected at
        self.fault_end: dict[int, float] = {}     # id(fault) -> ended at
        self._live: dict[int, Fault] = {}
        self.change_of: dict[int, Any] = {}       # id(fault) -> its change: ("release", id) or id(fault)
        self._release_of: dict[Any, Any] = {}     # change -> the deployer's Release
        self._seen = 0
        self._closure: dict[str, frozenset[str]] = {}
        self._edges: deque[tuple[float, np.ndarray, np.ndarray]] = deque()  # (window end, tries, failures)
        self.responders: Responders | None = None

    # -- controller -----------------------------------------------------------
    def start(self, sim) -> None:
        self.responders = Responders(self.config, sim.control_rng("responders"), self)
        alerting = sim.scenario.policies.alerting
        if alerting.enabled and sim.scenario.slos:
            sim.env.process(self._loop(sim, alerting.evaluation_interval))

    def window(self, sim, tick_index: int, w: Window) -> None:
        """Fault timing and the calls into each service over the last ``lookback``."""
        self._track_faults(sim, w.t0)
        end = w.t0 + w.ticks * sim.tick
        self._edges.append((end, np.array(w.edge_tries, float), np.array(w.edge_failures, float)))
        while self._edges and self._edges[0][0] <= end - self.config.lookback:
            self._edges.popleft()

    def _loop(self, sim, step: float):
        while True:
            yield sim.env.timeout(step)
            sim.sync()
            self._track_faults(sim, float(sim.env.now))
            for idx in range(self._seen, len(sim.alerts)):
                if sim.alerts[idx]["severity"] == "page":
                    self._page(sim, idx)
            self._seen = len(sim.alerts)
            self._watch(sim)

    def _track_faults(self, sim, t: float) -> None:
        """When each fault started and ended. A state change syncs the data plane first, so the
        first window that sees a fault (or misses it) starts at its injection (revert); a change at
        this very tick is seen by the evaluation loop at ``t`` = now."""
        now = {id(f): f for f in sim.active_faults}
        for k in now.keys() - self._live.keys():
            rel = next((r for r in getattr(getattr(sim, "deployer", None), "releases", ())
                        if r.fault is now[k]), None)
            if rel is not None and rel.started_at is not None:  # one change over its canary and waves
                key = ("release", rel.id)
                self.change_of[k], self._release_of[key] = key, rel
                self.fault_start[k] = min(float(rel.started_at), t)
            else:
                self.change_of[k] = k
                self.fault_start[k] = t
            self.fault_end.pop(k, None)
        for k in self._live.keys() - now.keys():
            self.fault_end[k] = t
        self._live = now

    def current(self, sim, f: Fault) -> Fault | None:
        """The live fault of ``f``'s change: ``f`` itself while active, else a release's later wave."""
        if any(a is f for a in sim.active_faults):
            return f
        rel = self._release_of.get(self.change_of.get(id(f)))
        if rel is not None and rel.fault is not None and any(a is rel.fault for a in sim.active_faults):
            return rel.fault
        return None

    def _follow_changes(self, sim, inc: Incident) -> None:
        """Replace a release's superseded wave by its live one: the change goes on."""
        for k, f in enumerate(inc.faults):
            cur = self.current(sim, f)
            if cur is not None and cur is not f:
                inc.faults[k] = cur

    # -- graph ----------------------------------------------------------------
    def closure(self, sim, service: str) -> frozenset[str]:
        """The service and everything it calls, directly or not."""
        if service not in self._closure:
            self._closure[service] = frozenset(nx.descendants(sim.topology.graph, service) | {service})
        return self._closure[service]

    def connected(self, sim, a: str, b: str) -> bool:
        """One calls the other, or both call a common service (directly or not)."""
        return bool(self.closure(sim, a) & self.closure(sim, b))

    def unhealthy(self, sim) -> tuple[np.ndarray, np.ndarray]:
        """Per service over the last ``lookback``: unhealthy (its own error ratio, or the failure ratio
        of the calls into it, at least ``min_error_ratio``) and the share of its errors from overload."""
        rec = sim.recorder
        end_tick = sim.now_tick()
        back = int(round(self.config.lookback / sim.tick))
        s0, s1 = max(0, end_tick - back) // rec.every, -(-end_tick // rec.every)
        arr = rec.arrivals[s0:s1].sum(0, dtype=np.float64)
        err = rec.errors[s0:s1].sum(0, dtype=np.float64)          # [n, K]
        total = err.sum(1)
        c = sim.compiled
        tries, fails = np.zeros(c.m), np.zeros(c.m)
        for _, t, f in self._edges:
            tries += t
            fails += f
        into_tries = np.bincount(c.dst, tries, minlength=c.n)
        into_fails = np.bincount(c.dst, fails, minlength=c.n)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(arr > 0, total / arr, 0.0)
            calls = np.where(into_tries > 0, into_fails / into_tries, 0.0)
            overload = np.where(total > 0, err[:, _OVERLOAD] / total, 0.0)
        return np.maximum(ratio, calls) >= self.config.min_error_ratio, overload

    def localise(self, sim, service: str) -> set[str]:
        """Unhealthy services in the closure with no unhealthy dependency; the service itself when
        nothing below it errs (a latency SLO, say)."""
        bad, _ = self.unhealthy(sim)
        names = sim.compiled.names
        clos = self.closure(sim, service)
        sick = {names[i] for i in np.flatnonzero(bad) if names[i] in clos}
        roots = {s for s in sick if not ((self.closure(sim, s) - {s}) & sick)}
        return roots or {service}

    def overloaded(self, sim, inc: Incident) -> set[str]:
        """Unhealthy services below the incident's SLO services whose errors are mostly overload
        (what a scale-out should grow), else its root services."""
        bad, overload = self.unhealthy(sim)
        clos = set().union(*(self.closure(sim, s) for s in inc.services))
        names = sim.compiled.names
        hot = {names[i] for i in np.flatnonzero(bad & (overload >= 0.5)) if names[i] in clos}
        return hot or set(inc.roots)

    # -- pages ----------------------------------------------------------------
    def _page(self, sim, alert_index: int) -> None:
        alert = sim.alerts[alert_index]
        slo_i = next(i for i, s in enumerate(sim.scenario.slos) if s.name == alert["slo"])
        service = sim.scenario.slos[slo_i].service
        roots = self.localise(sim, service)
        now = alert["fired_at"]
        for inc in self.incidents:
            if inc.resolved:
                continue
            # shared localised root cause; another page of an SLO the unmitigated incident already
            # has; or, where a side could not be localised (its roots are just its SLO services),
            # a page close in time on a service connected through the graph
            related = bool(roots & inc.roots) or (slo_i in inc.slos and not inc.mitigated) or (
                (roots == {service} or inc.roots <= inc.services)
                and now - inc.last_page <= self.config.correlation_window
                and any(self.connected(sim, service, s) for s in inc.services))
            if related:
                self._join(sim, inc, alert_index, slo_i, service, roots)
                return
        self._open(sim, alert_index, slo_i, service, roots)

    def diagnose(self, sim, services: set[str], roots: set[str]) -> list[Fault]:
        """Active faults touching the root services, else any touching the SLO services' closures;
        of those, the ones that started within ``BASELINE`` (recent changes first), if any did."""
        clos = set().union(*(self.closure(sim, s) for s in services))
        active = list(sim.active_faults)
        hit = [f for f in active if affected_services(sim, f) & roots] or [
            f for f in active if affected_services(sim, f) & clos]
        since = float(sim.env.now) - BASELINE
        return [f for f in hit if self.fault_start.get(id(f), since) >= since] or hit

    def _open(self, sim, alert_index: int, slo_i: int, service: str, roots: set[str]) -> None:
        alert = sim.alerts[alert_index]
        detected = float(alert["fired_at"])
        inc = Incident(record={}, slos=[slo_i], services={service}, roots=set(roots), last_page=detected,
                       alerts=[alert])
        inc.faults = self.diagnose(sim, inc.services, inc.roots)
        self._record(sim, inc, detected, [alert_index], page_alerts=1)

    def _join(self, sim, inc: Incident, alert_index: int, slo_i: int, service: str, roots: set[str]) -> None:
        alert = sim.alerts[alert_index]
        inc.alerts.append(alert)
        inc.record["alerts"].append(alert_index)
        inc.record["page_alerts"] += 1
        inc.last_page = float(alert["fired_at"])
        name = sim.scenario.slos[slo_i].name
        if slo_i not in inc.slos:
            inc.slos.append(slo_i)
            inc.settled[slo_i] = self._settled(sim, slo_i, inc.record["started_at"])
            inc.record["slos"].append(name)
        inc.services.add(service)
        inc.roots |= roots
        inc.record["root_services"] = sorted(inc.roots)
        sim.log("page-correlated", target=f"{name} {alert['rule']} -> {inc.record['id']}")

    def cause(self, sim, inc: Incident) -> str:
        if inc.faults:
            return ", ".join(f.label for f in inc.faults)
        _, overload = self.unhealthy(sim)
        idx = [sim.compiled.index[s] for s in sorted(inc.roots)]
        kind = "overload" if idx and overload[idx].max() >= 0.5 else "unknown"
        return f"{kind}:{','.join(sorted(inc.roots))}"

    def _bad_minutes(self, sim, slo_i: int, end_tick: int) -> np.ndarray:
        per = max(1, int(round(60.0 / sim.tick)))
        valid = sim.slo.valid[slo_i, :end_tick]
        bad = valid - sim.slo.good[slo_i, :end_tick]
        m = end_tick // per
        if m == 0:
            return np.zeros(0, bool)
        v = valid[:m * per].reshape(m, per).sum(1)
        b = bad[:m * per].reshape(m, per).sum(1)
        target = sim.scenario.slos[slo_i].target / 100.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, b / v, 0.0) / (1 - target) >= 1.0

    def _started(self, sim, inc: Incident, detected: float) -> float:
        starts = [self.fault_start.get(id(f), detected) for f in inc.faults]
        if starts:
            return float(min(starts))
        hot = self._bad_minutes(sim, inc.slos[0], sim.now_tick())
        cool = np.flatnonzero(~hot)
        first = (int(cool[-1]) + 1) if cool.size else 0
        return float(min(first * 60.0, detected))

    def _first_errors(self, sim, slo_i: int, started: float) -> float | None:
        """First tick at or after the cause started in which the SLO counted bad events."""
        t0, t1 = int(round(started / sim.tick)), sim.now_tick()
        bad = sim.slo.valid[slo_i, t0:t1] - sim.slo.good[slo_i, t0:t1]
        hit = np.flatnonzero(bad > 0)
        return float((t0 + hit[0]) * sim.tick) if hit.size else None

    # -- lifecycle --------------------------------------------------------------
    def _settled(self, sim, slo_i: int, started: float) -> float:
        """Burn rate below which the SLO is back to normal: 1, or 1.2x its level over the
        ``BASELINE`` before the cause (an SLO that always burns a little is not an incident)."""
        end = int(round(started / sim.tick))
        start = max(0, end - int(round(BASELINE / sim.tick)))
        valid = float(sim.slo.valid[slo_i, start:end].sum())
        if valid <= 0:
            return 1.0
        bad = valid - float(sim.slo.good[slo_i, start:end].sum())
        return max(1.0, 1.2 * bad / valid / (1 - sim.scenario.slos[slo_i].target / 100.0))

    def quiet(self, sim, inc: Incident, seconds: float) -> bool:
        """Has every SLO of the incident been back to normal over the last ``seconds``?"""
        return all(sim.slo.recent_burn_rate(i, sim.now_tick(), seconds) < inc.settled[i] for i in inc.slos)

    def mitigate(self, sim, inc: Incident, at: float, by: str) -> None:
        if inc.mitigated:
            return
        inc.record["mitigated_at"] = float(at)
        inc.record["auto_remediated"] = by == "automation"
        inc.record["mitigated_by"] = by
        event = {"at": float(at), "event": "incident-mitigated", "target": f"{inc.record['id']} by {by}"}
        k = len(sim.events)  # the event at the mitigation time, among the events in time order
        while k > 0 and sim.events[k - 1]["at"] > at:
            k -= 1
        sim.events.insert(k, event)
        if float(sim.env.now) > at:
            sim.log("mitigation-verified", target=f"{inc.record['id']} by {by}")

    def _watch(self, sim) -> None:
        """Mitigation by the faults ending on their own; resolution once mitigated and quiet."""
        now = float(sim.env.now)
        self._new_causes(sim)
        for inc in self.incidents:
            if inc.resolved:
                continue
            self._follow_changes(sim, inc)
            if not inc.mitigated and not inc.busy:
                live = {id(f) for f in sim.active_faults}
                ended = [f for f in inc.faults if id(f) not in live]
                if inc.faults and len(ended) == len(inc.faults) and not any(id(f) in inc.own_reverts for f in ended):
                    rels = [self._release_of.get(self.change_of.get(id(f))) for f in ended]
                    by = {r.rolled_back_by for r in rels if r is not None}
                    how = by.pop() if len(by) == 1 and None not in by and "other" not in by and all(rels) \
                        else "fault-ended"
                    self.mitigate(sim, inc, max(self.fault_end.get(id(f), now) for f in ended), how)
                elif (len(ended) == len(inc.faults) and now - inc.record["detected_at"] >= QUIET
                      and self.quiet(sim, inc, QUIET)):
                    self.mitigate(sim, inc, now - QUIET, "errors-stopped")
            if inc.mitigated and all(a["resolved_at"] is not None for a in inc.alerts):
                inc.record["resolved_at"] = float(max([inc.record["mitigated_at"]]
                                                      + [a["resolved_at"] for a in inc.alerts]))
                sim.log("incident-resolved", target=inc.record["id"])

    def cause_gone(self, sim, inc: Incident) -> bool:
        """The incident's own faults have all ended, and another open, unmitigated incident on one of its
        SLOs has a cause still live (what keeps the SLOs burning is that incident's)."""
        self._follow_changes(sim, inc)
        if not inc.faults or any(self.current(sim, f) is not None for f in inc.faults):
            return False
        return any(o is not inc and not o.mitigated and set(o.slos) & set(inc.slos)
                   and any(self.current(sim, f) is not None for f in o.faults) for o in self.incidents)

    def _new_causes(self, sim) -> None:
        """A new change behind an SLO whose page is already firing (so it cannot page again) opens an
        incident of its own once a service it touches is unhealthy."""
        firing: dict[int, list[int]] = {}
        names = [s.name for s in sim.scenario.slos]
        for k, a in enumerate(sim.alerts):
            if a["severity"] == "page" and a["resolved_at"] is None and a["slo"] in names:
                firing.setdefault(names.index(a["slo"]), []).append(k)
        if not firing:
            return
        known = {self.change_of.get(id(f), id(f)) for inc in self.incidents for f in inc.faults}
        bad = None
        for f in list(sim.active_faults):
            key = self.change_of.get(id(f), id(f))
            if key in known:
                continue
            start = self.fault_start.get(id(f), float(sim.env.now))
            if start >= float(sim.env.now):  # seen at the next evaluation at the earliest, like a page
                continue
            touched = affected_services(sim, f)
            slos = [i for i, alerts in firing.items()
                    if start > min(sim.alerts[k]["fired_at"] for k in alerts)
                    and touched & self.closure(sim, sim.scenario.slos[i].service)]
            if not slos:
                continue
            if bad is None:
                bad, _ = self.unhealthy(sim)
            sick = {sim.compiled.names[i] for i in np.flatnonzero(bad)} & touched
            if not sick:
                continue
            known.add(key)
            self._open_for(sim, f, slos, sorted(k for i in slos for k in firing[i]), sick)

    def _open_for(self, sim, f: Fault, slos: list[int], alert_indices: list[int], roots: set[str]) -> None:
        detected = float(sim.env.now)
        services = {sim.scenario.slos[i].service for i in slos}
        inc = Incident(record={}, slos=list(slos), services=services, roots=set(roots), last_page=detected,
                       alerts=[sim.alerts[k] for k in alert_indices], faults=[f])
        self._record(sim, inc, detected, list(alert_indices), page_alerts=0, note=" (behind a page already firing)")

    def _record(self, sim, inc: Incident, detected: float, alert_indices: list[int], page_alerts: int,
                note: str = "") -> None:
        """Open ``inc``: its result record, the timeline line, and the responders."""
        started = self._started(sim, inc, detected)
        for i in inc.slos:
            inc.settled[i] = self._settled(sim, i, started)
        inc.record.update({
            "id": f"INC-{len(self.incidents) + 1}", "cause": self.cause(sim, inc),
            "started_at": started, "detected_at": detected, "mitigated_at": None, "resolved_at": None,
            "auto_remediated": False,
            "acknowledged_at": None, "responder": None, "escalated": False,
            "slos": [sim.scenario.slos[i].name for i in inc.slos], "root_services": sorted(inc.roots),
            "alerts": alert_indices, "page_alerts": page_alerts,
            "first_errors_at": self._first_errors(sim, inc.slos[0], started),
            "actions": [], "toil_minutes": 0.0,
        })
        self.incidents.append(inc)
        sim.incidents.append(inc.record)
        sim.log("incident-opened", target=f"{inc.record['id']} {inc.record['cause']}{note}")
        assert self.responders is not None
        self.responders.engage(sim, inc, plan_for(sim, inc, inc.faults))

    # -- result -----------------------------------------------------------------
    def finish(self, sim) -> dict[str, Any]:
        """Per-incident durations and budget, and the run's aggregate (the result's
        ``incident_response``)."""
        end = float(sim.env.now)
        assert self.responders is not None
        self.responders.finish(end)
        for inc in self.incidents:
            r = inc.record
            r["time_to_detect"] = r["detected_at"] - r["started_at"]
            r["time_to_acknowledge"] = (r["acknowledged_at"] - r["detected_at"]
                                        if r["acknowledged_at"] is not None else None)
            r["time_to_mitigate"] = r["mitigated_at"] - r["started_at"] if r["mitigated_at"] is not None else None
            r.setdefault("mitigated_by", None)
            r["budget_consumed"] = {sim.scenario.slos[i].name: self.budget_consumed(
                sim, i, r["started_at"], r["mitigated_at"] if r["mitigated_at"] is not None else end,
                share=self._open_count(sim, i, end))
                for i in inc.slos}
            r["budget_to_detect"] = {sim.scenario.slos[i].name: self.budget_consumed(
                sim, i, r["started_at"], r["detected_at"]) for i in inc.slos}
        recs = [inc.record for inc in self.incidents]

        def mean(key: str) -> float | None:
            vals = [r[key] for r in recs if r[key] is not None]
            return float(np.mean(vals)) if vals else None

        return {
            "alerts": len(sim.alerts),
            "page_alerts": sum(1 for a in sim.alerts if a["severity"] == "page"),
            "pages": len(recs), "incidents": len(recs),
            "auto_remediated": sum(1 for r in recs if r["auto_remediated"]),
            "escalations": sum(1 for r in recs if r["escalated"]),
            "mttd": mean("time_to_detect"), "mtta": mean("time_to_acknowledge"), "mttr": mean("time_to_mitigate"),
            "toil_minutes": float(sum(r["toil_minutes"] for r in recs)),
        }

    def _open_count(self, sim, slo_i: int, end: float) -> np.ndarray:
        """Per tick, how many incidents on the SLO were between their start and their mitigation."""
        n = np.zeros(sim.slo.valid.shape[1], np.int32)
        for inc in self.incidents:
            if slo_i in inc.slos:
                r = inc.record
                t1 = r["mitigated_at"] if r["mitigated_at"] is not None else end
                n[int(round(r["started_at"] / sim.tick)):int(round(t1 / sim.tick))] += 1
        return n

    def budget_consumed(self, sim, slo_i: int, t0: float, t1: float, share: np.ndarray | None = None) -> float:
        """Share of the SLO window's error budget spent between ``t0`` and ``t1`` (same accounting as
        ``budget_remaining``: the window's events at the run's rate); with ``share`` (incidents open per
        tick), a tick's bad events are split equally among the incidents open then."""
        slo = sim.scenario.slos[slo_i]
        a, b = int(round(t0 / sim.tick)), int(round(t1 / sim.tick))
        valid_run = float(sim.slo.valid[slo_i].sum())
        if valid_run <= 0 or b <= a:
            return 0.0
        per = sim.slo.valid[slo_i, a:b] - sim.slo.good[slo_i, a:b]
        if share is not None:
            per = per / np.maximum(share[a:b], 1)
        bad = float(per.sum())
        window_events = valid_run * slo.window / sim.duration
        return bad / ((1 - slo.target / 100.0) * window_events)
