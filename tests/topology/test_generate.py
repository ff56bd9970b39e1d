"""The fleet generator: deterministic, and shaped like Alibaba's published call graphs."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest

import topology
from srelab.errors import TopologyError
from topology import from_dict, generate, to_dict
from topology.analysis import graph_stats

ROLES = {"entry": 0.13, "leaf": 0.39, "middle": 0.48}


@pytest.fixture(scope="module")
def fleet():
    return topology.resolve("fleet-2847")


@pytest.fixture(scope="module")
def fleet_stats(fleet):
    return graph_stats(fleet)


def test_same_size_and_seed_give_the_same_fleet():
    a, b = generate(500, seed=7), generate(500, seed=7)
    assert to_dict(a) == to_dict(b)
    assert a == b


def test_a_different_seed_gives_a_different_fleet():
    a, b = generate(500, seed=7), generate(500, seed=8)
    assert to_dict(a) != to_dict(b)
    assert set(a.graph.edges) != set(b.graph.edges)


def test_generate_source_strings():
    assert topology.resolve("generate:500:7") == generate(500, seed=7)
    assert topology.resolve("generate:500") == generate(500, seed=0)
    assert len(topology.resolve("generate:3")) == 3


@pytest.mark.parametrize("source", ["generate:2", "generate:0:1", "generate:300000"])
def test_generate_source_out_of_range(source):
    with pytest.raises(TopologyError, match="3 to 200000 services"):
        topology.resolve(source)


def test_generate_needs_three_services():
    with pytest.raises(ValueError):
        generate(2)


def test_reference_fleet_is_fixed(fleet):
    assert fleet.name == "fleet-2847"
    assert len(fleet) == 2847
    assert fleet.zones == ("zone-a", "zone-b", "zone-c")
    assert fleet == topology.resolve("fleet-2847")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_shares(fleet_stats, role):
    assert abs(fleet_stats["roles"][role] - ROLES[role]) <= 0.015, fleet_stats["roles"]


def test_entry_points_are_the_marked_services_and_nobody_calls_them(fleet):
    g = fleet.graph
    entries = fleet.entrypoints
    assert len(entries) == round(2847 * 0.13)
    assert all(g.in_degree(e) == 0 and g.out_degree(e) >= 1 for e in entries)


def test_every_non_entry_service_has_a_caller(fleet):
    g = fleet.graph
    orphans = [n for n, s in fleet.services.items() if not s.entrypoint and g.in_degree(n) == 0]
    assert orphans == []


def test_acyclic(fleet):
    assert nx.is_directed_acyclic_graph(fleet.graph)


def test_depth_from_every_entry_point_is_2_to_6(fleet, fleet_stats):
    hist = fleet_stats["depth"]["histogram"]
    assert sum(hist.values()) == len(fleet.entrypoints)
    assert min(hist) >= 2 and max(hist) <= 6, hist
    assert len(hist) >= 3, f"depths should vary, got {hist}"
    # independent check on a sample: longest call chain below an entry point, counted in services
    g = fleet.graph
    for e in fleet.entrypoints[::37]:
        sub = g.subgraph(nx.descendants(g, e) | {e})
        assert 2 <= nx.dag_longest_path_length(sub) + 1 <= 6


def test_fan_out_is_heavy_tailed(fleet, fleet_stats):
    fan = fleet_stats["fan_out"]
    assert fan["max"] >= 5 * fan["p50"], fan
    assert fan["p99"] >= 3 * fan["p50"], fan
    out = np.array([d for _, d in fleet.graph.out_degree() if d > 0])
    assert fan["max"] == out.max() and fan["p50"] == np.median(out)


def test_hot_spots_are_shared_by_much_of_the_fleet(fleet_stats):
    top = fleet_stats["hot_spots"][0]
    assert top["callers"] >= 50, fleet_stats["hot_spots"]
    assert fleet_stats["fan_in"]["max"] >= 20 * fleet_stats["fan_in"]["p50"]


def test_stateful_backends_sit_at_the_leaves(fleet):
    g = fleet.graph
    stateful = [n for n, s in fleet.services.items() if s.stateful]
    assert len(stateful) >= 0.2 * len(fleet)
    assert all(g.out_degree(n) == 0 for n in stateful)
    # calls into a backend are synchronous
    assert all(fleet.dependency(u, v).synchronous for u, v in g.in_edges(stateful))


def test_some_services_are_confined_to_one_zone(fleet):
    confined = [n for n, s in fleet.services.items() if len(s.zones) == 1]
    assert 0.005 * len(fleet) <= len(confined) <= 0.05 * len(fleet)


def test_every_generated_service_passes_validation(fleet):
    # the generator builds models without validation for speed; the file format must accept them
    assert from_dict(to_dict(fleet)) == fleet


@pytest.mark.slow
def test_twenty_thousand_services():
    t0 = time.perf_counter()
    big = generate(20_000, seed=1)
    elapsed = time.perf_counter() - t0
    assert len(big) == 20_000
    assert elapsed < 15, f"generating 20,000 services took {elapsed:.1f}s"
    assert nx.is_directed_acyclic_graph(big.graph)
    stats = graph_stats(big)
    for role, share in ROLES.items():
        assert abs(stats["roles"][role] - share) <= 0.015, stats["roles"]
    assert min(stats["depth"]["histogram"]) >= 2 and max(stats["depth"]["histogram"]) <= 6
    assert stats["fan_out"]["max"] >= 5 * stats["fan_out"]["p50"]
    g = big.graph
    assert all(g.in_degree(n) > 0 for n, s in big.services.items() if not s.entrypoint)
