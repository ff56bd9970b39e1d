"""``srelab report RUN_DIR``: a Markdown post-mortem from a run folder written by ``srelab run --out``.

Every judgement is a rule over the run's numbers, so two runs of the same
scenario give the same post-mortem:

- detection was too slow when it took longer than a page that fires at
  ``DETECTION_BUDGET`` of an SLO's window budget (the SRE Workbook's fast-page
  share) needs at the burn rate seen before detection, plus one evaluation interval;
- mitigation was slow when it took longer than ``SLOW_MITIGATION`` from the
  cause's start, or never happened in the run;
- action items: a single point of failure among the root causes, slow
  detection, retry amplification (structural, on a path through a root cause,
  or observed: the root cause's load rising during the incident without a
  traffic spike), a bad
  release without a canary, a mitigation done by hand that a runbook covers,
  a runbook that failed (worded by who failed: automation, or a human with no
  runbook), an escalation, bad releases without a canary, releases frozen or an
  escalation by the error budget policy;
- an SLO that missed its target or spent more than ``RUN_BUDGET`` of its
  window's budget in the run went badly, as did a budget level going yellow or
  red, frozen releases and the policy's rollbacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srelab.errors import InputError
from srelab.yamlio import write_atomic

__all__ = ["RunFolder", "load_run", "render", "write_report", "DETECTION_BUDGET", "SLOW_MITIGATION", "RUN_BUDGET"]

DETECTION_BUDGET = 0.02      # share of the window budget an incident may spend before it pages
SLOW_MITIGATION = 1800.0     # seconds from the cause's start to mitigation
RETRY_AMPLIFICATION = 3.0    # worst-case load multiplier along a path that calls for a retry budget
RUN_BUDGET = 0.05           # share of an SLO window's budget one run may spend before it went badly
RETRY_LOAD_RISE = 1.1        # load on a root cause during an incident against before it, without a spike


@dataclass
class RunFolder:
    path: Path
    result: dict[str, Any]
    events: list[dict[str, Any]]
    errors_by_cause: dict[str, dict[str, float]]
    scenario: Any            # scenarios.schema.Scenario
    topology: Any            # topology.Topology
    series: dict[str, Any] | None = None   # series.npz (arrivals per sample and service), when written

    def load_ratio(self, service: str, t0: float, t1: float, before: float = 600.0) -> float | None:
        """Peak one-minute mean of the arrivals at ``service`` over [t0, t1) against their mean over the
        ``before`` seconds ahead of t0."""
        if self.series is None or service not in self.series["index"]:
            return None
        arr, dt = self.series["arrivals"][:, self.series["index"][service]], self.series["interval"]
        a, b, c = int(max(0.0, t0 - before) // dt), int(t0 // dt), int(-(-t1 // dt))
        base, during = arr[a:b], arr[b:c]
        k = max(1, int(round(60.0 / dt)))
        if base.size == 0 or during.size < k or base.mean() <= 0:
            return None
        peak = np.convolve(during, np.ones(k) / k, mode="valid").max()
        return float(peak / base.mean())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read it: {exc}", source=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at line {exc.lineno}: {exc.msg}; re-run `srelab run ... --out DIR`",
                         source=path) from None


def load_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder; a clear error when it is not one."""
    from scenarios import bind, load
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError("not a folder; give the folder `srelab run SCENARIO --out DIR` wrote", source=d)
    missing = [n for n in ("result.json", "scenario.yaml") if not (d / n).is_file()]
    if missing:
        raise InputError(f"not a run folder: {' and '.join(missing)} missing; write one with "
                         "`srelab run SCENARIO --out DIR`", source=d)
    result = _read_json(d / "result.json")
    if not isinstance(result, dict) or not str(result.get("schema", "")).startswith("srelab.result/"):
        raise InputError("not a srelab result (no \"schema\": \"srelab.result/1\"); re-run "
                         "`srelab run SCENARIO --out DIR`", source=d / "result.json")
    details = _read_json(d / "events.json") if (d / "events.json").is_file() else {}
    scenario = load(d / "scenario.yaml")
    series = None
    if (d / "series.npz").is_file():
        try:
            with np.load(d / "series.npz") as z:
                series = {"index": {str(n): k for k, n in enumerate(z["services"])},
                          "arrivals": z["arrivals"], "interval": float(z["interval"])}
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot read it ({exc}); re-run `srelab run SCENARIO --out DIR`",
                             source=d / "series.npz") from None
    return RunFolder(d, result, details.get("events", []), details.get("errors_by_cause", {}), scenario,
                     bind(scenario), series)


