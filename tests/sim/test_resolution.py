"""The tick and the solver's batching are resolution settings: they must not change the answer."""

from __future__ import annotations

import pytest

# web -> api -> db (hard), web -> recs (soft): no breakers, whose timing is batch-granular
FLEET = {
    "name": "resolution",
    "services": {
        "web": {"entrypoint": True, "replicas": 6, "concurrency": 8, "service_time": {"mean": "10ms"}},
        "api": {"replicas": 6, "concurrency": 8, "service_time": {"mean": "10ms"}, "retries": {"attempts": 1}},
        "db": {"replicas": 3, "concurrency": 8, "service_time": {"mean": "5ms"}},
        "recs": {"replicas": 3, "concurrency": 8, "service_time": {"mean": "5ms"}, "timeout": "300ms"},
    },
    "dependencies": [{"from": "web", "to": "api"}, {"from": "api", "to": "db"},
                     {"from": "web", "to": "recs", "criticality": "soft"}],
}
FAULTS = [{"at": "5m", "kind": "error-rate", "service": "db", "rate": 0.1, "duration": "4m"},
          {"at": "12m", "kind": "latency", "service": "db", "delay": "100ms", "duration": "4m"}]


def _run(run_sim, tick="1s", flow=None):
    r = run_sim(FLEET, tick=tick, duration="20m", flow=flow or {"batch": 10, "tolerance": 0.01},
                workload={"rate": {"pattern": "constant", "rps": 500}},
                slos=[{"name": "a", "service": "web", "target": 99.9}], faults=FAULTS).result
    return r["services"]["web"], r["slos"][0]


def _assert_same(web, slo, ref_web, ref_slo) -> None:
    assert web["requests"] == pytest.approx(ref_web["requests"], rel=0.005)
    assert web["availability"] == pytest.approx(ref_web["availability"], abs=2e-4)
    for k in ("mean", "p50", "p90", "p99"):
        assert web["latency_ms"][k] == pytest.approx(ref_web["latency_ms"][k], rel=0.01)
    assert slo["attainment"] == pytest.approx(ref_slo["attainment"], abs=2e-4)


@pytest.fixture(scope="module")
def reference(run_sim):
    return _run(run_sim)


@pytest.mark.parametrize("tick", ["500ms", "5s"])
def test_tick_size_does_not_change_the_result(run_sim, reference, tick):
    web, slo = _run(run_sim, tick=tick)
    _assert_same(web, slo, *reference)
    assert slo["max_burn_rate"] == pytest.approx(reference[1]["max_burn_rate"], rel=0.02)
    # 10 % of db fails for 4 of 20 minutes, and api retries once: 1 % of web fails then
    assert 1 - web["availability"] == pytest.approx(0.1 ** 2 * 4 / 20, rel=0.03)


@pytest.mark.parametrize("flow", [{"batch": 1, "tolerance": 0}, {"batch": 60, "tolerance": 0.05}],
                         ids=["exact", "coarse"])
def test_batching_does_not_change_the_result(run_sim, reference, flow):
    web, slo = _run(run_sim, flow=flow)
    _assert_same(web, slo, *reference)
