"""Responders: automated remediation runbooks and the on-call human model.

An incident's diagnosed cause picks the mitigation:

| cause                                              | action    | effect on the simulated state                      |
| -------------------------------------------------- | --------- | -------------------------------------------------- |
| kill-instances                                     | restart   | ends the fault: the killed replicas serve again    |
| bad-deploy                                         | rollback  | reverts the service's bad releases                 |
| zone-outage, network-partition                     | failover  | drains the failed zone(s): their replicas start in the healthy zones |
| cpu-throttle, traffic-spike, overload (no fault)   | scale-out | replicas x factor on the throttled service, or on every overloaded service below the SLOs |
| latency, error-rate, dependency-blackhole, region-outage | fix | ends the fault (by hand only: no runbook)       |

Automation runs the matched runbook as soon as the page fires (``duration``,
then success with ``success_probability``; new replicas serve after
``startup``) and verifies that the incident's SLOs are back to normal over
``verify`` (burn rate below 1, or below 1.2x its level before the cause).
Otherwise the page goes to the on-call human:
acknowledge (escalated to the secondary after ``escalation_timeout``),
diagnose, mitigate with the same action, verify; when that does not stop the
errors, the human fixes the cause itself (ends its faults). Step times are
lognormal with the configured medians; every draw comes from the run's
``responders`` random stream. Toil is the human's time from acknowledgement
until the mitigation is verified (or the run ends). A verification also passes
when the incident's own faults are gone and another open incident's cause keeps
its SLOs burning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scenarios.schema import DEFAULT_RUNBOOKS, Fault, IncidentResponse, ResponseTime, Runbook

if TYPE_CHECKING:
    from sim.incidents import Incident, IncidentManager

__all__ = ["Responders", "Step", "ACTION_FOR", "affected_services", "plan_for"]

ACTION_FOR = {
    "kill-instances": "restart", "bad-deploy": "rollback",
    "zone-outage": "failover", "network-partition": "failover",
    "cpu-throttle": "scale-out", "traffic-spike": "scale-out",
    "latency": "fix", "error-rate": "fix", "dependency-blackhole": "fix", "region-outage": "fix",
}
_FIX = Runbook(duration=0.0, success_probability=1.0)
SETTLE = 30.0  # seconds after an action that verification does not judge


@dataclass
class Step:
    """One mitigation: an action on some faults (restart, rollback, failover, fix) or services (scale-out)."""

    action: str
    faults: list[Fault] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # scale-out: besides the services overloaded then

    def target(self, services: list[str] | None = None) -> str:
        return ", ".join([f.label for f in self.faults] + (self.services if services is None else services))


def affected_services(sim, f: Fault) -> set[str]:
    """Services a fault acts on: its service, a blackhole's two ends, a zone's replicas, the
    entry points of a traffic spike."""
    c = sim.compiled
    if f.kind in ("zone-outage", "region-outage", "network-partition"):
        zones = [f.zone] if f.zone else (f.zones or list(c.zones))
        cols = [c.zones.index(z) for z in zones]
        return {c.names[i] for i in np.flatnonzero(sim.state.replicas[:, cols].sum(1) > 0)}
    if f.kind == "dependency-blackhole":
        return {f.source, f.target}  # type: ignore[arg-type]
    if f.kind == "traffic-spike":
        return set(f.entrypoints or [c.names[i] for i in np.flatnonzero(c.entry)])
    return {f.service} if f.service else set()


def plan_for(sim, inc: "Incident", faults: list[Fault]) -> list[Step]:
    """The mitigation steps for diagnosed faults (or, with none, an overload), one per action."""
    steps: dict[str, Step] = {}
    for f in faults:
        action = ACTION_FOR[f.kind]
        step = steps.setdefault(action, Step(action))
        if f.kind == "cpu-throttle":
            step.services = sorted(set(step.services) | affected_services(sim, f))
        step.faults.append(f)
    if not faults and inc.record["cause"].startswith("overload:"):
        steps["scale-out"] = Step("scale-out")
    return list(steps.values())


class Responders:
    """Runs automation and the on-call human for each incident (SimPy processes)."""

    def __init__(self, config: IncidentResponse, rng: np.random.Generator, manager: "IncidentManager") -> None:
        self.config = config
        self.rng = rng
        self.manager = manager
        self._engaged: dict[int, tuple["Incident", float]] = {}  # humans at work: incident, acknowledged at

    def engage(self, sim, inc: "Incident", plan: list[Step]) -> None:
        if self.config.automation is not None or self.config.on_call is not None:
            sim.env.process(self._respond(sim, inc, plan))

    def finish(self, end: float) -> None:
        """Humans still at work when the run ends: their toil runs to the end."""
        for inc, ack in self._engaged.values():
            inc.record["toil_minutes"] = (end - ack) / 60.0
        self._engaged.clear()

    # -- processes ----------------------------------------------------------------
    def _respond(self, sim, inc: "Incident", plan: list[Step]):
        auto = self.config.automation
        steps = [s for s in plan if auto is not None and s.action in auto.runbooks]
        if auto is not None and steps:
            inc.record["responder"] = "automation"
            ok = True
            for step in steps:
                rb = auto.runbooks[step.action]
                yield sim.env.timeout(rb.duration)
                if inc.mitigated:
                    return
                inc.busy = True
                ok = (yield from self._apply(sim, inc, step, rb, "automation")) and ok
            at = float(sim.env.now)
            if ok:  # a runbook that reports failure pages the human at once
                ok = yield from self._verify(sim, inc, auto.verify)
            inc.busy = False
            if ok:
                self.manager.mitigate(sim, inc, at, "automation")
                return
            if inc.mitigated:
                return
        if self.config.on_call is not None:
            yield from self._human(sim, inc, plan)

    def _human(self, sim, inc: "Incident", plan: list[Step]):
        oc = self.config.on_call
        assert oc is not None
        who = "primary"
        inc.record["responder"] = who
        sim.log("page-sent", target=f"{inc.record['id']} to the primary on-call")
        ack = self._draw(oc.acknowledge)
        if ack > oc.escalation_timeout:
            yield sim.env.timeout(oc.escalation_timeout)
            who = "secondary"
            inc.record.update(responder=who, escalated=True)
            sim.log("incident-escalated", target=f"{inc.record['id']} to the secondary on-call")
            ack = self._draw(oc.acknowledge)
        yield sim.env.timeout(ack)
        acked = float(sim.env.now)
        inc.record["acknowledged_at"] = acked
        sim.log("incident-acknowledged", target=f"{inc.record['id']} by the {who}")
        if inc.mitigated:
            return
        key = id(inc)
        self._engaged[key] = (inc, acked)
        yield sim.env.timeout(self._draw(oc.diagnose))
        steps = self._with_fix(plan, inc.faults)
        while True:
            for step in steps:
                if inc.mitigated:
                    break
                yield sim.env.timeout(self._draw(oc.mitigate))
                if inc.mitigated:
                    break
                inc.busy = True
                ok = yield from self._apply(sim, inc, step, self._runbook(step.action), who)
                at = float(sim.env.now)
                if ok:
                    ok = yield from self._verify(sim, inc, oc.verify)
                inc.busy = False
                if ok:
                    self.manager.mitigate(sim, inc, at, who)
            if inc.mitigated:
                break
            # the errors go on: look again for causes not yet handled
            known = {id(f) for o in self.manager.incidents for f in o.faults}  # another incident's are its own
            for s in inc.services:
                inc.roots |= self.manager.localise(sim, s)
            new = [f for f in self.manager.diagnose(sim, inc.services, inc.roots) if id(f) not in known]
            if not new:
                break
            yield sim.env.timeout(self._draw(oc.diagnose))
            inc.faults.extend(new)
            inc.record.update(cause=self.manager.cause(sim, inc), root_services=sorted(inc.roots))
            sim.log("incident-rediagnosed", target=f"{inc.record['id']} {inc.record['cause']}")
            steps = self._with_fix(plan_for(sim, inc, new), new)
        while not inc.mitigated:  # nothing left to try: stay on it until the errors stop
            yield sim.env.timeout(60.0)
        inc.record["toil_minutes"] = (max(float(sim.env.now), acked) - acked) / 60.0
        self._engaged.pop(key, None)

    @staticmethod
    def _with_fix(plan: list[Step], faults: list[Fault]) -> list[Step]:
        """The plan, then fixing the faults by hand in case its runbooks do not stop the errors."""
        if faults and any(s.action != "fix" for s in plan):
            return [*plan, Step("fix", faults=list(faults))]
        return list(plan)

    def _runbook(self, action: str) -> Runbook:
        if action == "fix":
            return _FIX
        auto = self.config.automation
        return (auto.runbooks.get(action) if auto is not None else None) or DEFAULT_RUNBOOKS[action]

    def _draw(self, rt: ResponseTime) -> float:
        if rt.median <= 0:
            return 0.0
        return float(self.rng.lognormal(np.log(rt.median), rt.sigma))

    def _verify(self, sim, inc: "Incident", seconds: float):
        """Wait ``seconds``, then: is every SLO of the incident back to its usual burn rate over them?
        The first ``SETTLE`` (at most a quarter of them) is not judged: requests in flight at the
        action still time out there."""
        yield sim.env.timeout(seconds)
        sim.sync()
        # back to normal; or the incident's own cause is gone and what still burns is another open
        # incident's cause (a new fault behind the same SLOs is that incident's to mitigate)
        return self.manager.quiet(sim, inc, seconds - min(SETTLE, seconds / 4)) or self.manager.cause_gone(sim, inc)

    def _apply(self, sim, inc: "Incident", step: Step, rb: Runbook, by: str):
        """Run one action: it works with the runbook's probability; new replicas serve after ``startup``."""
        ok = step.action == "fix" or bool(self.rng.random() < rb.success_probability)
        grow = step.services
        if step.action == "scale-out":  # what is overloaded now: the bottleneck moves as capacity grows
            grow = sorted(set(step.services) | (set() if any(f.kind == "cpu-throttle" for f in step.faults)
                                               else self.manager.overloaded(sim, inc)))
        target = step.target(grow)
        if ok and step.action in ("failover", "scale-out") and rb.startup > 0:
            yield sim.env.timeout(rb.startup)
        if ok:
            if step.action in ("restart", "rollback", "fix"):
                for f in step.faults:
                    f = self.manager.current(sim, f) or f  # a release's live wave, not a superseded one
                    if step.action != "rollback" or f.kind == "bad-deploy":
                        inc.own_reverts.add(id(f))
                        sim.revert(f, event=f"remediation-{step.action}")
            elif step.action == "failover":
                self._failover(sim, step)
            else:
                self._scale_out(sim, grow, rb.factor)
        outcome = "applied" if ok else "failed"
        at = float(sim.env.now)
        entry: dict[str, Any] = {"at": at, "action": step.action, "target": target, "by": by,
                                 "outcome": outcome}
        inc.record["actions"].append(entry)
        sim.policy_actions.append({"at": at, "policy": "remediation" if by == "automation" else "on-call",
                                   "action": step.action, "target": target,
                                   "reason": f"{inc.record['id']} ({inc.record['cause']}): {outcome}"})
        if not ok or step.action in ("failover", "scale-out"):
            sim.log(f"remediation-{step.action}", target=f"{target} ({outcome}, {by})")
        return ok

    @staticmethod
    def _failover(sim, step: Step) -> None:
        """Drain the failed zones: their replicas start in the healthy zones, spread evenly."""
        c = sim.compiled
        drain: set[int] = set()
        for f in step.faults:
            if f.kind == "zone-outage":
                drain.add(c.zones.index(f.zone))
            else:  # a partition: keep the side with the most replicas
                idx = [c.zones.index(z) for z in f.zones or []]
                keep = max(idx, key=lambda z: int(sim.state.replicas[:, z].sum()))
                drain |= set(idx) - {keep}
        healthy = [z for z in range(len(c.zones)) if z not in drain and sim.state.zone_up[z]]
        if not drain or not healthy:
            return
        cols = sorted(drain)

        def mutate() -> None:
            r = sim.state.replicas
            moved = r[:, cols].sum(1)
            r[:, cols] = 0
            base, extra = np.divmod(moved, len(healthy))
            r[:, healthy] += base[:, None] + (np.arange(len(healthy))[None, :] < extra[:, None])

        sim.change(mutate)

    @staticmethod
    def _scale_out(sim, services: list[str], factor: float) -> None:
        idx = [sim.compiled.index[s] for s in services]

        def mutate() -> None:
            r = sim.state.replicas
            r[idx] = np.ceil(r[idx] * factor).astype(r.dtype)

        sim.change(mutate)