# -- formatting -------------------------------------------------------------------

def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _pct(x: float, digits: int = 1) -> str:
    return f"{x * 100:.{digits}f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


# -- sections ----------------------------------------------------------------------

def _summary(run: RunFolder) -> list[str]:
    r = run.result
    ir = r.get("incident_response", {})
    incs = r["incidents"]
    lines = [f"`{r['scenario']}` ran {_dur(r['sim_seconds'])} of simulated time with the {r['engine']} engine "
             f"(seed {r['seed']}); verdict: **{'passed' if r['passed'] else 'failed'}**."]
    if run.scenario.description:
        lines.append(f"Scenario: {run.scenario.description}")
    lines.append("")
    if incs:
        causes = "; ".join(f"{i['id']} {i['cause']}" for i in incs)
        lines.append(f"{len(incs)} incident(s) ({causes}) from {ir.get('page_alerts', 0)} page alert(s) "
                     f"of {ir.get('alerts', len(r['alerts']))} alert(s); "
                     f"{ir.get('auto_remediated', 0)} remediated automatically, "
                     f"{ir.get('escalations', 0)} escalated.")
        lines.append(f"MTTD {_dur(ir.get('mttd'))}, MTTA {_dur(ir.get('mtta'))}, MTTR {_dur(ir.get('mttr'))} "
                     f"(time to restore: cause start to mitigation); "
                     f"toil {ir.get('toil_minutes', 0.0):.0f} human minutes.")
    else:
        lines.append(f"No incident was opened ({len(r['alerts'])} alert(s), none of them a page).")
    worst = min(r["slos"], key=lambda s: s["budget_remaining"], default=None)
    if worst is not None:
        win = _window(run, worst["name"])
        span = f"{win / 86400:g}-day" if win % 86400 == 0 else _dur(win)
        lines.append(f"Worst SLO: {worst['name']}, {_pct(1 - worst['budget_remaining'])} of its "
                     f"{span} error budget consumed in this run.")
    return lines


def _window(run: RunFolder, slo: str) -> float:
    return next(s.window for s in run.scenario.slos if s.name == slo)


def _impact(run: RunFolder) -> list[str]:
    r = run.result
    if not r["slos"]:
        return ["The scenario defines no SLO."]
    rows = [[s["name"], s["service"], _pct(s["target"], 2), _pct(s["attainment"], 3),
             _pct(1 - s["budget_remaining"]), _pct(s["budget_remaining"]), f"{s['max_burn_rate']:.1f}x"]
            for s in r["slos"]]
    lines = ["Error budget consumed per SLO (share of the SLO window's budget):", ""]
    lines += _table(["SLO", "service", "target", "attainment", "budget consumed", "budget left", "max burn (5m)"],
                    rows)
    per = [(i["id"], slo, v) for i in r["incidents"] for slo, v in i.get("budget_consumed", {}).items()]
    if per:
        lines += ["", "Consumed by each incident, from its cause's start to its mitigation:", ""]
        lines += _table(["incident", "SLO", "budget consumed"], [[a, b, _pct(c)] for a, b, c in per])
    hit = sorted(((n, v) for n, v in r["services"].items() if v["errors"] > 0.5), key=lambda kv: -kv[1]["errors"])
    if hit:
        lines += ["", "Services that failed requests: " + ", ".join(
            f"{n} ({v['errors']:,.0f} errors, {_pct(v['availability'], 2)} available)" for n, v in hit[:8])
            + (f" and {len(hit) - 8} more" if len(hit) > 8 else "") + "."]
    return lines


