"""Blackholed dependencies: calls hang until the caller's timeout. A hard one fails its caller with
cause "timeout" after that timeout; a soft one leaves the caller available but adds the timeout to
its latency."""

from __future__ import annotations

import numpy as np
import pytest

TIMEOUT = 0.5
OWN = 0.010       # the caller's own work
CALLEE = 0.001    # the callee's normal latency
HOLE = [{"at": "2m", "kind": "dependency-blackhole", "from": "a", "to": "b", "duration": "2m"}]
BEFORE, DURING, AFTER = (30, 120), (121, 240), (241, 360)


def pair(criticality: str) -> dict:
    return {
        "name": "pair",
        "services": {
            "a": {"entrypoint": True, "replicas": 3, "concurrency": 64, "service_time": {"mean": "10ms", "cv": 0},
                  "timeout": "10s"},
            "b": {"replicas": 3, "concurrency": 8, "service_time": {"mean": "1ms", "cv": 0}, "timeout": "500ms"},
        },
        "dependencies": [{"from": "a", "to": "b", "criticality": criticality}],
    }


@pytest.fixture(scope="module")
def hard(run_sim, new_spy):
    spy = new_spy()
    return run_sim(pair("hard"), spy=spy, faults=HOLE, workload={"rate": {"pattern": "constant", "rps": 100}}), spy


@pytest.fixture(scope="module")
def soft(run_sim):
    return run_sim(pair("soft"), faults=HOLE, workload={"rate": {"pattern": "constant", "rps": 100}})


def test_hard_blackhole_fails_the_caller_with_timeouts(hard):
    run, _ = hard
    arr = run.arrivals("a")
    assert np.allclose(run.errors("a", "timeout")[DURING[0]:DURING[1]], arr[DURING[0]:DURING[1]], rtol=1e-6)
    assert run.errors("a", "dependency", "circuit_open", "overload", "unavailable", "injected").sum() < 1e-6
    assert run.errors("a")[:120].sum() < 1e-6 and run.errors("a")[AFTER[0]:].sum() < 1e-6
    assert run.details["errors_by_cause"]["a"]["timeout"] == pytest.approx(arr[120:240].sum(), rel=1e-6)
    # b is never reached and is not blamed
    assert run.arrivals("b")[120:240].sum() == 0 and run.errors("b").sum() < 1e-6


def test_hard_blackhole_caller_waits_for_the_timeout(hard):
    """What the data plane reports for the caller's requests while the dependency hangs: its own
    work plus the full call timeout."""
    run, spy = hard
    a = run.i("a")
    lat = np.array([l[a, 0] for l in spy.latency])
    assert lat[DURING[0]:DURING[1]].mean() == pytest.approx(OWN + TIMEOUT, rel=0.02)
    assert lat[BEFORE[0]:BEFORE[1]].mean() == pytest.approx(OWN + CALLEE, rel=0.05)


def test_hard_blackhole_latency_series_is_meaningful(hard):
    """The recorded per-tick latency of the caller while everything fails is either 0 (the documented
    value when nothing succeeded) or what the requests took (own work + timeout), never a value in
    between."""
    run, _ = hard
    lat = run.latency("a")[DURING[0]:DURING[1]]
    ok = (np.abs(lat) < 1e-9) | (np.abs(lat - (OWN + TIMEOUT)) < 0.02 * (OWN + TIMEOUT))
    assert ok.all(), f"per-tick latency of a while all fail: {np.unique(lat.round(4))[:5]} s"


def test_soft_blackhole_keeps_availability(soft):
    assert soft.result["services"]["a"]["availability"] == pytest.approx(1.0, abs=1e-9)
    assert soft.errors("a").sum() < 1e-6


def test_soft_blackhole_adds_the_timeout_to_latency(soft):
    before = soft.mean(soft.latency("a"), *BEFORE)
    during = soft.mean(soft.latency("a"), *DURING)
    after = soft.mean(soft.latency("a"), *AFTER)
    assert before == pytest.approx(OWN + CALLEE, rel=0.05)
    # the call no longer costs the callee's 1 ms but the 500 ms timeout
    assert during - before == pytest.approx(TIMEOUT - CALLEE, rel=0.02)
    assert after == pytest.approx(before, rel=1e-6)
    for stat in ("p50", "p99"):
        assert soft.mean(soft.latency("a", stat), *DURING) > TIMEOUT
    # over the run: a third of the requests took ~0.51 s
    assert soft.result["services"]["a"]["latency_ms"]["mean"] == pytest.approx(
        1e3 * ((OWN + CALLEE) * 240 + (OWN + TIMEOUT) * 120) / 360, rel=0.03)


def test_per_dependency_timeout_overrides_the_callee_timeout(run_sim):
    topo = pair("soft")
    topo["dependencies"][0]["timeout"] = "100ms"
    run = run_sim(topo, faults=HOLE, workload={"rate": {"pattern": "constant", "rps": 100}})
    assert run.mean(run.latency("a"), *DURING) == pytest.approx(OWN + 0.100, rel=0.03)


def test_async_blackhole_costs_nothing(run_sim):
    topo = pair("hard")
    topo["dependencies"][0]["mode"] = "async"
    run = run_sim(topo, faults=HOLE, workload={"rate": {"pattern": "constant", "rps": 100}})
    assert run.errors("a").sum() < 1e-6
    assert run.mean(run.latency("a"), *DURING) == pytest.approx(OWN, rel=0.02)
