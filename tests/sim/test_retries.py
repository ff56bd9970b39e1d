"""Retries amplify load: with ``attempts: 2`` and a failure probability r per try, each call is tried
1 + r + r^2 times on average; a blackholed call is tried all 3 times, each waiting out the timeout."""

from __future__ import annotations

import numpy as np
import pytest

CALLS = 2


def pair(attempts: int = 2, calls: float = CALLS, backoff: str = "25ms", timeout: str = "200ms") -> dict:
    return {
        "name": "pair",
        "services": {
            "a": {"entrypoint": True, "replicas": 3, "concurrency": 16, "service_time": {"mean": "10ms"},
                  "timeout": "10s"},
            "b": {"replicas": 6, "concurrency": 16, "service_time": {"mean": "2ms"}, "timeout": timeout,
                  "retries": {"attempts": attempts, "backoff": backoff}},
        },
        "dependencies": [{"from": "a", "to": "b", "calls": calls}],
    }


def error_rate(r: float) -> list[dict]:
    return [{"at": "1m", "kind": "error-rate", "service": "b", "rate": r, "duration": "3m"}]


@pytest.mark.parametrize("r", [0.05, 0.2, 0.5, 0.8])
def test_callee_load_is_calls_times_expected_tries(run_sim, r):
    run = run_sim(pair(), faults=error_rate(r), workload={"rate": {"pattern": "constant", "rps": 200}})
    a_served, b = run.served("a"), run.arrivals("b")
    # before the fault: exactly `calls` tries per served request
    assert run.ratio(b, a_served, 5, 60) == pytest.approx(CALLS, rel=1e-4)
    # during (one tick after the injection, retries react one solve later): 1 + r + r^2 tries per call
    assert run.ratio(b, a_served, 62, 240) == pytest.approx(CALLS * (1 + r + r * r), rel=0.02)
    # after the revert: back to one try per call
    assert run.ratio(b, a_served, 245, 360) == pytest.approx(CALLS, rel=1e-4)
    # what the caller sees: a request fails when one of its 2 calls fails all 3 tries
    a_err = run.errors("a", "dependency")
    assert run.ratio(a_err, run.arrivals("a"), 62, 240) == pytest.approx(1 - (1 - r ** 3) ** CALLS, rel=0.02)
    # and the callee's own error count is r of what reached it
    assert run.ratio(run.errors("b", "injected"), b, 62, 240) == pytest.approx(r, rel=1e-4)


@pytest.mark.parametrize("attempts", [0, 1, 3])
def test_amplification_follows_the_number_of_attempts(run_sim, attempts):
    r = 0.5
    run = run_sim(pair(attempts=attempts), faults=error_rate(r),
                  workload={"rate": {"pattern": "constant", "rps": 200}})
    tries = sum(r ** k for k in range(attempts + 1))
    assert run.ratio(run.arrivals("b"), run.served("a"), 62, 240) == pytest.approx(CALLS * tries, rel=0.02)


def test_retries_do_not_amplify_without_failures(run_sim):
    run = run_sim(pair(attempts=5), workload={"rate": {"pattern": "constant", "rps": 200}})
    assert run.ratio(run.arrivals("b"), run.arrivals("a"), 0, 360) == pytest.approx(CALLS, rel=1e-6)


def test_a_blackholed_call_is_tried_three_times(run_sim, spy):
    """attempts: 2 against a blackhole: 3 tries per call, every one waiting for the 200 ms timeout,
    25 ms backoff between them; the caller fails with cause "timeout"."""
    run = run_sim(pair(), spy=spy, workload={"rate": {"pattern": "constant", "rps": 200}},
                  faults=[{"at": "1m", "kind": "dependency-blackhole", "from": "a", "to": "b", "duration": "3m"}])
    e = run.sim.compiled.edge_index("a", "b")
    a = run.i("a")
    tries = np.array([t[e] for t in spy.edge_tries])
    a_in = np.array([arr[a] for arr in spy.arrivals])
    before, during = slice(5, 60), slice(62, 240)
    assert tries[before].sum() / a_in[before].sum() == pytest.approx(CALLS, rel=1e-4)
    assert tries[during].sum() / a_in[during].sum() == pytest.approx(3 * CALLS, rel=1e-4)
    # none of those tries reaches b
    assert run.arrivals("b")[61:240].sum() == 0
    # the caller's latency: its own 10 ms + per call 3 x 200 ms + 2 x 25 ms backoff, 2 calls in sequence
    lat = np.array([l[a, 0] for l in spy.latency])
    assert lat[during].mean() == pytest.approx(0.010 + CALLS * (3 * 0.200 + 2 * 0.025), rel=0.03)
    assert run.ratio(run.errors("a", "timeout"), run.arrivals("a"), 62, 240) == pytest.approx(1.0, abs=1e-6)
