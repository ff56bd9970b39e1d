"""Topology files: YAML and JSON in the design's format, and GraphML.

Parse -> fill defaults -> validate -> a :class:`~topology.model.Topology`.
Every problem is reported as a :class:`~srelab.errors.TopologyError` naming
the file, the field path and what is expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from srelab.errors import TopologyError, from_validation_error
from srelab.units import format_duration
from srelab.yamlio import dump_document, load_document
from topology.model import DEFAULT_ZONES, Dependency, Service, Topology, spread_replicas

__all__ = ["from_dict", "to_dict", "load", "save", "write_graphml", "read_graphml", "validate_graph"]


class _ServiceIn(Service):
    @field_validator("replicas", mode="before")
    @classmethod
    def _spread(cls, v: Any, info: ValidationInfo) -> Any:
        zones = tuple((info.context or {}).get("zones", DEFAULT_ZONES))
        if isinstance(v, bool):
            raise ValueError("expected a replica count or a map of zone to replicas")
        if isinstance(v, int):
            if v < 1:
                raise ValueError("a service needs at least 1 replica")
            return spread_replicas(v, zones)
        if isinstance(v, dict):
            unknown = [z for z in v if z not in zones]
            if unknown:
                raise ValueError(f"unknown zone {unknown[0]!r}; the topology's zones are {list(zones)}")
            if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in v.values()):
                raise ValueError("replicas per zone must be whole numbers >= 0")
            if sum(v.values()) < 1:
                raise ValueError("a service needs at least 1 replica")
            return {z: int(v.get(z, 0)) for z in zones if z in v}
        raise ValueError("expected a replica count or a map of zone to replicas, e.g. {zone-a: 2}")


class _TopologyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    zones: list[str] = Field(default_factory=lambda: list(DEFAULT_ZONES), min_length=1)
    services: dict[str, _ServiceIn] = Field(min_length=1)
    dependencies: list[Dependency] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("services"), dict):
            services = {}
            for name, spec in data["services"].items():
                if spec is None:
                    spec = {}
                if isinstance(spec, dict):
                    spec = {**spec, "name": str(name)}
                    spec.setdefault("replicas", len(data.get("zones") or DEFAULT_ZONES))
                services[str(name)] = spec
            data = {**data, "services": services}
        return data

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("zone names must be unique")
        return v


def _check(ok: bool, field: str, message: str, source: str | None) -> None:
    if not ok:
        raise TopologyError(message, source=source, field=field)


def validate_graph(topo: Topology, source: str | None = None) -> None:
    """Whole-graph rules: at least one entry point, no cycles (a request cannot recurse forever)."""
    _check(bool(topo.entrypoints), "services",
           "no entry point; mark at least one service with `entrypoint: true`", source)
    try:
        cycle = nx.find_cycle(topo.graph)
    except nx.NetworkXNoCycle:
        return
    names = [u for u, _ in cycle] + [cycle[0][0]]
    raise TopologyError(
        f"dependency cycle {' -> '.join(names)}; a request would recurse forever. "
        "Remove one of these dependencies (model a callback as a separate service)",
        source=source, field="dependencies")


def from_dict(data: Any, source: str | None = None, lines: dict[str, int] | None = None) -> Topology:
    """Build and validate a topology from the file format's dictionary."""
    if not isinstance(data, dict):
        raise TopologyError("expected a mapping with name, zones, services and dependencies", source=source)
    zones = data.get("zones") or list(DEFAULT_ZONES)
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise TopologyError("expected a list of zone names, e.g. [zone-a, zone-b]", source=source, field="zones")
    try:
        spec = _TopologyFile.model_validate(data, context={"zones": zones})
    except ValidationError as exc:
        raise from_validation_error(exc, source=source, kind=TopologyError, lines=lines) from None
    graph = nx.DiGraph()
    for name, svc in spec.services.items():
        graph.add_node(name, service=Service.model_validate(svc.model_dump()))
    for i, dep in enumerate(spec.dependencies):
        for end, name in (("from", dep.source), ("to", dep.target)):
            _check(name in spec.services, f"dependencies[{i}].{end}",
                   f"unknown service {name!r}; declare it under `services` or fix the name", source)
        _check(dep.source != dep.target, f"dependencies[{i}]",
               f"{dep.source!r} depends on itself; a service cannot call itself", source)
        _check(not graph.has_edge(dep.source, dep.target), f"dependencies[{i}]",
               f"{dep.source} -> {dep.target} is declared twice; merge them (add up `calls`)", source)
        graph.add_edge(dep.source, dep.target, dependency=dep)
    topo = Topology(spec.name, tuple(spec.zones), graph, spec.description, spec.metadata)
    validate_graph(topo, source)
    return topo


def _duration_out(seconds: float) -> str:
    return format_duration(seconds)


