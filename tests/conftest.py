"""Shared fixtures. There is deliberately no tests/__init__.py: Ciw's wheel installs a
top-level ``tests`` package, and pytest runs with ``--import-mode=importlib``."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def err_text(self) -> str:
        """stderr with line wraps undone, for substring checks on long messages."""
        return " ".join(self.stderr.split())


@pytest.fixture
def srelab():
    """Run ``srelab ARGS...`` in-process through its real entry point (``srelab.cli.main``,
    which maps errors to exit codes), with click's runner capturing stdout and stderr."""
    from click.testing import CliRunner

    from srelab.cli import main

    def run(*args: object) -> CliResult:
        code = None
        with CliRunner().isolation() as (out, err, _):
            try:
                main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
        assert code is not None, "srelab.cli.main returned without calling sys.exit"
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())

    return run


# -- the result contract of DESIGN.md ("Result") ------------------------------------

RESULT_KEYS = {"schema", "scenario", "engine", "seed", "replications", "sim_seconds", "wall_seconds", "slos",
               "services", "alerts", "incidents", "policy_actions", "assertions", "passed"}
SLO_KEYS = {"name", "service", "kind", "target", "attainment", "budget_remaining", "max_burn_rate", "burn_rate",
            "time_to_exhaustion"}
SERVICE_KEYS = {"requests", "errors", "availability", "latency_ms", "replicas", "utilization"}
ALERT_KEYS = {"rule", "slo", "severity", "fired_at", "resolved_at"}
INCIDENT_KEYS = {"id", "cause", "started_at", "detected_at", "mitigated_at", "resolved_at", "auto_remediated"}
ACTION_KEYS = {"at", "policy", "action", "target", "reason"}
ASSERTION_KEYS = {"name", "passed", "detail"}
# additive keys documented in the README, beyond DESIGN.md's contract
ADDED_RESULT_KEYS = {"capacity", "deployments", "incident_response"}
INCIDENT_ADDED_KEYS = {"acknowledged_at", "responder", "escalated", "slos", "root_services", "alerts", "page_alerts",
                       "first_errors_at", "actions", "toil_minutes", "mitigated_by", "time_to_detect",
                       "time_to_acknowledge", "time_to_mitigate", "budget_consumed", "budget_to_detect"}


def check_result_contract(r: dict, exact: bool = False) -> None:
    """Assert that ``r`` follows the result JSON of DESIGN.md: every documented key with the documented
    type, fractions in [0, 1]. ``exact``: no key beyond the contract either (``intervals`` is allowed
    with replications)."""
    import json
    import math

    json.dumps(r, allow_nan=False)  # plain JSON, no NaN/inf
    allowed = RESULT_KEYS | ADDED_RESULT_KEYS | ({"intervals"} if r.get("replications", 1) > 1 else set())
    missing = RESULT_KEYS - set(r)
    assert not missing, f"result lacks {sorted(missing)}"
    if exact:
        assert set(r) <= allowed, f"keys beyond the contract: {sorted(set(r) - allowed)}"
    assert r["schema"] == "srelab.result/1"
    assert isinstance(r["scenario"], str) and r["scenario"]
    assert r["engine"] in ("flow", "request")
    assert isinstance(r["seed"], int) and not isinstance(r["seed"], bool)
    assert isinstance(r["replications"], int) and r["replications"] >= 1
    assert isinstance(r["sim_seconds"], float) and r["sim_seconds"] > 0
    assert isinstance(r["wall_seconds"], float) and r["wall_seconds"] >= 0
    assert isinstance(r["passed"], bool)
    if "capacity" in r:
        assert r["capacity"]["replica_hours"] >= 0.0 and r["capacity"]["cost"] >= 0.0
    for s in r["slos"]:
        assert set(s) >= SLO_KEYS, s
        if exact:
            assert set(s) == SLO_KEYS, s
        assert s["kind"] in ("availability", "latency")
        for k in ("target", "attainment"):
            assert 0.0 <= s[k] <= 1.0, (s["name"], k, s[k])
        assert s["budget_remaining"] <= 1.0 and math.isfinite(s["budget_remaining"])
        assert s["max_burn_rate"] >= 0.0
        assert s["burn_rate"] >= 0.0
        assert s["time_to_exhaustion"] is None or s["time_to_exhaustion"] >= 0.0
    assert r["services"], "no services in the result"
    for name, v in r["services"].items():
        assert set(v) >= SERVICE_KEYS, (name, sorted(v))
        if exact:
            assert set(v) == SERVICE_KEYS, (name, sorted(set(v) - SERVICE_KEYS))
        assert set(v["latency_ms"]) == {"mean", "p50", "p90", "p99"}
        assert set(v["replicas"]) == {"min", "mean", "max"}
        assert set(v["utilization"]) == {"mean", "max"}
        assert 0.0 <= v["availability"] <= 1.0, (name, v["availability"])
        assert v["requests"] >= 0 and -1e-6 <= v["errors"] <= v["requests"] * (1 + 1e-9) + 1e-6
        assert 0.0 <= v["utilization"]["mean"] <= v["utilization"]["max"] + 1e-12 <= 1.0 + 1e-9
        assert v["replicas"]["min"] <= v["replicas"]["mean"] + 1e-9 <= v["replicas"]["max"] + 2e-9
        assert all(x >= 0 and math.isfinite(x) for x in v["latency_ms"].values())
    for a in r["alerts"]:
        assert set(a) == ALERT_KEYS
    for i in r["incidents"]:
        assert INCIDENT_KEYS <= set(i) <= INCIDENT_KEYS | INCIDENT_ADDED_KEYS, sorted(set(i) ^ INCIDENT_KEYS)
    for p in r["policy_actions"]:
        assert set(p) == ACTION_KEYS
    for a in r["assertions"]:
        assert set(a) == ASSERTION_KEYS and isinstance(a["passed"], bool) and isinstance(a["detail"], str)
    assert r["passed"] == all(a["passed"] for a in r["assertions"])


@pytest.fixture
def result_contract():
    """``result_contract(result, exact=False)`` asserts the DESIGN.md result contract."""
    return check_result_contract
