"""A topology compiled into flat numpy arrays: what both data planes read."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from topology import Topology

__all__ = ["Compiled", "compile_topology", "MODE_SEQ", "MODE_PAR", "MODE_ASYNC"]

MODE_SEQ, MODE_PAR, MODE_ASYNC = 0, 1, 2
_MODE = {"sequential": MODE_SEQ, "parallel": MODE_PAR, "async": MODE_ASYNC}


@dataclass(frozen=True)
class Compiled:
    """Services are indexed in topological order (callers before callees); edges are sorted by caller."""

    names: list[str]
    index: dict[str, int]
    zones: tuple[str, ...]
    replicas: np.ndarray        # [n, z] int, as deployed
    concurrency: np.ndarray     # [n]
    mean_service: np.ndarray    # [n] seconds
    scv: np.ndarray             # [n] squared coefficient of variation
    timeout: np.ndarray         # [n] seconds a caller (or the client) waits for this service
    queue_limit: np.ndarray     # [n] waiting places per replica
    entry: np.ndarray           # [n] bool
    stateful: np.ndarray        # [n] bool
    cost: np.ndarray            # [n] per replica-hour
    cb_on: np.ndarray           # [n] bool: calls into this service go through a circuit breaker
    cb_threshold: np.ndarray
    cb_window: np.ndarray
    cb_open_for: np.ndarray
    cb_min_requests: np.ndarray
    src: np.ndarray             # [m] caller index
    dst: np.ndarray             # [m] callee index
    calls: np.ndarray           # [m] mean calls per request
    mode: np.ndarray            # [m] MODE_*
    hard: np.ndarray            # [m] bool
    edge_timeout: np.ndarray    # [m] seconds
    attempts: np.ndarray        # [m] retries after the first try
    backoff: np.ndarray         # [m] seconds
    depth: int                  # longest path in services (bounds propagation passes)

    @property
    def breaker_edges(self) -> np.ndarray:
        """Dependencies whose callee has a circuit breaker."""
        return np.flatnonzero(self.cb_on[self.dst])

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def m(self) -> int:
        return int(self.src.size)

    def edge_index(self, source: str, target: str) -> int:
        s, d = self.index[source], self.index[target]
        hit = np.flatnonzero((self.src == s) & (self.dst == d))
        if hit.size == 0:
            raise KeyError(f"{source} -> {target}")
        return int(hit[0])


def compile_topology(topo: Topology) -> Compiled:
    names = list(nx.topological_sort(topo.graph))
    index = {n: i for i, n in enumerate(names)}
    svcs = [topo.service(n) for n in names]
    zones = topo.zones
    replicas = np.array([[s.replicas.get(z, 0) for z in zones] for s in svcs], dtype=np.int64)
    cb = [s.circuit_breaker for s in svcs]
    deps = sorted(topo.dependencies, key=lambda d: (index[d.source], index[d.target]))
    depth = 1 + (nx.dag_longest_path_length(topo.graph) if topo.graph.number_of_edges() else 0)
    f = np.array
    return Compiled(
        names=names, index=index, zones=zones, replicas=replicas,
        concurrency=f([s.concurrency for s in svcs], float),
        mean_service=f([s.service_time.mean for s in svcs], float),
        scv=f([s.service_time.scv for s in svcs], float),
        timeout=f([s.timeout for s in svcs], float),
        queue_limit=f([s.queue_limit for s in svcs], float),
        entry=f([s.entrypoint for s in svcs], bool),
        stateful=f([s.stateful for s in svcs], bool),
        cost=f([s.cost_per_replica_hour for s in svcs], float),
        cb_on=f([c is not None for c in cb], bool),
        cb_threshold=f([c.error_threshold if c else 1.0 for c in cb], float),
        cb_window=f([c.window if c else 10.0 for c in cb], float),
        cb_open_for=f([c.open_for if c else 30.0 for c in cb], float),
        cb_min_requests=f([c.min_requests if c else 20 for c in cb], float),
        src=f([index[d.source] for d in deps], np.int64).reshape(-1),
        dst=f([index[d.target] for d in deps], np.int64).reshape(-1),
        calls=f([d.calls for d in deps], float).reshape(-1),
        mode=f([_MODE[d.mode] for d in deps], np.int64).reshape(-1),
        hard=f([d.criticality == "hard" for d in deps], bool).reshape(-1),
        edge_timeout=f([topo.effective_timeout(d) for d in deps], float).reshape(-1),
        attempts=f([topo.effective_retries(d).attempts for d in deps], float).reshape(-1),
        backoff=f([topo.effective_retries(d).backoff for d in deps], float).reshape(-1),
        depth=int(depth),
    )
