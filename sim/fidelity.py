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
    """A four-service shop over two zones: web -> api -> db (hard, sequential) and
    web ~> recs (soft, parallel). db is the bottleneck: 4 x 4 slots at 15 ms = 1,067
    calls/s, reached at about 710 requests/s at web (1.5 db calls per request)."""
    return from_dict({
        "name": "small-shop", "zones": ["zone-a", "zone-b"],
        "services": {
            "web": {"entrypoint": True, "replicas": 8, "concurrency": 4, "service_time": {"mean": "10ms"},
                    "timeout": "5s"},
            "api": {"replicas": 8, "concurrency": 4, "service_time": {"mean": "15ms"}, "timeout": "1s",
                    "retries": {"attempts": 2, "backoff": "20ms"},
                    "circuit_breaker": {"error_threshold": 0.5, "window": "10s", "open_for": "20s"}},
            "db": {"replicas": 4, "concurrency": 4, "service_time": {"mean": "15ms", "cv": 0.5},
                   "timeout": "500ms", "queue_limit": 20, "stateful": True},
            "recs": {"replicas": 6, "concurrency": 4, "service_time": {"mean": "12ms"}, "timeout": "300ms"},
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
    duration: str = "5m"
    faults: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


CASES = [
    Case("steady state", rps=300, note="db at 42 % utilisation"),
    Case("near saturation", rps=610, note="db at 86 % utilisation"),
    Case("overload", rps=850, note="db offered 120 % of its capacity: its queues fill and reject"),
    Case("retry storm", rps=300, faults=[{"at": "1m", "kind": "cpu-throttle", "service": "db", "multiplier": 3,
                                          "duration": "2m"}],
         note="db 3x slower: over capacity, timeouts, api retries twice"),
    Case("breaker trip and recovery", rps=300, faults=[{"at": "1m", "kind": "error-rate", "service": "api",
                                                        "rate": 1.0, "duration": "2m"}]),
    Case("slow share", rps=300, duration="3m",
         faults=[{"at": "0s", "kind": "latency", "service": "api", "delay": "200ms", "fraction": 0.2}],
         note="20 % of api's requests 200 ms slower: bimodal latency"),
    Case("zone outage with failover", rps=400, faults=[{"at": "1m", "kind": "zone-outage", "zone": "zone-a",
                                                        "duration": "2m"}],
         note="half of every service's replicas lost; db at 113 % of what is left"),
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
