"""The flow engine against queueing theory and the composition rules of the call tree."""

from __future__ import annotations

import numpy as np
import pytest

from sim.queueing import ErlangC, erlang_c_exact


def one(c: int = 4, k: int = 1, mean: str = "10ms", cv: float = 1.0, queue_limit: int = 100000) -> dict:
    return {"name": "one", "zones": ["zone-a"], "services": {
        "s": {"entrypoint": True, "replicas": k, "concurrency": c, "queue_limit": queue_limit,
              "service_time": {"mean": mean, "cv": cv}, "timeout": "1h"}}}


def _mean_latency(run_sim, topo: dict, rps: float, name: str = "s") -> float:
    run = run_sim(topo, duration="2m", flow={"batch": 10, "tolerance": 0.01},
                  workload={"rate": {"pattern": "constant", "rps": rps}})
    return run.result["services"][name]["latency_ms"]["mean"] / 1e3


@pytest.mark.parametrize("c", [1, 2, 4, 8, 16, 64])
def test_erlang_c_table_matches_the_exact_formula(c):
    table = ErlangC(np.array([c, 3]))
    for rho in (0.1, 0.5, 0.8, 0.9, 0.95, 0.99):
        got = float(table(np.array([rho, 0.5]))[0])
        assert got == pytest.approx(erlang_c_exact(c, rho * c), rel=2e-3, abs=1e-6), rho


def test_erlang_c_known_values():
    # M/M/1: P(wait) = rho; M/M/2 at a = 1: 1/3
    assert erlang_c_exact(1, 0.7) == pytest.approx(0.7)
    assert erlang_c_exact(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_exact(4, 4.0) == 1.0


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.8, 0.9])
def test_mm1_sojourn(run_sim, rho):
    s = 0.010
    assert _mean_latency(run_sim, one(c=1), rho / s) == pytest.approx(s / (1 - rho), rel=0.01)


@pytest.mark.parametrize("c,rho", [(4, 0.5), (4, 0.85), (16, 0.9)])
def test_mmc_sojourn_is_erlang_c(run_sim, c, rho):
    s = 0.010
    lam = rho * c / s
    want = s + erlang_c_exact(c, lam * s) * s / (c * (1 - rho))
    assert _mean_latency(run_sim, one(c=c), lam) == pytest.approx(want, rel=0.01)


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_md1_is_pollaczek_khinchine(run_sim, rho):
    """Deterministic service (cv 0) on one slot: half the M/M/1 wait."""
    s = 0.010
    want = s + rho * s / (2 * (1 - rho))
    assert _mean_latency(run_sim, one(c=1, cv=0.0), rho / s) == pytest.approx(want, rel=0.01)


def test_replicas_split_the_load(run_sim):
    """3 replicas at 3x the load wait like one replica at 1x (random balancing)."""
    a = _mean_latency(run_sim, one(c=4, k=1), 300)
    b = _mean_latency(run_sim, one(c=4, k=3), 900)
    assert b == pytest.approx(a, rel=1e-6)


def test_overload_sheds_the_excess(run_sim):
    """Above saturation a bounded queue turns away 1 - 1/rho of the arrivals."""
    run = run_sim(one(c=4, k=1, queue_limit=50), duration="2m", workload={"rate": {"pattern": "constant", "rps": 500}})
    over = run.details["errors_by_cause"]["s"]["overload"]
    assert over / run.result["services"]["s"]["requests"] == pytest.approx(1 - 400 / 500, rel=0.02)
    assert run.result["services"]["s"]["utilization"]["max"] == pytest.approx(1.0, abs=1e-6)
    # the wait is capped by draining a full queue: 50 places x 10 ms / 4 slots
    assert run.result["services"]["s"]["latency_ms"]["mean"] / 1e3 <= 0.010 + 50 * 0.010 / 4 + 1e-6


def _fan(mode: str) -> dict:
    return {"name": "fan", "zones": ["zone-a"], "services": {
        "a": {"entrypoint": True, "replicas": 1, "concurrency": 1000, "service_time": {"mean": "10ms", "cv": 0}},
        "b": {"replicas": 1, "concurrency": 1000, "service_time": {"mean": "20ms", "cv": 0}},
        "c": {"replicas": 1, "concurrency": 1000, "service_time": {"mean": "50ms", "cv": 0}},
    }, "dependencies": [{"from": "a", "to": "b", "mode": mode}, {"from": "a", "to": "c", "mode": mode}]}


def test_sequential_calls_add(run_sim):
    assert _mean_latency(run_sim, _fan("sequential"), 10, "a") == pytest.approx(0.010 + 0.020 + 0.050, rel=0.01)


def test_parallel_calls_take_the_slowest(run_sim):
    assert _mean_latency(run_sim, _fan("parallel"), 10, "a") == pytest.approx(0.010 + 0.050, rel=0.01)


def test_async_calls_cost_the_caller_nothing(run_sim):
    assert _mean_latency(run_sim, _fan("async"), 10, "a") == pytest.approx(0.010, rel=0.01)


def test_calls_per_request_multiply_sequential_latency_and_load(run_sim):
    topo = _fan("sequential")
    topo["dependencies"] = [{"from": "a", "to": "b", "calls": 3}]
    run = run_sim(topo, duration="2m", workload={"rate": {"pattern": "constant", "rps": 10}})
    a, b = run.result["services"]["a"], run.result["services"]["b"]
    assert b["requests"] == pytest.approx(3 * a["requests"], rel=1e-6)
    assert a["latency_ms"]["mean"] == pytest.approx(10 + 3 * 20, rel=0.01)


def test_hard_errors_compose_along_the_tree_soft_ones_do_not(run_sim):
    topo = {"name": "tree", "services": {
        "a": {"entrypoint": True, "replicas": 3},
        "b": {"replicas": 3}, "c": {"replicas": 3}, "d": {"replicas": 3}},
        "dependencies": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "a", "to": "d",
                                                                             "criticality": "soft"}]}
    run = run_sim(topo, duration="2m", workload={"rate": {"pattern": "constant", "rps": 100}}, faults=[
        {"at": "0s", "kind": "error-rate", "service": "c", "rate": 0.1},
        {"at": "0s", "kind": "error-rate", "service": "b", "rate": 0.2},
        {"at": "0s", "kind": "error-rate", "service": "d", "rate": 0.5}])
    a = run.result["services"]["a"]
    assert 1 - a["availability"] == pytest.approx(1 - 0.8 * 0.9, rel=1e-3)
    assert run.details["errors_by_cause"]["a"]["dependency"] == pytest.approx(a["errors"], rel=1e-6)


def test_entry_timeout_counts_slow_requests_as_errors(run_sim):
    """The client gives up on the entry point after its timeout: a 300 ms delay against a 100 ms timeout
    fails nearly every request with cause "timeout"."""
    topo = one(c=8, k=2)
    topo["services"]["s"]["timeout"] = "100ms"
    run = run_sim(topo, duration="3m", workload={"rate": {"pattern": "constant", "rps": 100}},
                  faults=[{"at": "1m", "kind": "latency", "service": "s", "delay": "300ms", "duration": "1m"}])
    to, arr = run.errors("s", "timeout"), run.arrivals("s")
    assert run.ratio(to, arr, 61, 120) > 0.99
    assert run.ratio(to, arr, 0, 60) < 1e-3 and run.ratio(to, arr, 121, 180) < 1e-3
