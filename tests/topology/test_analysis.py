"""Analysis on small hand-built graphs whose answers can be stated exactly.

Semantics under test (topology/analysis.py): a service fails when it has no replica
left or a hard synchronous dependency fails; a failed soft or async dependency
degrades its caller; a service that keeps some replicas, or hard-calls one that
does, is "at-risk" (capacity lost, nothing fails).
"""

from __future__ import annotations

import json

import pytest

import topology
from topology import from_dict
from topology.analysis import (
    analyze, blast_radius, critical_paths, graph_stats, hard_reach, retry_amplification,
    single_points_of_failure,
)


def build(services: dict, deps: list[tuple], zones=("zone-a", "zone-b", "zone-c")):
    """``deps`` rows are (from, to) or (from, to, {extra fields})."""
    rows = [{"from": d[0], "to": d[1], **(d[2] if len(d) > 2 else {})} for d in deps]
    return from_dict({"name": "t", "zones": list(zones), "services": services, "dependencies": rows},
                     source="t.yaml")


def diamond(*, b_d: str = "hard", c_d: str = "soft", extra_entry: bool = False):
    services = {"A": {"entrypoint": True}, "B": {}, "C": {}, "D": {}}
    deps = [("A", "B"), ("A", "C"), ("B", "D", {"criticality": b_d}), ("C", "D", {"criticality": c_d})]
    if extra_entry:
        services["E"] = {"entrypoint": True}
        deps.append(("E", "D"))
    return build(services, deps)


# -- blast radius ----------------------------------------------------------------

def test_diamond_with_one_soft_edge_losing_the_bottom():
    br = blast_radius(diamond(), service="D")
    assert br.cause == "service D"
    assert br.failed == ["A", "B", "D"]      # B hard-calls D, A hard-calls B
    assert br.degraded == ["C"]              # C -> D is soft
    assert br.entrypoints == {"A": "failed"}
    assert br.paths == {"A": ["A", "B", "D"]}
    assert br.reduced_capacity == {}


def test_diamond_with_both_paths_soft_degrades_the_entry():
    br = blast_radius(diamond(b_d="soft"), service="D")
    assert br.failed == ["D"]
    assert br.degraded == ["A", "B", "C"]
    assert br.entrypoints == {"A": "degraded"}
    assert br.paths["A"][0] == "A" and br.paths["A"][-1] == "D" and len(br.paths["A"]) == 3


def test_losing_a_middle_service():
    br = blast_radius(diamond(), service="C")
    assert br.failed == ["A", "C"]
    assert br.degraded == []
    assert br.entrypoints == {"A": "failed"}
    assert br.paths == {"A": ["A", "C"]}


def test_losing_the_entry_point_itself():
    br = blast_radius(diamond(), service="A")
    assert br.failed == ["A"] and br.entrypoints == {"A": "failed"} and br.paths == {"A": ["A"]}


def test_nothing_upstream_of_a_leaf_on_another_branch():
    topo = build({"A": {"entrypoint": True}, "B": {}, "X": {"entrypoint": True}, "Y": {}},
                 [("A", "B"), ("X", "Y")])
    br = blast_radius(topo, service="Y")
    assert br.entrypoints == {"A": "ok", "X": "failed"}
    assert "A" not in br.paths


@pytest.mark.parametrize("edge", [{"mode": "async"}, {"criticality": "soft"},
                                  {"mode": "async", "criticality": "soft"}])
def test_async_or_soft_dependency_only_degrades(edge):
    topo = build({"A": {"entrypoint": True}, "B": {}}, [("A", "B", edge)])
    br = blast_radius(topo, service="B")
    assert br.entrypoints == {"A": "degraded"} and br.failed == ["B"] and br.degraded == ["A"]


def test_parallel_hard_dependency_fails_the_caller():
    topo = build({"A": {"entrypoint": True}, "B": {}}, [("A", "B", {"mode": "parallel"})])
    assert blast_radius(topo, service="B").entrypoints == {"A": "failed"}


@pytest.fixture(scope="module")
def zoned():
    """web (zones a and c) hard-calls auth (1 replica per zone) and legacy (2 replicas, zone-a only);
    web soft-calls recs (zone-b only)."""
    return build(
        {"web": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-c": 2}},
         "auth": {"replicas": 3},
         "legacy": {"replicas": {"zone-a": 2}},
         "recs": {"replicas": {"zone-b": 1}}},
        [("web", "auth"), ("web", "legacy"), ("web", "recs", {"criticality": "soft"})])


def test_zone_outage_takes_the_confined_service_and_its_hard_callers(zoned):
    br = blast_radius(zoned, zone="zone-a")
    assert br.cause == "zone zone-a"
    assert br.failed == ["legacy", "web"]
    assert br.degraded == []
    assert br.entrypoints == {"web": "failed"}
    assert br.paths == {"web": ["web", "legacy"]}
    assert br.reduced_capacity == {"web": 0.5, "auth": 0.6667}