def _incidents(run: RunFolder) -> list[str]:
    incs = run.result["incidents"]
    if not incs:
        return ["None."]
    rows = [[i["id"], i["cause"], _clock(i["started_at"]), _clock(i["detected_at"]), _clock(i.get("acknowledged_at")),
             _clock(i["mitigated_at"]), _clock(i["resolved_at"]), _dur(i.get("time_to_detect")),
             _dur(i.get("time_to_acknowledge")), _dur(i.get("time_to_mitigate")), str(i.get("mitigated_by") or "-"),
             f"{i.get('toil_minutes', 0.0):.0f}"]
            for i in incs]
    return _table(["id", "cause", "started", "detected", "acknowledged", "mitigated", "resolved", "TTD", "TTA",
                   "TTR", "mitigated by", "toil min"], rows)


_EVENT_TEXT = {"fault-injected": "fault injected", "fault-reverted": "fault ended",
               "alert-fired": "alert fired", "alert-resolved": "alert resolved",
               "incident-escalated": "escalated", "page-sent": "paged"}


def _timeline(run: RunFolder) -> list[str]:
    rows: list[tuple[float, int, str]] = []
    for k, e in enumerate(run.events):
        ev = e["event"]
        what = e.get("fault") or e.get("target", "")
        if ev in ("fault-injected", "fault-reverted", "incident-escalated", "page-sent"):
            rows.append((e["at"], k, f"{_EVENT_TEXT.get(ev, ev.replace('-', ' '))}: {what}"))
    after = len(run.events)  # at the same time, incident lines come after the events
    for i in run.result["incidents"]:
        iid = i["id"]
        if i.get("first_errors_at") is not None:
            rows.append((i["first_errors_at"], after, f"{iid}: first errors counted against {', '.join(i['slos'])}"))
        first = run.result["alerts"][i["alerts"][0]] if i.get("alerts") else None
        page = f" ({first['slo']} {first['rule']})" if first else ""
        if i.get("page_alerts", 1) == 0:
            rows.append((i["detected_at"], after, f"{iid}: new cause found behind a page already firing{page}; "
                                                  f"incident opened, cause {i['cause']}"))
        else:
            rows.append((i["detected_at"], after, f"{iid}: paged{page}; incident opened, cause {i['cause']}"))
        if i.get("acknowledged_at") is not None:
            rows.append((i["acknowledged_at"], after, f"{iid}: acknowledged by the {i.get('responder')}"))
        for a in i.get("actions", []):
            rows.append((a["at"], after, f"{iid}: {a['action']} of {a['target']} by {a['by']}: {a['outcome']}"))
        if i["mitigated_at"] is not None:
            rows.append((i["mitigated_at"], after, f"{iid}: mitigated ({i.get('mitigated_by')})"))
        if i["resolved_at"] is not None:
            rows.append((i["resolved_at"], after, f"{iid}: resolved (every page cleared)"))
    frozen_at = {e.get("target"): e["at"] for e in run.events if e["event"] == "release-frozen"}
    for rel in _releases(run):
        what = f"release #{rel['id']} of {rel['service']}"
        if rel["outcome"] == "frozen":  # when the freeze skipped it (a deferred release is frozen later)
            at = frozen_at.get(f"{rel['service']} #{rel['id']}", rel["at"])
            rows.append((at, after - 1, f"{what} frozen (skipped by the budget policy)"))
            continue
        if rel.get("started_at") is None:
            continue
        canary = "with a canary" if rel.get("canary") else "without a canary"
        rows.append((rel["started_at"], after - 1, f"{what} started {canary}" + (" (bad)" if rel["bad"] else "")))
        if rel["outcome"] == "rolled-back" and rel.get("ended_at") is not None:
            rows.append((rel["ended_at"], after - 1, f"{what} rolled back by {rel.get('rolled_back_by')}"))
    for a in run.result.get("policy_actions", []):
        if a.get("policy") == "budget":
            rows.append((a["at"], after - 1, f"budget policy: {a['action']} {a['target']} ({a['reason']})"))
    note = [] if (run.path / "events.json").is_file() else [
        "", "_No events.json (a run with --replications writes none): faults and remediations are missing "
        "from this timeline._"]
    if not rows:
        return ["Nothing happened: no fault, no incident.", *note]
    rows.sort(key=lambda x: (x[0], x[1]))
    seen: set[tuple[float, str]] = set()
    out = []
    for at, _, text in rows:
        if (at, text) not in seen:
            seen.add((at, text))
            out.append([_clock(at), text])
    return _table(["at", "what"], out) + note


