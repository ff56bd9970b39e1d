"""A seeded generator of production-shaped service fleets.

The shape follows what published analyses of Alibaba's microservice traces
report: about 13 % entry services, 39 % leaves and 48 % in the middle;
heavy-tailed fan-out; tree-like call graphs 2-6 services deep from an entry
point; a few hot-spot services shared by much of the fleet; stateful backends
(databases, caches) at the leaves. Replicas are sized so that every service runs
near ``target_utilization`` when the fleet takes ``nominal_rps`` at its entry
points. The same size, seed and parameters give the same fleet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp

from topology.model import (
    DEFAULT_ZONES, CircuitBreaker, Dependency, Retries, Service, ServiceTime, Topology, spread_replicas,
)

__all__ = ["FleetShape", "generate"]

_MODES = np.array(["sequential", "parallel", "async"])


@dataclass(frozen=True)
class FleetShape:
    """Shape parameters of a generated fleet (defaults follow the Alibaba traces)."""

    entry_fraction: float = 0.13
    leaf_fraction: float = 0.39
    middle_levels: int = 4                 # call graphs are 2..(middle_levels + 2) services deep
    fanout_alpha: float = 1.6              # Pareto tail of fan-out; lower = heavier
    max_fanout: int = 60
    hotspot_alpha: float = 1.1             # Pareto tail of popularity; lower = hotter hot spots
    stateful_leaf_fraction: float = 0.7
    zone_confined_fraction: float = 0.02
    parallel_fraction: float = 0.25
    async_fraction: float = 0.10
    soft_fraction: float = 0.25
    retry_fraction: float = 0.2
    breaker_fraction: float = 0.15
    nominal_rps: float = 3000.0
    target_utilization: float = 0.45


def _levels(n_mid: int, levels: int) -> np.ndarray:
    """Middle services per level, fewer the deeper (trees narrow as they deepen)."""
    w = np.array([levels - i for i in range(levels)], dtype=float)
    counts = np.floor(w / w.sum() * n_mid).astype(int)
    counts[0] += n_mid - counts.sum()
    return counts


def generate(services: int, seed: int = 0, zones: tuple[str, ...] = DEFAULT_ZONES,
             shape: FleetShape = FleetShape(), name: str | None = None) -> Topology:
    """Generate a fleet of ``services`` services; deterministic in (services, seed, zones, shape)."""
    if services < 3:
        raise ValueError("a generated fleet needs at least 3 services")
    rng = np.random.default_rng(np.random.SeedSequence([services, seed]))
    n = services
    n_entry = max(1, round(n * shape.entry_fraction))
    n_leaf = max(1, round(n * shape.leaf_fraction))
    n_mid = n - n_entry - n_leaf
    if n_mid < 0:
        n_leaf, n_mid = n - n_entry, 0
    per_level = _levels(n_mid, shape.middle_levels) if n_mid else np.zeros(shape.middle_levels, int)
    # level of each service: 0 = entry, 1..L = middle, L+1 = leaf; indices sorted by level
    level = np.concatenate([np.zeros(n_entry, int)]
                           + [np.full(c, i + 1, int) for i, c in enumerate(per_level)]
                           + [np.full(n_leaf, shape.middle_levels + 1, int)])
    leaf_level = shape.middle_levels + 1
    popularity = rng.pareto(shape.hotspot_alpha, n) + 1.0
    fanout = np.minimum(np.floor(rng.pareto(shape.fanout_alpha, n) * 1.5).astype(int) + 1, shape.max_fanout)
    fanout[level == leaf_level] = 0

    src_parts, dst_parts = [], []
    for lv in range(leaf_level):
        callers = np.flatnonzero(level == lv)
        if callers.size == 0:
            continue
        cand = np.flatnonzero(level > lv)
        # prefer the next level down; leaves are reachable from every level
        dist = level[cand] - lv
        w = popularity[cand] / np.where(level[cand] == leaf_level, 1.5, dist.astype(float))
        cum = np.cumsum(w)
        k = np.minimum(fanout[callers], cand.size)
        src = np.repeat(callers, k)
        dst = cand[np.searchsorted(cum, rng.random(src.size) * cum[-1], side="right").clip(0, cand.size - 1)]
        src_parts.append(src)
        dst_parts.append(dst)
    src = np.concatenate(src_parts)
    dst = np.concatenate(dst_parts)
    # every non-entry service gets at least one caller from a shallower level
    has_caller = np.zeros(n, bool)
    has_caller[dst] = True
    orphans = np.flatnonzero(~has_caller & (level > 0))
    if orphans.size:
        starts = np.searchsorted(level, level[orphans], side="left")  # first index of the orphan's level
        parents = np.floor(rng.random(orphans.size) * starts).astype(int)
        src = np.concatenate([src, parents])
        dst = np.concatenate([dst, orphans])
    pairs = np.unique(src.astype(np.int64) * n + dst)
    src, dst = pairs // n, pairs % n
    m = src.size

    # -- per-service attributes --------------------------------------------
    stateful = (level == leaf_level) & (rng.random(n) < shape.stateful_leaf_fraction)
    cache = stateful & (rng.random(n) < 0.4)
    mean_st = np.where(cache, rng.lognormal(math.log(0.0008), 0.4, n),
                       np.where(stateful, rng.lognormal(math.log(0.004), 0.5, n),
                                rng.lognormal(math.log(0.006), 0.7, n)))
    mean_st = np.clip(mean_st, 0.0002, 0.2).round(5)
    cv = np.where(stateful & ~cache, 1.5, np.where(cache, 0.5, np.where(rng.random(n) < 0.7, 1.0, 2.0)))
    concurrency = np.where(cache, 64, np.where(stateful, 16, rng.choice([4, 8, 16], n)))

    # -- per-edge attributes ------------------------------------------------
    outdeg = np.bincount(src, minlength=n)
    calls = np.clip(rng.lognormal(math.log(0.6), 0.6, m) / np.sqrt(outdeg[src]), 0.01, 4.0).round(3)
    u = rng.random(m)
    mode = np.where(u < shape.async_fraction, 2, np.where(u < shape.async_fraction + shape.parallel_fraction, 1, 0))
    mode[stateful[dst]] = 0  # reads and writes to a backend are synchronous
    soft = (rng.random(m) < shape.soft_fraction) & ~stateful[dst]

    # offered load per service at nominal_rps (a DAG, so depth+1 sweeps converge exactly)
    entry_w = rng.pareto(1.5, n_entry) + 1.0
    ext = np.zeros(n)
    ext[:n_entry] = shape.nominal_rps * entry_w / entry_w.sum()
    A_T = sp.csr_matrix((calls, (dst, src)), shape=(n, n))
    load = ext.copy()
    for _ in range(leaf_level + 2):
        load = ext + A_T @ load
    replicas = np.ceil(load * mean_st / (concurrency * shape.target_utilization)).astype(int)
    replicas = np.clip(np.maximum(replicas, np.where(stateful, 3, 2)), 1, 2000)
    confined = rng.random(n) < shape.zone_confined_fraction
    confined_zone = rng.integers(0, len(zones), n)

    # expected latency bottom-up, to give each service a timeout its callers can live with
    lat = mean_st.copy()
    order = np.argsort(-level, kind="stable")
    seq_sum = np.zeros(n)
    par_max = np.zeros(n)
    by_level_edges = level[src]
    for lv in range(leaf_level - 1, -1, -1):
        sel = by_level_edges == lv
        s, d, c, md = src[sel], dst[sel], calls[sel], mode[sel]
        seq = md == 0
        np.add.at(seq_sum, s[seq], c[seq] * lat[d[seq]])
        par = md == 1
        np.maximum.at(par_max, s[par], lat[d[par]])
        callers_here = level == lv
        lat[callers_here] = mean_st[callers_here] + seq_sum[callers_here] + par_max[callers_here]
    del order
    timeout = np.clip(np.ceil(lat * 8 / 0.05) * 0.05, 0.1, 10.0).round(3)

    retry_on = rng.random(n) < shape.retry_fraction
    attempts = np.where(retry_on, rng.integers(1, 3, n), 0)
    breaker_on = rng.random(n) < shape.breaker_fraction

    names = np.empty(n, dtype=object)
    for i in range(n):
        if level[i] == 0:
            prefix = "edge"
        elif cache[i]:
            prefix = "cache"
        elif stateful[i]:
            prefix = "db"
        elif level[i] == leaf_level:
            prefix = "lib"
        else:
            prefix = "svc"
        names[i] = f"{prefix}-{i:05d}"

    graph = nx.DiGraph()
    for i in range(n):
        reps = ({zones[confined_zone[i]]: int(replicas[i])} if confined[i]
                else spread_replicas(int(replicas[i]), zones))
        dist = "exponential" if cv[i] == 1.0 else "lognormal"
        graph.add_node(names[i], service=Service.model_construct(
            name=names[i], entrypoint=bool(level[i] == 0), replicas=reps, concurrency=int(concurrency[i]),
            service_time=ServiceTime.model_construct(mean=float(mean_st[i]), cv=float(cv[i]), distribution=dist),
            timeout=float(timeout[i]),
            retries=Retries.model_construct(attempts=int(attempts[i]), backoff=0.025),
            circuit_breaker=(CircuitBreaker.model_construct(error_threshold=0.5, window=10.0, open_for=30.0,
                                                            min_requests=20) if breaker_on[i] else None),
            stateful=bool(stateful[i]), cost_per_replica_hour=0.05 if not stateful[i] else 0.12,
            queue_limit=100))
    for j in range(m):
        a, b = names[src[j]], names[dst[j]]
        graph.add_edge(a, b, dependency=Dependency.model_construct(
            source=a, target=b, calls=float(calls[j]), mode=str(_MODES[mode[j]]),
            criticality="soft" if soft[j] else "hard", timeout=None, retries=None))
    return Topology(
        name or f"generated-{n}-{seed}", tuple(zones), graph,
        description=f"Synthetic fleet of {n} services (seed {seed}) shaped like Alibaba's production call graphs.",
        metadata={"generator": "alibaba-shaped", "services": n, "seed": seed,
                  "nominal_rps": shape.nominal_rps})