def test_zone_outage_elsewhere_only_loses_capacity(zoned):
    br = blast_radius(zoned, zone="zone-b")
    # recs is lost but soft: web degrades; auth keeps 2 of 3 replicas
    assert br.failed == ["recs"]
    assert br.degraded == ["web"]
    assert br.entrypoints == {"web": "degraded"}
    assert br.reduced_capacity == {"auth": 0.6667}


def test_zone_outage_with_only_capacity_lost_is_at_risk():
    topo = build({"web": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-c": 2}},
                  "auth": {"replicas": 3}, "legacy": {"replicas": {"zone-a": 2}}},
                 [("web", "auth"), ("web", "legacy")])
    br = blast_radius(topo, zone="zone-b")
    assert br.failed == [] and br.degraded == []
    assert br.entrypoints == {"web": "at-risk"}
    assert br.paths == {"web": ["web", "auth"]}
    assert br.reduced_capacity == {"auth": 0.6667}
    br = blast_radius(topo, zone="zone-c")
    assert br.entrypoints == {"web": "at-risk"}
    assert br.reduced_capacity == {"web": 0.5, "auth": 0.6667}


def test_capacity_lost_behind_a_soft_edge_does_not_put_the_caller_at_risk():
    topo = build({"web": {"entrypoint": True, "replicas": {"zone-a": 1}}, "recs": {"replicas": 3}},
                 [("web", "recs", {"criticality": "soft"})])
    br = blast_radius(topo, zone="zone-b")
    assert br.entrypoints == {"web": "ok"} and br.reduced_capacity == {"recs": 0.6667}


def test_blast_radius_arguments(zoned):
    with pytest.raises(ValueError):
        blast_radius(zoned)
    with pytest.raises(ValueError):
        blast_radius(zoned, service="web", zone="zone-a")
    with pytest.raises(KeyError):
        blast_radius(zoned, service="nope")
    with pytest.raises(KeyError):
        blast_radius(zoned, zone="zone-z")


def test_blast_radius_to_dict_is_json(zoned):
    d = json.loads(json.dumps(blast_radius(zoned, zone="zone-a").to_dict()))
    assert d == {"cause": "zone zone-a", "failed": ["legacy", "web"], "degraded": [],
                 "reduced_capacity": {"web": 0.5, "auth": 0.6667}, "entrypoints": {"web": "failed"},
                 "paths": {"web": ["web", "legacy"]}}


# -- single points of failure -------------------------------------------------------

def test_spof_lists_the_zone_confined_service(zoned):
    spof = single_points_of_failure(zoned)
    crit = {c["service"]: c for c in spof["critical"]}
    assert set(crit) == {"auth", "legacy"}    # recs is behind a soft edge
    assert crit["legacy"] == {"service": "legacy", "entrypoints_failed": 1, "replicas": 2, "zones": 1}
    assert crit["auth"] == {"service": "auth", "entrypoints_failed": 1, "replicas": 3, "zones": 3}
    assert sorted(spof["zone_confined"], key=lambda c: c["service"]) == [
        {"service": "legacy", "zone": "zone-a", "entrypoints_failed": 1},
        {"service": "recs", "zone": "zone-b", "entrypoints_failed": 0},
    ]
    assert spof["single_replica"] == ["recs"]


def test_spof_counts_entry_points_failed():
    topo = diamond(extra_entry=True)  # A -> B -> D (hard), A -> C ~> D (soft), E -> D (hard)
    spof = single_points_of_failure(topo)
    assert [(c["service"], c["entrypoints_failed"]) for c in spof["critical"]] == [
        ("D", 2), ("B", 1), ("C", 1)]
    assert spof["zone_confined"] == []
    assert spof["single_replica"] == []
    names, counts = hard_reach(topo)
    assert dict(zip(names, counts.tolist())) == {"A": 1, "B": 1, "C": 1, "D": 2, "E": 1}


def test_spof_agrees_with_blast_radius_on_the_reference_fleet():
    fleet = topology.resolve("generate:400:3")
    spof = single_points_of_failure(fleet)
    for c in spof["critical"][:15]:
        br = blast_radius(fleet, service=c["service"])
        assert sum(1 for s in br.entrypoints.values() if s == "failed") == c["entrypoints_failed"]


def test_a_single_zone_topology_has_no_zone_confined_services():
    topo = build({"A": {"entrypoint": True}, "B": {}}, [("A", "B")], zones=("only",))
    assert single_points_of_failure(topo)["zone_confined"] == []


# -- critical paths and expected latency ---------------------------------------------

def test_critical_path_takes_the_slowest_synchronous_branch_and_ignores_async():
    topo = build(
        {"E": {"entrypoint": True, "service_time": {"mean": "1ms"}},
         "P": {"service_time": {"mean": "5ms"}},
         "Q": {"service_time": {"mean": "20ms"}},
         "R": {"service_time": {"mean": "3ms"}},
         "S": {"service_time": {"mean": "4ms"}},
         "X": {"service_time": {"mean": "500ms"}}},
        [("E", "P", {"mode": "parallel"}), ("E", "Q", {"mode": "parallel"}),
         ("Q", "R", {"calls": 2}), ("E", "S", {"calls": 0.5}), ("E", "X", {"mode": "async"})])
    cp = critical_paths(topo)["E"]
    assert cp["path"] == ["E", "Q", "R"]
    assert cp["path_latency_ms"] == pytest.approx(24.0)   # 1 + 20 + 3
    # R: 3; Q: 20 + 2 x 3 = 26; E: 1 + 0.5 x 4 (sequential, calls-weighted) + max(5, 26) (parallel) = 29
    assert cp["expected_latency_ms"] == pytest.approx(29.0)


