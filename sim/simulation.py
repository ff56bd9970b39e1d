"""``Simulation(scenario, seed)``: the SimPy clock, the control plane and a data plane.

The control plane is SimPy processes: the workload is sampled as the data
plane advances; faults inject and revert at their times; a driver advances the
data plane every batch and evaluates circuit breakers. Anything that changes
the plane state calls :meth:`Simulation.change`, which first brings the data
plane up to the current time with the old state, so a state change takes
effect exactly at its tick. Later control-plane parts (autoscalers, alerting,
budget policies, deployers, responders) plug in as :class:`Controller` objects.
"""

from __future__ import annotations

import math
import time
import zlib
from typing import Any, Callable, Protocol

import numpy as np
import simpy

from scenarios.loader import bind
from scenarios.schema import Fault, Scenario
from sim.alerting import AlertEvaluator
from sim.autoscaling import make_autoscaler
from sim.budget_policy import BudgetPolicy
from sim.compiled import Compiled, compile_topology
from sim.deployments import Deployer
from sim.faults import apply_faults
from sim.flow import FlowEngine
from sim.incidents import IncidentManager
from sim.plane import DataPlane, Window
from sim.recorder import Recorder
from sim.resilience import Breakers
from sim.result import SCHEMA, evaluate_assertions
from sim.slo import SLOTracker
from sim.state import CAUSES, PlaneState
from sim.workload import RateFunction, entry_weights
from srelab.errors import InputError
from topology import Topology

__all__ = ["Simulation", "Controller", "make_engine", "ENGINES"]

_BREAKER = {0: "closed", 1: "open", 2: "half-open"}


class Controller(Protocol):
    """A control-plane part: ``start`` registers its SimPy processes; ``window`` sees each window."""

    def start(self, sim: "Simulation") -> None: ...

    def window(self, sim: "Simulation", tick_index: int, w: Window) -> None: ...


def _flow(sim: "Simulation") -> DataPlane:
    return FlowEngine(sim.compiled, sim.tick, probes=sim.slo.probes(), tolerance=sim.scenario.flow.tolerance)


def _request(sim: "Simulation") -> DataPlane:
    from sim.request import RequestEngine
    dist = [sim.topology.service(n).service_time.distribution or "exponential" for n in sim.compiled.names]
    return RequestEngine(sim.compiled, sim.tick, probes=sim.slo.probes(), seed=sim.engine_seed,
                         distributions=dist)


ENGINES: dict[str, Callable[["Simulation"], DataPlane]] = {"flow": _flow, "request": _request}


def make_engine(name: str, sim: "Simulation") -> DataPlane:
    """Engines are chosen by name here and only here."""
    try:
        return ENGINES[name](sim)
    except KeyError:
        raise InputError(f"unknown engine {name!r}; available: {', '.join(ENGINES)}", field="engine") from None


