"""The fidelity suite: small scenarios run on both engines, compared metric by metric.

The request engine is exact per request; the flow engine approximates. The
tolerances of the suite: availability within 0.5 percentage points, mean latency
within 10 %, p99 within 15 % at the entry point. ``benchmarks.fidelity`` prints
the table; ``tests/sim/test_fidelity.py`` holds the engines to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scenarios.schema import Scenario
from sim.simulation import Simulation
from topology import Topology, from_dict

__all__ = ["Case", "CASES", "TOLERANCE", "small_shop", "compare"]

TOLERANCE = {"availability": 0.005, "mean": 0.10, "p99": 0.15}


def small_shop() -> Topology:
    """A four-service shop over two zones: web -> api -> db, web ~> recs (soft, parallel)."""
    return from_dict({
        "name": "small-shop", "zones": ["zone-a", "zone-b"],
        "services": {
            "web": {"entrypoint": True, "replicas": 4, "concurrency": 4, "service_time": {"mean": "4ms"},
                    "timeout": "2s"},
            "api": {"replicas": 4, "concurrency": 4, "service_time": {"mean": "6ms"}, "timeout": "300ms",
                    "retries": {"attempts": 2, "backoff": "20ms"},
                    "circuit_breaker": {"error_threshold": 0.5, "window": "10s", "open_for": "20s"}},
            "db": {"replicas": 2, "concurrency": 8, "service_time": {"mean": "3ms", "cv": 0.5},
                   "timeout": "200ms", "queue_limit": 50, "stateful": True},
            "recs": {"replicas": 2, "concurrency": 4, "service_time": {"mean": "5ms"}, "timeout": "100ms"},
        },
        "dependencies": [
            {"from": "web", "to": "api", "calls": 1.0},
            {"from": "api", "to": "db", "calls": 1.5},
            {"from": "web", "to": "recs", "calls": 1.0, "mode": "parallel", "criticality": "soft"},
        ],
    })


@dataclass(frozen=True)
class Case:
    name: str
    rps: float
    duration: str = "6m"
    faults: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


CASES = [
    Case("steady state", rps=300),
    Case("near saturation", rps=1150, note="db at 86 % utilisation"),
    Case("overload", rps=1700, note="db over capacity: its queue fills and rejects"),
    Case("retry storm", rps=400, faults=[{"at": "1m", "kind": "cpu-throttle", "service": "db", "multiplier": 14,
                                          "duration": "3m"}]),
    Case("breaker trip and recovery", rps=300, faults=[{"at": "1m", "kind": "error-rate", "service": "api",
                                                        "rate": 1.0, "duration": "2m"}]),
    Case("zone outage with failover", rps=500, faults=[{"at": "1m", "kind": "zone-outage", "zone": "zone-a",
                                                        "duration": "3m"}]),
]


def run_case(case: Case, engine: str, seed: int = 11) -> dict[str, Any]:
    sc = Scenario.model_validate({
        "name": case.name, "topology": "small-shop", "duration": case.duration, "engine": engine, "seed": seed,
        "workload": {"rate": {"pattern": "constant", "rps": case.rps}}, "faults": case.faults,
        "flow": {"batch": 1, "tolerance": 0.0}})
    return Simulation(sc, topology=small_shop()).run()


def compare(case: Case, service: str = "web") -> dict[str, Any]:
    """Both engines on one case: the entry point's availability, mean and p99, with errors."""
    flow, req = run_case(case, "flow"), run_case(case, "request")
    f, r = flow["services"][service], req["services"][service]
    out: dict[str, Any] = {"case": case.name}
    out["availability"] = (f["availability"], r["availability"], f["availability"] - r["availability"])
    for k in ("mean", "p99"):
        a, b = f["latency_ms"][k], r["latency_ms"][k]
        out[k] = (a, b, (a - b) / b if b else 0.0)
    out["within"] = (abs(out["availability"][2]) <= TOLERANCE["availability"]
                     and abs(out["mean"][2]) <= TOLERANCE["mean"] and abs(out["p99"][2]) <= TOLERANCE["p99"])
    return out