def _releases(run: RunFolder) -> list[dict[str, Any]]:
    return list((run.result.get("deployments") or {}).get("releases") or [])


def _releases_of(run: RunFolder, inc: dict[str, Any]) -> list[dict[str, Any]]:
    """The bad releases behind an incident: those of its ``bad-deploy`` services that went live from its
    start (a release's start is the incident's) to its detection and were still live at its detection."""
    svcs = {c.strip().split(":", 1)[1] for c in inc["cause"].split(",") if c.strip().startswith("bad-deploy:")}
    t0, t1 = inc["started_at"] - 1.0, inc["detected_at"]
    return [r for r in _releases(run) if r["bad"] and r["service"] in svcs and r.get("started_at") is not None
            and t0 <= r["started_at"] <= t1
            and not (r["outcome"] == "rolled-back" and (r.get("ended_at") or 0.0) <= t1)]


def _faults_of(run: RunFolder, inc: dict[str, Any]) -> list[Any]:
    labels = {c.strip() for c in inc["cause"].split(",")}
    return [f for f in run.scenario.faults if f.label in labels]


_KIND_TEXT = {
    "kill-instances": "replicas of {s} were killed", "zone-outage": "zone {z} went down",
    "region-outage": "every zone went down", "latency": "{s} answered slowly",
    "error-rate": "{s} answered with errors", "dependency-blackhole": "calls from {src} to {dst} hung",
    "network-partition": "zones {zs} could not talk to each other", "cpu-throttle": "{s} ran slower (CPU throttled)",
    "bad-deploy": "a bad release of {s} raised errors or latency", "traffic-spike": "traffic spiked",
}


def _root_cause(run: RunFolder) -> list[str]:
    incs = run.result["incidents"]
    if not incs:
        return ["No incident, no root cause to explain."]
    lines = []
    for i in incs:
        faults = _faults_of(run, i)
        parts = [_KIND_TEXT[f.kind].format(s=f.service, z=f.zone, src=f.source, dst=f.target,
                                           zs=", ".join(f.zones or [])) for f in faults]
        for rel in _releases_of(run, i):
            end = (f"rolled back by {rel.get('rolled_back_by')} at {_clock(rel.get('ended_at'))}"
                   if rel["outcome"] == "rolled-back" else "still live at the end of the run")
            parts.append(f"bad release #{rel['id']} of {rel['service']} went live at {_clock(rel['started_at'])} "
                         f"{'after' if rel.get('canary') else 'without'} a canary, {end}")
        text = "; ".join(parts)
        roots = ", ".join(i.get("root_services", []))
        lines.append(f"- **{i['id']}** ({i['cause']}): {text or 'no injected fault explains it'}. "
                     f"Correlation localised the root cause to {roots or 'nothing'} (the deepest failing "
                     f"services below {', '.join(i['slos'])} in the dependency graph); "
                     + ("it started while the SLOs' page was already firing, so it opened without a page of "
                        "its own." if i.get("page_alerts", 1) == 0 else
                        f"{i.get('page_alerts', 1)} page alert(s) were grouped into this incident."))
    return lines


