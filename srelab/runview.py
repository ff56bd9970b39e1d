"""Human-readable views of a run result for the terminal (tables only at the edge)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from srelab.console import out

__all__ = ["print_summary"]


def _pct(x: float, digits: int = 3) -> str:
    return f"{x * 100:.{digits}f}%"


def print_summary(r: dict[str, Any], worst: int = 5) -> None:
    reps = f", {r['replications']} replications" if r.get("replications", 1) > 1 else ""
    out.print(f"[bold]{r['scenario']}[/]: {r['sim_seconds'] / 3600:.2f} h simulated with the {r['engine']} engine "
              f"in {r['wall_seconds']:.2f} s wall (seed {r['seed']}{reps})")
    if r["slos"]:
        t = Table(title="SLOs")
        for col in ("SLO", "service", "kind", "target", "attainment", "budget left", "max burn (5m)"):
            t.add_column(col, justify="left" if col in ("SLO", "service", "kind") else "right")
        for s in r["slos"]:
            ok = s["attainment"] >= s["target"]
            style = "green" if ok else "red"
            t.add_row(s["name"], s["service"], s["kind"], _pct(s["target"], 2),
                      f"[{style}]{_pct(s['attainment'])}[/]", _pct(s["budget_remaining"], 1),
                      f"{s['max_burn_rate']:.1f}x")
        out.print(t)
    svcs = sorted(r["services"].items(), key=lambda kv: (-kv[1]["errors"], kv[0]))[:worst]
    svcs = [kv for kv in svcs if kv[1]["errors"] > 0.5]
    if svcs:
        t = Table(title=f"Worst services by errors (of {len(r['services'])})")
        for col in ("service", "requests", "errors", "availability", "main cause", "p99 ms", "util max"):
            t.add_column(col, justify="left" if col in ("service", "main cause") else "right")
        for name, v in svcs:
            causes = v.get("errors_by_cause", {})
            cause = max(causes, key=causes.get) if causes else ""
            t.add_row(name, f"{v['requests']:,.0f}", f"{v['errors']:,.0f}", _pct(v["availability"]), cause,
                      f"{v['latency_ms']['p99']:.1f}", f"{v['utilization']['max']:.0%}")
        out.print(t)
    events = r.get("events", [])
    if events:
        t = Table(title="What happened when")
        t.add_column("at", justify="right")
        t.add_column("event")
        t.add_column("target")
        shown = events[:25]
        for e in shown:
            t.add_row(_clock(e["at"]), e["event"], e.get("fault") or e.get("target", ""))
        out.print(t)
        if len(events) > len(shown):
            out.print(f"... {len(events) - len(shown)} more events in the result JSON")
    if r["assertions"]:
        for a in r["assertions"]:
            mark = "[green]PASS[/]" if a["passed"] else "[red]FAIL[/]"
            out.print(f"{mark} {a['name']}: {a['detail']}")
    verdict = "[bold green]PASSED[/]" if r["passed"] else "[bold red]FAILED[/]"
    out.print(f"verdict: {verdict}")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"
