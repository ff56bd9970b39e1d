"""Conservation: every request that reaches a service is either a success or exactly one error,
per service and per tick, while faults, retries, breakers and overload are all in play; and the
per-tick series, the run totals and the saved series agree with each other."""

from __future__ import annotations

import numpy as np
import pytest

from sim import CAUSES
from sim.recorder import Recorder

SHOP = {
    "name": "shop",
    "zones": ["zone-a", "zone-b", "zone-c"],
    "services": {
        "web": {"entrypoint": True, "replicas": 6, "concurrency": 8, "service_time": {"mean": "10ms"},
                "timeout": "3s"},
        "api": {"replicas": 6, "concurrency": 8, "service_time": {"mean": "20ms", "cv": 1.5},
                "retries": {"attempts": 2, "backoff": "20ms"}},
        "auth": {"replicas": 3, "concurrency": 8, "service_time": {"mean": "2ms"},
                 "circuit_breaker": {"error_threshold": 0.5, "window": "10s", "open_for": "20s"}},
        "recs": {"replicas": {"zone-a": 2}, "concurrency": 8, "service_time": {"mean": "5ms"},
                 "timeout": "200ms"},
        "db": {"replicas": 3, "concurrency": 16, "service_time": {"mean": "3ms"}, "retries": {"attempts": 1}},
        "audit": {"replicas": 2, "concurrency": 8, "service_time": {"mean": "1ms"}},
    },
    "dependencies": [
        {"from": "web", "to": "api", "calls": 1.5},
        {"from": "web", "to": "auth", "mode": "parallel"},
        {"from": "web", "to": "recs", "mode": "parallel", "criticality": "soft"},
        {"from": "api", "to": "db", "calls": 2},
        {"from": "api", "to": "audit", "mode": "async"},
    ],
}

FAULTS = [
    {"at": "1m", "kind": "error-rate", "service": "db", "rate": 0.3, "duration": "2m"},
    {"at": "2m", "kind": "error-rate", "service": "auth", "rate": 1.0, "duration": "1m"},
    {"at": "4m", "kind": "zone-outage", "zone": "zone-a", "duration": "2m"},
    {"at": "5m", "kind": "traffic-spike", "multiplier": 3, "duration": "1m"},
    {"at": "7m", "kind": "latency", "service": "db", "delay": "1s", "fraction": 0.2, "duration": "1m"},
    {"at": "8m", "kind": "kill-instances", "service": "api", "count": 5, "duration": "1m"},
]


@pytest.fixture(scope="module", params=[{"batch": 1, "tolerance": 0}, {"batch": 10, "tolerance": 0.01}],
                ids=["per-tick", "batched"])
def shop(request, run_sim):
    return run_sim(SHOP, duration="10m", flow=request.param, faults=FAULTS,
                   workload={"rate": {"pattern": "constant", "rps": 600}})


def test_every_cause_of_error_occurs_in_the_scenario(shop):
    """The scenario really exercises faults, retries, breakers and overload: all six causes show up."""
    e = shop.rec.errors.sum(axis=(0, 1))
    for k, cause in enumerate(CAUSES):
        assert e[k] > 100, f"no {cause} errors: the conservation check below would not cover it"
    assert shop.events("breaker-open") and shop.events("breaker-closed")


def test_arrivals_are_successes_plus_errors_per_service_and_tick(shop):
    arr = shop.rec.arrivals.astype(float)                  # [S, n]
    err = shop.rec.errors.astype(float)                    # [S, n, K]
    succ = shop.rec.successes().astype(float)
    assert arr.shape[0] == 600 and err.shape == arr.shape + (len(CAUSES),)
    assert np.allclose(arr, succ + err.sum(axis=2), rtol=1e-6, atol=1e-3)
    # every error is one request: no negative counts, never more errors than requests
    assert err.min() >= 0.0
    assert np.all(succ >= -1e-4 * np.maximum(arr, 1.0)), "more errors than arrivals somewhere"
    assert np.all(err.sum(axis=2) <= arr * (1 + 1e-5) + 1e-3)


def test_run_totals_are_the_sums_of_the_series(shop):
    """requests, errors and errors by cause in the result equal the per-tick series summed."""
    for name, v in shop.result["services"].items():
        i = shop.i(name)
        assert v["requests"] == pytest.approx(float(shop.rec.arrivals[:, i].sum(dtype=np.float64)), rel=1e-5,
                                              abs=1e-2)
        assert v["errors"] == pytest.approx(float(shop.rec.errors[:, i].sum(dtype=np.float64)), rel=1e-5,
                                            abs=1e-2)
        assert v["availability"] == pytest.approx(1 - v["errors"] / v["requests"], abs=1e-12)
        for k, cause in enumerate(CAUSES):
            assert shop.details["errors_by_cause"][name][cause] == pytest.approx(
                float(shop.rec.errors[:, i, k].sum(dtype=np.float64)), rel=1e-5, abs=1e-2)


def test_entry_arrivals_are_the_offered_load(shop):
    """Nothing is lost before the entry point: 600 rps for 10 minutes, tripled for the spike minute
    (Poisson, within 4 sigma)."""
    expected = 600 * 540 + 1800 * 60
    got = float(shop.arrivals("web").sum())
    assert abs(got - expected) < 4 * np.sqrt(expected)
    spike = shop.mean(shop.arrivals("web"), 300, 360) / shop.mean(shop.arrivals("web"), 0, 60)
    assert spike == pytest.approx(3.0, rel=0.02)


def test_conservation_holds_when_samples_span_several_ticks(run_sim, scenario):
    """With a smaller cell budget the recorder sums ticks into samples (here 7 ticks a sample, windows
    of 10 ticks straddling them): counts are still conserved and equal the run totals."""
    from sim import Simulation
    from topology import from_dict

    sc = scenario(duration="10m", flow={"batch": 10, "tolerance": 0.01}, faults=FAULTS,
                  workload={"rate": {"pattern": "constant", "rps": 600}})
    sim = Simulation(sc, topology=from_dict(SHOP))
    n = sim.compiled.n
    sim.recorder = Recorder(sim.compiled.names, sim.ticks, sim.tick, cell_budget=n * 86, batch=1)
    result = sim.run()
    rec = sim.recorder
    assert rec.every == 7 and rec.samples == 86
    arr, err = rec.arrivals.astype(float), rec.errors.astype(float)
    assert np.allclose(arr, rec.successes() + err.sum(axis=2), rtol=1e-6, atol=1e-3)
    assert np.all(err.sum(axis=2) <= arr * (1 + 1e-5) + 1e-3)
    for name, v in result["services"].items():
        i = sim.compiled.index[name]
        assert v["requests"] == pytest.approx(arr[:, i].sum(), rel=1e-5)
        assert v["errors"] == pytest.approx(err[:, i].sum(), rel=1e-5, abs=1e-2)
    assert np.all(rec.replicas() <= 6 + 1e-6) and rec.replicas()[:, sim.compiled.index["api"]].min() < 6


def test_saved_series_conserve_requests(shop, tmp_path):
    path = tmp_path / "series.npz"
    shop.rec.save(path)
    with np.load(path) as z:
        assert np.allclose(z["arrivals"], z["successes"] + z["errors"].sum(axis=2), rtol=1e-6, atol=1e-3)
        assert list(z["causes"]) == list(CAUSES)
        assert list(z["services"]) == shop.sim.compiled.names
