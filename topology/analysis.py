"""Static analysis of a service graph: blast radius, single points of failure,
critical paths, retry amplification, and fan-out/depth statistics.

Failure semantics (shared with the simulator): a service fails when it has no
replica left or when a *hard synchronous* dependency fails; a failed *soft* or
*async* dependency degrades its caller (latency, a fallback) without failing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from topology.model import Topology

__all__ = [
    "BlastRadius", "blast_radius", "hard_reach", "single_points_of_failure", "critical_paths",
    "retry_amplification", "graph_stats", "analyze",
]

FAILED, DEGRADED, AT_RISK, OK = "failed", "degraded", "at-risk", "ok"


@dataclass
class BlastRadius:
    """What a failed service or zone does to the fleet."""

    cause: str
    failed: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    reduced_capacity: dict[str, float] = field(default_factory=dict)  # service -> fraction of replicas left
    entrypoints: dict[str, str] = field(default_factory=dict)        # entry -> failed|degraded|at-risk|ok
    paths: dict[str, list[str]] = field(default_factory=dict)         # entry -> chain down to the root cause

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "failed": self.failed, "degraded": self.degraded,
                "reduced_capacity": self.reduced_capacity, "entrypoints": self.entrypoints,
                "paths": self.paths}


def _hard_sync(topo: Topology, u: str, v: str) -> bool:
    d = topo.dependency(u, v)
    return d.criticality == "hard" and d.synchronous


def blast_radius(topo: Topology, *, service: str | None = None, zone: str | None = None) -> BlastRadius:
    """Entry points that fail, degrade or lose capacity when ``service`` or ``zone`` is lost."""
    if (service is None) == (zone is None):
        raise ValueError("give exactly one of service or zone")
    services = topo.services
    root_failed: set[str] = set()
    reduced: dict[str, float] = {}
    if service is not None:
        if service not in services:
            raise KeyError(service)
        root_failed.add(service)
        cause = f"service {service}"
    else:
        if zone not in topo.zones:
            raise KeyError(zone)
        cause = f"zone {zone}"
        for name, s in services.items():
            left = s.total_replicas - s.replicas.get(zone, 0)
            if left == 0:
                root_failed.add(name)
            elif left < s.total_replicas:
                reduced[name] = round(left / s.total_replicas, 4)
    state: dict[str, str] = {}
    because: dict[str, str | None] = {}
    rank = {FAILED: 3, DEGRADED: 2, AT_RISK: 1, OK: 0}
    for node in reversed(list(nx.topological_sort(topo.graph))):
        if node in root_failed:
            state[node], because[node] = FAILED, None
            continue
        best, why = (AT_RISK if node in reduced else OK), None
        for dep in topo.callees(node):
            child = state[dep.target]
            if child == OK:
                continue
            hard = dep.criticality == "hard" and dep.synchronous
            if child == FAILED:
                effect = FAILED if hard else DEGRADED
            elif child == DEGRADED:
                effect = DEGRADED
            else:
                effect = AT_RISK if hard else OK
            if rank[effect] > rank[best] or (effect != OK and why is None and rank[effect] == rank[best]):
                best, why = effect, dep.target
        state[node], because[node] = best, why
    out = BlastRadius(cause=cause, reduced_capacity=reduced)
    out.failed = sorted(n for n, s in state.items() if s == FAILED)
    out.degraded = sorted(n for n, s in state.items() if s == DEGRADED)
    for e in topo.entrypoints:
        out.entrypoints[e] = state[e]
        if state[e] != OK:
            chain, cur = [e], because[e]
            while cur is not None:
                chain.append(cur)
                cur = because[cur]
            out.paths[e] = chain
    return out


def hard_reach(topo: Topology) -> tuple[list[str], np.ndarray]:
    """For each service, how many entry points fail when it is lost.

    A loss fails every entry point that reaches the service over hard
    synchronous calls only: one graph search per entry point.
    """
    names = list(topo.graph.nodes)
    index = {n: i for i, n in enumerate(names)}
    hard = nx.DiGraph()
    hard.add_nodes_from(names)
    hard.add_edges_from((u, v) for u, v, d in topo.graph.edges(data="dependency")
                        if d.criticality == "hard" and d.synchronous)
    counts = np.zeros(len(names), np.int64)
    for e in topo.entrypoints:
        reached = [index[v] for v in nx.descendants(hard, e)]
        reached.append(index[e])
        counts[reached] += 1
    return names, counts


def single_points_of_failure(topo: Topology) -> dict[str, Any]:
    """Services whose loss fails an entry point, services confined to one zone, single replicas."""
    names, counts = hard_reach(topo)
    services = topo.services
    critical = [
        {"service": names[i], "entrypoints_failed": int(counts[i]),
         "replicas": services[names[i]].total_replicas, "zones": len(services[names[i]].zones)}
        for i in np.argsort(-counts, kind="stable") if counts[i] > 0 and not services[names[i]].entrypoint
    ]
    crit = {c["service"]: c["entrypoints_failed"] for c in critical}
    confined = [{"service": n, "zone": s.zones[0], "entrypoints_failed": crit.get(n, 0)}
                for n, s in services.items() if len(s.zones) == 1 and len(topo.zones) > 1]
    single = [n for n, s in services.items() if s.total_replicas == 1]
    return {"critical": critical, "zone_confined": confined, "single_replica": single}


def _sync_deps(topo: Topology, node: str):
    return [d for d in topo.callees(node) if d.synchronous]


def critical_paths(topo: Topology) -> dict[str, dict[str, Any]]:
    """Per entry point: the longest synchronous path weighted by mean service time, and the
    expected end-to-end latency (sequential calls add, parallel calls take the max)."""
    longest: dict[str, float] = {}
    nxt: dict[str, str | None] = {}
    expected: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(topo.graph))):
        st = topo.service(node).service_time.mean
        best, arg, seq, par = 0.0, None, 0.0, 0.0
        for d in _sync_deps(topo, node):
            if longest[d.target] > best:
                best, arg = longest[d.target], d.target
            if d.mode == "sequential":
                seq += d.calls * expected[d.target]
            else:
                par = max(par, expected[d.target])
        longest[node], nxt[node], expected[node] = st + best, arg, st + seq + par
    out = {}
    for e in topo.entrypoints:
        path, cur = [], e
        while cur is not None:
            path.append(cur)
            cur = nxt[cur]
        out[e] = {"path": path, "path_latency_ms": round(longest[e] * 1e3, 3),
                  "expected_latency_ms": round(expected[e] * 1e3, 3)}
    return out


def retry_amplification(topo: Topology) -> dict[str, dict[str, Any]]:
    """Per entry point: the worst-case load multiplier that retries produce along one path.

    Each synchronous hop with ``attempts`` retries can multiply the calls below
    it by ``1 + attempts`` when everything fails; the multiplier of a path is
    the product over its hops (a retry storm indicator).
    """
    amp: dict[str, float] = {}
    nxt: dict[str, str | None] = {}
    for node in reversed(list(nx.topological_sort(topo.graph))):
        best, arg = 1.0, None
        for d in _sync_deps(topo, node):
            factor = (1 + topo.effective_retries(d).attempts) * amp[d.target]
            if factor > best:
                best, arg = factor, d.target
        amp[node], nxt[node] = best, arg
    out = {}
    for e in topo.entrypoints:
        path, cur = [e], nxt[e]
        while cur is not None:
            path.append(cur)
            cur = nxt[cur]
        out[e] = {"multiplier": amp[e], "path": path}
    return out


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    return {"mean": round(float(values.mean()), 3), "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)), "p99": float(np.percentile(values, 99)),
            "max": float(values.max())}


def graph_stats(topo: Topology) -> dict[str, Any]:
    """Role shares, fan-out and fan-in, and call-graph depth from entry points."""
    g = topo.graph
    n = g.number_of_nodes()
    out_deg = np.array([d for _, d in g.out_degree()], float)
    in_deg = np.array([d for _, d in g.in_degree()], float)
    entries = set(topo.entrypoints)
    leaves = sum(1 for x in g if g.out_degree(x) == 0 and x not in entries)
    depth: dict[str, int] = {}
    for node in reversed(list(nx.topological_sort(g))):
        depth[node] = 1 + max((depth[v] for v in g.successors(node)), default=0)
    entry_depth = np.array([depth[e] for e in entries], float)
    hot = sorted(g.in_degree(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "services": n, "dependencies": g.number_of_edges(), "zones": list(topo.zones),
        "replicas": int(sum(s.total_replicas for s in topo.services.values())),
        "roles": {"entry": round(len(entries) / n, 4), "middle": round((n - len(entries) - leaves) / n, 4),
                  "leaf": round(leaves / n, 4)},
        "stateful": sum(1 for s in topo.services.values() if s.stateful),
        "fan_out": _summary(out_deg[out_deg > 0]),
        "fan_in": _summary(in_deg[in_deg > 0]),
        "hot_spots": [{"service": s, "callers": d} for s, d in hot],
        "depth": {**_summary(entry_depth),
                  "histogram": {int(k): int(v) for k, v in zip(*np.unique(entry_depth, return_counts=True))}},
    }


def analyze(topo: Topology) -> dict[str, Any]:
    """The full report of ``srelab topology analyze``, JSON-ready."""
    stats = graph_stats(topo)
    spof = single_points_of_failure(topo)
    paths = critical_paths(topo)
    amps = retry_amplification(topo)
    zones = {z: blast_radius(topo, zone=z) for z in topo.zones}
    return {
        "topology": topo.name,
        "stats": stats,
        "single_points_of_failure": spof,
        "critical_paths": paths,
        "retry_amplification": amps,
        "zone_blast_radius": {
            z: {"entrypoints_failed": sum(1 for s in br.entrypoints.values() if s == FAILED),
                "entrypoints_degraded": sum(1 for s in br.entrypoints.values() if s == DEGRADED),
                "entrypoints_at_risk": sum(1 for s in br.entrypoints.values() if s == AT_RISK),
                "services_failed": br.failed}
            for z, br in zones.items()},
    }
