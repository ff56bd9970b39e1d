"""The run result: the JSON contract of DESIGN.md, assertions, JUnit, and replication means."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from scenarios.schema import Assertion
from srelab.yamlio import write_atomic

__all__ = ["SCHEMA", "evaluate_assertions", "combine_replications", "write_json", "write_junit",
           "strip_wall_clock"]

SCHEMA = "srelab.result/1"
_PCT = {"mean": "mean", "p50": "p50", "p90": "p90", "p99": "p99"}


def evaluate_assertions(assertions: list[Assertion], result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each assertion against the result: name, passed, detail (with the measured number)."""
    slos = {s["name"]: s for s in result["slos"]}
    out = []
    for a in assertions:
        if a.slo is not None:
            s = slos[a.slo]
            if a.min_attainment is not None:
                got, want = s["attainment"] * 100, a.min_attainment
                detail = f"attainment {got:.4f}% (needs >= {want:g}%)"
            else:
                got, want = s["budget_remaining"] * 100, a.min_budget_remaining
                detail = f"error budget remaining {got:.2f}% (needs >= {want:g}%)"
            passed = got >= want - 1e-9
        else:
            svc = result["services"][a.service]
            if a.max_error_ratio is not None:
                got = 1 - svc["availability"]
                passed = got <= a.max_error_ratio + 1e-12
                detail = f"error ratio {got:.5f} (needs <= {a.max_error_ratio:g})"
            else:
                got = svc["latency_ms"][_PCT[a.percentile]]
                want_ms = (a.max_latency or 0.0) * 1e3
                passed = got <= want_ms + 1e-9
                detail = f"{a.percentile} latency {got:.1f}ms (needs <= {want_ms:g}ms)"
        out.append({"name": a.label, "passed": bool(passed), "detail": detail})
    return out


def _mean_ci(values: list[float]) -> tuple[float, list[float]]:
    arr = np.asarray(values, float)
    mean = float(arr.mean())
    if arr.size < 2 or np.allclose(arr, arr[0]):
        return mean, [mean, mean]
    half = float(stats.t.ppf(0.975, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return mean, [mean - half, mean + half]


def _bounds(path: str) -> tuple[float, float]:
    """The range a combined number can take, so a t-interval over few runs stays inside it."""
    key = path.rsplit(".", 1)[-1]
    if key in ("attainment", "availability", "target", "success_rate", "change_failure_rate") \
            or path.startswith("utilization."):
        return 0.0, 1.0
    if key == "budget_remaining":
        return -math.inf, 1.0
    return 0.0, math.inf  # counts, rates, latencies, replicas, times


def _combine(items: list[Any], path: str, intervals: dict[str, Any]) -> Any:
    first = items[0]
    if isinstance(first, bool) or first is None or isinstance(first, str):
        return first
    if isinstance(first, (int, float)):
        if any(x is None for x in items):  # e.g. a time to exhaustion that is "never" in some runs
            return None
        mean, ci = _mean_ci([float(x) for x in items])
        lo, hi = _bounds(path)
        intervals[path] = [min(max(ci[0], lo), hi), min(max(ci[1], lo), hi)]
        return mean
    if isinstance(first, dict):
        return {k: _combine([it[k] for it in items], f"{path}.{k}" if path else k, intervals) for k in first}
    return first


def combine_replications(results: list[dict[str, Any]], assertions: list[Assertion]) -> dict[str, Any]:
    """Means over replications with 95 % t-intervals; assertions judged on the means."""
    if len(results) == 1:
        return results[0]
    intervals: dict[str, Any] = {}
    out = dict(results[0])
    out["replications"] = len(results)
    out["sim_seconds"] = results[0]["sim_seconds"]
    out["wall_seconds"] = float(sum(r["wall_seconds"] for r in results))
    slos = []
    for i, s in enumerate(results[0]["slos"]):
        iv: dict[str, Any] = {}
        merged = _combine([r["slos"][i] for r in results], "", iv)
        slos.append(merged)
        intervals.setdefault("slos", {})[s["name"]] = iv
    out["slos"] = slos
    svc_iv: dict[str, Any] = {}
    out["services"] = {}
    for name in results[0]["services"]:
        iv = {}
        out["services"][name] = _combine([r["services"][name] for r in results], "", iv)
        svc_iv[name] = iv
    intervals["services"] = svc_iv
    # the release, capacity and incident measures as means; lists (releases, incidents) are the first run's
    for key in ("deployments", "capacity", "incident_response"):
        if key in results[0]:
            iv = {}
            out[key] = _combine([r[key] for r in results], "", iv)
            intervals[key] = iv
    # alerts, incidents and policy actions are events of one run: the first replication's are kept
    out["intervals"] = intervals
    out["assertions"] = evaluate_assertions(assertions, out)
    out["passed"] = all(a["passed"] for a in out["assertions"])
    return out


def strip_wall_clock(result: dict[str, Any]) -> dict[str, Any]:
    """The result without wall-clock fields, for determinism checks."""
    return {k: v for k, v in result.items() if k != "wall_seconds"}


def write_json(result: dict[str, Any], path: str | Path) -> None:
    write_atomic(path, json.dumps(result, indent=2) + "\n")


def write_junit(result: dict[str, Any], path: str | Path) -> None:
    """One testcase per assertion; a failed assertion is a <failure> with the measured detail."""
    cases = result["assertions"]
    suite = ET.Element("testsuite", name=f"srelab.{result['scenario']}", tests=str(len(cases)),
                       failures=str(sum(not a["passed"] for a in cases)), errors="0",
                       time=f"{result['wall_seconds']:.3f}")
    for a in cases:
        case = ET.SubElement(suite, "testcase", classname=f"srelab.{result['scenario']}", name=a["name"])
        if not a["passed"]:
            ET.SubElement(case, "failure", message=a["detail"]).text = a["detail"]
        else:
            ET.SubElement(case, "system-out").text = a["detail"]
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    write_atomic(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