def test_sequential_calls_add_up():
    topo = build(
        {"A": {"entrypoint": True, "service_time": {"mean": "2ms"}},
         "B": {"service_time": {"mean": "10ms"}}, "C": {"service_time": {"mean": "30ms"}}},
        [("A", "B", {"calls": 3}), ("A", "C", {"calls": 0.5})])
    cp = critical_paths(topo)["A"]
    assert cp["path"] == ["A", "C"] and cp["path_latency_ms"] == pytest.approx(32.0)
    assert cp["expected_latency_ms"] == pytest.approx(2 + 3 * 10 + 0.5 * 30)


def test_parallel_calls_take_the_max():
    topo = build(
        {"A": {"entrypoint": True, "service_time": {"mean": "2ms"}},
         "B": {"service_time": {"mean": "10ms"}}, "C": {"service_time": {"mean": "30ms"}}},
        [("A", "B", {"mode": "parallel", "calls": 3}), ("A", "C", {"mode": "parallel"})])
    cp = critical_paths(topo)["A"]
    assert cp["expected_latency_ms"] == pytest.approx(32.0)


def test_an_entry_point_without_calls_is_its_own_critical_path():
    topo = build({"A": {"entrypoint": True, "service_time": {"mean": "7ms"}}}, [])
    assert critical_paths(topo) == {"A": {"path": ["A"], "path_latency_ms": 7.0, "expected_latency_ms": 7.0}}


# -- retry amplification ----------------------------------------------------------------

def retry_chain(**overrides):
    services = {"A": {"entrypoint": True}, "B": {"retries": {"attempts": 2}}, "C": {"retries": {"attempts": 1}},
                "F": {"retries": {"attempts": 3}}, "Z": {"retries": {"attempts": 9}}}
    deps = [("A", "B", overrides.get("A-B", {})), ("B", "C"), ("A", "F"), ("A", "Z", {"mode": "async"})]
    return build(services, deps)


def test_retry_chain_multiplies_along_the_worst_path():
    amp = retry_amplification(retry_chain())
    # A -> B -> C: (1 + 2) x (1 + 1) = 6 beats A -> F (4); the async call to Z does not count
    assert amp == {"A": {"multiplier": 6.0, "path": ["A", "B", "C"]}}


def test_a_per_edge_retry_override_replaces_the_callees():
    amp = retry_amplification(retry_chain(**{"A-B": {"retries": {"attempts": 0}}}))
    assert amp["A"] == {"multiplier": 4.0, "path": ["A", "F"]}
    amp = retry_amplification(retry_chain(**{"A-B": {"retries": {"attempts": 4}}}))
    assert amp["A"] == {"multiplier": 10.0, "path": ["A", "B", "C"]}


def test_no_retries_means_multiplier_one():
    amp = retry_amplification(diamond())
    assert amp == {"A": {"multiplier": 1.0, "path": ["A"]}}


# -- statistics and the full report ------------------------------------------------------

def test_graph_stats_on_the_diamond():
    s = graph_stats(diamond())
    assert s["services"] == 4 and s["dependencies"] == 4 and s["replicas"] == 12
    assert s["roles"] == {"entry": 0.25, "middle": 0.5, "leaf": 0.25}
    assert s["stateful"] == 0
    assert s["fan_out"]["max"] == 2 and s["fan_out"]["p50"] == 1 and s["fan_out"]["mean"] == pytest.approx(1.333)
    assert s["fan_in"]["max"] == 2
    assert s["hot_spots"][0] == {"service": "D", "callers": 2}
    assert s["depth"]["histogram"] == {3: 1} and s["depth"]["max"] == 3


def test_analyze_report_is_json_ready(zoned):
    r = json.loads(json.dumps(analyze(zoned)))
    assert r["topology"] == "t"
    assert set(r) >= {"stats", "single_points_of_failure", "critical_paths", "retry_amplification",
                      "zone_blast_radius"}
    assert r["zone_blast_radius"]["zone-a"] == {"entrypoints_failed": 1, "entrypoints_degraded": 0,
                                                "entrypoints_at_risk": 0, "services_failed": ["legacy", "web"]}
    assert r["zone_blast_radius"]["zone-b"] == {"entrypoints_failed": 0, "entrypoints_degraded": 1,
                                                "entrypoints_at_risk": 0, "services_failed": ["recs"]}
    assert r["zone_blast_radius"]["zone-c"] == {"entrypoints_failed": 0, "entrypoints_degraded": 0,
                                                "entrypoints_at_risk": 1, "services_failed": []}
