"""Every built-in scenario runs with a fixed seed on a short duration and gives a result that follows
the contract; the cheap ones also run through their fault and tell the story their description tells."""

from __future__ import annotations

import numpy as np
import pytest

import scenarios
from scenarios import bind, load
from sim import CAUSES, Simulation

SHORT = {"fleet-day": "2m"}  # the 2,847-service fleet: a short slice


@pytest.mark.parametrize("name", sorted(scenarios.library()))
def test_builtin_runs_short_with_a_fixed_seed(name, result_contract):
    sc = load(name).with_overrides(duration=SHORT.get(name, "5m"), seed=2024)
    sim = Simulation(sc)
    r = sim.run()
    result_contract(r)
    assert r["scenario"] == name and r["seed"] == 2024 and r["sim_seconds"] == sc.duration
    assert [s["name"] for s in r["slos"]] == [s.name for s in sc.slos]
    assert len(r["assertions"]) == len(sc.assertions)
    assert set(r["services"]) == set(sim.topology.services)
    # traffic flowed: the entry points saw about the scenario's rate
    entry = sum(v["requests"] for n, v in r["services"].items() if sim.compiled.entry[sim.compiled.index[n]])
    assert entry > 0
    assert sim.recorder.arrivals.shape[0] == sim.recorder.samples


def test_steady_state_holds_its_slos():
    r = Simulation(load("steady-state").with_overrides(duration="10m")).run()
    assert r["passed"] and all(a["passed"] for a in r["assertions"])
    assert r["services"]["frontend"]["availability"] == pytest.approx(1.0, abs=1e-9)
    assert r["services"]["frontend"]["requests"] == pytest.approx(400 * 600, rel=0.01)


def test_blackhole_soft_dependency_costs_latency_not_availability():
    sim = Simulation(load("blackhole-soft-dependency"))
    r = sim.run()
    fe, ad = sim.compiled.index["frontend"], sim.compiled.index["adservice"]
    assert r["services"]["frontend"]["availability"] == pytest.approx(1.0, abs=1e-6)
    lat = sim.recorder.latency()[:, fe, 0]
    # the hanging calls cost latency (0.61 calls x the 150 ms timeout) until the breaker opens ...
    assert lat[300:310].mean() == pytest.approx(lat[:290].mean() + 0.61 * 0.150, rel=0.05)
    assert lat[310:340].mean() < lat[:290].mean()  # ... and an open breaker skips the call altogether
    assert lat[960:].mean() == pytest.approx(lat[:290].mean(), rel=0.01)  # ... until the revert
    assert sim.recorder.arrivals[310:890, ad].sum() < 0.1 * sim.recorder.arrivals[:290, ad].sum()
    assert any(e["event"] == "breaker-open" and e["target"] == "frontend->adservice" for e in sim.events)


def test_retry_storm_amplifies_load_into_overload():
    sim = Simulation(load("retry-storm").with_overrides(duration="35m"))
    r = sim.run()
    c, rec = sim.compiled, sim.recorder
    p = c.index["productcatalogservice"]
    served = rec.arrivals - rec.errors[:, :, [CAUSES.index(k) for k in ("unavailable", "overload", "injected")]].sum(2)
    calls = sum(served[:, c.src[e]] * c.calls[e] for e in np.flatnonzero(c.dst == p))
    before = rec.arrivals[600:900, p].sum() / calls[600:900].sum()
    during = rec.arrivals[905:1800, p].sum() / calls[905:1800].sum()
    assert before == pytest.approx(1.0, rel=1e-6)
    assert during > 1.15, "callers retry their timed-out calls"
    assert rec.errors[905:1800, p, CAUSES.index("overload")].sum() > 0
    assert rec.errors[905:1800, c.index["frontend"], CAUSES.index("timeout")].sum() > 0
    assert rec.errors[1810:, c.index["frontend"]].sum() < 1e-3
    assert not r["passed"], "the storm breaks the 99.9 % availability SLO"


def test_traffic_spike_triples_entry_traffic_for_ten_minutes():
    sim = Simulation(load("traffic-spike").with_overrides(duration="40m"))
    sim.run()
    fe = sim.compiled.index["frontend"]
    arr = sim.recorder.arrivals[:, fe]
    assert arr[1200:1800].mean() / arr[:1200].mean() == pytest.approx(3.0, rel=0.02)
    assert arr[1800:].mean() / arr[:1200].mean() == pytest.approx(1.0, rel=0.02)
    kinds = [(e["event"], e["at"]) for e in sim.events if e["event"].startswith("fault-")]
    assert kinds == [("fault-injected", 1200.0), ("fault-reverted", 1800.0)]


def test_zone_outage_at_peak_removes_a_third_of_the_spread_capacity():
    sc = load("zone-outage-at-peak").with_overrides(duration="3h")
    topo = bind(sc)
    sim = Simulation(sc, topology=topo)
    r = sim.run()
    lost = [n for n, s in topo.services.items() if s.replicas.get("zone-b", 0) > 0]
    confined = [n for n, s in topo.services.items() if set(s.zones) == {"zone-b"}]
    assert confined, "the post store lives in zone-b only"
    for name, s in topo.services.items():
        assert r["services"][name]["replicas"]["min"] == s.total_replicas - s.replicas.get("zone-b", 0)
        assert r["services"][name]["replicas"]["max"] == s.total_replicas
    for name in confined:
        i = sim.compiled.index[name]
        arr, unav = sim.recorder.arrivals[:, i], sim.recorder.errors[:, i, CAUSES.index("unavailable")]
        # interval = 1 s here: 2h..2h30 all unavailable, none after
        assert np.allclose(unav[7200:9000], arr[7200:9000], rtol=1e-6)
        assert unav[9000:].sum() == 0
    assert lost
    web = next(s for s in r["slos"] if s["name"] == "web-availability")
    assert web["attainment"] < 0.999 and web["max_burn_rate"] > 10