def to_dict(topo: Topology) -> dict[str, Any]:
    """The file format's dictionary; durations as strings, replicas as a count where evenly spread."""
    services: dict[str, Any] = {}
    for name, s in topo.services.items():
        even = spread_replicas(s.total_replicas, topo.zones)
        replicas: Any = s.total_replicas if s.replicas == even else dict(s.replicas)
        st: dict[str, Any] = {"mean": _duration_out(s.service_time.mean), "cv": s.service_time.cv,
                              "distribution": s.service_time.distribution}
        out: dict[str, Any] = {}
        if s.entrypoint:
            out["entrypoint"] = True
        out.update(replicas=replicas, concurrency=s.concurrency, service_time=st,
                   timeout=_duration_out(s.timeout))
        if s.retries.attempts:
            out["retries"] = {"attempts": s.retries.attempts, "backoff": _duration_out(s.retries.backoff)}
        if s.circuit_breaker is not None:
            cb = s.circuit_breaker
            out["circuit_breaker"] = {"error_threshold": cb.error_threshold, "window": _duration_out(cb.window),
                                      "open_for": _duration_out(cb.open_for), "min_requests": cb.min_requests}
        if s.stateful:
            out["stateful"] = True
        out.update(cost_per_replica_hour=s.cost_per_replica_hour, queue_limit=s.queue_limit)
        services[name] = out
    deps = []
    for d in topo.dependencies:
        row: dict[str, Any] = {"from": d.source, "to": d.target, "calls": d.calls, "mode": d.mode,
                               "criticality": d.criticality}
        if d.timeout is not None:
            row["timeout"] = _duration_out(d.timeout)
        if d.retries is not None:
            row["retries"] = {"attempts": d.retries.attempts, "backoff": _duration_out(d.retries.backoff)}
        deps.append(row)
    doc: dict[str, Any] = {"name": topo.name}
    if topo.description:
        doc["description"] = topo.description
    doc.update(zones=list(topo.zones), services=services, dependencies=deps)
    if topo.metadata:
        doc["metadata"] = topo.metadata
    return doc


def load(path: str | Path) -> Topology:
    """Read a topology file: ``.yaml``/``.yml``/``.json``, or ``.graphml``."""
    p = Path(path)
    if p.suffix.lower() == ".graphml":
        return read_graphml(p)
    data, lines = load_document(p, kind=TopologyError)
    return from_dict(data, source=str(p), lines=lines)


def save(topo: Topology, path: str | Path) -> None:
    """Write a topology as YAML, JSON or GraphML (by suffix), atomically."""
    p = Path(path)
    if p.suffix.lower() == ".graphml":
        write_graphml(topo, p)
    else:
        dump_document(to_dict(topo), p)


# -- GraphML ------------------------------------------------------------------
# GraphML attributes are scalars: nested fields are flattened to dotted keys and
# maps (replicas per zone) are stored as JSON text.

def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k != "replicas":
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (dict, list)):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def _json_attr(text: Any, source: Path, field: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise TopologyError(f"expected JSON text in this GraphML attribute ({exc})", source=source,
                            field=field) from None


def _unflatten(d: dict[str, Any], source: Path, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in d.items():
        parts = key.split(".")
        cur = out
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        if parts[-1] == "replicas" and isinstance(v, str):
            v = _json_attr(v, source, f"{where}.replicas")
        cur[parts[-1]] = v
    return out


def write_graphml(topo: Topology, path: str | Path) -> None:
    doc = to_dict(topo)
    g = nx.DiGraph(name=topo.name, description=topo.description, zones=json.dumps(list(topo.zones)),
                   metadata=json.dumps(topo.metadata))
    for name, spec in doc["services"].items():
        g.add_node(name, **_flatten(spec))
    for row in doc["dependencies"]:
        attrs = {k: v for k, v in _flatten(row).items() if k not in ("from", "to")}
        g.add_edge(row["from"], row["to"], **attrs)
    from srelab.yamlio import write_atomic
    import io
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    write_atomic(path, buf.getvalue())


def read_graphml(path: str | Path) -> Topology:
    p = Path(path)
    try:
        g = nx.read_graphml(p)
    except FileNotFoundError:
        raise TopologyError("no such file; check the path", source=p) from None
    except Exception as exc:  # the GraphML parser raises several unrelated types
        raise TopologyError(f"not a readable GraphML file: {exc}", source=p) from None
    data: dict[str, Any] = {
        "name": g.graph.get("name", p.stem),
        "description": g.graph.get("description", ""),
        "zones": _json_attr(g.graph.get("zones", json.dumps(list(DEFAULT_ZONES))), p, "zones"),
        "metadata": _json_attr(g.graph.get("metadata", "{}"), p, "metadata"),
        "services": {n: _unflatten(attrs, p, f"services.{n}") for n, attrs in g.nodes(data=True)},
        "dependencies": [{"from": u, "to": v, **_unflatten(attrs, p, f"dependencies[{i}]")}
                         for i, (u, v, attrs) in enumerate(g.edges(data=True))],
    }
    return from_dict(data, source=str(p))
