"""The state the control plane sets and the data planes read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.compiled import Compiled

__all__ = ["PlaneState", "CLOSED", "OPEN", "HALF_OPEN", "CAUSES"]

CLOSED, OPEN, HALF_OPEN = 0, 1, 2

# error causes, in the order of the last axis of Window.errors
CAUSES = ("unavailable", "overload", "injected", "timeout", "dependency", "circuit_open")


@dataclass
class PlaneState:
    """Replicas, fault overlays and breaker states; arrays indexed like :class:`Compiled`."""

    compiled: Compiled
    replicas: np.ndarray = field(init=False)        # [n, z] running replicas (autoscalers change it)
    killed: np.ndarray = field(init=False)          # [n, z] replicas down by kill-instances
    zone_up: np.ndarray = field(init=False)         # [z]
    partition: np.ndarray = field(init=False)       # [z, z] True where the zones cannot talk
    service_mult: np.ndarray = field(init=False)    # [n] service-time multiplier (cpu-throttle)
    extra_delay: np.ndarray = field(init=False)     # [n] seconds added (latency fault, bad deploy)
    delay_fraction: np.ndarray = field(init=False)  # [n] share of requests that get the delay
    injected_error: np.ndarray = field(init=False)  # [n] share of requests answered with an error
    blackhole: np.ndarray = field(init=False)       # [m] calls hang until the caller's timeout
    load_mult: np.ndarray = field(init=False)       # [n] multiplier on external arrivals (traffic-spike)
    breaker: np.ndarray = field(init=False)         # [m] CLOSED | OPEN | HALF_OPEN
    breaker_until: np.ndarray = field(init=False)   # [m] when an open breaker goes half-open

    version: int = 0  # bumped on every change, so engines know when a cached solution is stale
    # per active kill-instances fault (by id): the pods it killed per zone, fixed at injection
    kill_counts: dict[int, np.ndarray] = field(default_factory=dict)

    def touch(self) -> None:
        self.version += 1

    def __post_init__(self) -> None:
        c = self.compiled
        self.replicas = c.replicas.copy()
        self.breaker = np.zeros(c.m, np.int8)
        self.breaker_until = np.zeros(c.m)
        self.clear_faults()

    def clear_faults(self) -> None:
        c = self.compiled
        z = len(c.zones)
        self.killed = np.zeros((c.n, z), np.int64)
        self.zone_up = np.ones(z, bool)
        self.partition = np.zeros((z, z), bool)
        self.service_mult = np.ones(c.n)
        self.extra_delay = np.zeros(c.n)
        self.delay_fraction = np.zeros(c.n)
        self.injected_error = np.zeros(c.n)
        self.blackhole = np.zeros(c.m, bool)
        self.load_mult = np.ones(c.n)

    def up_replicas(self) -> np.ndarray:
        """Serving replicas per service and zone."""
        return np.maximum(self.replicas - self.killed, 0) * self.zone_up[None, :]

    def cross_partition(self) -> np.ndarray:
        """Per edge, the share of calls that cross a partitioned zone pair."""
        c = self.compiled
        if not self.partition.any() or c.m == 0:
            return np.zeros(c.m)
        up = self.up_replicas().astype(float)
        share = up / np.maximum(up.sum(1, keepdims=True), 1.0)
        return ((share[c.src] @ self.partition.astype(float)) * share[c.dst]).sum(1)
