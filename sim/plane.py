"""The data-plane interface shared by the engines, and its window statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.state import PlaneState

__all__ = ["Window", "DataPlane"]


@dataclass
class Window:
    """Statistics of ticks [t0, t0 + T * tick) per service; counts are requests (tries) per tick.

    ``latency`` holds mean, p50, p90, p99 in seconds of successful requests;
    ``under`` the share of successful requests faster than each latency probe;
    ``edge_tries`` / ``edge_failures`` are window totals per dependency (breakers read them).
    """

    t0: float
    arrivals: np.ndarray       # [T, n]
    errors: np.ndarray         # [T, n, len(CAUSES)]
    latency: np.ndarray        # [T, n, 4]
    utilization: np.ndarray    # [T, n]
    replicas: np.ndarray       # [n] serving replicas during the window
    under: np.ndarray          # [T, probes]
    edge_tries: np.ndarray     # [m]
    edge_failures: np.ndarray  # [m]

    @property
    def ticks(self) -> int:
        return int(self.arrivals.shape[0])


class DataPlane(Protocol):
    """Advance the data plane over some ticks with the state held fixed."""

    name: str

    def advance(self, t0: float, external: np.ndarray, state: PlaneState) -> Window:
        """``external[T, n]`` are the external arrivals per tick at each service."""
        ...
