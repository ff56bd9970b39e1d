"""Helpers for the simulator tests: small hand-made topologies and a finished run with
per-service views of the recorder's per-tick series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scenarios.schema import Scenario
from sim import CAUSES, Simulation
from topology import Topology, from_dict

EXACT = {"batch": 1, "tolerance": 0}


def make_scenario(**fields: Any) -> Scenario:
    """A scenario on an inline topology: 6 minutes at 100 rps, solved every tick, unless overridden."""
    data: dict[str, Any] = {"name": "test", "topology": "inline", "duration": "6m", "seed": 1,
                            "flow": dict(EXACT), "workload": {"rate": {"pattern": "constant", "rps": 100}}}
    data.update(fields)
    return Scenario.model_validate(data)


class Run:
    """A finished simulation with per-service series (one sample per tick at these sizes)."""

    def __init__(self, sim: Simulation, result: dict[str, Any]) -> None:
        self.sim = sim
        self.result = result

    def i(self, name: str) -> int:
        return self.sim.compiled.index[name]

    @property
    def rec(self):
        return self.sim.recorder

    @property
    def interval(self) -> float:
        return float(self.rec.interval)

    def arrivals(self, name: str) -> np.ndarray:
        return self.rec.arrivals[:, self.i(name)].astype(float)

    def errors(self, name: str, *causes: str) -> np.ndarray:
        e = self.rec.errors[:, self.i(name), :].astype(float)
        if not causes:
            return e.sum(axis=1)
        return sum(e[:, CAUSES.index(c)] for c in causes)

    def served(self, name: str) -> np.ndarray:
        """Requests the service itself processed (not refused for being down, full or injected-failed);
        these are the ones that call its dependencies."""
        return self.arrivals(name) - self.errors(name, "unavailable", "overload", "injected")

    def successes(self, name: str) -> np.ndarray:
        return self.rec.successes()[:, self.i(name)].astype(float)

    def latency(self, name: str, stat: str = "mean") -> np.ndarray:
        k = ("mean", "p50", "p90", "p99").index(stat)
        return self.rec.latency()[:, self.i(name), k].astype(float)

    def replicas(self, name: str) -> np.ndarray:
        return self.rec.replicas()[:, self.i(name)].astype(float)

    def utilization(self, name: str) -> np.ndarray:
        return self.rec.utilization()[:, self.i(name)].astype(float)

    def window(self, t0: float, t1: float) -> slice:
        """Samples covering simulated seconds [t0, t1)."""
        return slice(int(round(t0 / self.interval)), int(round(t1 / self.interval)))

    def mean(self, series: np.ndarray, t0: float, t1: float) -> float:
        return float(np.mean(series[self.window(t0, t1)]))

    def ratio(self, num: np.ndarray, den: np.ndarray, t0: float, t1: float) -> float:
        w = self.window(t0, t1)
        return float(num[w].sum() / den[w].sum())

    @property
    def details(self) -> dict[str, Any]:
        """Events and errors by cause: what the run reports beyond the result contract."""
        return self.sim.details()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.sim.events if e["event"] == kind]


class WindowSpy:
    """A control-plane part that keeps what each data-plane window reported (a Controller)."""

    def __init__(self) -> None:
        self.windows: list[tuple[int, Any]] = []
        self.edge_tries: list[np.ndarray] = []
        self.latency: list[np.ndarray] = []
        self.arrivals: list[np.ndarray] = []

    def start(self, sim: Simulation) -> None:
        pass

    def window(self, sim: Simulation, tick_index: int, w: Any) -> None:
        self.windows.append((tick_index, w.ticks))
        self.edge_tries.append(np.asarray(w.edge_tries, float).copy())
        self.latency.append(np.asarray(w.latency(), float)[0].copy())
        self.arrivals.append(np.asarray(w.arrivals(), float).sum(axis=0))

    def at(self, tick: int) -> int:
        """Index of the window holding ``tick``."""
        for k, (start, n) in enumerate(self.windows):
            if start <= tick < start + n:
                return k
        raise IndexError(tick)


def simulate(topo: dict | Topology, *, spy: WindowSpy | None = None, seed: int | None = None,
             **fields: Any) -> Run:
    topology = topo if isinstance(topo, Topology) else from_dict(topo)
    sim = Simulation(make_scenario(**fields), seed=seed, topology=topology)
    if spy is not None:
        sim.controllers.append(spy)
    return Run(sim, sim.run())


@pytest.fixture(scope="session")
def run_sim():
    """``run_sim(topology_dict, spy=None, seed=None, **scenario_fields) -> Run``."""
    return simulate


@pytest.fixture(scope="session")
def scenario():
    """``scenario(**fields) -> Scenario`` on an inline topology, exact per-tick solving by default."""
    return make_scenario


@pytest.fixture
def spy():
    return WindowSpy()


@pytest.fixture(scope="session")
def new_spy():
    """A factory of :class:`WindowSpy`, for module-scoped fixtures."""
    return WindowSpy
