"""Zone outages: exactly the lost zone's capacity goes, traffic fails over to the zones left, and a
service confined to the lost zone is unavailable until the zone comes back."""

from __future__ import annotations

import numpy as np
import pytest

# web: 6 replicas spread 2/2/2, 4 slots x 10 ms each = 400 rps a replica (2,400 rps with 3 zones,
# 1,600 with 2). legacy lives only in zone-a.
OUTAGE = [{"at": "2m", "kind": "zone-outage", "zone": "zone-a", "duration": "2m"}]


def spread(with_legacy: bool = False) -> dict:
    services = {"web": {"entrypoint": True, "replicas": 6, "concurrency": 4, "service_time": {"mean": "10ms"},
                        "timeout": "5s"}}
    deps = []
    if with_legacy:
        services["legacy"] = {"replicas": {"zone-a": 2}, "concurrency": 8, "service_time": {"mean": "5ms"}}
        deps.append({"from": "web", "to": "legacy"})
    return {"name": "zones", "zones": ["zone-a", "zone-b", "zone-c"], "services": services, "dependencies": deps}


@pytest.fixture(scope="module")
def roomy(run_sim):
    """1,000 rps: the 4 replicas left can carry it."""
    return run_sim(spread(), faults=OUTAGE, workload={"rate": {"pattern": "constant", "rps": 1000}})


@pytest.fixture(scope="module")
def tight(run_sim):
    """2,000 rps: fits in 6 replicas (83 %), not in 4 (125 %)."""
    return run_sim(spread(), faults=OUTAGE, workload={"rate": {"pattern": "constant", "rps": 2000}})


@pytest.fixture(scope="module")
def confined(run_sim):
    return run_sim(spread(with_legacy=True), faults=OUTAGE, workload={"rate": {"pattern": "constant", "rps": 300}})


def test_losing_a_zone_leaves_exactly_four_of_six_replicas(roomy):
    reps = roomy.replicas("web")
    assert np.all(reps[:120] == 6) and np.all(reps[120:240] == 4) and np.all(reps[240:] == 6)
    summary = roomy.result["services"]["web"]["replicas"]
    assert summary["min"] == 4 and summary["max"] == 6
    assert summary["mean"] == pytest.approx((6 * 240 + 4 * 120) / 360)
    assert [e["at"] for e in roomy.events("fault-injected")] == [120.0]
    assert [e["at"] for e in roomy.events("fault-reverted")] == [240.0]


def test_traffic_fails_over_without_errors_when_the_rest_has_capacity(roomy):
    assert roomy.result["services"]["web"]["errors"] < 1e-6
    assert roomy.result["services"]["web"]["availability"] == pytest.approx(1.0, abs=1e-9)
    # the same traffic is now served by 4 replicas instead of 6: utilisation x 1.5, latency up
    util = roomy.utilization("web")
    util_before, util_during = roomy.mean(util, 30, 120), roomy.mean(util, 130, 240)
    assert util_during / util_before == pytest.approx(1.5, rel=0.03)
    assert util_during == pytest.approx(1000 * 0.010 / 4 / 4, rel=0.03)
    assert roomy.mean(roomy.latency("web"), 130, 240) > roomy.mean(roomy.latency("web"), 30, 120)
    # and it all comes back
    assert roomy.mean(roomy.utilization("web"), 250, 360) == pytest.approx(util_before, rel=0.03)


def test_overload_errors_when_the_remaining_zones_lack_capacity(tight):
    over = tight.errors("web", "overload")
    arr = tight.arrivals("web")
    # at 83 % a full queue is a rarity (100 places a replica); at 125 % it is the rule
    assert tight.ratio(over, arr, 0, 120) < 1e-6 and tight.ratio(over, arr, 245, 360) < 1e-6
    # fluid loss above saturation: 1 - 1600/2000 = 20 % turned away while the zone is out
    assert tight.ratio(over, arr, 125, 240) == pytest.approx(0.20, rel=0.05)
    assert tight.mean(tight.utilization("web"), 125, 240) == pytest.approx(1.0, abs=0.03)
    assert tight.errors("web", "unavailable").sum() == 0
    assert tight.result["services"]["web"]["availability"] < 1 - 0.2 * (120 / 360) * 0.9


def test_a_service_confined_to_the_lost_zone_is_unavailable_and_recovers(confined):
    arr, unav = confined.arrivals("legacy"), confined.errors("legacy", "unavailable")
    assert np.all(confined.replicas("legacy")[120:240] == 0) and np.all(confined.replicas("legacy")[:120] == 2)
    # every tick of the outage: 100 % unavailable; before and after: none
    assert np.allclose(unav[120:240], arr[120:240], rtol=1e-6)
    assert unav[:120].sum() == 0 and unav[240:].sum() == 0
    assert confined.errors("legacy")[240:].sum() < 1e-6
    # its hard caller fails with it (cause "dependency"), on the surviving web replicas
    web_dep = confined.errors("web", "dependency")
    assert np.allclose(web_dep[121:240], confined.arrivals("web")[121:240], rtol=1e-5)
    assert confined.errors("web")[241:].sum() < 1e-6
    assert confined.result["services"]["legacy"]["replicas"]["min"] == 0
    assert confined.result["services"]["legacy"]["availability"] == pytest.approx(240 / 360, abs=0.01)


def test_zone_outage_of_an_unused_zone_changes_nothing(run_sim):
    topo = spread()
    topo["zones"] = ["zone-a", "zone-b", "zone-c", "zone-d"]
    topo["services"]["web"]["replicas"] = {"zone-a": 2, "zone-b": 2, "zone-c": 2}
    base = run_sim(topo, workload={"rate": {"pattern": "constant", "rps": 1000}})
    out = run_sim(topo, workload={"rate": {"pattern": "constant", "rps": 1000}},
                  faults=[{"at": "2m", "kind": "zone-outage", "zone": "zone-d", "duration": "2m"}])
    assert np.array_equal(base.rec.arrivals, out.rec.arrivals)
    assert np.allclose(base.rec.latency(), out.rec.latency())
    assert out.result["services"]["web"]["replicas"]["min"] == 6


def test_region_outage_takes_every_zone_down_then_recovers(run_sim):
    r = run_sim(spread(with_legacy=True), workload={"rate": {"pattern": "constant", "rps": 300}},
                faults=[{"at": "2m", "kind": "region-outage", "duration": "1m"}])
    web = r.i("web")
    assert np.all(r.rec.replicas()[120:180] == 0)
    assert np.allclose(r.errors("web", "unavailable")[120:180], r.arrivals("web")[120:180])
    assert r.errors("web")[181:].sum() < 1e-6 and np.all(r.rec.replicas()[181:, web] == 6)
