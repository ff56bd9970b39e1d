"""Flow-engine speed: a simulated day of the reference fleet, as ratios measured in one run.

    python -m benchmarks.flow_bench [--hours 24] [--sizes 2847,20000] [--batch 10]

For each fleet size it runs a diurnal day (a fault at the peak) and prints:
- service-ticks per wall second (services x ticks / wall time),
- the ratio of simulated to wall time ("x real time"),
- the ratio to a floor measured in the same run on the same graph: one sparse
  matrix-vector product per tick (the least any propagation of load can cost),
- how many network solves the run needed (the rest reused a solution).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from scenarios.schema import Scenario
from sim.compiled import compile_topology
from sim.simulation import Simulation
from topology.catalog import resolve


def _scenario(services: int, hours: float, batch: int) -> Scenario:
    top = "fleet-2847" if services == 2847 else f"generate:{services}:2847"
    victim = "db-02442" if services == 2847 else None
    faults = [{"at": f"{hours * 0.55:g}h", "kind": "zone-outage", "zone": "zone-b", "duration": "20m"}]
    if victim:
        faults.append({"at": f"{hours * 0.6:g}h", "kind": "kill-instances", "service": victim,
                       "fraction": 0.67, "duration": "20m"})
    rps = 3000.0  # generated fleets are sized for 3,000 rps at their entry points (FleetShape.nominal_rps)
    return Scenario.model_validate({
        "name": f"bench-{services}", "topology": top, "duration": f"{hours:g}h", "seed": 1,
        "workload": {"rate": {"pattern": "diurnal", "base": rps / 3, "peak": rps, "period": "24h",
                              "peak_at": f"{hours * 0.55:g}h"}},
        "faults": faults, "flow": {"batch": batch}})


def _floor(topo, ticks: int) -> float:
    """Wall seconds of one sparse mat-vec per tick over the graph (sampled, scaled to ``ticks``)."""
    c = compile_topology(topo)
    A = sp.csr_matrix((c.calls, (c.dst, c.src)), shape=(c.n, c.n))
    x = np.ones(c.n)
    reps = min(ticks, 20000)
    t0 = time.perf_counter()
    for _ in range(reps):
        x = A @ x
    return (time.perf_counter() - t0) * ticks / reps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--sizes", default="2847,20000")
    ap.add_argument("--batch", type=int, default=10)
    args = ap.parse_args(argv)
    print(f"{'services':>9} {'ticks':>7} {'wall s':>8} {'service-ticks/s':>16} {'x real time':>12} "
          f"{'x floor':>8} {'solves':>7}")
    per_service = []
    for n in (int(x) for x in args.sizes.split(",")):
        sc = _scenario(n, args.hours, args.batch)
        topo = resolve(sc.topology)
        sim = Simulation(sc, topology=topo)
        t0 = time.perf_counter()
        sim.run()
        wall = time.perf_counter() - t0
        floor = _floor(topo, sim.ticks)
        rate = n * sim.ticks / wall
        per_service.append(wall / n)
        print(f"{n:>9} {sim.ticks:>7} {wall:>8.2f} {rate:>16,.0f} {sim.duration / wall:>12,.0f} "
              f"{wall / floor:>8.1f} {sim.engine.solves:>7}")
    if len(per_service) > 1:
        print(f"cost per service, largest / smallest fleet: {per_service[-1] / per_service[0]:.2f} "
              "(1.0 = linear in services)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
