"""Circuit breakers: a failing hard dependency trips the breaker, calls are shed as "circuit_open"
on the caller, an open breaker probes half-open after ``open_for`` and closes once the callee is
healthy again."""

from __future__ import annotations

import numpy as np
import pytest

from sim.flow import HALF_OPEN_PROBE

OPEN_FOR = 30.0
FAULT_AT, FAULT_FOR = 120.0, 120.0


def guarded(threshold: float = 0.5, min_requests: int = 20) -> dict:
    return {
        "name": "guarded",
        "services": {
            "a": {"entrypoint": True, "replicas": 3, "concurrency": 8, "service_time": {"mean": "10ms"}},
            "b": {"replicas": 3, "concurrency": 8, "service_time": {"mean": "10ms"},
                  "circuit_breaker": {"error_threshold": threshold, "window": "10s", "open_for": "30s",
                                      "min_requests": min_requests}},
        },
        "dependencies": [{"from": "a", "to": "b"}],
    }


def broken(rate: float = 1.0) -> list[dict]:
    return [{"at": "2m", "kind": "error-rate", "service": "b", "rate": rate, "duration": "2m"}]


@pytest.fixture(scope="module")
def tripped(run_sim):
    return run_sim(guarded(), faults=broken(), workload={"rate": {"pattern": "constant", "rps": 100}})


def _times(run, kind: str) -> list[float]:
    return [e["at"] for e in run.events(kind) if e.get("target") == "a->b"]


def test_breaker_opens_when_the_callee_fails(tripped):
    """The breaker judges its rolling 10 s window: with every call failing from the fault on,
    the failed share passes the 0.5 threshold once half the window has failed (about 5 s)."""
    opened = _times(tripped, "breaker-open")
    assert opened and FAULT_AT + 4 <= opened[0] <= FAULT_AT + 7
    assert all(e["event"].startswith(("breaker-", "fault-")) for e in tripped.sim.events)


def test_open_breaker_sheds_calls_as_circuit_open(tripped):
    t_open = int(_times(tripped, "breaker-open")[0])
    t_half = int(_times(tripped, "breaker-half-open")[0])
    assert t_half - t_open == pytest.approx(OPEN_FOR, abs=1)
    shed = slice(t_open, t_half)
    # the callee sees nothing while the breaker is open
    assert tripped.arrivals("b")[shed].sum() == 0
    # the caller fails every request fast, as circuit_open (not as a dependency error)
    co = tripped.errors("a", "circuit_open")[shed]
    assert np.allclose(co, tripped.arrivals("a")[shed], rtol=1e-6)
    assert tripped.errors("a", "dependency", "timeout")[shed].sum() < 1e-6
    # failing fast is faster than calling: no call, only the caller's own work
    assert tripped.mean(tripped.latency("a"), t_open + 1, t_half) < tripped.mean(tripped.latency("a"), 30, 110)


def test_half_open_lets_a_probe_share_through(tripped):
    for t in _times(tripped, "breaker-half-open"):
        k = int(t)
        if k >= FAULT_AT + FAULT_FOR + 5:
            continue
        share = tripped.arrivals("b")[k] / tripped.served("a")[k]
        assert share == pytest.approx(HALF_OPEN_PROBE, rel=1e-3)
        assert 0 < HALF_OPEN_PROBE < 0.5


def test_breaker_reopens_while_the_fault_lasts_and_closes_after(tripped):
    opened, halves, closed = (_times(tripped, k) for k in ("breaker-open", "breaker-half-open", "breaker-closed"))
    during = [t for t in opened if t < FAULT_AT + FAULT_FOR]
    assert len(during) >= 3, "the probe fails while the fault lasts: open -> half-open -> open ..."
    assert closed and len(closed) == 1
    end = FAULT_AT + FAULT_FOR
    assert end < closed[0] <= end + OPEN_FOR + 2
    # the last transition into closed comes through half-open
    assert max(t for t in halves if t < closed[0]) == closed[0] - 1
    assert all(t < closed[0] for t in opened)
    # errors stop and the full load reaches b again
    k = int(closed[0])
    assert tripped.errors("a")[k:].sum() < 1e-6
    assert np.allclose(tripped.arrivals("b")[k:], tripped.arrivals("a")[k:], rtol=1e-6)


def test_errors_stop_at_the_close(tripped):
    avail = tripped.result["services"]["a"]["availability"]
    closed = _times(tripped, "breaker-closed")[0]
    # a fails from the fault until the breaker closes, and only then
    assert avail == pytest.approx(1 - (closed - FAULT_AT) / 360, abs=0.02)
    assert tripped.details["errors_by_cause"]["a"]["circuit_open"] > \
        tripped.details["errors_by_cause"]["a"]["dependency"]


def test_breaker_stays_closed_below_its_threshold(run_sim):
    run = run_sim(guarded(threshold=0.5), faults=broken(0.3), workload={"rate": {"pattern": "constant", "rps": 100}})
    assert not run.events("breaker-open")
    assert run.errors("a", "circuit_open").sum() == 0
    assert run.ratio(run.errors("a", "dependency"), run.arrivals("a"), 125, 240) == pytest.approx(0.3, rel=0.01)


@pytest.mark.parametrize("batch", [1, 10])
def test_breaker_needs_min_requests_in_its_window(run_sim, batch):
    """At 1 rps a 10 s window sees 10 calls: a breaker that wants 20 never trips."""
    run = run_sim(guarded(min_requests=20), faults=broken(), flow={"batch": batch, "tolerance": 0},
                  workload={"rate": {"pattern": "constant", "rps": 1}})
    assert not run.events("breaker-open")


@pytest.mark.parametrize("batch", [
    1, 5, 10, 30])
def test_breaker_trips_on_the_calls_of_its_window_whatever_the_batch(run_sim, batch):
    """10 rps, all failing: 100 calls in the 10 s breaker window, well above min_requests 20. Whether
    the breaker trips must not depend on the engine's batch size (a solver setting)."""
    run = run_sim(guarded(min_requests=20), faults=broken(), flow={"batch": batch, "tolerance": 0},
                  workload={"rate": {"pattern": "constant", "rps": 10}})
    opened = _times(run, "breaker-open")
    assert opened and opened[0] <= FAULT_AT + max(batch, 10) + 1


def test_without_a_breaker_failures_pass_through(run_sim):
    topo = guarded()
    del topo["services"]["b"]["circuit_breaker"]
    run = run_sim(topo, faults=broken(), workload={"rate": {"pattern": "constant", "rps": 100}})
    assert not run.events("breaker-open") and run.errors("a", "circuit_open").sum() == 0
    assert np.allclose(run.arrivals("b")[121:240], run.arrivals("a")[121:240])
    assert np.allclose(run.errors("a", "dependency")[121:240], run.arrivals("a")[121:240])