def _blast(run: RunFolder) -> list[str]:
    from topology.analysis import blast_radius
    topo = run.topology
    lines: list[str] = []
    done: set[str] = set()
    for i in run.result["incidents"]:
        targets = []
        for f in _faults_of(run, i):
            if f.kind == "zone-outage":
                targets.append(("zone", f.zone))
            elif f.service and f.kind in ("kill-instances", "bad-deploy", "error-rate", "cpu-throttle", "latency"):
                targets.append(("service", f.service))
        if not targets:
            targets = [("service", s) for s in i.get("root_services", []) if s in topo.graph]
        for kind, name in targets:
            if f"{kind}:{name}" in done:
                continue
            done.add(f"{kind}:{name}")
            br = blast_radius(topo, **{kind: name})
            failed = [e for e, s in br.entrypoints.items() if s == "failed"]
            degraded = [e for e, s in br.entrypoints.items() if s in ("degraded", "at-risk")]
            lines.append(f"- Losing {br.cause} entirely fails {len(br.failed)} service(s) "
                         f"({', '.join(br.failed[:8]) or 'none'}), degrades {len(br.degraded)}, "
                         f"takes capacity from {len(br.reduced_capacity)}; entry points failed: "
                         f"{', '.join(failed) or 'none'}, degraded or at risk: {', '.join(degraded) or 'none'}.")
            for e, path in br.paths.items():
                lines.append(f"  - {e}: {' -> '.join(path)}")
    return lines or ["No incident, so no blast radius to trace."]


