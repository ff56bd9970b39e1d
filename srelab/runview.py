"""Human-readable views of a run result for the terminal (tables only at the edge)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from srelab.console import out

__all__ = ["print_summary"]


def _pct(x: float, digits: int = 3) -> str:
    return f"{x * 100:.{digits}f}%"


def print_summary(r: dict[str, Any], details: dict[str, Any] | None = None, worst: int = 5) -> None:
    details = details or {}
    reps = f", {r['replications']} replications" if r.get("replications", 1) > 1 else ""
    out.print(f"[bold]{r['scenario']}[/]: {r['sim_seconds'] / 3600:.2f} h simulated with the {r['engine']} engine "
              f"in {r['wall_seconds']:.2f} s wall (seed {r['seed']}{reps})")
    if r["slos"]:
        t = Table(title="SLOs")
        for col in ("SLO", "service", "kind", "target", "attainment", "budget left", "max burn (5m)",
                    "burn (1h)", "exhausted in"):
            t.add_column(col, justify="left" if col in ("SLO", "service", "kind") else "right")
        for s in r["slos"]:
            ok = s["attainment"] >= s["target"]
            style = "green" if ok else "red"
            t.add_row(s["name"], s["service"], s["kind"], _pct(s["target"], 2),
                      f"[{style}]{_pct(s['attainment'])}[/]", _pct(s["budget_remaining"], 1),
                      f"{s['max_burn_rate']:.1f}x", f"{s.get('burn_rate', 0.0):.1f}x",
                      _exhaustion(s.get("time_to_exhaustion")))
        out.print(t)
    svcs = sorted(r["services"].items(), key=lambda kv: (-kv[1]["errors"], kv[0]))[:worst]
    svcs = [kv for kv in svcs if kv[1]["errors"] > 0.5]
    if svcs:
        t = Table(title=f"Worst services by errors (of {len(r['services'])})")
        for col in ("service", "requests", "errors", "availability", "main cause", "p99 ms", "util max"):
            t.add_column(col, justify="left" if col in ("service", "main cause") else "right")
        for name, v in svcs:
            causes = details.get("errors_by_cause", {}).get(name, {})
            cause = max(causes, key=causes.get) if causes else ""
            t.add_row(name, f"{v['requests']:,.0f}", f"{v['errors']:,.0f}", _pct(v["availability"]), cause,
                      f"{v['latency_ms']['p99']:.1f}", f"{v['utilization']['max']:.0%}")
        out.print(t)
    if r.get("deployments"):
        _print_deployments(r["deployments"])
    if r["policy_actions"]:
        t = Table(title="Policy actions")
        for col in ("at", "policy", "action", "target", "reason"):
            t.add_column(col, justify="right" if col == "at" else "left")
        for a in r["policy_actions"][:30]:
            t.add_row(_clock(a["at"]), a["policy"], a["action"], a["target"], a["reason"])
        out.print(t)
        if len(r["policy_actions"]) > 30:
            out.print(f"... {len(r['policy_actions']) - 30} more policy actions in the result JSON")
    events = _timeline(details.get("events", []))
    if events:
        t = Table(title="What happened when")
        t.add_column("at", justify="right")
        t.add_column("event")
        t.add_column("target")
        for at, what, target in events[:30]:
            t.add_row(_clock(at), what, target)
        out.print(t)
        if len(events) > 30:
            out.print(f"... {len(events) - 30} more lines; every event is in events.json with --out")
    _print_incidents(r)
    if r["assertions"]:
        for a in r["assertions"]:
            mark = "[green]PASS[/]" if a["passed"] else "[red]FAIL[/]"
            out.print(f"{mark} {a['name']}: {a['detail']}")
    verdict = "[bold green]PASSED[/]" if r["passed"] else "[bold red]FAILED[/]"
    out.print(f"verdict: {verdict}")


def _exhaustion(seconds: float | None) -> str:
    """Time to exhaustion at the current burn rate, in the largest unit that reads well."""
    if seconds is None:
        return "never"
    if seconds > 365 * 86400.0:  # a trickle of errors: the budget outlives any planning horizon
        return "> 1 year"
    for unit, scale in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= scale:
            return f"{seconds / scale:.1f}{unit}"
    return f"{seconds:.0f}s"
def _print_deployments(d: dict[str, Any]) -> None:
    """The release train's measures (the result's ``deployments``)."""
    def rate(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"
    c = d["canary"]
    t = Table(title="Deployments")
    for col in ("releases", "bad", "successful", "rolled back", "frozen", "success rate", "change failure rate",
                "canary caught", "canary escaped", "false alarms"):
        t.add_column(col, justify="right")
    by = ", ".join(f"{n} {k}" for k, n in d["rolled_back_by"].items() if n)
    t.add_row(f"{d['started']:.0f} of {d['scheduled']:.0f}", f"{d['bad']:.0f}", f"{d['successful']:.0f}",
              f"{d['rolled_back']:.0f}" + (f" ({by})" if by else ""), f"{d['frozen']:.0f}", rate(d["success_rate"]),
              rate(d["change_failure_rate"]), f"{c['caught']:.0f}", f"{c['escaped']:.0f}", f"{c['false_alarms']:.0f}")
    out.print(t)


def _timeline(events: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    """Faults as they happened; breaker transitions folded into one line per episode and
    dependency set (a breaker that flaps open/half-open is one line, not fifty)."""
    rows: list[tuple[float, str, str]] = []
    episodes: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["event"].startswith("breaker-"):
            target = e.get("target", "")
            ep = episodes.get(target)
            if e["event"] == "breaker-open" and ep is None:
                episodes[target] = {"start": e["at"], "opens": 1, "end": None}
            elif ep is not None and e["event"] == "breaker-open":
                ep["opens"] += 1
            elif ep is not None and e["event"] == "breaker-closed":
                ep["end"] = e["at"]
                rows.append(_episode(target, ep))
                del episodes[target]
        elif not e["event"].startswith("release-wave"):  # rollout waves: "release-started ... (bad)" says it
            rows.append((e["at"], e["event"], e.get("fault") or e.get("target", "")))
    rows.extend(_episode(t, ep) for t, ep in episodes.items())
    # one line per identical episode over several dependencies
    merged: dict[tuple[float, str], list[str]] = {}
    for at, what, target in rows:
        merged.setdefault((at, what), []).append(target)
    out = []
    for (at, what), targets in sorted(merged.items(), key=lambda kv: kv[0][0]):
        shown = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
        out.append((at, what, shown))
    return out


def _episode(target: str, ep: dict[str, Any]) -> tuple[float, str, str]:
    flaps = f", opened {ep['opens']}x" if ep["opens"] > 1 else ""
    until = f"closed at {_clock(ep['end'])}" if ep["end"] is not None else "still open at the end"
    return ep["start"], f"circuit breaker open ({until}{flaps})", target


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _print_incidents(r: dict[str, Any]) -> None:
    """Incidents with their response times, and the run's MTTD / MTTA / MTTR and toil."""
    incs = r.get("incidents") or []
    ir = r.get("incident_response")
    if not incs or not ir:
        return
    t = Table(title=f"Incidents: {ir['pages']} page(s) from {ir['page_alerts']} page alert(s)")
    for col in ("id", "cause", "started", "detected", "acknowledged", "mitigated", "by", "toil min"):
        t.add_column(col, justify="right" if col == "toil min" else "left")
    for i in incs:
        t.add_row(i["id"], i["cause"], _clock(i["started_at"]), _clock(i["detected_at"]),
                  _clock(i["acknowledged_at"]) if i.get("acknowledged_at") is not None else "-",
                  _clock(i["mitigated_at"]) if i["mitigated_at"] is not None else "-",
                  str(i.get("mitigated_by") or "-"), f"{i.get('toil_minutes', 0.0):.0f}")
    out.print(t)

    def mins(x: float | None) -> str:
        return "-" if x is None else f"{x / 60:.1f} min"
    out.print(f"MTTD {mins(ir['mttd'])}, MTTA {mins(ir['mtta'])}, MTTR {mins(ir['mttr'])}; "
              f"{ir['auto_remediated']} auto-remediated, {ir['escalations']} escalated, "
              f"toil {ir['toil_minutes']:.0f} human minutes")