class Simulation:
    """One run of a scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | np.random.SeedSequence | None = None,
                 topology: Topology | None = None, engine: str | None = None,
                 progress: Callable[[float], None] | None = None) -> None:
        self.scenario = scenario
        self.topology = topology if topology is not None else bind(scenario)
        self.compiled: Compiled = compile_topology(self.topology)
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(
            scenario.seed if seed is None else seed)
        self.seed_sequence = seq
        self.seed = int(scenario.seed if seed is None or isinstance(seed, np.random.SeedSequence) else seed)
        arrivals_ss, self.engine_seed, self.control_seed = seq.spawn(3)
        self.rng_arrivals = np.random.default_rng(arrivals_ss)
        self.tick = scenario.tick
        self.ticks = int(math.ceil(scenario.duration / self.tick - 1e-9))
        self.duration = self.ticks * self.tick
        self.batch = scenario.flow.batch
        self.env = simpy.Environment()
        self.state = PlaneState(self.compiled)
        self.breakers = Breakers(self.compiled)
        self.rate = RateFunction(scenario)
        self.weights = entry_weights(scenario, self.compiled)
        self.entry_idx = np.flatnonzero(self.weights > 0)
        self.slo = SLOTracker(scenario.slos, self.compiled.index, self.ticks, self.tick)
        self.recorder = Recorder(self.compiled.names, self.ticks, self.tick, batch=scenario.flow.batch)
        self.engine_name = engine or scenario.engine
        self.engine = make_engine(self.engine_name, self)
        self.controllers: list[Controller] = [AlertEvaluator(scenario.policies.alerting)]
        self.autoscaler = make_autoscaler(scenario.policies.autoscaling)
        if self.autoscaler is not None:
            self.controllers.append(self.autoscaler)
        self.deployer = Deployer(scenario.deployments)
        self.controllers += [self.deployer, BudgetPolicy(scenario.policies.budget)]
        self.incident_manager = IncidentManager(scenario.policies.incident_response)
        self.controllers.append(self.incident_manager)
        self.active_faults: list[Fault] = []
        self.events: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.policy_actions: list[dict[str, Any]] = []
        self._progress = progress
        self._tick_done = 0
        self.wall_seconds = 0.0

    # -- control-plane API ----------------------------------------------------
    def now_tick(self) -> int:
        return min(int(round(self.env.now / self.tick)), self.ticks)

    def sync(self) -> None:
        """Advance the data plane up to the current time with the state as it is."""
        target = self.now_tick()
        while self._tick_done < target:
            n = min(self.batch, target - self._tick_done)
            self._advance(n)

    def change(self, mutate: Callable[[], None]) -> None:
        """Apply a state change at the current tick."""
        self.sync()
        mutate()
        self.state.touch()

    def control_rng(self, stream: str) -> np.random.Generator:
        """An independent random stream per control-plane part, named so that adding one
        part never shifts another's draws."""
        key = zlib.crc32(stream.encode())
        return np.random.default_rng(np.random.SeedSequence(
            self.control_seed.entropy, spawn_key=(*self.control_seed.spawn_key, key)))

    def log(self, event: str, **fields: Any) -> None:
        self.events.append({"at": float(self.env.now), "event": event, **fields})

    # -- data plane -------------------------------------------------------------
    def _external(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Poisson arrivals per tick at each entry point, and the expected rate over the window."""
        t = (start + np.arange(n) + 0.5) * self.tick
        rate = self.rate(t)                                            # [T]
        ext = np.zeros((n, self.compiled.n))
        mult = self.state.load_mult                                    # traffic-spike faults
        lam = rate[:, None] * (self.weights * mult)[None, self.entry_idx] * self.tick
        ext[:, self.entry_idx] = self.rng_arrivals.poisson(lam)
        return ext, float(rate.mean()) * self.weights * mult

    def _advance(self, n: int) -> None:
        start = self._tick_done
        ext, expected = self._external(start, n)
        w = self.engine.advance(start * self.tick, ext, self.state, expected)
        self.recorder.record(start, w)
        self.slo.record(start, w)
        self._tick_done = start + n
        now = self._tick_done * self.tick
        transitions = self.breakers.update(self.state, now, w.edge_tries, w.edge_failures)
        if transitions:
            self.state.touch()
        for e, old, new in transitions:
            c = self.compiled
            self.events.append({"at": now, "event": f"breaker-{_BREAKER[new]}",
                                "target": f"{c.names[c.src[e]]}->{c.names[c.dst[e]]}"})
        for ctl in self.controllers:
            ctl.window(self, start, w)
        if self._progress is not None:
            self._progress(now)

    # -- processes --------------------------------------------------------------
    def _driver(self):
        step = self.batch * self.tick
        while True:
            yield self.env.timeout(step)
            self.sync()

    def _fault(self, f: Fault):
        yield self.env.timeout(self._align(f.at))
        self.inject(f)
        if f.duration is not None:
            yield self.env.timeout(self._align(f.duration))
            self.revert(f)

    def inject(self, f: Fault, event: str = "fault-injected") -> None:
        """Make ``f`` active at the current tick (scheduled faults, bad releases)."""
        self._toggle(f, active=True, event=event)

    def revert(self, f: Fault, event: str = "fault-reverted") -> None:
        """End ``f`` at the current tick if it is active (fault end, rollback, remediation)."""
        if any(a is f for a in self.active_faults):
            self._toggle(f, active=False, event=event)

    def _toggle(self, f: Fault, active: bool, event: str) -> None:
        """The overlays are rebuilt from the active faults."""
        def mutate() -> None:
            if active:
                self.active_faults.append(f)
            else:
                self.active_faults[:] = [a for a in self.active_faults if a is not f]
            apply_faults(self.state, self.active_faults)

        self.change(mutate)
        self.log(event, fault=f.label, kind=f.kind)

    def _align(self, seconds: float) -> float:
        return max(0.0, round(seconds / self.tick) * self.tick)

    # -- run --------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run to the end and return the result dictionary (the JSON contract)."""
        started = time.perf_counter()
        self.env.process(self._driver())
        for f in sorted(self.scenario.faults, key=lambda f: f.at):
            self.env.process(self._fault(f))
        for ctl in self.controllers:
            ctl.start(self)
        self.env.run(until=self.duration)
        self.sync()
        self.wall_seconds = time.perf_counter() - started
        return self.result()

    def result(self) -> dict[str, Any]:
        rec = self.recorder
        exact = getattr(self.engine, "run_latency", None)  # engines that measure every request
        lat = (exact() if exact is not None else rec.total_latency()) * 1e3
        services: dict[str, Any] = {}
        for i, name in enumerate(self.compiled.names):
            req = float(rec.total_arrivals[i])
            errs = float(rec.total_errors[i].sum())
            services[name] = {
                "requests": req, "errors": errs,
                "availability": (1 - errs / req) if req > 0 else 1.0,
                "latency_ms": {"mean": float(lat[i, 0]), "p50": float(lat[i, 1]), "p90": float(lat[i, 2]),
                               "p99": float(lat[i, 3])},
                "replicas": {"min": float(rec.reps_min[i]), "mean": float(rec.reps_sum[i] / max(rec.ticks_seen, 1)),
                             "max": float(rec.reps_max[i])},
                "utilization": {"mean": float(rec.util_sum[i] / max(rec.ticks_seen, 1)),
                                "max": float(rec.util_max[i])},
            }
        result: dict[str, Any] = {
            "schema": SCHEMA, "scenario": self.scenario.name, "engine": self.engine_name,
            "seed": self.seed,
            "replications": 1, "sim_seconds": float(self.duration), "wall_seconds": float(self.wall_seconds),
            "slos": self.slo.summary(self.duration),
            "services": services,
            "alerts": self.alerts, "incidents": self.incidents, "policy_actions": self.policy_actions,
            "capacity": self.capacity(),
            "incident_response": self.incident_manager.finish(self),
        }
        if self.scenario.deployments is not None:
            result["deployments"] = self.deployer.summary(self)
        result["assertions"] = evaluate_assertions(self.scenario.assertions, result)
        result["passed"] = all(a["passed"] for a in result["assertions"])
        return result

    def capacity(self) -> dict[str, Any]:
        """Serving replica-hours and their cost over the run, and what the autoscaler did."""
        rec = self.recorder
        hours = rec.reps_sum * self.tick / 3600.0                        # [n] serving replica-hours
        out: dict[str, Any] = {"replica_hours": float(hours.sum()),
                               "cost": float(hours @ self.compiled.cost)}
        if self.autoscaler is not None:
            out["autoscaling"] = self.autoscaler.summary()
        return out

    def details(self) -> dict[str, Any]:
        """What the run knows beyond the result contract: the timeline of faults and breaker
        transitions, and each service's errors by cause (written to ``events.json`` by ``--out``)."""
        rec = self.recorder
        return {"events": self.events,
                "errors_by_cause": {name: {c: float(rec.total_errors[i, k]) for k, c in enumerate(CAUSES)}
                                    for i, name in enumerate(self.compiled.names)}}
