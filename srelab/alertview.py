"""Terminal view of ``srelab alerts compare``: one row per SLO and rule, then the ground truth."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from srelab.console import out

__all__ = ["print_comparison"]


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def print_comparison(c: dict[str, Any]) -> None:
    sig = [e for e in c["events"] if e["significant"]]
    out.print(f"[bold]{c['scenario']}[/] ({c['engine']} engine, seed {c['seed']}): {len(c['events'])} "
              f"budget-consuming events, {len(sig)} significant (spent >= {c['significance']:.1%} of the budget)")
    t = Table(title="Alerting rules against the simulated SLIs")
    for col in ("SLO", "rule", "kind", "severity", "alerts", "precision", "recall", "detection", "reset"):
        t.add_column(col, justify="left" if col in ("SLO", "rule", "kind", "severity") else "right")
    for r in c["rules"]:
        reset = _span(r["reset_time"]) + (f" ({r['unresolved']} still firing)" if r["unresolved"] else "")
        t.add_row(r["slo"], r["rule"], r["kind"], r["severity"], str(r["alerts"]), _share(r["precision"]),
                  _share(r["recall"]), _span(r["detection_time"]), reset)
    out.print(t)
    if c["events"]:
        t = Table(title="Budget-consuming events (ground truth)")
        for col in ("SLO", "from", "to", "budget spent", "significant"):
            t.add_column(col, justify="right" if col in ("from", "to", "budget spent") else "left")
        for e in c["events"][:40]:
            t.add_row(e["slo"], _clock(e["start"]), _clock(e["end"]), f"{e['budget_spent']:.2%}",
                      "yes" if e["significant"] else "")
        out.print(t)
        if len(c["events"]) > 40:
            out.print(f"... {len(c['events']) - 40} more events; --json lists them all")
    out.print("precision: alerts that answered a significant event; recall: significant events answered; "
              "detection: event start -> fire; reset: event end -> resolve (means)")
