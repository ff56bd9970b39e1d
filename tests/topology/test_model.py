"""Documented defaults, durations, and round trips through YAML, JSON and GraphML."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import yaml

import topology
from topology import from_dict, load, save, to_dict


MINIMAL = {
    "name": "tiny",
    "services": {"web": {"entrypoint": True}, "db": None},
    "dependencies": [{"from": "web", "to": "db"}],
}


# -- defaults -------------------------------------------------------------------

def test_omitted_fields_get_the_documented_defaults():
    topo = from_dict(MINIMAL, source="tiny.yaml")
    assert topo.zones == ("zone-a", "zone-b", "zone-c")
    assert topo.description == ""
    web, db = topo.service("web"), topo.service("db")
    assert web.entrypoint is True and db.entrypoint is False
    for s in (web, db):
        assert s.replicas == {"zone-a": 1, "zone-b": 1, "zone-c": 1}  # one per zone
        assert s.concurrency == 4
        assert s.service_time.mean == 0.010
        assert s.service_time.cv == 1.0
        assert s.service_time.distribution == "exponential"
        assert s.timeout == 1.0
        assert s.retries.attempts == 0
        assert s.retries.backoff == 0.025
        assert s.circuit_breaker is None
        assert s.stateful is False
        assert s.queue_limit == 100
        assert s.cost_per_replica_hour == 0.05
    dep = topo.dependency("web", "db")
    assert (dep.calls, dep.mode, dep.criticality) == (1.0, "sequential", "hard")
    assert dep.timeout is None and dep.retries is None
    # without an override, a call uses the callee's timeout and retries
    assert topo.effective_timeout(dep) == 1.0
    assert topo.effective_retries(dep).attempts == 0


def test_default_replicas_follow_the_declared_zones():
    topo = from_dict({**MINIMAL, "zones": ["eu-1", "eu-2"]})
    assert topo.service("db").replicas == {"eu-1": 1, "eu-2": 1}


@pytest.mark.parametrize("count, spread", [
    (1, {"zone-a": 1, "zone-b": 0, "zone-c": 0}),
    (5, {"zone-a": 2, "zone-b": 2, "zone-c": 1}),
    (6, {"zone-a": 2, "zone-b": 2, "zone-c": 2}),
])
def test_a_replica_count_is_spread_evenly_first_zones_take_the_remainder(count, spread):
    d = json.loads(json.dumps(MINIMAL))
    d["services"]["db"] = {"replicas": count}
    s = from_dict(d).service("db")
    assert s.replicas == spread
    assert s.total_replicas == count
    assert s.zones == tuple(z for z, n in spread.items() if n)


def test_a_replica_map_keeps_its_zones_only():
    d = json.loads(json.dumps(MINIMAL))
    d["services"]["db"] = {"replicas": {"zone-c": 2, "zone-a": 1}}
    s = from_dict(d).service("db")
    assert s.replicas == {"zone-a": 1, "zone-c": 2}
    assert s.total_replicas == 3 and s.zones == ("zone-a", "zone-c")


@pytest.mark.parametrize("spec, distribution, cv", [
    ({"mean": "20ms"}, "exponential", 1.0),
    ({"mean": "20ms", "cv": 0}, "deterministic", 0.0),
    ({"mean": "20ms", "cv": 0.5}, "lognormal", 0.5),
    ({"mean": "20ms", "distribution": "deterministic"}, "deterministic", 0.0),
    ({"mean": "20ms", "distribution": "gamma", "cv": 2}, "gamma", 2.0),
])
def test_service_time_distribution_follows_cv(spec, distribution, cv):
    d = json.loads(json.dumps(MINIMAL))
    d["services"]["db"] = {"service_time": spec}
    st = from_dict(d).service("db").service_time
    assert (st.mean, st.distribution, st.cv) == (0.020, distribution, cv)
    assert st.scv == cv * cv


def test_circuit_breaker_defaults():
    d = json.loads(json.dumps(MINIMAL))
    d["services"]["db"] = {"circuit_breaker": {}}
    cb = from_dict(d).service("db").circuit_breaker
    assert (cb.error_threshold, cb.window, cb.open_for, cb.min_requests) == (0.5, 10.0, 30.0, 20)


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("6h", 21600.0), ("1.5s", 1.5), ("250us", 0.00025),
    ("6.2ms", 0.0062), (2, 2.0), (0.25, 0.25),
])
def test_durations_in_files(text, seconds):
    d = json.loads(json.dumps(MINIMAL))
    d["services"]["db"] = {"timeout": text}
    assert from_dict(d).service("db").timeout == seconds


# -- round trips ------------------------------------------------------------------

HAND_WRITTEN = {
    "name": "shop",
    "description": "A hand-written shop with every kind of field.",
    "zones": ["zone-a", "zone-b", "zone-c"],
    "services": {
        "frontend": {"entrypoint": True, "replicas": 6, "concurrency": 8,
                     "service_time": {"mean": "20ms", "cv": 1.0}, "timeout": "1s",
                     "retries": {"attempts": 2, "backoff": "50ms"},
                     "circuit_breaker": {"error_threshold": 0.5, "window": "10s", "open_for": "30s"}},
        "admin": {"entrypoint": True, "replicas": {"zone-a": 1}},
        "cart": {"replicas": 3, "concurrency": 4, "service_time": {"mean": "5ms"}, "stateful": True,
                 "cost_per_replica_hour": 0.12},
        "catalog": {"replicas": {"zone-a": 2, "zone-c": 1}, "service_time": {"mean": "6.2ms", "cv": 1.7},
                    "retries": {"attempts": 1}, "queue_limit": 50},
        "recs": {"replicas": 4, "service_time": {"mean": "12ms", "distribution": "gamma", "cv": 0.8}},
        "email": {"service_time": {"mean": "1.5ms", "distribution": "deterministic"}},
        "redis": {"replicas": {"zone-b": 1}, "service_time": {"mean": "500us", "cv": 0.5}, "stateful": True},
    },
    "dependencies": [
        {"from": "frontend", "to": "cart", "calls": 1.0, "mode": "sequential", "criticality": "hard"},
        {"from": "frontend", "to": "catalog", "calls": 2.5, "mode": "parallel", "timeout": "250ms"},
        {"from": "frontend", "to": "recs", "calls": 0.74, "mode": "parallel", "criticality": "soft",
         "retries": {"attempts": 0}},
        {"from": "frontend", "to": "email", "calls": 0.05, "mode": "async", "criticality": "soft"},
        {"from": "cart", "to": "redis", "calls": 2, "timeout": "50ms", "retries": {"attempts": 3, "backoff": "10ms"}},
        {"from": "admin", "to": "catalog"},
    ],
    "metadata": {"owner": "team-shop", "tier": 1},
}


@pytest.fixture(scope="module")
def shop():
    return from_dict(HAND_WRITTEN, source="shop.yaml")


def test_hand_written_values(shop):
    assert len(shop) == 7 and shop.graph.number_of_edges() == 6
    assert sorted(shop.entrypoints) == ["admin", "frontend"]
    assert shop.service("catalog").replicas == {"zone-a": 2, "zone-c": 1}
    assert shop.service("redis").service_time.mean == 0.0005
    assert shop.service("frontend").retries.backoff == 0.05
    edge = shop.dependency("frontend", "catalog")
    assert shop.effective_timeout(edge) == 0.25
    assert shop.effective_retries(edge).attempts == 1  # the callee's retries
    assert shop.effective_retries(shop.dependency("frontend", "recs")).attempts == 0  # overridden per edge
    assert shop.effective_retries(shop.dependency("cart", "redis")).attempts == 3
    assert shop.dependency("frontend", "email").synchronous is False
    assert shop.metadata == {"owner": "team-shop", "tier": 1}


def test_to_dict_from_dict_is_identity(shop):
    again = from_dict(to_dict(shop))
    assert again == shop
    assert to_dict(again) == to_dict(shop)


def test_equality_notices_a_change(shop):
    d = to_dict(shop)
    d["dependencies"][0]["calls"] = 1.5
    assert from_dict(d) != shop
    d = to_dict(shop)
    d["services"]["redis"]["replicas"] = {"zone-c": 1}
    assert from_dict(d) != shop


@pytest.mark.parametrize("suffix", ["yaml", "json", "graphml"])
def test_hand_written_round_trip(shop, tmp_path, suffix):
    path = tmp_path / f"shop.{suffix}"
    save(shop, path)
    back = load(path)
    assert back == shop
    assert back.description == shop.description
    assert back.metadata == shop.metadata
    assert to_dict(back) == to_dict(shop)


def test_yaml_file_is_written_in_the_documented_format(shop, tmp_path):
    path = tmp_path / "shop.yaml"
    save(shop, path)
    doc = yaml.safe_load(path.read_text())
    fe = doc["services"]["frontend"]
    assert fe["entrypoint"] is True and fe["replicas"] == 6
    assert fe["service_time"] == {"mean": "20ms", "cv": 1.0, "distribution": "exponential"}
    assert fe["retries"] == {"attempts": 2, "backoff": "50ms"}
    assert doc["services"]["catalog"]["replicas"] == {"zone-a": 2, "zone-c": 1}
    assert {"from": "frontend", "to": "catalog", "calls": 2.5, "mode": "parallel", "criticality": "hard",
            "timeout": "250ms"} in doc["dependencies"]


def test_graphml_is_readable_by_plain_networkx(shop, tmp_path):
    path = tmp_path / "shop.graphml"
    save(shop, path)
    g = nx.read_graphml(path)
    assert g.is_directed()
    assert set(g.nodes) == set(shop.services)
    assert set(g.edges) == set(shop.graph.edges)
    assert g.nodes["frontend"]["concurrency"] == 8
    assert g.edges["frontend", "catalog"]["mode"] == "parallel"


@pytest.mark.parametrize("suffix", ["yaml", "json", "graphml"])
def test_generated_round_trip(tmp_path, suffix):
    topo = topology.resolve("generate:300:5")
    path = tmp_path / f"fleet.{suffix}"
    save(topo, path)
    back = load(path)
    assert len(back) == 300
    assert back == topo


@pytest.mark.parametrize("name", ["online-boutique", "social-network", "hotel-reservation"])
@pytest.mark.parametrize("suffix", ["yaml", "graphml"])
def test_builtin_round_trip(tmp_path, name, suffix):
    topo = topology.resolve(name)
    path = tmp_path / f"{name}.{suffix}"
    save(topo, path)
    assert load(path) == topo
