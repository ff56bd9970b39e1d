"""Replications: independent runs with seeds spawned from one SeedSequence, on a local process pool.

Replication ``i`` always gets ``SeedSequence(seed).spawn(N)[i]``, so the result
is the same whatever the number of workers.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import numpy as np

from scenarios.schema import Scenario
from sim.result import combine_replications
from sim.simulation import Simulation
from topology import Topology

__all__ = ["run"]


def _one(scenario: Scenario, topology: Topology, seed: int, index: int, count: int,
         engine: str | None) -> dict[str, Any]:
    seq = np.random.SeedSequence(seed).spawn(count)[index]
    sim = Simulation(scenario, seed=seq, topology=topology, engine=engine)
    sim.seed = seed
    return sim.run()


def run(scenario: Scenario, topology: Topology, *, seed: int | None = None, replications: int = 1,
        workers: int = 1, engine: str | None = None,
        progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run a scenario once or ``replications`` times and return the (combined) result."""
    seed = scenario.seed if seed is None else seed
    if replications <= 1:
        sim = Simulation(scenario, seed=seed, topology=topology, engine=engine, progress=progress)
        return sim.run()
    results: list[dict[str, Any]]
    if workers <= 1:
        results = []
        for i in range(replications):
            results.append(_one(scenario, topology, seed, i, replications, engine))
            if progress is not None:
                progress((i + 1) / replications * scenario.duration)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_one, scenario, topology, seed, i, replications, engine)
                       for i in range(replications)]
            try:
                results = []
                for i, f in enumerate(futures):
                    results.append(f.result())
                    if progress is not None:
                        progress((i + 1) / replications * scenario.duration)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return combine_replications(results, scenario.assertions)
