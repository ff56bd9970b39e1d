"""Monotonicity on a small chain near saturation (same seed throughout): more replicas never give
lower availability or a higher p99; more load never gives higher availability or a lower latency."""

from __future__ import annotations

import pytest

# web -> api (x1, one retry) -> db (x2). api saturates first: 4 replicas x 4 slots / 20 ms = 800 rps.
def chain(reps: int = 4, api_reps: int | None = None) -> dict:
    return {
        "name": "chain",
        "services": {
            "web": {"entrypoint": True, "replicas": reps, "concurrency": 4, "service_time": {"mean": "10ms"},
                    "timeout": "2s"},
            "api": {"replicas": api_reps or reps, "concurrency": 4, "service_time": {"mean": "20ms", "cv": 1.5},
                    "retries": {"attempts": 1}},
            "db": {"replicas": reps, "concurrency": 4, "service_time": {"mean": "5ms"}},
        },
        "dependencies": [{"from": "web", "to": "api"}, {"from": "api", "to": "db", "calls": 2}],
    }


REPLICAS = [3, 4, 5, 6, 8, 12]
LOADS = [300, 500, 600, 650, 700, 750, 800, 900, 1100]


def _web(run_sim, topo: dict, rps: float) -> dict:
    r = run_sim(topo, duration="3m", seed=7, flow={"batch": 10, "tolerance": 0.01},
                workload={"rate": {"pattern": "constant", "rps": rps}})
    return r.result["services"]["web"]


def _non_decreasing(xs: list[float], slack: float = 1e-9) -> bool:
    return all(b >= a - slack * max(1.0, abs(a)) for a, b in zip(xs, xs[1:]))


def test_more_replicas_never_worse(run_sim):
    webs = [_web(run_sim, chain(k), 900) for k in REPLICAS]
    avail = [w["availability"] for w in webs]
    p99 = [w["latency_ms"]["p99"] for w in webs]
    assert _non_decreasing(avail), list(zip(REPLICAS, avail))
    assert _non_decreasing([-p for p in p99]), list(zip(REPLICAS, p99))
    # the sweep crosses saturation: errors at 3-4 replicas, none from 6 on
    assert avail[0] < 0.8 and avail[-1] == pytest.approx(1.0, abs=1e-9)
    assert p99[0] > 3 * p99[-1]


def test_more_replicas_of_the_bottleneck_alone_never_worse(run_sim):
    webs = [_web(run_sim, chain(4, api_reps=k), 750) for k in (3, 4, 5, 6, 10)]
    avail = [w["availability"] for w in webs]
    p99 = [w["latency_ms"]["p99"] for w in webs]
    assert _non_decreasing(avail), avail
    assert _non_decreasing([-p for p in p99]), p99
    assert avail[0] < avail[-1]


def test_more_load_never_better(run_sim):
    webs = [_web(run_sim, chain(4), rps) for rps in LOADS]
    avail = [w["availability"] for w in webs]
    for stat in ("mean", "p50", "p90", "p99"):
        lat = [w["latency_ms"][stat] for w in webs]
        assert _non_decreasing(lat), (stat, list(zip(LOADS, lat)))
    assert _non_decreasing([-a for a in avail]), list(zip(LOADS, avail))
    util = [w["utilization"]["mean"] for w in webs]
    assert _non_decreasing(util), util
    assert avail[0] == pytest.approx(1.0, abs=1e-9) and avail[-1] < 0.8


@pytest.mark.parametrize("stat", ["availability", "p99"])
def test_monotone_per_service_along_the_chain(run_sim, stat):
    """Every service of the chain, not just the entry point, gets no worse with replicas."""
    runs = [run_sim(chain(k), duration="3m", seed=7, flow={"batch": 10, "tolerance": 0.01},
                    workload={"rate": {"pattern": "constant", "rps": 900}}).result for k in REPLICAS]
    for name in ("web", "api", "db"):
        xs = [r["services"][name]["availability"] if stat == "availability"
              else -r["services"][name]["latency_ms"]["p99"] for r in runs]
        assert _non_decreasing(xs), (name, xs)
