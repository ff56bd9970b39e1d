"""The data-plane interface shared by the engines, and its window statistics.

A :class:`Window` covers ticks [t0, t0 + T * tick) with the control state held
fixed. Consumers read either whole-window aggregates per service
(:meth:`Window.totals`, cheap) or per-tick series (:meth:`Window.arrivals` and
friends, or :meth:`Window.at` for a few services). Engines that know more
(the flow engine holds rates constant within a window) override them lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.state import PlaneState

__all__ = ["Window", "ArrayWindow", "Totals", "DataPlane"]


@dataclass
class Totals:
    """Whole-window sums per service."""

    arrivals: np.ndarray        # [n] requests (tries) that reached the service
    errors: np.ndarray          # [n, K] failed requests by cause
    latency_weighted: np.ndarray  # [n, 4] sum over successful requests of (mean, p50, p90, p99)
    utilization_sum: np.ndarray   # [n] sum over ticks of utilisation
    utilization_max: np.ndarray   # [n]

    @property
    def successes(self) -> np.ndarray:
        return self.arrivals - self.errors.sum(axis=1)


class Window(ABC):
    """Statistics of one window; see the module docstring."""

    t0: float
    ticks: int
    replicas: np.ndarray        # [n] serving replicas during the window
    edge_tries: np.ndarray      # [m] tries per dependency over the window (breakers read them)
    edge_failures: np.ndarray   # [m]

    @abstractmethod
    def arrivals(self) -> np.ndarray:
        """Requests (tries) per tick and service, [T, n]."""

    @abstractmethod
    def errors(self) -> np.ndarray:
        """Failed requests per tick, service and cause, [T, n, K]."""

    @abstractmethod
    def latency(self) -> np.ndarray:
        """Mean, p50, p90, p99 (seconds) of successful requests, [T, n, 4]."""

    @abstractmethod
    def utilization(self) -> np.ndarray:
        """Busy share of each service's slots per tick, [T, n]."""

    @abstractmethod
    def under(self) -> np.ndarray:
        """Share of successful requests faster than each latency probe, [T, probes]."""

    def at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-tick arrivals [T, s] and errors [T, s] (all causes) at the services ``idx``."""
        return self.arrivals()[:, idx], self.errors()[:, idx, :].sum(axis=2)

    def totals(self) -> Totals:
        arr, err, lat, util = self.arrivals(), self.errors(), self.latency(), self.utilization()
        succ = arr - err.sum(axis=2)
        return Totals(arr.sum(0), err.sum(0), np.einsum("tn,tnk->nk", succ, lat), util.sum(0), util.max(0))


@dataclass
class ArrayWindow(Window):
    """A window whose per-tick series are stored as arrays."""

    t0: float
    ticks: int
    replicas: np.ndarray
    edge_tries: np.ndarray
    edge_failures: np.ndarray
    arrivals_: np.ndarray
    errors_: np.ndarray
    latency_: np.ndarray
    utilization_: np.ndarray
    under_: np.ndarray

    def arrivals(self) -> np.ndarray:
        return self.arrivals_

    def errors(self) -> np.ndarray:
        return self.errors_

    def latency(self) -> np.ndarray:
        return self.latency_

    def utilization(self) -> np.ndarray:
        return self.utilization_

    def under(self) -> np.ndarray:
        return self.under_


class DataPlane(Protocol):
    """Advance the data plane over some ticks with the state held fixed."""

    name: str

    def advance(self, t0: float, external: np.ndarray, state: PlaneState,
                expected: np.ndarray | None = None) -> Window:
        """``external[T, n]`` are the external arrivals per tick at each service;
        ``expected[n]`` the mean external rate (requests/s) they were drawn from."""
        ...