def _judgements(run: RunFolder) -> tuple[list[str], list[str], list[str]]:
    """What went well, what went badly, and the action items, each by rule."""
    from topology.analysis import retry_amplification, single_points_of_failure
    r, topo = run.result, run.topology
    well: list[str] = []
    bad: list[str] = []
    items: list[str] = []
    spof = single_points_of_failure(topo)
    critical = {c["service"]: c for c in spof["critical"]}
    confined = {c["service"]: c["zone"] for c in spof["zone_confined"]}
    amps = retry_amplification(topo)
    deployments = getattr(run.scenario, "deployments", None)  # a canary, where the schema has them
    canary = bool(getattr(deployments, "canary", None) or (isinstance(deployments, dict) and deployments.get("canary")))
    auto = run.scenario.policies.incident_response.automation
    interval = run.scenario.policies.alerting.evaluation_interval
    seen: set[str] = set()

    def item(text: str) -> None:
        if text not in seen:
            seen.add(text)
            items.append(text)

    for i in r["incidents"]:
        iid = i["id"]
        ttd = i.get("time_to_detect") or 0.0
        for slo, spent in i.get("budget_to_detect", {}).items():
            # the fast page's budget share at the burn rate seen before detection, plus one evaluation
            burn = spent * _window(run, slo) / ttd if ttd > 0 else 0.0
            allowed = DETECTION_BUDGET * _window(run, slo) / burn + interval if burn > 0 else float("inf")
            if ttd > allowed:
                bad.append(f"{iid}: detection took {_dur(ttd)} and {_pct(spent, 2)} of {slo}'s budget; at the "
                           f"{burn:.0f}x burn seen, a fast page ({_pct(DETECTION_BUDGET, 0)} of the budget) "
                           f"needs {_dur(allowed)}.")
                item(f"Page sooner on {slo}: add a burn-rate rule with a shorter window (it spent "
                     f"{_pct(spent, 2)} of the budget before paging).")
            else:
                well.append(f"{iid}: detected {_dur(ttd)} after the cause started, no slower than a fast page at the {burn:.0f}x "
                            f"burn seen ({_pct(spent, 2)} of {slo}'s budget spent).")
        ttm = i.get("time_to_mitigate")
        if i["mitigated_at"] is None:
            bad.append(f"{iid}: never mitigated within the run.")
        elif i.get("auto_remediated"):
            well.append(f"{iid}: automation mitigated it {_dur(ttm)} after it started, with no human toil.")
        elif ttm is not None and ttm > SLOW_MITIGATION:
            bad.append(f"{iid}: mitigation took {_dur(ttm)} from the cause's start "
                       f"(by {i.get('mitigated_by')}), more than {_dur(SLOW_MITIGATION)}.")
        else:
            well.append(f"{iid}: mitigated {_dur(ttm)} after it started (by {i.get('mitigated_by')}).")
        if i.get("escalated"):
            bad.append(f"{iid}: the primary did not acknowledge in time; the secondary was paged.")
            item("Review the primary on-call's paging setup and load: an incident was escalated.")
        for a in i.get("actions", []):
            if a["outcome"] == "failed":
                bad.append(f"{iid}: the {a['action']} of {a['target']} by {a['by']} failed at {_clock(a['at'])}.")
                if a["by"] == "automation":
                    item(f"Make the {a['action']} runbook more reliable (the automated {a['action']} failed "
                         f"during {iid}).")
                elif auto is not None and a["action"] in auto.runbooks:
                    item(f"Make the {a['action']} runbook more reliable (the {a['by']} on-call's {a['action']} "
                         f"failed during {iid}).")
                else:
                    item(f"Write and rehearse a {a['action']} procedure, or automate it: the {a['by']} on-call's "
                         f"{a['action']} by hand failed during {iid} (no runbook covers it).")
        manual = [a for a in i.get("actions", []) if a["by"] != "automation" and a["outcome"] == "applied"
                  and a["action"] != "fix"]
        for a in manual:
            if auto is None or a["action"] not in auto.runbooks:
                item(f"Automate the {a['action']} runbook: {iid} waited {_dur(a['at'] - i['detected_at'])} "
                     f"for a human to run it.")
        for s in i.get("root_services", []):
            if s in confined:
                item(f"Run {s} in more than one zone: it lives only in {confined[s]} and was a root cause of {iid}.")
            elif s in critical and critical[s]["replicas"] <= 1:
                item(f"Add replicas to {s}: a single replica that fails entry points when lost ({iid}).")
            elif s in critical:
                item(f"Give the callers of {s} a fallback or make the dependency soft: losing it fails "
                     f"{critical[s]['entrypoints_failed']} entry point(s) ({iid}).")
            ratio = run.load_ratio(s, i["started_at"], i["mitigated_at"] if i["mitigated_at"] is not None
                                   else r["sim_seconds"])
            spike = any(f.kind == "traffic-spike" for f in _faults_of(run, i))
            if ratio is not None and ratio >= RETRY_LOAD_RISE and not spike:
                item(f"Add a retry budget (fewer retries, longer backoff) on the calls into {s}: its load peaked "
                     f"at {ratio:.2f}x its level before {iid} with no traffic spike behind it.")
            for e, amp in amps.items():
                if s in amp["path"] and amp["multiplier"] >= RETRY_AMPLIFICATION:
                    item(f"Add a retry budget on {' -> '.join(amp['path'])}: retries can multiply the load on "
                         f"{s} by {amp['multiplier']:g}x ({iid}).")
        for f in _faults_of(run, i):
            if f.kind == "bad-deploy" and not canary:
                item(f"Release {f.service} through a canary with automated analysis: the bad release "
                     f"reached all traffic ({iid}).")
        for rel in _releases_of(run, i):
            if not rel.get("canary"):
                item(f"Release {rel['service']} through a canary with automated analysis: bad release "
                     f"#{rel['id']} reached all traffic ({iid}).")
        if i.get("toil_minutes", 0.0) > 60:
            bad.append(f"{iid}: {i['toil_minutes']:.0f} minutes of human toil.")
    # releases and the error budget policy
    rels = _releases(run)
    escaped = [x for x in rels if x["bad"] and x.get("reached_production") and not x.get("canary")]
    if escaped:
        ids = ", ".join(f"#{x['id']} ({x['service']})" for x in escaped)
        bad.append(f"{len(escaped)} bad release(s) reached users without a canary: {ids}.")
        item(f"Add canary analysis to the release train (`deployments.canary`): {len(escaped)} bad release(s) "
             f"reached all traffic without one ({ids}).")
    caught = [x for x in rels if x["bad"] and x.get("rolled_back_by") == "canary"]
    if caught:
        well.append(f"Canaries caught {len(caught)} bad release(s) before they reached all traffic: "
                    + ", ".join(f"#{x['id']} ({x['service']})" for x in caught) + ".")
    budget = [a for a in r.get("policy_actions", []) if a.get("policy") == "budget"]
    for a in budget:
        if a["action"] in ("yellow", "red"):
            bad.append(f"{a['target']}'s error budget went {a['action']} at {_clock(a['at'])}: {a['reason']}.")
    frozen = [x for x in rels if x["outcome"] == "frozen"]
    if frozen:
        bad.append(f"{len(frozen)} release(s) were frozen (skipped) by the error budget policy.")
        item(f"Find and fix what spent the budget before releasing again: the policy froze {len(frozen)} "
             f"release(s).")
    policy_rb = [x for x in rels if x.get("rolled_back_by") == "budget-policy"]
    if policy_rb:
        bad.append(f"The error budget policy rolled back {len(policy_rb)} release(s): "
                   + ", ".join(f"#{x['id']} ({x['service']}{', bad' if x['bad'] else ', good'})" for x in policy_rb)
                   + ".")
    if any(a["action"] == "escalate" for a in budget):
        item("Review the budget escalation with the service owners: an SLO went red.")
    for s in r["slos"]:
        spent = 1 - s["budget_remaining"]
        missed = s["attainment"] < s["target"]
        if s["budget_remaining"] < 0:
            bad.append(f"{s['name']} overspent its whole error budget ({_pct(spent)} consumed).")
        elif missed or spent > RUN_BUDGET:
            bad.append(f"{s['name']} " + (f"missed its target ({_pct(s['attainment'], 3)} against "
                                          f"{_pct(s['target'], 2)}) and " if missed else "")
                       + f"spent {_pct(spent)} of its window's error budget in this run (more than "
                         f"{_pct(RUN_BUDGET, 0)}).")
        elif s["budget_remaining"] >= 0.5:
            well.append(f"{s['name']} kept {_pct(s['budget_remaining'])} of its error budget.")
        unpaged = not any(s["name"] in i.get("slos", []) for i in r["incidents"])
        if unpaged and s["budget_remaining"] < 0.9:
            bad.append(f"{s['name']} spent {_pct(1 - s['budget_remaining'])} of its budget without a page.")
            item(f"Review the paging rules of {s['name']}: budget burnt without a page.")
    return well or ["Nothing stood out."], bad or ["Nothing stood out."], items or ["None: nothing to follow up."]


def render(run: RunFolder) -> str:
    r = run.result
    well, bad, items = _judgements(run)
    lines = [f"# Post-mortem: {r['scenario']}", "",
             f"_Simulated run ({r['engine']} engine, seed {r['seed']}), written by `srelab report` from "
             f"`{run.path}`. Times are from the start of the run (h:mm:ss)._", ""]
    for title, body in (("Summary", _summary(run)), ("Impact", _impact(run)), ("Incidents", _incidents(run)),
                        ("Timeline", _timeline(run)), ("Root cause", _root_cause(run)),
                        ("Blast radius", _blast(run)),
                        ("What went well", [f"- {x}" for x in well]),
                        ("What went badly", [f"- {x}" for x in bad]),
                        ("Action items", [f"{k}. {x}" for k, x in enumerate(items, 1)])):
        lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines)


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Render the post-mortem of ``run_dir`` and write it atomically (default: RUN_DIR/postmortem.md)."""
    run = load_run(run_dir)
    path = Path(output) if output is not None else run.path / "postmortem.md"
    if path.is_dir():
        raise InputError("is a folder; give a file name such as postmortem.md", source=path, field="--output")
    write_atomic(path, render(run))
    return path
